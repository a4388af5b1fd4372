"""Datasets as uint8 tensors, resumable epoch batches, and MAE augmentation on tensors.

Fashion-MNIST (Debian package `dataset-fashion-mnist`, IDX gz) and CIFAR-10 are held in memory as
uint8 [N, C, H, W]; ImageNet-style folders are decoded by DataLoader workers. Augmentation runs on
whole batches of tensors (on the training device), so the data path is never the bottleneck.
"""

import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.ops import roi_align



@dataclass(frozen=True)
class DatasetInfo:
    """One row of the data table: everything the package needs to know about a dataset."""

    root: str  # default location; --data-root / data.root overrides it
    mean: tuple[float, ...]  # per-channel statistics of the training split (normalisation)
    std: tuple[float, ...]
    num_classes: int
    train_size: int
    splits: tuple[str, ...] = ("train", "test")


DATASETS = {
    "fashion_mnist": DatasetInfo("/usr/share/datasets/fashion-mnist", (0.2860,), (0.3530,), 10, 60_000),
    "cifar10": DatasetInfo("data/cifar10", (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616), 10, 50_000),
    "imagenet": DatasetInfo("data/imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1000, 1_281_167),
}
NUM_CLASSES = {name: info.num_classes for name, info in DATASETS.items()}


class DatasetNotFound(FileNotFoundError):
    pass


@dataclass(frozen=True)
class DataConfig:
    """Which images, at which size. img_size larger than the native size zero-pads (black border)."""

    name: str = "fashion_mnist"
    root: str = ""  # "" = DATASETS[name].root
    img_size: int = 28
    train_subset: int = 0  # 0 = the whole training split; else a class-stratified subset
    test_subset: int = 0  # 0 = the whole test split (every reported accuracy); smoke evaluates on fewer
    repeat_to: int = 0  # repeat the (subset) images to this many per epoch (single-image pretraining)
    download: bool = False  # CIFAR-10 only, and only when asked
    num_workers: int = 8  # ImageNet folders only

    def __post_init__(self):
        if self.name not in DATASETS:
            raise ValueError(f"unknown dataset {self.name!r}; choose one of {sorted(DATASETS)}")


@dataclass
class ImageTensors:
    images: torch.Tensor  # uint8 [N, C, H, W]
    labels: torch.Tensor  # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)


def _read_idx(path: Path) -> np.ndarray:
    """IDX file (gz) -> numpy array; magic = 0x0000 + dtype code 0x08 (uint8) + ndim."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    if raw[:3] != b"\x00\x00\x08":
        raise ValueError(f"{path} is not an IDX uint8 file")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_fashion_mnist(root: Path, train: bool) -> ImageTensors:
    prefix = "train" if train else "t10k"
    paths = [root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"]
    missing = [p for p in paths if not p.exists()]
    if missing:
        raise DatasetNotFound(
            f"Fashion-MNIST not found: tried {missing[0]}. Fix: `sudo apt-get install dataset-fashion-mnist` "
            f"(files land in {DATASETS['fashion_mnist'].root}), or pass --data-root DIR holding "
            f"{prefix}-images-idx3-ubyte.gz and {prefix}-labels-idx1-ubyte.gz"
        )
    images = torch.from_numpy(_read_idx(paths[0]).copy())[:, None]
    return ImageTensors(images, torch.from_numpy(_read_idx(paths[1]).astype(np.int64)))


def load_cifar10(root: Path, train: bool, download: bool) -> ImageTensors:
    from torchvision.datasets import CIFAR10

    try:
        ds = CIFAR10(str(root), train=train, download=download)
    except RuntimeError as e:
        raise DatasetNotFound(
            f"CIFAR-10 not found under {root} ({e}). Fix: pass --data-root DIR holding cifar-10-batches-py, "
            f"or set data.download = true in the profile on a machine with internet"
        ) from e
    return ImageTensors(torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous(), torch.tensor(ds.targets))


def imagenet_folder(root: Path, train: bool, img_size: int, crop: bool = True) -> torch.utils.data.Dataset:
    """ImageFolder yielding uint8 [3, S, S]: train RandomResizedCrop(0.2, 1) bicubic (MAE), val resize + centre crop.

    crop=False: every split resized + centre-cropped (for objectives that crop themselves, e.g. DINO's multi-crop).
    """
    from torchvision import datasets
    from torchvision.transforms import v2

    split = root / ("train" if train else "val")
    if not split.is_dir():
        raise DatasetNotFound(f"ImageNet split not found: tried {split}. Fix: pass --data-root DIR with train/ and val/ class folders")
    if train and crop:
        resize = v2.RandomResizedCrop(img_size, scale=(0.2, 1.0), interpolation=v2.InterpolationMode.BICUBIC)
    else:
        side = int(img_size / 0.875) if not train else img_size
        resize = v2.Compose([v2.Resize(side, interpolation=v2.InterpolationMode.BICUBIC), v2.CenterCrop(img_size)])
    return datasets.ImageFolder(str(split), transform=v2.Compose([v2.PILToTensor(), resize]))


def stratified_subset(ds: ImageTensors, n: int, seed: int = 0) -> ImageTensors:
    """n images with (as near as possible) equal counts per class, chosen by a seeded permutation."""
    order = torch.randperm(len(ds), generator=torch.Generator().manual_seed(seed))
    labels = ds.labels[order]
    rank_in_class = torch.zeros_like(labels)
    for c in labels.unique():
        idx = (labels == c).nonzero().squeeze(1)
        rank_in_class[idx] = torch.arange(len(idx))
    pick = order[torch.argsort(rank_in_class * len(ds) + torch.arange(len(ds)), stable=True)[:n]]
    return ImageTensors(ds.images[pick], ds.labels[pick])


def pad_to(images: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad [N, C, h, w] images to size x size, centred."""
    h, w = images.shape[-2:]
    if (h, w) == (size, size):
        return images
    if h > size or w > size:
        raise ValueError(f"img_size={size} is smaller than the native {h}x{w}; only padding is supported")
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(images, (left, size - w - left, top, size - h - top))


def load_dataset(cfg: DataConfig, train: bool, crop: bool = True) -> ImageTensors | torch.utils.data.Dataset:
    """The split as uint8 images; crop=False keeps image folders uncropped for self-cropping objectives."""
    root = Path(cfg.root or DATASETS[cfg.name].root)
    if cfg.name == "imagenet":
        return imagenet_folder(root, train, cfg.img_size, crop)
    ds = load_fashion_mnist(root, train) if cfg.name == "fashion_mnist" else load_cifar10(root, train, cfg.download)
    ds = ImageTensors(pad_to(ds.images, cfg.img_size), ds.labels)
    subset = cfg.train_subset if train else cfg.test_subset
    if subset:
        ds = stratified_subset(ds, subset)
    if train and cfg.repeat_to:
        reps = -(-cfg.repeat_to // len(ds))
        ds = ImageTensors(ds.images.repeat(reps, 1, 1, 1)[: cfg.repeat_to], ds.labels.repeat(reps)[: cfg.repeat_to])
    return ds


def images_per_epoch(cfg: DataConfig) -> int:
    """Training images per epoch of a data config (single-image runs repeat one image this many times)."""
    return cfg.repeat_to or cfg.train_subset or DATASETS[cfg.name].train_size


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, rank: int = 0, world: int = 1) -> list[torch.Tensor]:
    """This rank's index batches for one epoch: a permutation fixed by (seed, epoch), last partial batch dropped.

    The global batch is batch_size * world; rank r takes every world-th index of each global batch.
    """
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
    global_bs = batch_size * world
    return [perm[i + rank : i + global_bs : world] for i in range(0, n - global_bs + 1, global_bs)]


def iterate(
    ds: ImageTensors | torch.utils.data.Dataset, batches: list[torch.Tensor], num_workers: int = 0
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Yield (uint8 images [B, C, H, W], labels [B]) for the given index batches."""
    if isinstance(ds, ImageTensors):
        for idx in batches:
            yield ds.images[idx], ds.labels[idx]
        return
    loader = torch.utils.data.DataLoader(ds, batch_sampler=[b.tolist() for b in batches], num_workers=num_workers, pin_memory=True)
    yield from loader


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
