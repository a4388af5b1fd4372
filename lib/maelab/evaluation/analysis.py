"""Measurements on trained runs for the notebooks, cached as small .npz files.

Each function takes finished runs (by name) and validation images and returns numpy arrays; `cached`
stores them under results/<profile>/analysis/ so a notebook rerun reads them in milliseconds and a
fresh clone can re-execute the notebooks without the (uncommitted) checkpoints.
"""

import functools
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
from ..pipeline.runs import RunNotReady, load_encoder, load_run, load_snapshot, read_result, run_dir, snapshot_file
from .claims import (
    EQUIVALENCE_MARGIN,
    Claim,
    Summary,
    bootstrap_ci,
    seed_bootstrap_delta,
    untestable,
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


def run_hash(results_dir: Path, p: Profile, name: str) -> str:
    """What identifies a reference's weights in a cache key: a finished run's config hash, or "timm:<model>" itself."""
    return name if name.startswith("timm:") else load_run(results_dir, p.name, name).hash


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
    """Encoder attention distance [I, layers, heads] of each run's encoder.pt, on the same validation images; cached
    per run (by its config hash), so adding a run to a figure measures only that run."""

    images = functools.cache(lambda: validation_images(p, n_images)[0])  # loaded once, and only if a run is measured

    def measure(name: str) -> Callable[[], dict[str, np.ndarray]]:
        return lambda: {"distance": encoder_attention_distance(reference_encoder(results_dir, p, name), images())}

    return {
        name: cached(
            analysis_path(results_dir, p, f"attention_distance_{name}"),
            measure(name),
            run=run_hash(results_dir, p, name),
            n=n_images,
        )["distance"]
        for name in runs
    }


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


# --- the calibration gate's learning curve: frozen-feature classifiers at each checkpoint of a pretraining ------------


def curve_epochs(snapshot_epochs: tuple[float, ...] | list[float], schedule: float) -> list[float]:
    """The points of a pretraining's learning curve: its snapshot epochs inside the schedule (runtime.snapshot_epochs),
    in order, then the end of the schedule (the finished run's encoder.pt)."""
    return sorted({float(e) for e in snapshot_epochs if 0 < e < schedule}) + [float(schedule)]


def checkpoint_file(results_dir: Path, p: Profile, name: str, epoch: float, schedule: float) -> Path:
    """The weights of a pretraining run's encoder at `epoch`: a snapshot inside its schedule, encoder.pt at its end."""
    return run_dir(results_dir, p.name, name) / ("encoder.pt" if epoch >= schedule else snapshot_file(epoch))


def checkpoint_encoder(results_dir: Path, p: Profile, name: str, epoch: float, schedule: float) -> ViTEncoder:
    """A pretraining run's encoder at `epoch` of its `schedule` (load_snapshot inside it, load_encoder at its end)."""
    if epoch >= schedule:
        return load_encoder(results_dir, p.name, name)
    return load_snapshot(results_dir, p.name, name, epoch)


def logreg_correct(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, max_iter: int = 500
) -> np.ndarray:
    """1 where a softmax regression on standardised features classifies a test point correctly, [N].

    The standardisation is MAE's probe BatchNorm (affine=False) at evaluation: each feature minus its training mean,
    over its training standard deviation (sklearn StandardScaler); then LogisticRegression (lbfgs, L2, C=1) to
    convergence instead of the probe's 90 LARS epochs: a fast probe for every point of a learning curve.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter)).fit(train_x, train_y)
    return (clf.predict(test_x) == test_y).astype(np.int8)


FROZEN_METRICS = ("knn_cls", "knn_mean", "logreg_cls", "logreg_mean")  # frozen_feature_correct's classifiers


def frozen_feature_correct(
    encoder: ViTEncoder,
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    k: int = 20,
    max_iter: int = 500,
) -> dict[str, np.ndarray]:
    """Correctness [N] on the test images of four classifiers of an encoder's frozen features (`encoder_features`):
    kNN (cosine, k; `knn_correct`) and BN + softmax regression (`logreg_correct`), each on the cls token and on the
    mean-pooled patch tokens; keys FROZEN_METRICS. train / test: (normalised images, labels)."""
    (train_x, train_y), (test_x, test_y) = train, test
    tr, te = encoder_features(encoder, train_x), encoder_features(encoder, test_x)
    ytr, yte = train_y.numpy(), test_y.numpy()
    out = {}
    for pool in ("cls", "mean"):
        out[f"knn_{pool}"] = knn_correct(tr[pool], ytr, te[pool], yte, k)
        out[f"logreg_{pool}"] = logreg_correct(tr[pool], ytr, te[pool], yte, max_iter)
    return out


def gate_decision(
    correct_a: np.ndarray, correct_b: np.ndarray, floor: float | None, level: float = 0.95
) -> tuple[float, tuple[float, float], tuple[str, str]]:
    """One metric of a calibration gate: the gain of arm a (MAE) over arm b (random init), in points, with its
    hierarchical bootstrap CI at `level` (`seed_bootstrap_delta`: seeds, then test images) and the decision.

    Reproduced only if both arms have >= 2 seeds, the CI lies entirely above 0 and the gain exceeds the metric's seed
    noise floor `floor`; fewer seeds: untestable (what the CI alone says is kept in the evidence)."""
    a, b = np.atleast_2d(correct_a), np.atleast_2d(correct_b)
    gain, ci = seed_bootstrap_delta(a, b, level=level)
    label = f"hierarchical bootstrap {100 * level:g}% CI ({len(a)} vs {len(b)} seeds, then images)"
    decision = verdict_from_ci(ci, 0.0, "greater", label=label)
    if min(len(a), len(b)) < 2:
        return gain, ci, untestable(f"{len(a)} vs {len(b)} finished seeds: a gate needs >= 2 per arm", decision)
    if decision[0] == "reproduced" and not (floor is not None and gain > floor):
        floor_text = "unmeasured" if floor is None else f"{floor:.2f}"
        decision = (
            "inconclusive",
            f"{decision[1]}, but the gain {gain:.2f} does not exceed the seed noise floor {floor_text}",
        )
    return gain, ci, decision
