"""Folders of the ImageNet variants that HLVM §3.3 (Table 1) and §3.4 (Table 2) score an IN1K linear probe on, unchanged.

- ImageNet-V2 (Recht et al. 2019): folders 0..999, named by ImageNet class index.
- ImageNet-Sketch (Wang et al. 2019): WordNet-ID folders, all 1000 classes; the 1000-way top-1 is scored.
- ImageNet-R (Hendrycks et al. 2021) and ImageNet-A (Hendrycks et al. 2021): 200-class subsets in WordNet-ID folders;
  the top-1 runs over the set's 200 classes only (their eval code: `output[:, indices_in_1k]`).
- ObjectNet (Barbu et al. 2019): the 113 classes with ImageNet counterparts (the release's `mappings/`); the 1000-way
  top-1 is correct if it is any ImageNet class mapped to the image's class (the release's scorer); the 1-px red border
  of every image is cropped first.
- Geirhos et al. 2019's cue-conflict images: shape from the category folder, texture from the file name
  (`airplane1-bicycle2.png`), images whose two cues agree left out; the 16-category decision is the category with the
  highest mean softmax probability over its ImageNet classes (model-vs-human's `ImageNetProbabilitiesTo16ClassesMapping`).

WordNet IDs map to ImageNet indices through the sorted class folders of the ImageNet train split (torchvision's
ImageFolder order, that of every IN1K model here). Every image goes through the ImageNet evaluation transform
(`datasets.resize_centre_crop`).
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchvision.datasets.folder import IMG_EXTENSIONS, default_loader

from .datasets import NUM_CLASSES, DatasetNotFound, resize_centre_crop

SETS = ("imagenet-v2", "objectnet", "imagenet-r", "imagenet-a", "imagenet-sketch")  # Table 1's column order
OBJECTNET_MAPPINGS = (
    "folder_to_objectnet_label.json",  # image folder -> ObjectNet class
    "objectnet_to_imagenet_1k.json",  # ObjectNet class -> "; "-joined ImageNet labels (113 classes)
    "imagenet_to_label_2012_v2",  # line i: the label of ILSVRC-2012 id i
    "pytorch_to_imagenet_2012_id.json",  # ImageNet index (sorted WordNet IDs) -> ILSVRC-2012 id
)
WNID = re.compile(r"n\d{8}")
CUE_CONFLICT_NAME = re.compile(r"(?:.*_)?([a-z]+)\d+-([a-z]+)\d+\.\w+")  # [prefix_]<shape><i>-<texture><j>.<ext>

CUE_CONFLICT_CLASSES = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92, 93, 94, 95,
             96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140, 141, 142, 143, 144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": (152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173,
            174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191, 193, 194, 195, 196,
            197, 198, 199, 200, 201, 202, 203, 205, 206, 207, 208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219,
            220, 221, 222, 223, 224, 225, 226, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 243,
            244, 245, 246, 247, 248, 249, 250, 252, 253, 254, 255, 256, 257, 259, 261, 262, 263, 265, 266, 267, 268),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}  # fmt: skip
"""Geirhos et al.'s 16 categories -> their ImageNet indices (model-vs-human, helper/human_categories.py, `*_indices`)."""
CATEGORIES = tuple(CUE_CONFLICT_CLASSES)  # sorted, as the toolbox orders them


class ImageList(torch.utils.data.Dataset):
    """(path, label) pairs -> (uint8 [3, S, S], label): `border` px cropped off each side, then `resize_centre_crop`."""

    def __init__(self, samples: list[tuple[Path, int]], img_size: int, border: int = 0):
        self.samples, self.border, self.transform = samples, border, resize_centre_crop(img_size)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[i]
        img = default_loader(str(path))
        if self.border:
            w, h = img.size
            img = img.crop((self.border, self.border, w - self.border, h - self.border))
        return self.transform(img), label


@dataclass(frozen=True)
class ShiftedSet:
    """An ImageNet variant: its images (label k) and which 1000-way predictions count as correct."""

    images: ImageList
    accepted: np.ndarray  # bool [K, 1000]: row k marks the ImageNet classes that are correct for label k
    subset: np.ndarray  # bool [1000]: the ImageNet classes the top-1 runs over


@dataclass(frozen=True)
class CueConflict:
    """Geirhos et al.'s cue-conflict images; label = the shape category (index into CATEGORIES)."""

    images: ImageList
    texture: np.ndarray  # [N] the texture category of each image


def _folders(root: Path, what: str, fix: str) -> list[Path]:
    if not root.is_dir():
        raise DatasetNotFound(f"{what} not found: tried {root}. Fix: {fix}")
    return sorted(d for d in root.iterdir() if d.is_dir())


def _images(folder: Path) -> list[Path]:
    return sorted(f for f in folder.iterdir() if f.suffix.lower() in IMG_EXTENSIONS)


def _nonempty(samples: list[tuple[Path, int]], root: Path, what: str, fix: str) -> list[tuple[Path, int]]:
    if not samples:
        raise DatasetNotFound(f"{what}: no image under {root}. Fix: {fix}")
    return samples


def imagenet_wnids(imagenet_root: str | Path) -> list[str]:
    """The 1000 WordNet IDs in ImageNet index order: the sorted class folders of <imagenet_root>/train."""
    train = Path(imagenet_root).expanduser() / "train"
    fix = "pass --data-root DIR (or data.root) of the ImageNet holding train/ with its 1000 WordNet-ID folders"
    wnids = [d.name for d in _folders(train, "ImageNet train split", fix)]
    if len(wnids) != NUM_CLASSES["imagenet"] or not all(WNID.fullmatch(w) for w in wnids):
        raise DatasetNotFound(f"{train} holds {len(wnids)} folders, not the 1000 WordNet-ID class folders. Fix: {fix}")
    return wnids


def _single_label(samples: list[tuple[Path, int]], img_size: int, subset: np.ndarray) -> ShiftedSet:
    return ShiftedSet(ImageList(samples, img_size), np.eye(NUM_CLASSES["imagenet"], dtype=bool), subset)


def imagenet_v2(root: str | Path, img_size: int) -> ShiftedSet:
    """ImageNet-V2 (any of its three test sets): folders 0..999 named by ImageNet index; 1000-way top-1."""
    root = Path(root).expanduser()
    fix = "pass the ImageNet-V2 folder whose class folders are named 0..999 (e.g. imagenetv2-matched-frequency-format-val)"
    samples = []
    for d in _folders(root, "ImageNet-V2", fix):
        if not (d.name.isdigit() and int(d.name) < NUM_CLASSES["imagenet"]):
            raise DatasetNotFound(f"ImageNet-V2: folder {d} is not a class index 0..999. Fix: {fix}")
        samples += [(f, int(d.name)) for f in _images(d)]
    return _single_label(_nonempty(samples, root, "ImageNet-V2", fix), img_size, np.ones(NUM_CLASSES["imagenet"], bool))


def wordnet_folders(root: str | Path, wnids: list[str], img_size: int, restrict: bool, what: str) -> ShiftedSet:
    """A set in WordNet-ID class folders (ImageNet-Sketch, -R, -A); `wnids` from `imagenet_wnids`. restrict: the top-1
    runs over the classes that have a folder (ImageNet-R/-A's 200), else over all 1000 (ImageNet-Sketch)."""
    root = Path(root).expanduser()
    fix = f"pass the {what} folder whose class folders are ImageNet WordNet IDs (n01440764, ...)"
    index = {w: i for i, w in enumerate(wnids)}
    samples, subset = [], np.zeros(len(wnids), bool) if restrict else np.ones(len(wnids), bool)
    for d in _folders(root, what, fix):
        if d.name not in index:
            raise DatasetNotFound(f"{what}: folder {d} is not the WordNet ID of an ImageNet class. Fix: {fix}")
        subset[index[d.name]] = True
        samples += [(f, index[d.name]) for f in _images(d)]
    return _single_label(_nonempty(samples, root, what, fix), img_size, subset)


def objectnet(root: str | Path, img_size: int) -> ShiftedSet:
    """ObjectNet's images of the 113 classes with ImageNet counterparts (label = the class, sorted by name), their 1-px
    red border cropped; a 1000-way top-1 is correct if it is any of the ImageNet classes mapped to the image's class."""
    root = Path(root).expanduser()
    fix = "pass the objectnet-1.0 folder of the release, holding images/ and mappings/ (" + ", ".join(OBJECTNET_MAPPINGS) + ")"
    maps = [root / "mappings" / f for f in OBJECTNET_MAPPINGS]
    absent = [m for m in maps if not m.is_file()]
    if absent:
        raise DatasetNotFound(f"ObjectNet mapping file not found: tried {absent[0]}. Fix: {fix}")
    folder_to_label, to_imagenet = json.loads(maps[0].read_text()), json.loads(maps[1].read_text())
    label_of_id = maps[2].read_text().splitlines()
    index_of_label = {label_of_id[int(i)].strip(): int(index) for index, i in json.loads(maps[3].read_text()).items()}
    classes = sorted(to_imagenet)
    accepted = np.zeros((len(classes), NUM_CLASSES["imagenet"]), bool)
    for k, c in enumerate(classes):
        accepted[k, [index_of_label[name] for name in to_imagenet[c].split("; ")]] = True
    label_of = {c: k for k, c in enumerate(classes)}
    samples = []
    for d in _folders(root / "images", "ObjectNet images", fix):
        if d.name not in folder_to_label:
            raise DatasetNotFound(f"ObjectNet: folder {d} is not in {OBJECTNET_MAPPINGS[0]}. Fix: {fix}")
        if folder_to_label[d.name] in label_of:
            samples += [(f, label_of[folder_to_label[d.name]]) for f in _images(d)]
    images = ImageList(_nonempty(samples, root / "images", "ObjectNet", fix), img_size, border=1)
    return ShiftedSet(images, accepted, np.ones(NUM_CLASSES["imagenet"], bool))


def load(name: str, root: str | Path, imagenet_root: str | Path, img_size: int) -> ShiftedSet:
    """One set of SETS from its folder; imagenet_root: the ImageNet whose train/ folders give the WordNet-ID order."""
    if name == "imagenet-v2":
        return imagenet_v2(root, img_size)
    if name == "objectnet":
        return objectnet(root, img_size)
    if name in ("imagenet-r", "imagenet-a", "imagenet-sketch"):
        what = {"imagenet-r": "ImageNet-R", "imagenet-a": "ImageNet-A", "imagenet-sketch": "ImageNet-Sketch"}[name]
        return wordnet_folders(root, imagenet_wnids(imagenet_root), img_size, name != "imagenet-sketch", what)
    raise ValueError(f"unknown ImageNet variant {name!r}; choose from {list(SETS)}")


def correct(s: ShiftedSet, logits: torch.Tensor, labels: torch.Tensor) -> np.ndarray:
    """1 where the top-1 over `s.subset` of 1000-way logits [B, 1000] is a class accepted for the label, int8 [B]."""
    pred = logits.cpu().masked_fill(~torch.from_numpy(s.subset), float("-inf")).argmax(-1)
    return s.accepted[labels.numpy(), pred.numpy()].astype(np.int8)


def cue_conflict(root: str | Path, img_size: int) -> CueConflict:
    """The cue-conflict folder (16 category folders of `<shape><i>-<texture><j>.png`), images with two cues only."""
    root = Path(root).expanduser()
    fix = (
        "pass Geirhos et al.'s cue-conflict folder (texture-vs-shape stimuli/style-transfer-preprocessed-512): "
        f"one folder per category ({', '.join(CATEGORIES)}) of files named like airplane1-bicycle2.png"
    )
    samples, texture = [], []
    for d in _folders(root, "cue-conflict images", fix):
        if d.name not in CUE_CONFLICT_CLASSES:
            raise DatasetNotFound(f"cue-conflict: folder {d} is not one of the 16 categories. Fix: {fix}")
        for f in _images(d):
            m = CUE_CONFLICT_NAME.fullmatch(f.name)
            if not m or m[1] != d.name or m[2] not in CUE_CONFLICT_CLASSES:
                raise DatasetNotFound(f"cue-conflict: cannot read shape {d.name!r} and a texture from {f}. Fix: {fix}")
            if m[2] != d.name:
                samples.append((f, CATEGORIES.index(d.name)))
                texture.append(CATEGORIES.index(m[2]))
    return CueConflict(ImageList(_nonempty(samples, root, "cue-conflict", fix), img_size), np.array(texture, dtype=np.int64))


def category_decision(logits: torch.Tensor) -> np.ndarray:
    """The 16-category decision: argmax over CATEGORIES of the mean softmax probability of each category's ImageNet
    classes; 1000-way logits [B, 1000] -> category index [B]."""
    probs = logits.float().softmax(-1).cpu()
    return torch.stack([probs[:, list(CUE_CONFLICT_CLASSES[c])].mean(-1) for c in CATEGORIES], -1).argmax(-1).numpy()


def shape_bias(decision: np.ndarray, shape: np.ndarray, texture: np.ndarray) -> tuple[float, int, int]:
    """Geirhos et al.: shape decisions / (shape + texture decisions), with the two counts (NaN when neither occurs)."""
    n_shape, n_texture = int((decision == shape).sum()), int((decision == texture).sum())
    return (n_shape / (n_shape + n_texture) if n_shape + n_texture else float("nan")), n_shape, n_texture
