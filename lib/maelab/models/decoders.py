"""MAE decoders, each predicting out_dim pixels per token (p*p*C, or b*b*C for AE(b) block targets).

All three share MAE's decoder input: a Linear from encoder to decoder width, one shared learned mask
token at every removed position, unshuffling to raster order, fixed sin-cos positions (cls at zero).
They differ in how tokens exchange information (LC-MAE Table 2):
  transformer       MAE's: timm Blocks, LayerNorm, Linear.
  weighted_average  a fixed, normalised 2-D Gaussian average over a window x window token
                    neighbourhood (sigma 1, 5x5), then one MLP block, LayerNorm, Linear.
  conv              a single Conv2d with a k x k kernel straight to pixels.
Every decoder returns (pred [B, L, out_dim], hidden [B, L, dim]); hidden is what the pixel head
(`.pred`) reads, i.e. the decoder's last token features (used by the LC-MAE projector).
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import Mlp

from .pos_embed import sincos_2d
from .vit import LayerNorm, init_weights, make_blocks

DECODERS = ("transformer", "weighted_average", "conv")


@dataclass(frozen=True)
class DecoderConfig:
    """Defaults: MAE ViT-B decoder (512-d, 8 blocks, 16 heads); Gaussian sigma 1 in a 5x5 window (LC-MAE §4.1)."""

    kind: str = "transformer"
    dim: int = 512
    depth: int = 8
    num_heads: int = 16
    mlp_ratio: float = 4.0
    sigma: float = 1.0
    window: int = 5

    def __post_init__(self):
        if self.kind not in DECODERS:
            raise ValueError(f"unknown decoder kind {self.kind!r}; choose one of {DECODERS}")


class DecoderInput(nn.Module):
    """Encoder latent [B, 1 + L_keep, D_enc] -> decoder tokens [B, 1 + L, dim] in raster order."""

    def __init__(self, enc_dim: int, dim: int, grid_size: tuple[int, int]):
        super().__init__()
        self.embed = nn.Linear(enc_dim, dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dim))
        pos = torch.cat([torch.zeros(1, dim), sincos_2d(dim, grid_size)])
        self.register_buffer("pos_embed", pos[None], persistent=False)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.embed(latent)
        B, L = ids_restore.shape
        D = x.shape[-1]
        tokens = torch.cat([x[:, 1:], self.mask_token.expand(B, L + 1 - x.shape[1], -1)], dim=1)
        tokens = torch.gather(tokens, 1, ids_restore[..., None].expand(-1, -1, D))  # unshuffle
        return torch.cat([x[:, :1], tokens], dim=1) + self.pos_embed


def tokens_to_grid(x: torch.Tensor, grid_size: tuple[int, int]) -> torch.Tensor:
    """[B, L, D] -> [B, D, gh, gw]."""
    return x.transpose(1, 2).reshape(x.shape[0], x.shape[2], *grid_size)


def grid_to_tokens(x: torch.Tensor) -> torch.Tensor:
    """[B, D, gh, gw] -> [B, L, D]."""
    return x.flatten(2).transpose(1, 2)


class TransformerDecoder(nn.Module):
    def __init__(self, cfg: DecoderConfig, enc_dim: int, grid_size: tuple[int, int], out_dim: int):
        super().__init__()
        self.input = DecoderInput(enc_dim, cfg.dim, grid_size)
        self.blocks = make_blocks(cfg.dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio)
        self.norm = LayerNorm(cfg.dim)
        self.pred = nn.Linear(cfg.dim, out_dim)
        self.apply(init_weights)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.input(latent, ids_restore)
        for blk in self.blocks:
            x = blk(x)
        hidden = self.norm(x)[:, 1:]  # drop cls
        return self.pred(hidden), hidden


def gaussian_kernel(window: int, sigma: float) -> torch.Tensor:
    """Normalised 2-D Gaussian weights [window, window] (sum 1)."""
    r = torch.arange(window, dtype=torch.float32) - (window - 1) / 2
    g = torch.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.sum()


class WeightedAverageDecoder(nn.Module):
    """Non-parametric Gaussian average of neighbouring tokens, renormalised at the border, then an MLP block."""

    def __init__(self, cfg: DecoderConfig, enc_dim: int, grid_size: tuple[int, int], out_dim: int):
        super().__init__()
        self.grid_size = grid_size
        self.input = DecoderInput(enc_dim, cfg.dim, grid_size)
        self.register_buffer("kernel", gaussian_kernel(cfg.window, cfg.sigma)[None, None], persistent=False)
        self.norm1 = LayerNorm(cfg.dim)
        self.mlp = Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio))
        self.norm = LayerNorm(cfg.dim)
        self.pred = nn.Linear(cfg.dim, out_dim)
        self.apply(init_weights)

    def average(self, x: torch.Tensor) -> torch.Tensor:
        """Gaussian-weighted mean over the window; weights outside the grid are dropped and the rest renormalised."""
        D = x.shape[-1]
        grid = tokens_to_grid(x, self.grid_size)
        pad = self.kernel.shape[-1] // 2
        summed = F.conv2d(grid, self.kernel.expand(D, 1, -1, -1), padding=pad, groups=D)
        norm = F.conv2d(torch.ones_like(grid[:, :1]), self.kernel, padding=pad)
        return grid_to_tokens(summed / norm)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.average(self.input(latent, ids_restore)[:, 1:])
        hidden = self.norm(x + self.mlp(self.norm1(x)))
        return self.pred(hidden), hidden


class ConvDecoder(nn.Module):
    """A single k x k convolution from decoder tokens to pixels (zero padding keeps the grid)."""

    def __init__(self, cfg: DecoderConfig, enc_dim: int, grid_size: tuple[int, int], out_dim: int):
        super().__init__()
        self.grid_size = grid_size
        self.input = DecoderInput(enc_dim, cfg.dim, grid_size)
        self.pred = nn.Conv2d(cfg.dim, out_dim, kernel_size=cfg.window, padding=cfg.window // 2)
        self.apply(init_weights)

    def forward(self, latent: torch.Tensor, ids_restore: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hidden = self.input(latent, ids_restore)[:, 1:]
        return grid_to_tokens(self.pred(tokens_to_grid(hidden, self.grid_size))), hidden


def build_decoder(cfg: DecoderConfig, enc_dim: int, grid_size: tuple[int, int], out_dim: int) -> nn.Module:
    kinds = {"transformer": TransformerDecoder, "weighted_average": WeightedAverageDecoder, "conv": ConvDecoder}
    return kinds[cfg.kind](cfg, enc_dim, grid_size, out_dim)
