"""Masked autoencoder (He et al. 2022) with a configurable decoder, mask unit and target.

One model serves every pretraining experiment of the three papers:
  MAE                         mask_ratio > 0, loss on removed tokens, each token predicts its patch.
  decoupled mask unit (HLVM)  mask_unit = k * patch_size: masks drawn on a coarser grid.
  AE(b) (LC-MAE §4.2)         mask_ratio = 0, loss on every token, each token predicts the b x b block
                              centred on it (target_block = b).
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

    @property
    def out_dim(self) -> int:
        side = self.target_block or self.encoder.patch_size
        return side * side * self.encoder.in_chans


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
