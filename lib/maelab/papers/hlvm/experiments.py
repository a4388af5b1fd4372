"""HLVM §3.1-§3.3 measurements on frozen pretrainings: reconstructions of unmasked images, attention inside the object,
and frozen features (t-SNE, linear probe, robustness to shifted or corrupted test images); at paper scale, the grid's
IN1K probes scored on the ImageNet variants (§3.3, Table 1) and on the cue-conflict images (§3.4, Table 2).

Kong et al. 2023, §3.1 (Fig 5/9), §3.2 (Fig 6/7, App. C.4), §3.3 (Fig 8/10, Table 1/4, App. C.5). The paper's printed
numbers are transcribed below under the name of their table; Fig 5/9 print no values (only bars), so only their trends
are compared.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.manifold import TSNE
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torchvision.transforms.functional import gaussian_blur

from ...data import hierarchical, shifted_imagenet
from ...data.augment import normalize
from ...data.datasets import DATASETS, DataConfig, data_root, iterate
from ...evaluation.analysis import analysis_path, cached, encoder_features
from ...evaluation.claims import (
    UNTESTABLE,
    Decision,
    bootstrap_ci,
    noise_floor,
    untestable,
    verdict_from_ci,
    verdict_seed_aware,
)
from ...evaluation.metrics import image_quality
from ...models.mae import MaskedAutoencoder
from ...models.targets import patchify, unpatchify
from ...models.vit import ViTEncoder, attention_modules, capture_attention
from ...pipeline.builders import ratio_name
from ...pipeline.config import Profile
from ...pipeline.runs import PretrainSpec, RunNotReady, load_probe, load_run, untrained_model
from .runs import base_seeds, grid, probes

# --- the paper's numbers -------------------------------------------------------------------------------------------

EVAL_SETS = ("IN1K", "IN-v2", "OJN", "IN-R", "IN-A", "IN-S")
# Table 1, rows 1-5: mask ratio at (masking) patch size 16; linear-probe accuracy (%) on each evaluation set.
TABLE1_RATIO = {
    0.1: (47.45, 34.72, 9.42, 14.63, 2.00, 7.25),
    0.25: (53.58, 40.34, 11.54, 18.68, 2.49, 10.27),
    0.5: (60.07, 46.71, 13.94, 22.44, 2.89, 12.58),
    0.75: (67.41, 54.23, 18.24, 25.20, 3.76, 15.51),
    0.9: (62.97, 49.52, 15.87, 19.11, 2.76, 10.46),
}
# Table 1, rows 6-8: ratio 0.75, masking patch size 8/16/32 decoupled from the ViT patch (fixed at 8; §3, App. C.1).
TABLE1_UNIT = {
    8: (62.57, 49.17, 13.44, 19.42, 3.73, 10.73),
    16: (68.96, 55.94, 13.73, 24.23, 6.29, 18.81),
    32: (73.31, 61.35, 19.03, 27.84, 12.69, 28.30),
}
# Table 4: ratio 0.75, the original MAE's coupled design (masking patch = ViT patch = 8/16/32).
TABLE4_COUPLED = {
    8: (62.57, 49.17, 13.44, 19.42, 3.73, 10.73),
    16: (67.41, 54.23, 18.24, 25.20, 3.76, 15.51),
    32: (55.51, 42.35, 13.46, 18.70, 1.89, 9.48),
}
SHIFTED_COLUMNS = dict(zip(shifted_imagenet.SETS, EVAL_SETS[1:]))  # a variant's folder name -> its Table 1 column
# Table 5: COCO AP_box, AP_mask of the coupled design (read by §3.5; kept here beside Table 4, its rows' models).
TABLE5_COUPLED = {8: (34.21, 32.28), 16: (33.77, 32.04), 32: (32.39, 30.54)}
# §3.3's text on the patch sizes: "the accuracy increases first from 8 to 16, then decreases significantly when the
# patch size is 32": the shape of Table 4 (coupled), not of Table 1's decoupled rows (which rise to 73.31).
PAPER_UNITS = (8, 16, 32)  # px at 224 px with ViT patch 8 = 1, 2, 4 ViT patches

# §3.2 / App. C.4: DINO's visualisation keeps the smallest set of tokens holding 60% of the attention mass.
DINO_MASS = 0.6
CORRUPTIONS = ("noise", "blur", "contrast", "inversion")


# --- models, data and verdicts shared by the three notebooks -----------------------------------------------------------


def synthetic_models(p: Profile) -> dict[str, dict[float, str]]:
    """The §3 grid on the synthetic dataset: axis ("ratio", "unit", "coupled") -> setting -> run name."""
    g = grid(p)
    return {axis: {v: run.name for (a, v), run in g.items() if a == axis} for axis in ("ratio", "unit", "coupled")}


def fmnist_sweep(p: Profile) -> dict[float, str]:
    """The bank's Fashion-MNIST mask-ratio sweep (lcmae.runs: the LC-MAE ratios and the default ratio) -> run name."""
    return {r: ratio_name(r) for r in sorted(set(p.lcmae.mask_ratios) | {p.masking.mask_ratio})}


def finished(results_dir, p: Profile, names) -> list[str]:
    """The runs among `names` that finished (DONE, config intact), in order; the notebooks read only these."""
    out = []
    for name in dict.fromkeys(names):
        try:
            load_run(results_dir, p.name, name)
            out.append(name)
        except RunNotReady:
            pass
    return out


def random_init_mae(spec: PretrainSpec, seed: int = 0) -> MaskedAutoencoder:
    """The random-init baseline: the same MAE (encoder and decoder) as `spec`, untrained, initialised from `seed`."""
    return untrained_model(spec, seed).mae


def synthetic_split(cfg: DataConfig, split: str, n: int) -> dict:
    """The first n images of a synthetic split (hierarchical.load; every split but train shares the test draws, so
    image i is the same scene in each): images uint8 torch [n, 1, 32, 32], labels [n], object_mask bool [n, 32, 32],
    part_map int64 [n, 32, 32] (0 background, 1..4 parts). The one loader of the split for HLVM and TLCL."""
    data = hierarchical.load(data_root(cfg), split)
    return {
        "images": torch.from_numpy(data["images"][:n]),
        "labels": data["labels"][:n],
        "object_mask": data["object_mask"][:n],
        "part_map": data["part_map"][:n],
    }


def compare(a: np.ndarray, b: np.ndarray, floor: float | None, unit: str) -> tuple[float, tuple[float, float], Decision, str]:
    """mean(a - b) of two one-seed pretrainings measured on the same images, its 95% paired bootstrap CI over images,
    the verdict under the rules (`verdict_seed_aware`: widened by the metric's seed noise floor, untestable without
    one) and the verdict of the image CI alone (which covers no seed variation)."""
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    ci = bootstrap_ci(diff)
    decision, image_only = verdict_seed_aware(ci, 1, 1, floor, unit=unit), verdict_from_ci(ci)[0]
    if floor is not None and decision[0] != image_only:  # the floor changed the verdict: say what the images alone say
        decision = (decision[0], f"{decision[1]} (the test-image CI alone: {image_only})")
    return float(diff.mean()), ci, decision, image_only


def all_of(decisions: list[Decision]) -> Decision:
    """A claim made of several comparisons: reproduced if all are, not reproduced if any is not, else untestable if any
    is, else inconclusive; the evidence lists each."""
    verdicts = [v for v, _ in decisions]
    verdict = (
        "reproduced"
        if all(v == "reproduced" for v in verdicts)
        else "not reproduced"
        if "not reproduced" in verdicts
        else UNTESTABLE
        if UNTESTABLE in verdicts
        else "inconclusive"
    )
    return verdict, "; ".join(e for _, e in decisions)


def missing(names: list[str], done: list[str]) -> Decision | None:
    """untestable naming the runs of a claim that have not finished, or None if all have."""
    absent = [n for n in names if n not in done]
    return untestable(f"run(s) {', '.join(absent)} not finished") if absent else None


def base_seed_runs(p: Profile) -> list[str]:
    """Names of the base setting's runs at every pretraining seed (runs.base_seeds)."""
    return [run.name for run in base_seeds(p).values()]


def seed_floors(
    measured: Mapping[str, Mapping[str, np.ndarray]], seeds: Sequence[str], keys: Sequence[str], scale: float = 1.0
) -> dict[str, float | None]:
    """Seed noise floor of each measurement in `keys` (claims.noise_floor: the largest gap between two seeds' means,
    x scale) over the runs of `seeds` found in `measured` (run -> key -> per-image values); None with fewer than 2."""
    have = [s for s in seeds if s in measured]
    return {k: noise_floor([scale * float(np.mean(measured[s][k])) for s in have]) for k in keys}


# --- §3.1: reconstructing the unmasked image (App. C.3) ---------------------------------------------------------------


def to_unit_range(x: torch.Tensor, dataset: str) -> torch.Tensor:
    """Normalised images (data.augment.normalize) -> pixel values in [0, 1] (not clipped)."""
    info = DATASETS[dataset]
    mean, std = (torch.tensor(v).view(1, -1, 1, 1) for v in (info.mean, info.std))
    return x * std + mean


@torch.no_grad()
def reconstruct(mae: MaskedAutoencoder, imgs: torch.Tensor) -> torch.Tensor:
    """App. C.3: encoder and decoder on the *unmasked* image (ratio 0: no mask token); normalised imgs [B, C, H, W] ->
    reconstruction [B, C, H, W] in the same normalised space.

    With norm_pix_loss the decoder predicts each patch's pixels standardised by the patch's own mean and std; these
    are restored from the input patch (the usual way to view a norm_pix_loss model's output), so only the structure
    inside each patch is the decoder's; `patch_mean_image` scores that restoration alone."""
    mae.eval()
    c = mae.cfg.encoder
    pred = mae(imgs, mask_ratio=0.0).pred  # [B, L, p*p*C]
    if mae.cfg.norm_pix_loss:
        target = patchify(imgs, c.patch_size)
        pred = pred * (target.var(-1, keepdim=True) + 1e-6) ** 0.5 + target.mean(-1, keepdim=True)
    return unpatchify(pred, c.patch_size, c.grid_size, c.in_chans)


def patch_mean_image(imgs: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Baseline of `reconstruct`: a decoder that predicts 0 under norm_pix_loss, i.e. each patch at its own mean."""
    target = patchify(imgs, patch_size)
    grid = (imgs.shape[-2] // patch_size, imgs.shape[-1] // patch_size)
    return unpatchify(target.mean(-1, keepdim=True).expand_as(target), patch_size, grid, imgs.shape[1])


@torch.no_grad()
def reconstruction_quality(
    model: MaskedAutoencoder | int, imgs: torch.Tensor, dataset: str, batch_size: int = 250
) -> dict[str, np.ndarray]:
    """§3.1 / Fig 5: per-image SSIM, FSIM, PSNR (dB) and -MSE of the unmasked reconstruction against the input, on
    [0, 1] pixels (metrics.image_quality: piq SSIM 11x11 Gaussian window, grey FSIM); an int model = p scores the
    baseline `patch_mean_image` at patch p instead. imgs: normalised [N, C, H, W] -> each [N]."""
    out: dict[str, list] = {"ssim": [], "fsim": [], "psnr": [], "neg_mse": []}
    for x in imgs.split(batch_size):
        rec = reconstruct(model, x) if isinstance(model, MaskedAutoencoder) else patch_mean_image(x, model)
        q = image_quality(to_unit_range(x, dataset), to_unit_range(rec, dataset))
        for k in ("ssim", "fsim", "psnr"):
            out[k].append(q[k])
        out["neg_mse"].append(-q["mse"])
    return {k: torch.cat(v).numpy() for k, v in out.items()}


# --- §3.2: attention of [CLS] and of an object token (App. C.4) -------------------------------------------------------


def token_coverage(object_mask: np.ndarray, patch_size: int) -> np.ndarray:
    """Fraction of each patch's pixels inside the object: bool [N, H, W] -> [N, L] (row-major token grid)."""
    n, h, w = object_mask.shape
    blocks = object_mask.reshape(n, h // patch_size, patch_size, w // patch_size, patch_size)
    return blocks.mean(axis=(2, 4)).reshape(n, -1)


def object_token(coverage: np.ndarray, grid_size: tuple[int, int]) -> np.ndarray:
    """§3.2's "object-related token", made automatic: the token with the largest object coverage, ties broken by the
    distance of its centre to the coverage-weighted centroid of the object. coverage [N, L] -> token index [N]."""
    rows, cols = np.divmod(np.arange(grid_size[0] * grid_size[1]), grid_size[1])
    weight = coverage / np.maximum(coverage.sum(1, keepdims=True), 1e-12)
    cy, cx = weight @ rows, weight @ cols  # [N]
    dist = np.hypot(rows[None] - cy[:, None], cols[None] - cx[:, None])
    return np.lexsort((dist, -coverage), axis=-1)[:, 0]


@torch.no_grad()
def last_layer_attention(encoder: ViTEncoder, imgs: torch.Tensor) -> torch.Tensor:
    """Softmax attention of the encoder's last block on unmasked images: [B, heads, 1 + L, 1 + L] (cls first)."""
    encoder.eval()
    with capture_attention(attention_modules(encoder)[-1:]) as maps:
        encoder(imgs)
    return maps[0]


def patch_attention(rows: torch.Tensor, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """Attention rows [B, ..., 1 + L] -> over the L patch tokens only, renormalised to sum 1; `exclude` [B] drops
    one token per image (the query's own) before renormalising."""
    a = rows[..., 1:].clone()
    if exclude is not None:
        a[torch.arange(len(a)), ..., exclude] = 0.0
    return a / a.sum(-1, keepdim=True)


def mass_inside(attn: np.ndarray, coverage: np.ndarray) -> np.ndarray:
    """Fraction of attention mass on object pixels, attention to a token spread evenly over its pixels:
    sum_l a_l coverage_l; attn [N, L] (rows sum to 1), coverage [N, L] -> [N]."""
    return (attn * coverage).sum(-1)


@torch.no_grad()
def attention_on_object(
    encoder: ViTEncoder, imgs: torch.Tensor, object_mask: np.ndarray, batch_size: int = 250
) -> dict[str, np.ndarray]:
    """§3.2 quantified: per image, the fraction of last-layer attention mass inside the object mask.

    cls: [CLS]'s attention, mean over heads (Fig 6); token: the `object_token`'s attention to the *other* tokens, mean
    over heads (Fig 7 draws head 0; the mean is the summary); uniform / uniform_token: the same for uniform attention
    (the object's area fraction); maps: cls (head mean) and token (head 0) attention over the L tokens, for figures;
    token_index. imgs normalised [N, C, H, W], object_mask bool [N, H, W]."""
    coverage = token_coverage(object_mask, encoder.cfg.patch_size)
    index = object_token(coverage, encoder.cfg.grid_size)
    cls_maps, tok_maps, tok_mean = [], [], []
    for start, x in zip(range(0, len(imgs), batch_size), imgs.split(batch_size)):
        attn = last_layer_attention(encoder, x)  # [B, H, 1 + L, 1 + L]
        idx = torch.as_tensor(index[start : start + len(x)])
        rows = attn[torch.arange(len(x)), :, 1 + idx]  # [B, H, 1 + L]: the object token's queries
        cls_maps.append(patch_attention(attn[:, :, 0]).mean(1))
        tok = patch_attention(rows, idx)  # [B, H, L]
        tok_maps.append(tok[:, 0])
        tok_mean.append(tok.mean(1))
    cls_map, tok_map, tok_avg = (torch.cat(v).numpy() for v in (cls_maps, tok_maps, tok_mean))
    others = coverage.copy()
    others[np.arange(len(others)), index] = np.nan
    return {
        "cls": mass_inside(cls_map, coverage),
        "token": mass_inside(tok_avg, coverage),
        "uniform": coverage.mean(1),
        "uniform_token": np.nanmean(others, axis=1),
        "cls_map": cls_map,
        "token_map": tok_map,
        "token_index": index,
    }


def dino_keep(attn: np.ndarray, mass: float = DINO_MASS) -> np.ndarray:
    """DINO's visualisation threshold (App. C.4, [10]): keep the smallest set of tokens holding `mass` of the
    attention; attn [..., L] (rows sum to 1) -> bool [..., L]."""
    order = np.argsort(attn, axis=-1)  # ascending
    cum = np.cumsum(np.take_along_axis(attn, order, -1), axis=-1)
    keep_sorted = cum > 1 - mass
    keep = np.empty_like(keep_sorted)
    np.put_along_axis(keep, order, keep_sorted, -1)
    return keep


# --- §3.3: frozen features, t-SNE, linear probe, robustness (App. C.5) -------------------------------------------------


def corrupt(images: torch.Tensor, kind: str, seed: int = 0) -> torch.Tensor:
    """A corrupted copy of uint8 images [N, C, H, W] (our stand-in for the ImageNet variants on Fashion-MNIST):
    noise: + N(0, 0.2) per pixel on [0, 1] pixels (fixed seed); blur: Gaussian, sigma 1 px (5x5 kernel);
    contrast: each image's deviation from its own mean times 0.3 (the synthetic shift_contrast's factor);
    inversion: 255 - x (a change of polarity no training image has). Clipped and rounded back to uint8."""
    x = images.float() / 255
    if kind == "noise":
        x = x + 0.2 * torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    elif kind == "blur":
        x = gaussian_blur(x, kernel_size=5, sigma=1.0)
    elif kind == "contrast":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        x = mean + 0.3 * (x - mean)
    elif kind == "inversion":
        x = 1 - x
    else:
        raise ValueError(f"unknown corruption {kind!r}; expected one of {CORRUPTIONS}")
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)


@torch.no_grad()
def frozen_features(encoder: ViTEncoder | None, images: torch.Tensor, dataset: str, batch_size: int = 500) -> dict:
    """Unmasked features of uint8 images [N, C, H, W]: cls token and mean of the patch tokens after the final norm,
    [N, D] each (analysis.encoder_features); encoder None gives the raw (normalised) pixels [N, C*H*W] under "pixels"."""
    x = normalize(images, dataset)
    return {"pixels": x.flatten(1).numpy()} if encoder is None else encoder_features(encoder, x, batch_size)


def linear_probe(train_x: np.ndarray, train_y: np.ndarray, tests: dict[str, np.ndarray], test_y: np.ndarray) -> dict:
    """§3.3's linear probe on frozen features, as a cheap stand-in for MAE's (LARS, BN + linear, 90 epochs): per-feature
    standardisation (the BN without affine) and a softmax regression (sklearn lbfgs, C = 1), fitted on the clean
    training features; -> per test set, 1 where a test image is classified correctly, int8 [N] (same images and
    labels in every test set, e.g. a clean split and its shifted copies)."""
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(train_x, train_y)
    return {name: (clf.predict(x) == test_y).astype(np.int8) for name, x in tests.items()}


def pca50(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """App. C.5: PCA to 50 dimensions before t-SNE (fewer if the features have fewer)."""
    return PCA(n_components=min(50, *x.shape), random_state=seed).fit_transform(x)


def tsne(x: np.ndarray, perplexity: float = 20.0, seed: int = 0) -> np.ndarray:
    """Fig 8 / App. C.5: PCA to 50, then 2-d t-SNE with perplexity 20; x [N, D] -> [N, 2]."""
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(pca50(x, seed))


def knn_separability(x: np.ndarray, y: np.ndarray, k: int = 10, folds: int = 5) -> np.ndarray:
    """The number beside each t-SNE panel, per image: 1 where a k-NN vote on the t-SNE *input* (PCA-50, standardised)
    classifies the image correctly, 5-fold cross-validated (t-SNE distances are not preserved, so the panel is
    summarised where it comes from); the mean is the separability, int8 [N] pairs models on the same images."""
    clf = make_pipeline(StandardScaler(), KNeighborsClassifier(k))
    folds_of = StratifiedKFold(folds, shuffle=True, random_state=0)
    return (cross_val_predict(clf, pca50(x), y, cv=folds_of) == y).astype(np.int8)


# --- §3.3 / §3.4 at paper scale: the grid's IN1K probes on the ImageNet variants and the cue-conflict images ----------


def in1k_probes(
    results_dir, p: Profile, axes: tuple[str, ...] = ("ratio", "unit", "coupled")
) -> tuple[dict[tuple[str, float], str], list[str]]:
    """The grid's IN1K linear probes on `axes` (runs.probes; none where the grid trains on other data than the
    profile's): (axis, value) -> name of each finished one, and the names of those not finished."""
    names = {key: run.name for key, run in probes(p).items() if key[0] in axes}
    done = finished(results_dir, p, names.values())
    return {k: n for k, n in names.items() if n in done}, [n for n in dict.fromkeys(names.values()) if n not in done]


@torch.no_grad()
def _score_probe(results_dir, p: Profile, name: str, images: torch.utils.data.Dataset, score) -> np.ndarray:
    """score(1000-way logits [B, 1000], labels [B]) -> [B] over every batch of `images`, by the finished probe `name`."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_probe(results_dir, p.name, name).to(device)
    batches = list(torch.arange(len(images)).split(p.runtime.eval_batch_size))
    out = [score(model(normalize(x.to(device), "imagenet")), y) for x, y in iterate(images, batches, p.probe_data.num_workers)]
    return np.concatenate(out)


def shifted_correct(results_dir, p: Profile, name: str, variant: str, root) -> np.ndarray:
    """Table 1's robustness: the finished IN1K probe `name`, unchanged, on the folder `root` of `variant` (one of
    shifted_imagenet.SETS, scored by its protocol): 1 per correctly classified image, int8 [N]; cached per run hash."""
    run = load_run(results_dir, p.name, name)

    def compute() -> dict[str, np.ndarray]:
        s = shifted_imagenet.load(variant, root, data_root(p.probe_data), run.spec.data.img_size)
        return {"correct": _score_probe(results_dir, p, name, s.images, lambda z, y: shifted_imagenet.correct(s, z, y))}

    path = analysis_path(results_dir, p, f"hlvm_shifted_{variant}_{name}")
    return cached(path, compute, run=run.hash, root=str(root))["correct"]


def cue_conflict_decisions(results_dir, p: Profile, name: str, root) -> dict[str, np.ndarray]:
    """Table 2's input: the finished IN1K probe `name` on Geirhos et al.'s cue-conflict folder `root`: per image its
    16-category decision, shape and texture category (indices into shifted_imagenet.CATEGORIES); cached per run hash."""
    run = load_run(results_dir, p.name, name)

    def compute() -> dict[str, np.ndarray]:
        cc = shifted_imagenet.cue_conflict(root, run.spec.data.img_size)
        decision = _score_probe(results_dir, p, name, cc.images, lambda z, y: shifted_imagenet.category_decision(z))
        return {"decision": decision, "shape": np.array([y for _, y in cc.images.samples]), "texture": cc.texture}

    return cached(analysis_path(results_dir, p, f"hlvm_cue_conflict_{name}"), compute, run=run.hash, root=str(root))
