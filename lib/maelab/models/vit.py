"""ViT encoder for MAE on timm's `Block` (fused scaled_dot_product_attention) with fixed sin-cos positions.

As in facebookresearch/mae: positions are added to patch tokens *before* masking, the cls token
(position zero) is prepended after masking, LayerNorm eps 1e-6, qkv bias on, MLP ratio 4, and
xavier-uniform init of every Linear (the patch projection is initialised as a Linear too).
"""

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn as nn
from timm.layers import Attention, PatchEmbed
from timm.models.vision_transformer import Block

from .masking import Mask, no_masking, random_masking
from .pos_embed import sincos_2d

LayerNorm = partial(nn.LayerNorm, eps=1e-6)


@dataclass(frozen=True)
class ViTConfig:
    """Encoder size. Defaults: ViT-B/16 on 224x224 RGB (MAE, LC-MAE §5)."""

    img_size: int = 224
    patch_size: int = 16
    in_chans: int = 3
    embed_dim: int = 768
    depth: int = 12
    num_heads: int = 12
    mlp_ratio: float = 4.0

    @property
    def grid_size(self) -> tuple[int, int]:
        if self.img_size % self.patch_size:
            raise ValueError(f"img_size={self.img_size} is not a multiple of patch_size={self.patch_size}")
        return (self.img_size // self.patch_size,) * 2

    @property
    def num_patches(self) -> int:
        gh, gw = self.grid_size
        return gh * gw


def make_blocks(dim: int, depth: int, num_heads: int, mlp_ratio: float, drop_path_rate: float = 0.0) -> nn.ModuleList:
    """timm Blocks with MAE's settings and a linearly increasing drop-path rate."""
    rates = torch.linspace(0, drop_path_rate, depth).tolist() if depth else []
    return nn.ModuleList(
        Block(dim, num_heads, mlp_ratio, qkv_bias=True, norm_layer=LayerNorm, drop_path=rate) for rate in rates
    )


def init_weights(module: nn.Module) -> None:
    """MAE init: xavier-uniform Linear (zero bias), LayerNorm (1, 0)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class ViTEncoder(nn.Module):
    """MAE encoder: patchify, add fixed positions, mask, prepend cls, transformer blocks, norm."""

    num_prefix_tokens = 1

    def __init__(self, cfg: ViTConfig, drop_path_rate: float = 0.0):
        super().__init__()
        self.cfg = cfg
        self.patch_embed = PatchEmbed(cfg.img_size, cfg.patch_size, cfg.in_chans, cfg.embed_dim, strict_img_size=False)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        self.register_buffer("pos_embed", sincos_2d(cfg.embed_dim, cfg.grid_size)[None], persistent=False)
        self.blocks = make_blocks(cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.mlp_ratio, drop_path_rate)
        self.norm = LayerNorm(cfg.embed_dim)
        w = self.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def embed(self, imgs: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
        """imgs [B, C, H, W] -> patch tokens with positions [B, L, D] and the token grid.

        Crops smaller than img_size (DINO local views) get sin-cos positions on their own grid,
        scaled so they span the same range as the full grid.
        """
        x = self.patch_embed(imgs)
        grid = (imgs.shape[-2] // self.cfg.patch_size, imgs.shape[-1] // self.cfg.patch_size)
        if grid == self.cfg.grid_size:
            pos = self.pos_embed
        else:
            pos = sincos_2d(self.cfg.embed_dim, grid, scale=self.cfg.grid_size[0] / grid[0])[None].to(x)
        return x + pos, grid

    def forward(
        self,
        imgs: torch.Tensor,
        mask_ratio: float = 0.0,
        mask_unit: int | None = None,
        noise: torch.Tensor | None = None,
        shared_mask: bool = False,
    ) -> tuple[torch.Tensor, Mask]:
        """imgs [B, C, H, W] -> latent [B, 1 + L_keep, D] (normalised) and the Mask used."""
        x, grid = self.embed(imgs)
        B, L, D = x.shape
        if mask_ratio == 0 and noise is None:
            m = no_masking(B, L, x.device)
        else:
            m = random_masking(B, grid, self.cfg.patch_size, mask_ratio, mask_unit, noise, shared_mask, device=x.device)
            x = torch.gather(x, 1, m.ids_keep[..., None].expand(-1, -1, D))
        x = torch.cat([self.cls_token.expand(B, -1, -1), x], dim=1)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x), m

    def forward_tokens(self, imgs: torch.Tensor, num_blocks: int | None = None) -> torch.Tensor:
        """All tokens, unmasked and *before* the final norm, after the first num_blocks blocks (all if None)."""
        x, _ = self.embed(imgs)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        for blk in self.blocks[:num_blocks]:
            x = blk(x)
        return x


def attention_modules(model: nn.Module) -> list[Attention]:
    """Every timm Attention in a model, in forward (registration) order."""
    return [m for m in model.modules() if isinstance(m, Attention)]


@contextlib.contextmanager
def capture_attention(modules: list[Attention]) -> Iterator[list[torch.Tensor]]:
    """Record softmax attention [B, H, N, N] of each module per forward; fused SDPA is off only inside.

    Yields a list that fills with one tensor per module call, in call order.
    """
    maps: list[torch.Tensor] = []
    saved = [m.fused_attn for m in modules]
    hooks = [m.attn_drop.register_forward_hook(lambda _m, _i, out: maps.append(out.detach())) for m in modules]
    for m in modules:
        m.fused_attn = False
    try:
        yield maps
    finally:
        for m, fused in zip(modules, saved):
            m.fused_attn = fused
        for h in hooks:
            h.remove()
