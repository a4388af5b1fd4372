"""Measurements on trained runs for the notebooks, cached as small .npz files.

Each function takes finished runs (by name) and validation images and returns numpy arrays; `cached`
stores them under results/<profile>/analysis/ so a notebook rerun reads them in milliseconds and a
fresh clone can re-execute the notebooks without the (uncommitted) checkpoints.
"""

import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..data.augment import normalize
from ..data.datasets import load_dataset, stratified_subset
from ..models.mae import MaskedAutoencoder
from ..models.masking import unit_grid
from ..models.vit import ViTConfig, ViTEncoder, attention_modules, capture_attention
from ..pipeline.config import Profile
from ..pipeline.runs import RunNotReady, load_encoder, load_run, read_result, run_dir
from .claims import (
    EQUIVALENCE_MARGIN,
    Claim,
    Summary,
    bootstrap_ci,
    seed_bootstrap_delta,
    verdict_equivalence,
    verdict_equivalent,
    verdict_from_ci,
    verdict_noninferior,
    verdict_seed_aware,
)
from .metrics import attention_distance


def cache_file(path: Path, **key) -> Path:
    """Where `cached` keeps the measurement of `key`: path_<hash of key>.npz (exists: no weights needed to read it)."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    return Path(path).with_name(f"{Path(path).stem}_{digest}.npz")


def cached(path: Path, compute: Callable[[], dict[str, np.ndarray]], **key) -> dict[str, np.ndarray]:
    """Load path_<hash of key>.npz if present, else compute, save and return it."""
    path = cache_file(path, **key)
    if path.exists():
        try:
            with np.load(path) as f:
                return dict(f)
        except (
            OSError,
            ValueError,
            EOFError,
            zipfile.BadZipFile,
        ) as e:  # a truncated or corrupt cache is recomputed, never trusted
            print(f"{path} is unreadable ({e}); recomputing it", flush=True)
    out = {k: np.asarray(v) for k, v in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    return out


def analysis_path(results_dir: Path, p: Profile, name: str) -> Path:
    return Path(results_dir) / p.name / "analysis" / f"{name}.npz"


def finished_result(results_dir: Path, p: Profile, name: str) -> dict:
    """result.json of a finished run (rebuilt from and checked against its own config)."""
    load_run(results_dir, p.name, name)
    return read_result(run_dir(results_dir, p.name, name))


def predictions(results_dir: Path, p: Profile, name: str) -> dict[str, np.ndarray]:
    """Per-image predicted and true labels of a finished finetune or probe run: {"pred": [N], "label": [N]}."""
    load_run(results_dir, p.name, name)
    path = run_dir(results_dir, p.name, name) / "predictions.npz"
    try:
        with np.load(path) as f:
            return dict(f)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise RunNotReady(f"{path} is missing or unreadable ({e}); delete {path.parent} and rerun its run") from e


class TimmEncoder(nn.Module):
    """A timm ViT with released weights, seen through ViTEncoder's interface (forward -> (normed tokens, None))."""

    def __init__(self, model_name: str):
        super().__init__()
        import timm

        try:
            self.model = timm.create_model(model_name, pretrained=True)
        except Exception as e:  # no hub access: say how to make the weights reachable
            raise RuntimeError(
                f"could not load timm weights {model_name!r} ({e}); pre-download them into the Hugging Face "
                f"cache on a machine with internet, or use a trained reference run instead"
            ) from e
        pe = self.model.patch_embed
        self.num_prefix_tokens = self.model.num_prefix_tokens
        self.cfg = ViTConfig(
            img_size=pe.img_size[0],
            patch_size=pe.patch_size[0],
            embed_dim=self.model.embed_dim,
            depth=len(self.model.blocks),
            num_heads=self.model.blocks[0].attn.num_heads,
        )

    def forward(self, imgs: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self.model.forward_features(imgs), None


def reference_encoder(results_dir: Path, p: Profile, name: str) -> ViTEncoder | TimmEncoder:
    """A finished run's encoder (runs.load_encoder), or released weights for "timm:<model>", in eval mode."""
    if name.startswith("timm:"):
        return TimmEncoder(name.removeprefix("timm:")).eval()
    return load_encoder(results_dir, p.name, name)


def validation_images(p: Profile, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n class-balanced test-split images, normalised, and their labels."""
    test = stratified_subset(load_dataset(p.data, train=False), n)
    return normalize(test.images, p.data.name), test.labels


def results_table(results_dir: Path, p: Profile, names: list[str]) -> pd.DataFrame:
    """result.json of each run as a row; an unfinished run is an error naming the command that makes it."""
    return pd.DataFrame([{"run": name, **finished_result(results_dir, p, name)} for name in names]).set_index("run")


def metrics_log(results_dir: Path, p: Profile, name: str) -> pd.DataFrame:
    """The run's metrics.jsonl (one row per logged step)."""
    path = run_dir(results_dir, p.name, name) / "metrics.jsonl"
    return pd.read_json(path, lines=True)


@torch.no_grad()
def encoder_attention_distance(encoder: ViTEncoder | TimmEncoder, imgs: torch.Tensor, batch_size: int = 250) -> np.ndarray:
    """Mean attention distance per image, layer and head [I, layers, heads], in pixels, unmasked (ViT paper)."""
    modules = attention_modules(encoder)
    prefix = encoder.num_prefix_tokens
    grid, patch = encoder.cfg.grid_size, encoder.cfg.patch_size
    out = []
    for x in imgs.split(batch_size):
        with capture_attention(modules) as maps:
            encoder(x)
        out.append(
            torch.stack(
                [torch.stack([attention_distance(a[i : i + 1], grid, patch, prefix) for a in maps]) for i in range(len(x))]
            )
        )
    return torch.cat(out).numpy()


def paired_accuracy_delta(results_dir: Path, p: Profile, run_a: str, run_b: str) -> tuple[float, tuple[float, float]]:
    """Accuracy(a) - accuracy(b) in points on the same test images, with a 95% paired bootstrap CI over images.

    The CI covers test-set sampling only, not the variation between training seeds.
    """
    correct_a, correct_b = correctness(results_dir, p, [run_a, run_b])
    diff = 100.0 * (correct_a - correct_b)
    return float(diff.mean()), bootstrap_ci(diff)


def correctness(results_dir: Path, p: Profile, names: list[str]) -> np.ndarray:
    """[S, N] 1 where run s classified test image n correctly; every run must be scored on the same images."""
    preds = [predictions(results_dir, p, r) for r in names]
    for name, pr in zip(names[1:], preds[1:]):
        if not np.array_equal(pr["label"], preds[0]["label"]):
            raise ValueError(f"{name} and {names[0]} were evaluated on different images")
    return np.stack([(pr["pred"] == pr["label"]).astype(float) for pr in preds])


def paired_claim(
    summary: Summary,
    results_dir: Path,
    p: Profile,
    cid: str,
    statement: str,
    runs_a: str | list[str],
    runs_b: str | list[str],
    kind: str = "greater",
    threshold: float = 0.0,
    metric: str = "ft",
    gate: str = "",
    paper: float | str | None = None,
    pretrainings: bool = True,
    **fields,
) -> Claim:
    """Record a claim on accuracy(a) - accuracy(b) (points, same test images) and return it, to display under its figure.

    runs_a / runs_b: one run or one per seed (the arms). The CI is `seed_bootstrap_delta`'s (seeds, then images).
    kind "greater" / "less": the claimed direction against `threshold`; with one seed in an arm and `pretrainings`
    (the arms differ in pretraining) the seed noise floor of `metric` ("ft" / "lp", from the calibration notebook)
    widens the CI (`verdict_seed_aware`). kind "equivalent" / "noninferior": the one equivalence rule
    (`verdict_equivalence` / its one-sided `verdict_noninferior`, margin EQUIVALENCE_MARGIN) with MAE - random init on
    `metric` as its discrimination check.
    Preconditions (smoke, `gate`) are applied by `summary.claim`.
    """
    runs_a, runs_b = ([r] if isinstance(r, str) else list(r) for r in (runs_a, runs_b))
    delta, ci = seed_bootstrap_delta(correctness(results_dir, p, runs_a), correctness(results_dir, p, runs_b))
    cal = summary.calibration
    if kind in ("equivalent", "noninferior"):
        rule = verdict_equivalence if kind == "equivalent" else verdict_noninferior
        decision, null = rule(ci, cal.gain_ci(metric) if cal else None), None
    elif pretrainings:
        floor = cal.noise_floor.get(metric) if cal else None
        decision, null = verdict_seed_aware(ci, len(runs_a), len(runs_b), floor, threshold, kind), threshold
    else:
        decision, null = verdict_from_ci(ci, threshold, kind, label="paired bootstrap 95% CI over test images"), threshold
    seeds = min(len(runs_a), len(runs_b))
    raw = (
        verdict_equivalent(ci, EQUIVALENCE_MARGIN)
        if kind == "equivalent"
        else verdict_from_ci(ci, -EQUIVALENCE_MARGIN, "greater")
        if kind == "noninferior"
        else verdict_from_ci(ci, threshold, kind)
    )[0]
    return summary.claim(
        cid,
        statement,
        *decision,
        ours=delta,
        paper=paper,
        ci=ci,
        gate=gate,
        unit="points",
        raw_verdict=raw,
        null=null if null is not None else -EQUIVALENCE_MARGIN,
        seeds=seeds,
        rule=kind,
        **fields,
    )


def fixed_mask_noise(mae: MaskedAutoencoder, seed: int) -> torch.Tensor:
    """Noise [1, units] that gives one random mask at the model's ratio and unit, reproducible from seed."""
    c = mae.cfg.encoder
    uh, uw = unit_grid(c.grid_size, c.patch_size, mae.cfg.mask_unit or c.patch_size)
    return torch.rand(1, uh * uw, generator=torch.Generator().manual_seed(seed))


def attention_distances(results_dir: Path, p: Profile, runs: list[str], n_images: int) -> dict[str, np.ndarray]:
    """Encoder attention distance [I, layers, heads] of each run's encoder.pt, on the same validation images."""

    def compute() -> dict[str, np.ndarray]:
        imgs, _ = validation_images(p, n_images)
        return {name: encoder_attention_distance(reference_encoder(results_dir, p, name), imgs) for name in runs}

    return cached(analysis_path(results_dir, p, "attention_distance"), compute, runs=runs, n=n_images)


# --- representation baselines (calibration gate): kNN on frozen features, softmax regression on raw pixels --------------


def probe_split(p: Profile, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The linear probe's training subset (train=True) or its test images, normalised, with labels."""
    ds = load_dataset(p.probe_data, train=train)
    return normalize(ds.images, p.data.name), ds.labels


@torch.no_grad()
def encoder_features(encoder: ViTEncoder, imgs: torch.Tensor, batch_size: int = 500) -> dict[str, np.ndarray]:
    """Unmasked normed features: the cls token and the mean of the patch tokens, [N, D] each."""
    encoder.eval()
    tokens = [encoder(x)[0] for x in imgs.split(batch_size)]
    return {"cls": torch.cat([t[:, 0] for t in tokens]).numpy(), "mean": torch.cat([t[:, 1:].mean(1) for t in tokens]).numpy()}


def knn_correct(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int = 20) -> np.ndarray:
    """1 where a k-nearest-neighbour majority vote (cosine similarity) classifies a test image correctly, [N]."""
    norm = lambda x: x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    tr, classes = norm(train_x), int(train_y.max()) + 1
    out = []
    for x in np.array_split(norm(test_x), max(1, len(test_x) // 1000)):
        nn_idx = np.argpartition(-(x @ tr.T), k, axis=1)[:, :k]
        votes = np.stack([np.bincount(row, minlength=classes) for row in train_y[nn_idx]])
        out.append(votes.argmax(1))
    return (np.concatenate(out) == test_y).astype(np.int8)


def pixel_logreg_correct(p: Profile, results_dir: Path, max_iter: int = 500) -> np.ndarray:
    """1 where a softmax regression on raw (normalised) pixels, trained on the probe's training subset, classifies a
    probe test image correctly, [N] (sklearn LogisticRegression, lbfgs, C=1); cached."""

    def compute() -> dict[str, np.ndarray]:
        from sklearn.linear_model import LogisticRegression

        (xtr, ytr), (xte, yte) = probe_split(p, True), probe_split(p, False)
        clf = LogisticRegression(max_iter=max_iter).fit(xtr.flatten(1).numpy(), ytr.numpy())
        return {"correct": (clf.predict(xte.flatten(1).numpy()) == yte.numpy()).astype(np.int8)}

    path = analysis_path(results_dir, p, "pixel_logreg")
    return cached(path, compute, data=repr(p.probe_data), max_iter=max_iter)["correct"]
