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

from .claims import bootstrap_ci
from ..pipeline.config import Profile
from ..data.datasets import load_dataset, normalize, stratified_subset
from ..pipeline.jobs import Run, build_pretrain_model, read_result, run_dir
from ..models.lcmae import LCMAE, eq2_sides, eq4_sides
from ..models.losses import normalized_std
from ..models.mae import MaskedAutoencoder
from ..models.masking import unit_grid
from .metrics import attention_distance, patch_center_distances, s_attn_per_image, s_sim_per_image, similarity_weights
from ..pipeline.registry import all_runs
from ..models.vit import ViTConfig, ViTEncoder, attention_modules, capture_attention


def cached(path: Path, compute: Callable[[], dict[str, np.ndarray]], **key) -> dict[str, np.ndarray]:
    """Load path_<hash of key>.npz if present, else compute, save and return it."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:10]
    path = Path(path).with_name(f"{Path(path).stem}_{digest}.npz")
    if path.exists():
        with np.load(path) as f:
            return dict(f)
    out = {k: np.asarray(v) for k, v in compute().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    return out


def analysis_path(results_dir: Path, p: Profile, name: str) -> Path:
    return Path(results_dir) / p.name / "analysis" / f"{name}.npz"


def find_run(p: Profile, name: str) -> Run:
    runs = {r.name: r for r in all_runs(p)}
    if name not in runs:
        raise KeyError(f"no run {name!r} in profile {p.name}; known: {sorted(runs)}")
    return runs[name]


def _require_done(results_dir: Path, p: Profile, name: str) -> Path:
    d = run_dir(results_dir, p.name, name)
    if not (d / "DONE").exists():
        raise FileNotFoundError(f"run {name} is not finished ({d}); run `./reproduce.sh --profile {p.name} --only runs` first")
    return d


def load_mae(results_dir: Path, p: Profile, name: str) -> MaskedAutoencoder:
    """The MAE (for LC-MAE runs: its inner MAE) of a finished pretraining run, in eval mode."""
    d = _require_done(results_dir, p, name)
    model = build_pretrain_model(find_run(p, name).spec)
    model.load_state_dict(torch.load(d / "model.pt", map_location="cpu"))
    return (model.mae if isinstance(model, LCMAE) else model).eval()


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


@torch.no_grad()
def collapse_spreads(results_dir: Path, p: Profile, runs: list[str], n_images: int, seed: int = 0) -> pd.DataFrame:
    """Where an LC-MAE run collapsed: normalised spread (losses.normalized_std, ~1 spread, 0 constant) over test
    images of the projector output v and the decoder features h at one removed token per image (random masks),
    and of the encoder's cls feature (unmasked). One row per run."""

    def compute() -> dict[str, np.ndarray]:
        imgs, _ = validation_images(p, n_images)
        rows = []
        for name in runs:
            d = _require_done(results_dir, p, name)
            model = build_pretrain_model(find_run(p, name).spec)
            model.load_state_dict(torch.load(d / "model.pt", map_location="cpu"))
            model.eval()
            torch.manual_seed(seed)
            out = model.mae(imgs)
            token = out.mask.argmax(dim=1)  # first removed token of each image
            h = out.hidden[torch.arange(len(imgs)), token]
            rows.append([normalized_std(model.projector(h)), normalized_std(h), normalized_std(model.mae.encoder(imgs)[0][:, 0])])
        return {"spreads": np.array(rows, dtype=float)}

    spreads = cached(analysis_path(results_dir, p, "collapse_spreads"), compute, runs=runs, n=n_images, seed=seed)["spreads"]
    return pd.DataFrame(spreads, index=pd.Index(runs, name="run"), columns=["spread of v", "spread of h", "spread of encoder cls"])


def load_encoder(results_dir: Path, p: Profile, name: str) -> ViTEncoder | TimmEncoder:
    """The encoder any finished run left in encoder.pt (MAE, DINO teacher, finetuned ViT), in eval mode;
    "timm:<model>" loads released weights instead."""
    if name.startswith("timm:"):
        return TimmEncoder(name.removeprefix("timm:")).eval()
    d = _require_done(results_dir, p, name)
    enc = ViTEncoder(p.encoder)
    enc.load_state_dict(torch.load(d / "encoder.pt", map_location="cpu"))
    return enc.eval()


def validation_images(p: Profile, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n class-balanced test-split images, normalised, and their labels."""
    test = stratified_subset(load_dataset(p.data, train=False), n)
    return normalize(test.images, p.data.name), test.labels


def results_table(results_dir: Path, p: Profile, names: list[str]) -> pd.DataFrame:
    """result.json of each run as a row; an unfinished run is an error naming the command that makes it."""
    return pd.DataFrame([{"run": name, **read_result(_require_done(results_dir, p, name))} for name in names]).set_index("run")


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
    preds = [np.load(_require_done(results_dir, p, r) / "predictions.npz") for r in (run_a, run_b)]
    if not np.array_equal(preds[0]["label"], preds[1]["label"]):
        raise ValueError(f"{run_a} and {run_b} were evaluated on different images")
    diff = 100.0 * ((preds[0]["pred"] == preds[0]["label"]).astype(float) - (preds[1]["pred"] == preds[1]["label"]))
    return float(diff.mean()), bootstrap_ci(diff)


def fixed_mask_noise(mae: MaskedAutoencoder, seed: int) -> torch.Tensor:
    """Noise [1, units] that gives one random mask at the model's ratio and unit, reproducible from seed."""
    c = mae.cfg.encoder
    uh, uw = unit_grid(c.grid_size, c.patch_size, mae.cfg.mask_unit or c.patch_size)
    return torch.rand(1, uh * uw, generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def decoder_layers(mae: MaskedAutoencoder, imgs: torch.Tensor, mask_seed: int = 0) -> dict[str, torch.Tensor]:
    """One fixed random mask for every image (LC-MAE §4.1).

    Returns attn [I, layers, H, N, N] (N = 1 + L, cls first), features [I, layers, L, D] (block outputs,
    patch tokens) and mask [L] (1 = removed).
    """
    noise = fixed_mask_noise(mae, mask_seed).expand(len(imgs), -1)
    outputs: list[torch.Tensor] = []
    hooks = [b.register_forward_hook(lambda _m, _i, out: outputs.append(out[:, 1:])) for b in mae.decoder.blocks]
    try:
        with capture_attention(attention_modules(mae.decoder)) as maps:
            out = mae(imgs, noise=noise)
    finally:
        for h in hooks:
            h.remove()
    return {"attn": torch.stack(maps, 1), "features": torch.stack(outputs, 1), "mask": out.mask[0]}


def decoder_semantics(results_dir: Path, p: Profile, mae_run: str, ref_run: str, n_images: int, mask_seed: int = 0,
                      example_images: int = 2) -> dict[str, np.ndarray]:
    """LC-MAE Fig 2-4 per decoder layer and image: S_attn (eq 7), S_sim (eq 8), attention distance of removed tokens.

    S_attn: attention rows of the removed (query) tokens over all keys incl. cls, [k, heads, n] per image;
    s_attn_images[l, i] = mean over j != i of cos(A_li, A_lj), whose mean over i is eq 7.
    S_sim: W = cosine similarity of patch features; decoder block outputs vs the reference encoder's
    normed last-layer patch tokens (DINO in the paper), over all token positions; eq 8 = mean over images.
    decoder_distance_images: attention-weighted pixel distance from each removed query to the patch keys
    (cls dropped, renormalised); uniform_distance is its value for attention spread evenly.
    example_maps [images, 2 queries, layers, N]: head-averaged attention of two removed tokens.
    """

    def compute() -> dict[str, np.ndarray]:
        mae, ref = load_mae(results_dir, p, mae_run), load_encoder(results_dir, p, ref_run)
        imgs, labels = validation_images(p, n_images)
        layers = decoder_layers(mae, imgs, mask_seed)
        removed = layers["mask"].bool().nonzero().squeeze(1)
        attn = layers["attn"][:, :, :, 1 + removed]  # queries = removed tokens: [I, layers, H, k, N]
        s_attn_images = torch.stack([s_attn_per_image(attn[:, l]) for l in range(attn.shape[1])])  # [layers, I]
        with torch.no_grad():
            w_ref = similarity_weights(ref(imgs)[0][:, 1:])
        n_layers = attn.shape[1]
        s_sim_images = torch.stack([s_sim_per_image(w_ref, similarity_weights(layers["features"][:, l])) for l in range(n_layers)])
        c = mae.cfg.encoder
        dist = patch_center_distances(c.grid_size, c.patch_size)[removed]  # [k, L]
        patch_attn = attn[..., 1:] / attn[..., 1:].sum(-1, keepdim=True)  # drop cls key, renormalise
        dec_distance = (patch_attn * dist).sum(-1).mean(dim=(2, 3)).T  # [layers, I]
        picks = removed[torch.linspace(0, len(removed) - 1, 2).long()]
        example = layers["attn"][:example_images][:, :, :, 1 + picks].mean(2).transpose(1, 2)  # [E, 2, layers, N]
        return {"s_attn_images": s_attn_images.numpy(), "s_sim_images": s_sim_images.numpy(),
                "decoder_distance_images": dec_distance.numpy(), "uniform_distance": dist.mean().numpy(),
                "mask": layers["mask"].numpy(), "example_maps": example.numpy(), "example_queries": picks.numpy(),
                "example_images": imgs[:example_images].numpy(), "labels": labels.numpy()}

    return cached(analysis_path(results_dir, p, f"decoder_semantics_{mae_run}"), compute, mae=mae_run, ref=ref_run,
                  n=n_images, seed=mask_seed, examples=example_images)


def attention_distances(results_dir: Path, p: Profile, runs: list[str], n_images: int) -> dict[str, np.ndarray]:
    """Encoder attention distance [I, layers, heads] of each run's encoder.pt, on the same validation images."""

    def compute() -> dict[str, np.ndarray]:
        imgs, _ = validation_images(p, n_images)
        return {name: encoder_attention_distance(load_encoder(results_dir, p, name), imgs) for name in runs}

    return cached(analysis_path(results_dir, p, "attention_distance"), compute, runs=runs, n=n_images)


@torch.no_grad()
def reformulation_check(results_dir: Path, p: Profile, mae_run: str, n_images: int, seed: int = 0) -> dict[str, np.ndarray]:
    """LC-MAE eq 2 and eq 4 evaluated on real decoder outputs h(x, m) for two random masks m_a, m_b.

    Returns both sides of each identity at every applicable token (eq 2: removed in both masks; eq 4:
    pairs (i, j) of tokens removed in m_a) and the size of their terms.
    """

    def compute() -> dict[str, np.ndarray]:
        mae = load_mae(results_dir, p, mae_run)
        imgs, _ = validation_images(p, n_images)
        g = torch.Generator().manual_seed(seed)
        units = fixed_mask_noise(mae, 0).shape[1]
        out_a = mae(imgs, noise=torch.rand(len(imgs), units, generator=g))
        out_b = mae(imgs, noise=torch.rand(len(imgs), units, generator=g))
        h_a, h_b, x = out_a.pred, out_b.pred, out_a.target
        both = (out_a.mask * out_b.mask).bool()
        lhs2, rhs2 = eq2_sides(h_a, h_b, x)
        lhs4, rhs4 = [], []
        for b in range(len(imgs)):
            removed = out_a.mask[b].bool().nonzero().squeeze(1)
            i, j = removed, removed.roll(1)
            l4, r4 = eq4_sides(h_a[b], x[b], i, j)
            lhs4.append(l4)
            rhs4.append(r4)
        return {"eq2_lhs": lhs2[both].numpy(), "eq2_rhs": rhs2[both].numpy(),
                "eq2_cross_term": ((h_a - h_b) ** 2).sum(-1)[both].numpy(),
                "eq2_pred_error": ((h_b - x) ** 2).sum(-1)[both].numpy(),
                "eq4_lhs": torch.cat(lhs4).numpy(), "eq4_rhs": torch.cat(rhs4).numpy()}

    return cached(analysis_path(results_dir, p, f"reformulation_{mae_run}"), compute, run=mae_run, n=n_images, seed=seed)
