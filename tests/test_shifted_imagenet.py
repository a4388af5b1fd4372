"""The ImageNet variants and the cue-conflict images (data/shifted_imagenet.py) on tiny fake folders, against
hand-built expectations; the paper-scale grid's IN1K probes (hlvm.runs.probes) and their cached scoring."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from maelab.data import shifted_imagenet as si
from maelab.data.datasets import DatasetNotFound, imagenet_folder
from maelab.papers.hlvm import experiments as hx
from maelab.papers.hlvm.runs import grid, probes
from maelab.pipeline.config import load_profile

WNIDS = [f"n{i:08d}" for i in range(1000)]  # stand-ins for the 1000 WordNet IDs, in sorted order


def png(path: Path, size=(12, 10), colour=(0, 200, 0), border=None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", size, colour)
    if border:
        for x in range(size[0]):
            for y in range(size[1]):
                if x in (0, size[0] - 1) or y in (0, size[1] - 1):
                    img.putpixel((x, y), border)
    img.save(path)
    return path


@pytest.fixture
def imagenet(tmp_path) -> Path:
    for w in WNIDS:
        (tmp_path / "imagenet" / "train" / w).mkdir(parents=True)
    return tmp_path / "imagenet"


def logits_with(**top) -> torch.Tensor:
    """[1, 1000] logits: 0 everywhere, `value` at class index `c<index>`."""
    z = torch.zeros(1, 1000)
    for key, value in top.items():
        z[0, int(key[1:])] = value
    return z


def test_imagenet_r_scores_the_top1_inside_its_class_subset(tmp_path, imagenet):
    for w in (WNIDS[3], WNIDS[7]):
        png(tmp_path / "r" / w / "a.jpg")
    s = si.load("imagenet-r", tmp_path / "r", imagenet, 8)
    assert [label for _, label in s.images.samples] == [3, 7] and s.subset.sum() == 2
    # the 1000-way argmax (class 500) is outside the subset; inside it, class 3 wins: correct for label 3, not for 7
    z = logits_with(c500=9.0, c3=2.0, c7=1.0)
    assert si.correct(s, z.repeat(2, 1), torch.tensor([3, 7])).tolist() == [1, 0]
    sketch = si.load("imagenet-sketch", tmp_path / "r", imagenet, 8)  # all 1000 classes compete: 500 wins
    assert si.correct(sketch, z, torch.tensor([3])).tolist() == [0]


def test_imagenet_v2_reads_class_index_folders(tmp_path):
    png(tmp_path / "v2" / "0" / "a.png")
    png(tmp_path / "v2" / "999" / "b.jpeg")
    (tmp_path / "v2" / "999" / "notes.txt").write_text("not an image")
    s = si.load("imagenet-v2", tmp_path / "v2", tmp_path / "unused", 8)
    assert [label for _, label in s.images.samples] == [0, 999]
    assert si.correct(s, logits_with(c999=1.0).repeat(2, 1), torch.tensor([0, 999])).tolist() == [0, 1]


def objectnet_release(root: Path) -> Path:
    """Three folders: two ObjectNet classes with ImageNet counterparts, one without; ILSVRC ids = 999 - index."""
    maps = root / "mappings"
    maps.mkdir(parents=True)
    (maps / "folder_to_objectnet_label.json").write_text(
        json.dumps({"alarm_clock": "Alarm clock", "banana": "Banana", "bag": "Bag"})
    )
    (maps / "objectnet_to_imagenet_1k.json").write_text(
        json.dumps({"Alarm clock": "label 10; label 20", "Banana": "label 30"})
    )
    (maps / "imagenet_to_label_2012_v2").write_text("".join(f"label {999 - i}\n" for i in range(1000)))
    (maps / "pytorch_to_imagenet_2012_id.json").write_text(json.dumps({str(i): 999 - i for i in range(1000)}))
    png(root / "images" / "alarm_clock" / "1.png", border=(255, 0, 0))
    png(root / "images" / "banana" / "2.png", border=(255, 0, 0))
    png(root / "images" / "bag" / "3.png", border=(255, 0, 0))
    return root


def test_objectnet_counts_any_mapped_class_and_crops_the_red_border(tmp_path):
    s = si.load("objectnet", objectnet_release(tmp_path / "objectnet-1.0"), tmp_path / "unused", 8)
    assert [(p.parent.name, label) for p, label in s.images.samples] == [("alarm_clock", 0), ("banana", 1)]  # no bag
    assert np.flatnonzero(s.accepted[0]).tolist() == [10, 20] and np.flatnonzero(s.accepted[1]).tolist() == [30]
    labels = torch.tensor([0, 0, 1])
    z = torch.cat([logits_with(c20=1.0), logits_with(c30=1.0), logits_with(c30=1.0)])
    assert si.correct(s, z, labels).tolist() == [1, 0, 1]  # class 20 counts for "Alarm clock" as 10 would
    img, _ = s.images[0]
    assert img.shape == (3, 8, 8) and img[0].max() == 0 and img[1].min() == 200  # no red left, all green


def test_objectnet_without_its_mapping_files_names_the_fix(tmp_path):
    root = objectnet_release(tmp_path / "objectnet-1.0")
    (root / "mappings" / "objectnet_to_imagenet_1k.json").unlink()
    with pytest.raises(DatasetNotFound, match="objectnet_to_imagenet_1k.json. Fix: pass the objectnet-1.0 folder"):
        si.objectnet(root, 8)


def test_cue_conflict_reads_shape_from_the_folder_texture_from_the_name(tmp_path):
    png(tmp_path / "cc" / "airplane" / "airplane1-bicycle2.png")
    png(tmp_path / "cc" / "airplane" / "airplane1-airplane3.png")  # the two cues agree: left out
    png(tmp_path / "cc" / "dog" / "prefix_dog2-knife1.png")
    cc = si.cue_conflict(tmp_path / "cc", 8)
    cats = si.CATEGORIES
    assert [(p.name, cats[label]) for p, label in cc.images.samples] == [
        ("airplane1-bicycle2.png", "airplane"),
        ("prefix_dog2-knife1.png", "dog"),
    ]
    assert [cats[t] for t in cc.texture] == ["bicycle", "knife"]


def test_the_16_category_decision_is_the_mean_over_each_categorys_classes():
    """One dog class at p = 0.5 (the 1000-way argmax) among 109 dog classes loses to the lone knife class at p = 0.2."""
    dog, knife = si.CUE_CONFLICT_CLASSES["dog"][0], si.CUE_CONFLICT_CLASSES["knife"][0]
    probs = torch.full((1, 1000), 0.3 / 998)
    probs[0, dog], probs[0, knife] = 0.5, 0.2
    assert len(si.CUE_CONFLICT_CLASSES["dog"]) == 109 and probs.argmax() == dog
    assert si.CATEGORIES[si.category_decision(probs.log())[0]] == "knife"
    # shape bias: 2 shape decisions, 1 texture decision, 1 neither
    decision, shape, texture = np.array([0, 1, 5, 3]), np.array([0, 2, 4, 3]), np.array([1, 1, 6, 7])
    assert si.shape_bias(decision, shape, texture) == (2 / 3, 2, 1)


@pytest.mark.parametrize(
    "make, call, message",
    [
        (lambda r: None, lambda r, i: si.load("imagenet-a", r / "nowhere", i, 8), "ImageNet-A not found: tried"),
        (lambda r: png(r / "a" / "dogs" / "x.png"), lambda r, i: si.load("imagenet-a", r / "a", i, 8), "not the WordNet ID"),
        (lambda r: png(r / "v2" / "1000" / "x.png"), lambda r, i: si.load("imagenet-v2", r / "v2", i, 8), "not a class index"),
        (lambda r: (r / "a" / WNIDS[0]).mkdir(parents=True), lambda r, i: si.load("imagenet-a", r / "a", i, 8), "no image"),
        (lambda r: None, lambda r, i: si.imagenet_wnids(r), "ImageNet train split not found"),
        (lambda r: (r / "train" / "n01440764").mkdir(parents=True), lambda r, i: si.imagenet_wnids(r), "holds 1 folders"),
        (lambda r: png(r / "cc" / "zebra" / "zebra1-cat1.png"), lambda r, i: si.cue_conflict(r / "cc", 8), "16 categories"),
        (lambda r: png(r / "cc" / "cat" / "cat.png"), lambda r, i: si.cue_conflict(r / "cc", 8), "cannot read shape"),
        (lambda r: png(r / "cc" / "cat" / "cat1-zebra2.png"), lambda r, i: si.cue_conflict(r / "cc", 8), "cannot read"),
    ],
)
def test_bad_folders_raise_dataset_not_found_naming_the_fix(tmp_path, imagenet, make, call, message):
    make(tmp_path)
    with pytest.raises(DatasetNotFound, match=message) as e:
        call(tmp_path, imagenet)
    assert "Fix: pass" in str(e.value)


def test_variants_go_through_the_imagenet_evaluation_transform(tmp_path, imagenet):
    """The same image through ImageNet's val split and through a variant's loader gives the same tensor."""
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 256, (30, 20, 3), dtype=np.uint8))
    for split in ("val", "sketch"):
        (tmp_path / split / WNIDS[0]).mkdir(parents=True)
        img.save(tmp_path / split / WNIDS[0] / "x.png")
    val = imagenet_folder(tmp_path, train=False, img_size=16)[0][0]
    sketch = si.load("imagenet-sketch", tmp_path / "sketch", imagenet, 16).images[0][0]
    assert val.shape == (3, 16, 16) and torch.equal(val, sketch)


def test_paper_grid_has_in1k_probes_and_mini_has_none(tmp_path):
    paper, mini = load_profile("paper"), load_profile("mini")
    assert probes(mini) == {}
    lp = probes(paper)
    assert set(lp) == set(grid(paper)) and lp[("coupled", 16)].name == "mae_r0.75_lp"  # the bank's own probe
    assert lp[("ratio", 0.1)].spec.encoder == grid(paper)[("ratio", 0.1)].spec.model.encoder  # ViT patch 8, not 16
    finished, absent = hx.in1k_probes(tmp_path, paper)
    assert finished == {} and "hlvm_r0.1_u16_lp" in absent and len(absent) == len(set(absent))


def test_a_probe_is_scored_on_the_cue_conflict_folder_once_then_read_from_the_cache(tmp_path, monkeypatch):
    """_score_probe's wiring with a stand-in probe that always answers ImageNet class 499 (knife)."""
    png(tmp_path / "cc" / "airplane" / "airplane1-knife2.png")
    png(tmp_path / "cc" / "cat" / "cat1-bottle1.png")
    p = load_profile("paper", ["runtime.eval_batch_size=1", "probe_data.num_workers=0"])
    run = probes(p)[("ratio", 0.1)]
    calls = []

    class Knife(torch.nn.Module):
        def forward(self, x):
            return logits_with(c499=5.0).repeat(len(x), 1)

    def load_probe(results_dir, profile, name):
        calls.append(name)
        return Knife()

    monkeypatch.setattr(hx, "load_run", lambda results_dir, profile, name: run)
    monkeypatch.setattr(hx, "load_probe", load_probe)
    cats = si.CATEGORIES
    for _ in range(2):
        out = hx.cue_conflict_decisions(tmp_path, p, run.name, tmp_path / "cc")
        assert [cats[i] for i in out["decision"]] == ["knife", "knife"]
        assert [cats[i] for i in out["shape"]] == ["airplane", "cat"] and [cats[i] for i in out["texture"]] == [
            "knife",
            "bottle",
        ]
    assert calls == [run.name] and list((tmp_path / "paper" / "analysis").glob("hlvm_cue_conflict_*.npz"))
