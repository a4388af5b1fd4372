import gzip
import hashlib
from pathlib import Path

import pytest
import torch

from maelab.data import hierarchical
from maelab.data.augment import random_hflip, random_resized_crop
from maelab.data.datasets import (
    DATASETS,
    DataConfig,
    DatasetNotFound,
    ImageTensors,
    check_available,
    epoch_batches,
    load_dataset,
    load_fashion_mnist,
    load_split,
    pad_to,
    stratified_subset,
)

FMNIST = Path("/usr/share/datasets/fashion-mnist")
needs_fmnist = pytest.mark.skipif(not FMNIST.exists(), reason="Debian package dataset-fashion-mnist not installed")


@needs_fmnist
def test_fashion_mnist_matches_published_md5():
    ds = load_fashion_mnist(FMNIST, train=False)
    assert ds.images.shape == (10000, 1, 28, 28) and ds.images.dtype == torch.uint8
    raw = gzip.open(FMNIST / "t10k-images-idx3-ubyte.gz").read()
    assert hashlib.md5(raw).hexdigest() == "8181f5470baa50b63fa0f6fddb340f0a"
    assert ds.labels.bincount().tolist() == [1000] * 10


def test_missing_dataset_names_path_and_fix(tmp_path):
    with pytest.raises(DatasetNotFound, match="apt-get install dataset-fashion-mnist.*--data-root"):
        load_dataset(DataConfig(root=str(tmp_path)), train=True)


def test_unknown_dataset():
    with pytest.raises(ValueError, match="choose one of"):
        DataConfig(name="mnist")


def test_stratified_subset_is_balanced_and_seeded():
    ds = ImageTensors(torch.arange(1000, dtype=torch.uint8).view(1000, 1, 1, 1), torch.arange(1000) % 10)
    sub = stratified_subset(ds, 50)
    assert sub.labels.bincount().tolist() == [5] * 10
    assert torch.equal(sub.images, stratified_subset(ds, 50).images)


def test_pad_to_centres():
    x = torch.ones(1, 1, 28, 28, dtype=torch.uint8)
    y = pad_to(x, 32)
    assert y.shape == (1, 1, 32, 32) and y[..., 2:30, 2:30].all() and y.sum() == 28 * 28


def test_epoch_batches_partition_global_batch_across_ranks():
    single = epoch_batches(100, 8, seed=3, epoch=1)
    r0 = epoch_batches(100, 4, seed=3, epoch=1, rank=0, world=2)
    r1 = epoch_batches(100, 4, seed=3, epoch=1, rank=1, world=2)
    assert len(single) == len(r0) == 12
    for s, a, b in zip(single, r0, r1):
        assert sorted(s.tolist()) == sorted(a.tolist() + b.tolist())
    assert not torch.equal(single[0], epoch_batches(100, 8, seed=3, epoch=2)[0])


def test_full_box_crop_is_identity_and_crops_are_seeded():
    x = torch.rand(4, 1, 28, 28)
    from torchvision.ops import roi_align

    boxes = torch.tensor([[i, 0, 0, 28, 28] for i in range(4)], dtype=torch.float)
    assert torch.allclose(roi_align(x, boxes, 28, aligned=True), x, atol=1e-6)
    a = random_resized_crop(x, 28, generator=torch.Generator().manual_seed(0))
    b = random_resized_crop(x, 28, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b) and a.shape == x.shape


def test_crop_of_constant_image_is_constant_and_flip_flips():
    x = torch.full((8, 1, 20, 20), 0.5)
    assert torch.allclose(random_resized_crop(x, 12), torch.full((8, 1, 12, 12), 0.5))
    ramp = torch.arange(5.0).view(1, 1, 1, 5).expand(64, 1, 1, 5)
    out = random_hflip(ramp, torch.Generator().manual_seed(0))
    flipped = (out[:, 0, 0, 0] == 4).float().mean()
    assert 0.25 < flipped < 0.75


def test_every_dataset_of_the_table_is_a_valid_data_name():
    for name, info in DATASETS.items():
        assert DataConfig(name=name).name == name and len(info.mean) == len(info.std) and "train" in info.splits


def test_the_hierarchical_dataset_loads_every_split_through_the_table(tmp_path, monkeypatch):
    """data.name = "hierarchical" works like any dataset: same test images in every shifted split, labels kept."""
    monkeypatch.setattr(hierarchical, "SPLIT_SIZES", {s: 40 for s in hierarchical.SPLITS})
    cfg = DataConfig(name="hierarchical", root=str(tmp_path), img_size=32)
    check_available(cfg)
    test = load_split(cfg, "test")
    assert test.images.shape == (40, 1, 32, 32) and test.images.dtype == torch.uint8
    for split in ("cue_conflict", "shift_noise"):
        shifted = load_split(cfg, split)
        assert torch.equal(shifted.labels, test.labels) and not torch.equal(shifted.images, test.images)
    with pytest.raises(ValueError, match="has no split 'val'"):
        load_split(cfg, "val")


def test_a_missing_dataset_is_reported_before_any_image_is_read(tmp_path):
    with pytest.raises(DatasetNotFound, match="Fix: "):
        check_available(DataConfig(root=str(tmp_path)))
    with pytest.raises(DatasetNotFound, match="--data-root"):
        check_available(DataConfig(name="imagenet", root=str(tmp_path)))
