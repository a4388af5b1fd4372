"""The data table (one row per dataset: where it lives, its statistics, classes, splits, loader) and resumable batches.

Fashion-MNIST (Debian package `dataset-fashion-mnist`, IDX gz), CIFAR-10 and the synthetic hierarchical dataset
(data/hierarchical.py, generated and cached) are held in memory as uint8 [N, C, H, W]; ImageNet-style folders are
decoded by DataLoader workers. A new dataset is one entry of `DATASETS`.
"""

import gzip
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import hierarchical


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
            f"(files land in /usr/share/datasets/fashion-mnist), or pass --data-root DIR holding "
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


def resize_centre_crop(img_size: int, crop_fraction: float = 0.875) -> Callable:
    """PIL image -> uint8 [3, S, S]: short side resized (bicubic) to S / crop_fraction, then the centre S x S crop.

    MAE's evaluation transform (crop_fraction 0.875: 256 -> 224); crop_fraction 1 resizes to S before the crop."""
    from torchvision.transforms import v2

    return v2.Compose(
        [
            v2.PILToTensor(),
            v2.Resize(int(img_size / crop_fraction), interpolation=v2.InterpolationMode.BICUBIC),
            v2.CenterCrop(img_size),
        ]
    )


def imagenet_folder(root: Path, train: bool, img_size: int, crop: bool = True) -> torch.utils.data.Dataset:
    """ImageFolder yielding uint8 [3, S, S]: train RandomResizedCrop(0.2, 1) bicubic (MAE), val `resize_centre_crop`.

    crop=False: every split resized + centre-cropped (for objectives that crop themselves, e.g. DINO's multi-crop).
    """
    from torchvision import datasets
    from torchvision.transforms import v2

    split = root / ("train" if train else "val")
    if not split.is_dir():
        raise DatasetNotFound(
            f"ImageNet split not found: tried {split}. Fix: pass --data-root DIR with train/ and val/ class folders"
        )
    if train and crop:
        transform = v2.Compose(
            [v2.PILToTensor(), v2.RandomResizedCrop(img_size, scale=(0.2, 1.0), interpolation=v2.InterpolationMode.BICUBIC)]
        )
    else:
        transform = resize_centre_crop(img_size, 1.0 if train else 0.875)
    return datasets.ImageFolder(str(split), transform=transform)


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


def load_hierarchical(root: Path, split: str) -> ImageTensors:
    data = hierarchical.load(root, split)
    return ImageTensors(torch.from_numpy(data["images"]), torch.from_numpy(data["labels"]))


def check_fashion_mnist(root: Path, cfg: DataConfig) -> None:
    for train in (True, False):
        prefix = "train" if train else "t10k"
        if not all((root / f"{prefix}-{kind}-ubyte.gz").exists() for kind in ("images-idx3", "labels-idx1")):
            load_fashion_mnist(root, train)  # raises DatasetNotFound naming the file and the fix


def check_cifar10(root: Path, cfg: DataConfig) -> None:
    if not cfg.download and not (root / "cifar-10-batches-py").is_dir():
        raise DatasetNotFound(
            f"CIFAR-10 not found: tried {root / 'cifar-10-batches-py'}. Fix: pass --data-root DIR holding "
            f"cifar-10-batches-py, or set data.download = true in the profile on a machine with internet"
        )


def check_imagenet(root: Path, cfg: DataConfig) -> None:
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise DatasetNotFound(
                f"ImageNet split not found: tried {root / split}. Fix: pass --data-root DIR with train/ and val/ class folders"
            )


@dataclass(frozen=True)
class DatasetInfo:
    """One row of the data table: everything the package needs to know about a dataset."""

    root: str  # default location; --data-root / data.root overrides it
    mean: tuple[float, ...]  # per-channel statistics of the training split (normalisation)
    std: tuple[float, ...]
    num_classes: int
    train_size: int
    test_size: int
    load: Callable[[Path, str, DataConfig, bool], ImageTensors | torch.utils.data.Dataset]  # (root, split, cfg, crop)
    check: Callable[[Path, DataConfig], None]  # cheap existence check: DatasetNotFound naming the fix, or nothing
    splits: tuple[str, ...] = ("train", "test")


DATASETS = {
    "fashion_mnist": DatasetInfo(
        "/usr/share/datasets/fashion-mnist",
        (0.2860,),
        (0.3530,),
        10,
        60_000,
        10_000,
        lambda root, split, cfg, crop: load_fashion_mnist(root, split == "train"),
        check_fashion_mnist,
    ),
    "cifar10": DatasetInfo(
        "data/cifar10",
        (0.4914, 0.4822, 0.4465),
        (0.2470, 0.2435, 0.2616),
        10,
        50_000,
        10_000,
        lambda root, split, cfg, crop: load_cifar10(root, split == "train", cfg.download),
        check_cifar10,
    ),
    "imagenet": DatasetInfo(
        "data/imagenet",
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        1000,
        1_281_167,
        50_000,
        lambda root, split, cfg, crop: imagenet_folder(root, split == "train", cfg.img_size, crop),
        check_imagenet,
    ),
    # generated from a seed and cached (no file of it is committed); its shifted splits change only low-level latents
    "hierarchical": DatasetInfo(
        "~/.cache/maelab/hierarchical",
        *hierarchical.MEAN_STD,
        hierarchical.NUM_CLASSES,
        hierarchical.SPLIT_SIZES["train"],
        hierarchical.SPLIT_SIZES["test"],
        lambda root, split, cfg, crop: load_hierarchical(root, split),
        lambda root, cfg: None,
        hierarchical.SPLITS,
    ),
}
NUM_CLASSES = {name: info.num_classes for name, info in DATASETS.items()}


def data_root(cfg: DataConfig) -> Path:
    return Path(cfg.root or DATASETS[cfg.name].root).expanduser()


def check_available(cfg: DataConfig) -> None:
    """A cheap existence check of the dataset's files (no image is read): DatasetNotFound with its Fix text, or nothing."""
    DATASETS[cfg.name].check(data_root(cfg), cfg)


def load_split(cfg: DataConfig, split: str, crop: bool = True) -> ImageTensors | torch.utils.data.Dataset:
    """One split as uint8 images, padded to cfg.img_size, subset as configured; crop=False keeps image folders
    uncropped for self-cropping objectives. Subsets apply to "train" (train_subset, repeat_to) and to every other
    split (test_subset), so a shifted test split is scored on the same images as "test"."""
    info = DATASETS[cfg.name]
    if split not in info.splits:
        raise ValueError(f"{cfg.name} has no split {split!r}; its splits: {list(info.splits)}")
    ds = info.load(data_root(cfg), split, cfg, crop)
    if not isinstance(ds, ImageTensors):
        return ds
    train = split == "train"
    ds = ImageTensors(pad_to(ds.images, cfg.img_size), ds.labels)
    subset = cfg.train_subset if train else cfg.test_subset
    if subset:
        ds = stratified_subset(ds, subset)
    if train and cfg.repeat_to:
        reps = -(-cfg.repeat_to // len(ds))
        ds = ImageTensors(ds.images.repeat(reps, 1, 1, 1)[: cfg.repeat_to], ds.labels.repeat(reps)[: cfg.repeat_to])
    return ds


def load_dataset(cfg: DataConfig, train: bool, crop: bool = True) -> ImageTensors | torch.utils.data.Dataset:
    """The training or the test split (load_split)."""
    return load_split(cfg, "train" if train else "test", crop)


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
    loader = torch.utils.data.DataLoader(
        ds, batch_sampler=[b.tolist() for b in batches], num_workers=num_workers, pin_memory=True
    )
    yield from loader
