"""Measurements on trained runs for the notebooks, cached as small .npz files.

Each function takes finished runs (by name) and validation images and returns numpy arrays; `cached`
stores them under results/<profile>/analysis/ so a notebook rerun reads them in milliseconds and a
fresh clone can re-execute the notebooks without the (uncommitted) checkpoints.
"""

import hashlib
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch
import torch.nn as nn

from ..data.datasets import load_dataset, normalize, stratified_subset
from ..models.mae import MaskedAutoencoder
from ..models.masking import unit_grid
from ..models.vit import ViTConfig, ViTEncoder, attention_modules, capture_attention
from ..pipeline.config import Profile
from ..pipeline.runs import RunNotReady, load_encoder, load_run, read_result, run_dir
from .claims import bootstrap_ci
from .metrics import attention_distance


def cached(path: Path, compute: Callable[[], dict[str, np.ndarray]], **key) -> dict[str, np.ndarray]:
    """Load path_<hash of key>.npz if present, else compute, save and return it."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    path = Path(path).with_name(f"{Path(path).stem}_{digest}.npz")
    if path.exists():
        try:
            with np.load(path) as f:
                return dict(f)
        except (OSError, ValueError, EOFError) as e:  # a truncated or corrupt cache is recomputed, never trusted
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
    except (OSError, ValueError, EOFError) as e:
        raise RunNotReady(f"{path} is missing or unreadable ({e}); delete {path.parent} and rerun its run") from e


class TimmEncoder(nn.Module):
    """A timm ViT with released weights, seen through ViTEncoder's interface (forward -> (normed tokens, None))."""

    def __init__(self, model_name: str):
        super().__init__()
        import timm

        try:
            self.model = timm.create_model(model_name, pretrained=True)
        except Exception as e:  # no hub access: say how to make the weights reachable
            raise RuntimeError(f"could not load timm weights {model_name!r} ({e}); pre-download them into the Hugging Face "
                               f"cache on a machine with internet, or use a trained reference run instead") from e
        pe = self.model.patch_embed
        self.num_prefix_tokens = self.model.num_prefix_tokens
        self.cfg = ViTConfig(img_size=pe.img_size[0], patch_size=pe.patch_size[0], embed_dim=self.model.embed_dim,
                             depth=len(self.model.blocks), num_heads=self.model.blocks[0].attn.num_heads)

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
        out.append(torch.stack([torch.stack([attention_distance(a[i : i + 1], grid, patch, prefix) for a in maps])
                                for i in range(len(x))]))
    return torch.cat(out).numpy()


def paired_accuracy_delta(results_dir: Path, p: Profile, run_a: str, run_b: str) -> tuple[float, tuple[float, float]]:
    """Accuracy(a) - accuracy(b) in points on the same test images, with a 95% paired bootstrap CI over images.

    The CI covers test-set sampling only, not the variation between training seeds.
    """
    preds = [predictions(results_dir, p, r) for r in (run_a, run_b)]
    if not np.array_equal(preds[0]["label"], preds[1]["label"]):
        raise ValueError(f"{run_a} and {run_b} were evaluated on different images")
    diff = 100.0 * ((preds[0]["pred"] == preds[0]["label"]).astype(float) - (preds[1]["pred"] == preds[1]["label"]))
    return float(diff.mean()), bootstrap_ci(diff)


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
