"""End-to-end finetuning (MAE protocol) and evaluation of a ViT classifier.

MAE finetuning: average-pooled patch tokens + fc_norm (or the normed cls token), head initialised
trunc_normal(std 2e-5), layer-wise lr decay, drop path, label smoothing, optional mixup/cutmix
(timm) and random erasing; random-resized-crop + flip on tensors. A random-init classifier trained
with the same recipe is the supervised (DeiT-style) baseline.
"""

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.data import Mixup
from timm.layers import trunc_normal_

from ..data.augment import normalize, random_hflip, random_resized_crop
from ..data.datasets import ImageTensors, iterate
from ..models.vit import LayerNorm, ViTConfig, ViTEncoder

POOLS = ("avg", "cls")


@dataclass(frozen=True)
class FinetuneConfig:
    """Defaults: MAE ViT-B finetuning recipe (RandAug is not implemented; see the notebooks' notes)."""

    global_pool: str = "avg"
    drop_path: float = 0.1
    label_smoothing: float = 0.1
    mixup: float = 0.0  # MAE ViT-B: 0.8
    cutmix: float = 0.0  # MAE ViT-B: 1.0
    random_erasing: float = 0.25
    crop_scale: tuple[float, float] = (0.08, 1.0)

    def __post_init__(self):
        if self.global_pool not in POOLS:
            raise ValueError(f"unknown global_pool {self.global_pool!r}; choose one of {POOLS}")


class ViTClassifier(nn.Module):
    def __init__(self, encoder_cfg: ViTConfig, num_classes: int, global_pool: str = "avg", drop_path: float = 0.0):
        super().__init__()
        self.global_pool = global_pool
        self.encoder = ViTEncoder(encoder_cfg, drop_path_rate=drop_path)
        self.fc_norm = LayerNorm(encoder_cfg.embed_dim) if global_pool == "avg" else nn.Identity()
        self.head = nn.Linear(encoder_cfg.embed_dim, num_classes)
        trunc_normal_(self.head.weight, std=2e-5)
        nn.init.zeros_(self.head.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, C, H, W] -> pooled feature [B, D] (no masking)."""
        tokens = self.encoder.forward_tokens(x)
        if self.global_pool == "avg":
            return self.fc_norm(tokens[:, 1:].mean(dim=1))
        return self.encoder.norm(tokens)[:, 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def random_erasing(x: torch.Tensor, prob: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """Per image with probability prob, replace a random box (2-33% of the area, aspect 0.3-3.3) by N(0, 1) noise
    (timm 'pixel' mode)."""
    B, C, H, W = x.shape
    dev = generator.device if generator is not None else x.device
    area = H * W * torch.empty(B, device=dev).uniform_(0.02, 1 / 3, generator=generator)
    aspect = torch.exp(torch.empty(B, device=dev).uniform_(-1.204, 1.204, generator=generator))  # log(0.3), log(1/0.3)
    h = torch.sqrt(area * aspect).round().clamp(1, H).long()
    w = torch.sqrt(area / aspect).round().clamp(1, W).long()
    top = (torch.rand(B, device=dev, generator=generator) * (H - h + 1)).long()
    left = (torch.rand(B, device=dev, generator=generator) * (W - w + 1)).long()
    apply = torch.rand(B, device=dev, generator=generator) < prob
    rows = torch.arange(H, device=dev).view(1, H, 1)
    cols = torch.arange(W, device=dev).view(1, 1, W)
    box = (
        (rows >= top.view(-1, 1, 1))
        & (rows < (top + h).view(-1, 1, 1))
        & (cols >= left.view(-1, 1, 1))
        & (cols < (left + w).view(-1, 1, 1))
    )
    box = (box & apply.view(-1, 1, 1)).to(x.device)[:, None]
    noise = torch.randn(x.shape, device=dev, generator=generator).to(x)
    return torch.where(box, noise, x)


class FinetuneObjective:
    """Augment (crop, flip, mixup/cutmix, erasing) and return the classification loss."""

    def __init__(self, cfg: FinetuneConfig, dataset: str, num_classes: int):
        self.cfg, self.dataset = cfg, dataset
        self.mixup = (
            Mixup(mixup_alpha=cfg.mixup, cutmix_alpha=cfg.cutmix, label_smoothing=cfg.label_smoothing, num_classes=num_classes)
            if cfg.mixup > 0 or cfg.cutmix > 0
            else None
        )

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, gen: torch.Generator):
        x = x.float() / 255
        if self.dataset != "imagenet":  # folders are cropped per image by the DataLoader workers
            x = random_resized_crop(x, x.shape[-1], scale=self.cfg.crop_scale, generator=gen)
        x = normalize(random_hflip(x, gen), self.dataset)
        if self.mixup is not None:
            x, soft = self.mixup(x, y)  # timm's Mixup draws from numpy's global RNG (checkpointed)
        if self.cfg.random_erasing > 0:
            x = random_erasing(x, self.cfg.random_erasing, gen)
        logits = model(x)
        if self.mixup is not None:
            loss = torch.sum(-soft * F.log_softmax(logits, dim=-1), dim=-1).mean()
        else:
            loss = F.cross_entropy(logits, y, label_smoothing=self.cfg.label_smoothing)
        return loss, {}


@torch.no_grad()
def predict(
    model: nn.Module,
    ds: ImageTensors | torch.utils.data.Dataset,
    dataset: str,
    batch_size: int = 512,
    device: torch.device | str = "cpu",
    num_workers: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels over a whole evaluation split, model in eval mode."""
    model.eval()
    batches = list(torch.arange(len(ds)).split(batch_size))
    preds, labels = [], []
    for x, y in iterate(ds, batches, num_workers):
        preds.append(model(normalize(x.to(device), dataset)).argmax(-1).cpu())
        labels.append(y)
    return torch.cat(preds), torch.cat(labels)
