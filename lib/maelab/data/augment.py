"""Batched augmentation on uint8/float image tensors, on the training device (the data path is never the bottleneck)."""

import numpy as np
import torch
from torchvision.ops import roi_align

from .datasets import DATASETS


def normalize(x: torch.Tensor, dataset: str) -> torch.Tensor:
    """uint8 or [0, 1] float images -> per-channel standardised float."""
    x = x.float() / 255 if x.dtype == torch.uint8 else x
    info = DATASETS[dataset]
    mean, std = (torch.tensor(v, device=x.device).view(1, -1, 1, 1) for v in (info.mean, info.std))
    return (x - mean) / std


def random_resized_crop(
    x: torch.Tensor,
    size: int,
    scale: tuple[float, float] = (0.2, 1.0),
    ratio: tuple[float, float] = (3 / 4, 4 / 3),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Batched torchvision-style RandomResizedCrop of float [B, C, H, W] via bilinear roi_align.

    Per image: area ~ U(scale) * H * W, log-aspect ~ U(log ratio); the first of 10 tries that fits is used,
    else the largest centred crop of clamped aspect (torchvision's fallback).
    """
    B, _, H, W = x.shape
    tries = 10
    dev = generator.device if generator is not None else x.device
    area = H * W * torch.empty(B, tries, device=dev).uniform_(*scale, generator=generator)
    log_r = torch.empty(B, tries, device=dev).uniform_(float(np.log(ratio[0])), float(np.log(ratio[1])), generator=generator)
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).round()
    h = torch.sqrt(area / aspect).round()
    ok = (w > 0) & (h > 0) & (w <= W) & (h <= H)
    first = torch.where(ok.any(1), ok.float().argmax(1), torch.full((B,), -1, device=dev))
    in_ratio = min(max(W / H, ratio[0]), ratio[1])
    fb_w, fb_h = (float(W), round(W / in_ratio)) if W / H < ratio[0] else (round(H * in_ratio), float(H))
    rows = torch.arange(B, device=dev)
    w = torch.where(first >= 0, w[rows, first.clamp(min=0)], torch.full((B,), float(fb_w), device=dev))
    h = torch.where(first >= 0, h[rows, first.clamp(min=0)], torch.full((B,), float(fb_h), device=dev))
    u = torch.rand(B, 2, device=dev, generator=generator)
    x0 = torch.where(first >= 0, torch.floor(u[:, 0] * (W - w + 1)), (W - w) / 2)
    y0 = torch.where(first >= 0, torch.floor(u[:, 1] * (H - h + 1)), (H - h) / 2)
    boxes = torch.stack([rows.float(), x0, y0, x0 + w, y0 + h], dim=1).to(x)
    return roi_align(x, boxes, output_size=size, aligned=True)


def random_hflip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Flip each image left-right with probability 1/2."""
    dev = generator.device if generator is not None else x.device
    flip = (torch.rand(x.shape[0], device=dev, generator=generator) < 0.5).to(x.device)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def mae_augment(x: torch.Tensor, dataset: str, generator: torch.Generator | None = None) -> torch.Tensor:
    """MAE pretraining augmentation on a batch: RandomResizedCrop(0.2, 1) + horizontal flip, then normalise.

    Image folders (ImageNet) were already cropped per image by the DataLoader workers: only flip here.
    """
    x = x.float() / 255 if x.dtype == torch.uint8 else x
    if dataset != "imagenet":
        x = random_resized_crop(x, x.shape[-1], generator=generator)
    return normalize(random_hflip(x, generator), dataset)
