"""Probes on a frozen encoder: MAE linear probe and the TLCL §6.3 variants.

  head = "bn_linear"  BatchNorm1d(affine=False, eps 1e-6) + Linear(init std 0.01) (MAE; TLCL "BN+LP")
  head = "linear"     Linear only (TLCL "LP")
  tune = "last_qkv"   also train the last block's qkv projection (TLCL "Partial FT")
Features are the normed cls token (MAE) or the average of the normed patch tokens. Without augmentation
the frozen part is run once and its outputs cached (for "last_qkv": the tokens entering the last
block), so the probe trains in seconds; MAE's recipe crops and flips during probing, which `augment`
keeps (the encoder then runs every step).
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
from timm.layers import trunc_normal_

from ..data.augment import mae_augment, normalize
from ..data.datasets import ImageTensors, iterate
from ..models.vit import ViTEncoder

HEADS = ("bn_linear", "linear")
TUNES = ("none", "last_qkv")


@dataclass(frozen=True)
class ProbeConfig:
    head: str = "bn_linear"
    tune: str = "none"
    pool: str = "cls"
    augment: bool = False  # MAE's LP crops + flips; off: cached features

    def __post_init__(self):
        for value, allowed in ((self.head, HEADS), (self.tune, TUNES), (self.pool, ("cls", "avg"))):
            if value not in allowed:
                raise ValueError(f"unknown probe option {value!r}; choose one of {allowed}")


def pool_tokens(tokens: torch.Tensor, pool: str) -> torch.Tensor:
    """Normed tokens [B, 1 + L, D] -> feature [B, D]."""
    return tokens[:, 0] if pool == "cls" else tokens[:, 1:].mean(dim=1)


class ProbeModel(nn.Module):
    """Frozen encoder + (optionally the last block's qkv) + head. forward takes images or cached inputs."""

    def __init__(self, encoder: ViTEncoder, num_classes: int, cfg: ProbeConfig):
        super().__init__()
        self.cfg = cfg
        self.encoder = encoder.requires_grad_(False)
        if cfg.tune == "last_qkv":
            self.encoder.blocks[-1].attn.qkv.requires_grad_(True)
        dim = encoder.cfg.embed_dim
        head = nn.Linear(dim, num_classes)
        trunc_normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)
        self.head = nn.Sequential(nn.BatchNorm1d(dim, affine=False, eps=1e-6), head) if cfg.head == "bn_linear" else head

    @property
    def frozen_depth(self) -> int:
        """Blocks run once for caching: all of them, or all but the tuned last one."""
        return len(self.encoder.blocks) - (self.cfg.tune == "last_qkv")

    @torch.no_grad()
    def frozen(self, x: torch.Tensor) -> torch.Tensor:
        """Images -> what the trainable part reads (the feature, or the tokens entering the last block)."""
        tokens = self.encoder.forward_tokens(x, self.frozen_depth)
        return tokens if self.cfg.tune == "last_qkv" else pool_tokens(self.encoder.norm(tokens), self.cfg.pool)

    def trainable(self, z: torch.Tensor) -> torch.Tensor:
        if self.cfg.tune == "last_qkv":
            z = pool_tokens(self.encoder.norm(self.encoder.blocks[-1](z)), self.cfg.pool)
        return self.head(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Cached inputs (float [B, D] or [B, 1 + L, D]) go straight to the trainable part; images go through frozen()."""
        return self.trainable(x if x.dim() in (2, 3) else self.frozen(x))

    def train(self, mode: bool = True) -> "ProbeModel":
        """The frozen encoder stays in eval mode (no dropout/drop path); the head's BN follows `mode` (MAE)."""
        super().train(mode)
        self.encoder.eval()
        return self


@torch.no_grad()
def cache_inputs(
    model: ProbeModel, ds: ImageTensors, dataset: str, batch_size: int = 512, device: torch.device | str = "cpu"
) -> ImageTensors:
    """Run the frozen part once over a split: (cached inputs, labels) as an in-memory dataset."""
    model.eval()
    batches = list(torch.arange(len(ds)).split(batch_size))
    outs, labels = [], []
    for x, y in iterate(ds, batches):
        outs.append(model.frozen(normalize(x.to(device), dataset)).cpu())
        labels.append(y)
    return ImageTensors(torch.cat(outs), torch.cat(labels))


def probe_objective(dataset: str, augment: bool):
    """Cross-entropy of the probe; with augment, images are cropped/flipped (MAE LP) before the frozen part."""
    ce = nn.CrossEntropyLoss()

    def objective(model: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        if augment:
            x = mae_augment(x, dataset, gen)
        return ce(model(x), y), {}

    return objective
