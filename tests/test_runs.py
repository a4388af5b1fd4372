"""Runs rebuilt from their own files: config round trip, hash checks, and a probe kept for other test splits."""

import json

import numpy as np
import pytest
import torch

from maelab.data import hierarchical
from maelab.data.augment import normalize
from maelab.data.datasets import load_split
from maelab.pipeline.builders import probe, random_init
from maelab.pipeline.config import identity, load_profile
from maelab.pipeline.jobs import execute
from maelab.pipeline.registry import all_runs
from maelab.pipeline.runs import Run, RunConflict, from_identity, load_probe, load_run, run_dir
from maelab.training.probe import ProbeConfig


@pytest.mark.parametrize("profile", ["smoke", "paper"])
def test_every_declared_spec_survives_its_json_round_trip(profile):
    for run in all_runs(load_profile(profile)):
        rebuilt = from_identity(type(run.spec), json.loads(json.dumps(identity(run.spec))))
        assert Run(run.name, rebuilt).hash == run.hash


def test_an_edited_config_json_is_refused(tmp_path):
    p = load_profile("smoke", ["probe.epochs=1", "data.train_subset=64", "data.test_subset=32"])
    run = random_init(p, 0)[1]
    execute(run, tmp_path, p.name, p.runtime)
    assert load_run(tmp_path, p.name, run.name) == run
    config = run_dir(tmp_path, p.name, run.name) / "config.json"
    data = json.loads(config.read_text())
    data["spec"]["optim"]["epochs"] = 5.0
    config.write_text(json.dumps(data))
    with pytest.raises(RunConflict, match="config.json"):
        load_run(tmp_path, p.name, run.name)


def test_a_probe_scores_other_splits_with_its_saved_head(tmp_path, monkeypatch):
    """The probe keeps its head (probe.pt): scoring its own test split again gives its recorded predictions, and a
    shifted split of the synthetic dataset is scored by the same head."""
    monkeypatch.setattr(hierarchical, "SPLIT_SIZES", {s: 96 for s in hierarchical.SPLITS})
    root = tmp_path / "data"
    p = load_profile(
        "smoke",
        [
            "data.name=hierarchical",
            "data.img_size=32",
            "encoder.img_size=32",
            f"data.root='{root}'",
            "data.train_subset=0",
            "data.test_subset=0",
            "probe.epochs=1",
        ],
    )
    run = Run("random_init_lp", probe(p, None, 0, ProbeConfig(head="linear")))
    execute(run, tmp_path, p.name, p.runtime)
    model = load_probe(tmp_path, p.name, run.name)
    recorded = np.load(run_dir(tmp_path, p.name, run.name) / "predictions.npz")
    with torch.no_grad():
        for split in ("test", "shift_contrast"):
            ds = load_split(p.probe_data, split)
            pred = model(normalize(ds.images, "hierarchical")).argmax(-1).numpy()
            assert pred.shape == (96,)
            if split == "test":
                assert np.array_equal(pred, recorded["pred"]) and np.array_equal(ds.labels.numpy(), recorded["label"])


def test_attention_distances_are_cached_per_run(tmp_path, monkeypatch):
    """Adding a run to a figure measures only that run; the others are read back from their own caches."""
    from maelab.evaluation import analysis

    measured = []

    def fake_distance(encoder, imgs):
        measured.append(encoder)
        return np.full((len(imgs), 2, 1), float(len(measured)))

    monkeypatch.setattr(analysis, "reference_encoder", lambda results_dir, p, name: name)
    monkeypatch.setattr(analysis, "validation_images", lambda p, n: (torch.zeros(n, 1, 28, 28), torch.zeros(n)))
    monkeypatch.setattr(analysis, "run_hash", lambda results_dir, p, name: f"hash-of-{name}")
    monkeypatch.setattr(analysis, "encoder_attention_distance", fake_distance)
    p = load_profile("smoke")
    first = analysis.attention_distances(tmp_path, p, ["a"], 3)
    both = analysis.attention_distances(tmp_path, p, ["a", "b"], 3)
    assert measured == ["a", "b"]
    assert np.array_equal(both["a"], first["a"]) and both["b"][0, 0, 0] == 2.0
    analysis.attention_distances(tmp_path, p, ["a"], 4)  # other images: a new measurement
    assert measured == ["a", "b", "a"]
