"""Masked autoencoder (He et al. 2022) with a configurable decoder, mask unit and target.

One model serves every pretraining experiment of the three papers:
  MAE                         mask_ratio > 0, loss on removed tokens, each token predicts its patch.
  decoupled mask unit (HLVM)  mask_unit = k * patch_size: masks drawn on a coarser grid.
  AE(b) (LC-MAE §4.2)         mask_ratio = 0, loss on every token, each token predicts the b x b block
                              centred on it (target_block = b).
  border-ignoring loss        HLVM §3.6: masked pixels within loss_ignore_border px of a visible patch leave the
                              loss (they are the ones the visible context explains from low-level cues).
"""

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn as nn

from ..data.augment import mae_augment
from .decoders import DecoderConfig, build_decoder
from .losses import reconstruction_loss
from .targets import block_targets, normalize_targets, patchify
from .vit import ViTConfig, ViTEncoder


@dataclass(frozen=True)
class MAEConfig:
    """Defaults: MAE ViT-B/16 recipe (mask 0.75, norm_pix_loss on, 512-d 8-block decoder)."""

    encoder: ViTConfig = field(default_factory=ViTConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    mask_ratio: float = 0.75  # He et al. §4
    mask_unit: int | None = None  # None: the ViT patch size
    norm_pix_loss: bool = True
    target_block: int | None = None  # None: the token's own patch
    loss_ignore_border: int = 0  # px; HLVM §3.6 (0 = MAE's loss)

    def __post_init__(self):
        if self.loss_ignore_border and self.target_block:
            raise ValueError("loss_ignore_border applies to patch targets; it cannot be combined with target_block")

    @property
    def out_dim(self) -> int:
        side = self.target_block or self.encoder.patch_size
        return side * side * self.encoder.in_chans


def far_from_visible(mask: torch.Tensor, enc: ViTConfig, width: int) -> torch.Tensor:
    """[B, L] token mask (1 = removed) -> [B, L, p*p*C]: 1 for pixels farther than `width` px (Chebyshev) from every
    visible pixel, in patchify's order; visible tokens' pixels are 1 too (their weight in the loss is 0 anyway)."""
    p, (gh, gw) = enc.patch_size, enc.grid_size
    visible = (1 - mask).view(-1, 1, gh, gw).repeat_interleave(p, 2).repeat_interleave(p, 3)
    near = torch.nn.functional.max_pool2d(visible, 2 * width + 1, stride=1, padding=width)
    keep = 1 - near * (1 - visible)  # removed pixels next to the context are left out
    return patchify(keep.expand(-1, enc.in_chans, -1, -1), p)


class MAEOutput(NamedTuple):
    loss: torch.Tensor  # scalar
    pred: torch.Tensor  # [B, L, out_dim]
    mask: torch.Tensor  # [B, L], 1 = removed
    hidden: torch.Tensor  # [B, L, decoder dim]
    target: torch.Tensor  # [B, L, out_dim]


class MaskedAutoencoder(nn.Module):
    def __init__(self, cfg: MAEConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = ViTEncoder(cfg.encoder)
        self.decoder = build_decoder(cfg.decoder, cfg.encoder.embed_dim, cfg.encoder.grid_size, cfg.out_dim)

    def forward_target(self, imgs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Per-token target [B, L, out_dim] and its valid-pixel mask (None: all valid)."""
        p = self.cfg.encoder.patch_size
        if self.cfg.target_block:
            target, valid = block_targets(imgs, p, self.cfg.target_block)
        else:
            target, valid = patchify(imgs, p), None
        return (normalize_targets(target, valid) if self.cfg.norm_pix_loss else target), valid

    def forward_loss(self, imgs: torch.Tensor, pred: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean loss on removed tokens; on every token when nothing is removed (autoencoder)."""
        target, valid = self.forward_target(imgs)
        weight = mask if mask.sum() > 0 else torch.ones_like(mask)
        if self.cfg.loss_ignore_border and mask.sum() > 0:
            valid = far_from_visible(mask, self.cfg.encoder, self.cfg.loss_ignore_border).to(pred.dtype)
            weight = weight * (valid.sum(-1) > 0)  # a removed token whose every pixel borders the context drops out
            valid = valid + (valid.sum(-1, keepdim=True) == 0)  # (its loss term is then 0/1, weighted 0)
        return reconstruction_loss(pred, target, weight, valid), target

    def forward(
        self,
        imgs: torch.Tensor,
        mask_ratio: float | None = None,
        noise: torch.Tensor | None = None,
        shared_mask: bool = False,
    ) -> MAEOutput:
        ratio = self.cfg.mask_ratio if mask_ratio is None else mask_ratio
        latent, m = self.encoder(imgs, ratio, self.cfg.mask_unit, noise, shared_mask)
        pred, hidden = self.decoder(latent, m.ids_restore)
        loss, target = self.forward_loss(imgs, pred, m.mask)
        return MAEOutput(loss, pred, m.mask, hidden, target)


class MAEPretraining(nn.Module):
    """The pretraining interface every objective shares: forward(uint8 images, generator) -> (loss, logs).

    MAE's augmentation (RandomResizedCrop + flip, data.mae_augment) then the masked reconstruction loss.
    """

    def __init__(self, mae: MaskedAutoencoder, dataset: str):
        super().__init__()
        self.mae = mae
        self.dataset = dataset

    @property
    def encoder(self) -> ViTEncoder:
        return self.mae.encoder

    def forward(self, images: torch.Tensor, generator: torch.Generator | None = None) -> tuple[torch.Tensor, dict]:
        return self.mae(mae_augment(images, self.dataset, generator)).loss, {}
