"""Optimisation protocol of MAE: parameter groups, layer-wise lr decay, warmup + half-cycle cosine.

lr = blr * global_batch / 256 (MAE's linear scaling rule); no weight decay on biases, norms, tokens
and other 1-D parameters; the schedule is a pure function of the iteration, so resuming needs only the step.
"""

import math
import re
from dataclasses import dataclass

import torch
import torch.nn as nn
from timm.optim import Lars

NO_DECAY_NAMES = ("cls_token", "mask_token", "pos_embed")


@dataclass(frozen=True)
class OptimConfig:
    """Defaults: MAE pretraining (AdamW (0.9, 0.95), wd 0.05, blr 1.5e-4, 40 warmup of 800 epochs)."""

    epochs: float = 800
    batch_size: int = 4096  # global, over all processes
    blr: float = 1.5e-4
    min_lr: float = 0.0
    warmup_epochs: float = 40
    weight_decay: float = 0.05
    optimizer: str = "adamw"  # adamw | lars (MAE linear probe)
    betas: tuple[float, float] = (0.9, 0.95)
    momentum: float = 0.9  # lars
    layer_decay: float = 1.0  # < 1: layer-wise lr decay (finetuning)
    clip_grad: float = 0.0  # 0 = off

    def __post_init__(self):
        if self.optimizer not in ("adamw", "lars"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adamw or lars")

    @property
    def lr(self) -> float:
        return self.blr * self.batch_size / 256


def layer_id(name: str, num_layers: int) -> int:
    """0 for embeddings and cls token, i + 1 for block i, num_layers + 1 for everything after (BEiT/MAE lrd)."""
    if any(k in name for k in ("cls_token", "pos_embed", "patch_embed", "mask_token")):
        return 0
    m = re.search(r"(?:^|\.)blocks\.(\d+)\.", name)
    return int(m.group(1)) + 1 if m else num_layers + 1


def param_groups(model: nn.Module, weight_decay: float, layer_decay: float = 1.0, num_layers: int = 0) -> list[dict]:
    """Trainable parameters grouped by (decay or not, layer); each group carries its lr_scale."""
    groups: dict[tuple[bool, int], dict] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        decay = not (p.ndim == 1 or name.endswith(".bias") or any(k in name for k in NO_DECAY_NAMES))
        lid = layer_id(name, num_layers) if layer_decay != 1.0 else 0
        g = groups.setdefault(
            (decay, lid),
            {"params": [], "weight_decay": weight_decay if decay else 0.0, "lr_scale": layer_decay ** (num_layers + 1 - lid)},
        )
        g["params"].append(p)
    return list(groups.values())


def build_optimizer(groups: list[dict], cfg: OptimConfig) -> torch.optim.Optimizer:
    if cfg.optimizer == "lars":
        return Lars(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=0.0)
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas)


def lr_at(step: int, total_steps: int, warmup_steps: int, lr: float, min_lr: float) -> float:
    """Per-iteration linear warmup, then half-cycle cosine from lr to min_lr."""
    if step < warmup_steps:
        return lr * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for g in optimizer.param_groups:
        g["lr"] = lr * g.get("lr_scale", 1.0)
