"""HLVM on frozen encoders of the synthetic hierarchical dataset: which latents a pretraining made linearly decodable
(Theorem 2 tested where the latents are known), shape bias (§3.4, Table 2) and dense segmentation (§3.5, Table 3).

Every measurement is kept per test image (`correct`, residuals, intersections, ...) so that `bootstrap` can give a
95% CI over test images, and paired differences between two encoders from the same image resamples.
"""

from __future__ import annotations

import random
from collections.abc import Mapping

import numpy as np
import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data import hierarchical
from ...data.augment import normalize
from ...data.datasets import DataConfig, data_root
from ...evaluation.analysis import analysis_path, cached
from ...evaluation.claims import UNTESTABLE, noise_floor
from ...models.targets import patchify
from ...models.vit import ViTConfig, ViTEncoder
from ...pipeline.config import Profile
from ...pipeline.runs import Run, RunNotReady, load_encoder
from .runs import base_seeds
from .theory import add_latent_noise, minimal_c, sample_unit_mask

TABLE2 = {0.1: 0.1352, 0.25: 0.2545, 0.5: 0.2458, 0.75: 0.2563, 0.9: 0.2014}
"""Table 2: shape bias [Geirhos et al.] per mask ratio (ViT-B, mask unit 16 px, IN1K linear probe)."""

TABLE3 = {
    0.1: {"AP_box": 30.47, "AP_mask": 28.24},
    0.25: {"AP_box": 32.38, "AP_mask": 29.95},
    0.5: {"AP_box": 34.87, "AP_mask": 32.11},
    0.75: {"AP_box": 39.72, "AP_mask": 36.35},
    0.9: {"AP_box": 37.17, "AP_mask": 34.35},
}
"""Table 3: COCO box / mask AP of a ViT Mask R-CNN (45 epochs) per mask ratio, mask size 16."""

CATEGORICAL = ("class", "texture_family")
BLOCK_LATENTS = tuple(f"tex_{p}" for p in hierarchical.TEX_PARAMS)  # one value per 4x4-px texture block
LATENTS = (
    ("class",)
    + ("pose_x", "pose_y", "scale", "rotation", "background")
    + tuple(f"part{k}_shape" for k in range(1, hierarchical.NUM_PARTS + 1))
    + ("texture_family", "obj_intensity", "edge_sharpness", "noise_std")
    + BLOCK_LATENTS
)
"""The latents decoded, high to low (levels from `hierarchical.LATENT_LEVELS`)."""
MEASURES_VERSION = 2  # part of every `measures` cache key: bump when `measure_encoder` changes
SEG_CLASSES = ("background",) + tuple(f"part {k}" for k in range(1, hierarchical.NUM_PARTS + 1))


def level(latent: str) -> str:
    return hierarchical.LATENT_LEVELS[latent]


def readout(latent: str) -> str:
    """The measurement name of a latent's main readout: its block's token for a per-block texture latent (`decode_blocks`),
    else the mean-pooled features (MAE's recommended readout)."""
    return f"tok:{latent}" if latent in BLOCK_LATENTS else f"mean:{latent}"


def dag_node(latent: str) -> str:
    """The node of `hierarchical.true_dag` that holds a latent (the six tex_* share one node per block)."""
    return "tex_block" if latent in BLOCK_LATENTS else latent


# ---------------------------------------------------------------------------------------------------------------------
# Algorithm 1's prediction, per latent


def c_membership(
    latents: Mapping[str, np.ndarray], settings: list[tuple[float, int]], n_masks: int, seed: int
) -> pd.DataFrame:
    """Fraction of masks whose C (corrected Algorithm 1 on the image's true DAG) holds each latent's node, per image and
    setting (ratio, unit in patches); for the per-block texture latents, the fraction of the object's blocks in C.

    latents: `hierarchical.generate(...)["latents"]` of a few images. Returns rows (image, ratio, unit, <latent>...)."""
    rng = random.Random(seed)
    rows = []
    for i in range(len(latents["class"])):
        dag = add_latent_noise(hierarchical.true_dag({k: v[i] for k, v in latents.items()}))
        grid = int(np.sqrt(sum(k == "observed" for _, k in dag.nodes(data="kind"))))
        blocks = [z for z in dag if z.startswith("tex_block") and dag.out_degree(z)]  # blocks the object covers
        for ratio, unit in settings:
            hits = {latent: 0.0 for latent in LATENTS}
            for _ in range(n_masks):
                C, _ = minimal_c(dag, {f"x_{r}_{c}" for r, c in sample_unit_mask(rng, ratio, unit, grid)})
                for latent in LATENTS:
                    node = dag_node(latent)
                    hits[latent] += np.mean([b in C for b in blocks]) if node == "tex_block" and blocks else node in C
            rows.append({"image": i, "ratio": ratio, "unit": unit, **{k: v / n_masks for k, v in hits.items()}})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------------
# Features


@torch.no_grad()
def tokens(encoder: ViTEncoder, imgs: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Unmasked normed encoder output [N, 1 + L, D] (cls first)."""
    encoder.eval()
    return torch.cat([encoder(x)[0] for x in imgs.split(batch_size)])


def pooled(tok: torch.Tensor) -> dict[str, np.ndarray]:
    """The frozen features probed: the cls token and the mean of the patch tokens, [N, D] each."""
    return {"cls": tok[:, 0].numpy(), "mean": tok[:, 1:].mean(1).numpy()}


def random_encoder(cfg: ViTConfig, seed: int) -> ViTEncoder:
    """The random-init baseline: the same ViT at its initialisation, from `seed`."""
    torch.manual_seed(seed)
    return ViTEncoder(cfg).eval()


# ---------------------------------------------------------------------------------------------------------------------
# Linear decodability of the latents


def block_on_object(object_mask: np.ndarray) -> np.ndarray:
    """[N, GRID * GRID]: texture blocks at least half covered by the object (where a block's grating is visible)."""
    n, b = len(object_mask), hierarchical.BLOCK
    return object_mask.reshape(n, hierarchical.GRID, b, hierarchical.GRID, b).mean((2, 4)).reshape(n, -1) >= 0.5


def latent_target(data: Mapping, latent: str) -> tuple[np.ndarray, np.ndarray]:
    """(y [N, K] float, valid [N, K] bool) of one latent: a part shape is its 5 ellipse parameters; a tex_* latent its
    value in each block, valid only on blocks the object covers (elsewhere it draws nothing)."""
    y = np.asarray(data["latents"][latent], dtype=np.float64).reshape(len(data["labels"]), -1)
    valid = block_on_object(data["object_mask"]) if latent in BLOCK_LATENTS else np.ones_like(y, bool)
    return y, valid


def decode(train_x: np.ndarray, train: Mapping, test_x: np.ndarray, test: Mapping, latents=LATENTS) -> dict[str, dict]:
    """Linear decodability of each latent from frozen features [N, D] (standardised on train).

    Categorical latents: multinomial logistic regression, per test image `correct`. Continuous: ridge (alpha by
    leave-one-out) on targets standardised on train (per dimension; a tex_* latent over all its covered blocks;
    invalid entries set to the train mean), per test image the summed squared residual `res2` and squared deviation
    from the train mean `tot2` over valid entries; R^2 = 1 - sum res2 / sum tot2 (out-of-sample R^2 against the train
    mean, pooled over the target's standardised dimensions)."""
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    xtr, xte = scaler.transform(train_x), scaler.transform(test_x)
    out = {}
    for latent in latents:
        if latent in CATEGORICAL:
            clf = LogisticRegression(max_iter=1000).fit(xtr, train["latents"][latent])
            out[latent] = {"kind": "accuracy", "correct": (clf.predict(xte) == test["latents"][latent]).astype(np.int8)}
            continue
        (ytr, vtr), (yte, vte) = latent_target(train, latent), latent_target(test, latent)
        axis = None if latent in BLOCK_LATENTS else 0  # one scale for all blocks (a corner block is rarely covered)
        mu = (ytr * vtr).sum(axis) / (vtr.sum(axis))
        sd = np.sqrt(((ytr - mu) ** 2 * vtr).sum(axis) / vtr.sum(axis))
        ztr, zte = np.where(vtr, (ytr - mu) / sd, 0.0), (yte - mu) / sd
        pred = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(xtr, ztr).predict(xte).reshape(zte.shape)
        out[latent] = {
            "kind": "r2",
            "res2": (((zte - pred) ** 2) * vte).sum(1).astype(np.float32),
            "tot2": ((zte**2) * vte).sum(1).astype(np.float32),
        }
    return out


def decode_blocks(train_tok: torch.Tensor, train: Mapping, test_tok: torch.Tensor, test: Mapping) -> dict[str, dict]:
    """Local readout of the per-block texture latents: one ridge shared by all blocks maps a block's patch token
    [D] to the block's value (token grid = texture-block grid), fit on covered blocks; per test image `res2`, `tot2`
    over its covered blocks as in `decode` (a pooled feature mixes the 64 blocks, a block's own token does not)."""
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    (ntr, length, dim), nte = train_tok.shape, len(test_tok)
    if length != hierarchical.GRID**2:
        raise ValueError(f"{length} tokens per image; the local readout needs one per texture block ({hierarchical.GRID**2})")
    vtr, vte = block_on_object(train["object_mask"]), block_on_object(test["object_mask"])
    scaler = StandardScaler().fit(train_tok.reshape(-1, dim)[vtr.ravel()].numpy())
    xtr = scaler.transform(train_tok.reshape(-1, dim)[vtr.ravel()].numpy())
    xte = scaler.transform(test_tok.reshape(-1, dim).numpy())
    out = {}
    for latent in BLOCK_LATENTS:
        ytr = np.asarray(train["latents"][latent], np.float64).reshape(ntr, -1)[vtr]
        mu, sd = ytr.mean(), ytr.std()
        zte = (np.asarray(test["latents"][latent], np.float64).reshape(nte, -1) - mu) / sd
        pred = RidgeCV(alphas=np.logspace(-3, 3, 7)).fit(xtr, (ytr - mu) / sd).predict(xte).reshape(nte, -1)
        out[latent] = {
            "kind": "r2",
            "res2": (((zte - pred) ** 2) * vte).sum(1).astype(np.float32),
            "tot2": ((zte**2) * vte).sum(1).astype(np.float32),
        }
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Shape bias (§3.4)


def shape_bias_measure(pred: np.ndarray, shape_labels: np.ndarray, texture_labels: np.ndarray) -> dict:
    """Per cue-conflict image: the decision followed the shape cue / the texture cue (Geirhos et al. 2019)."""
    return {
        "kind": "shape_bias",
        "shape": (pred == shape_labels).astype(np.int8),
        "texture": (pred == texture_labels).astype(np.int8),
    }


def probe_shape_bias(train_x: np.ndarray, train_y: np.ndarray, conflict_x: np.ndarray, conflict: Mapping) -> dict:
    """Shape bias of a linear probe (logistic regression on standardised frozen features, trained on the train split)
    on the cue-conflict split: the class is the shape cue, `texture_labels` the texture cue."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train_x)
    clf = LogisticRegression(max_iter=1000).fit(scaler.transform(train_x), train_y)
    return shape_bias_measure(clf.predict(scaler.transform(conflict_x)), conflict["labels"], conflict["texture_labels"])


# ---------------------------------------------------------------------------------------------------------------------
# Dense segmentation (§3.5 at our scale)


class TokenSegHead(nn.Module):
    """A 1x1 conv on the patch tokens predicting the p x p pixel labels of its patch (linear; pixel shuffle)."""

    def __init__(self, dim: int, num_classes: int, patch: int, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.patch, self.num_classes = patch, num_classes
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)
        self.proj = nn.Linear(dim, num_classes * patch * patch)

    def forward(self, tok: torch.Tensor) -> torch.Tensor:
        """tok [N, L, D] (patch tokens, square grid) -> logits [N, classes, H, W]."""
        n, length, _ = tok.shape
        g = int(round(length**0.5))
        x = self.proj((tok - self.mean) / self.std).transpose(1, 2).reshape(n, -1, g, g)  # [N, classes*p*p, g, g]
        return F.pixel_shuffle(x, self.patch)


def fit_seg_head(
    tok: torch.Tensor, labels: torch.Tensor, num_classes: int, patch: int, epochs: int = 20, lr: float = 1e-2, seed: int = 0
) -> TokenSegHead:
    """Train `TokenSegHead` on frozen tokens [N, L, D] against per-pixel labels [N, H, W] (cross-entropy, AdamW,
    batch 256, cosine schedule)."""
    torch.manual_seed(seed)
    head = TokenSegHead(tok.shape[-1], num_classes, patch, tok.mean((0, 1)), tok.std((0, 1)) + 1e-6)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * -(-len(tok) // 256)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        for idx in torch.randperm(len(tok), generator=g).split(256):
            loss = F.cross_entropy(head(tok[idx]), labels[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


@torch.no_grad()
def predict_seg(head: TokenSegHead, tok: torch.Tensor) -> torch.Tensor:
    """Per-pixel class [N, H, W]."""
    return torch.cat([head(t).argmax(1) for t in tok.split(500)])


def iou_counts(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> dict:
    """Per test image and class: pixels in prediction ∩ truth and in prediction ∪ truth ([N, classes] each)."""
    p1, t1 = (F.one_hot(x.long(), num_classes).flatten(1, 2).bool() for x in (pred, labels))  # [N, H*W, classes]
    return {
        "kind": "miou",
        "inter": (p1 & t1).sum(1).numpy().astype(np.int32),
        "union": (p1 | t1).sum(1).numpy().astype(np.int32),
    }


# ---------------------------------------------------------------------------------------------------------------------
# Metrics under image weights, and the bootstrap over test images


def weighted_score(m: Mapping[str, np.ndarray], w: np.ndarray) -> np.ndarray:
    """The metric of per-image measurement `m` with image weights w [B, N] -> [B] (w of ones: the estimate).

    accuracy: weighted mean of `correct`; r2: 1 - sum res2 / sum tot2; shape_bias: shape / (shape + texture)
    decisions; miou: mean over classes of sum inter / sum union (pooled over images, the usual dataset mIoU)."""
    kind = str(m["kind"])
    if kind == "accuracy":
        return w @ m["correct"] / w.sum(1)
    if kind == "r2":
        return 1 - (w @ m["res2"]) / (w @ m["tot2"])
    if kind == "shape_bias":
        s, t = w @ m["shape"], w @ m["texture"]
        return s / (s + t)
    if kind == "miou":
        return ((w @ m["inter"]) / np.maximum(w @ m["union"], 1)).mean(1)
    raise ValueError(f"unknown measurement kind {kind!r}")


def bootstrap(
    measures: Mapping[str, Mapping], n_boot: int = 1000, seed: int = 0
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """(estimate, [n_boot] bootstrap draws) per measurement, all on the same resamples of the (shared) test images, so
    that draws[a] - draws[b] is the paired bootstrap of a difference."""
    n = {len(next(v for k, v in m.items() if k != "kind")) for m in measures.values()}
    if len(n) != 1:
        raise ValueError(f"measurements on different numbers of test images: {sorted(n)}")
    (n,) = n
    w = np.random.default_rng(seed).multinomial(n, np.full(n, 1 / n), size=n_boot).astype(np.float64)
    ones = np.ones((1, n))
    return {k: float(weighted_score(m, ones)[0]) for k, m in measures.items()}, {
        k: weighted_score(m, w) for k, m in measures.items()
    }


def ci(draws: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    lo, hi = np.quantile(draws, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def flatten(measures: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """{name: {field: array}} -> {"name|field": array}, the form `analysis.cached` stores."""
    return {f"{name}|{field}": np.asarray(v) for name, m in measures.items() for field, v in m.items()}


def unflatten(arrays: Mapping[str, np.ndarray]) -> dict[str, dict[str, np.ndarray]]:
    out: dict[str, dict[str, np.ndarray]] = {}
    for key, v in arrays.items():
        name, field = key.split("|")
        out.setdefault(name, {})[field] = v
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Everything above for one frozen encoder, cached


def load_splits(data: DataConfig, n_train: int, n_test: int) -> dict[str, dict]:
    """The first n_train train images and the first n_test test and cue_conflict images (the same scenes), with their
    latents, object masks and part maps (`hierarchical.load`)."""

    root = data_root(data)
    sizes = {"train": n_train, "test": n_test, "cue_conflict": n_test}
    return {split: head_of(hierarchical.load(root, split), n) for split, n in sizes.items()}


def head_of(d: Mapping, n: int) -> dict:
    """The first n images of a split as `hierarchical.load` returns it (latents included)."""
    return {k: ({a: b[:n] for a, b in v.items()} if k == "latents" else v[:n]) for k, v in d.items()}


def measure_encoder(
    encoder: ViTEncoder | None, splits: Mapping[str, dict], patch: int, n_seg_train: int, seed: int = 0
) -> dict:
    """Per-image measurements of one frozen encoder (None: the raw-pixel baseline) on `load_splits`' splits:
    "<feature>:<latent>" (`decode`), "<feature>:shape_bias" (`probe_shape_bias`) for the features cls and mean
    (pixels: the flattened image), "tok:<tex_*>" (`decode_blocks` on the first n_seg_train train images, when a token
    is a texture block; pixels: the block's pixels), "seg:parts" (5-class mIoU counts: background and the four
    parts) and "seg:object" (object vs background) of a `TokenSegHead` trained on the first n_seg_train train images."""
    imgs = {s: normalize(torch.from_numpy(d["images"]), "hierarchical") for s, d in splits.items()}
    if encoder is None:
        feats = {s: {"pixels": x.flatten(1).numpy()} for s, x in imgs.items()}
        seg_tok = {s: patchify(imgs[s], patch) for s in ("train", "test")}
    else:
        tok = {s: tokens(encoder, x) for s, x in imgs.items()}
        feats = {s: pooled(t) for s, t in tok.items()}
        seg_tok, patch = {s: tok[s][:, 1:] for s in ("train", "test")}, encoder.cfg.patch_size
    train, test, conflict = splits["train"], splits["test"], splits["cue_conflict"]
    out = {}
    for f in feats["train"]:
        out |= {f"{f}:{k}": m for k, m in decode(feats["train"][f], train, feats["test"][f], test).items()}
        out[f"{f}:shape_bias"] = probe_shape_bias(feats["train"][f], train["labels"], feats["cue_conflict"][f], conflict)
    if seg_tok["train"].shape[1] == hierarchical.GRID**2:
        out |= {
            f"tok:{k}": m
            for k, m in decode_blocks(
                seg_tok["train"][:n_seg_train], head_of(train, n_seg_train), seg_tok["test"], test
            ).items()
        }
    labels = {s: torch.from_numpy(splits[s]["part_map"]) for s in ("train", "test")}
    head = fit_seg_head(seg_tok["train"][:n_seg_train], labels["train"][:n_seg_train], len(SEG_CLASSES), patch, seed=seed)
    pred = predict_seg(head, seg_tok["test"])
    out["seg:parts"] = iou_counts(pred, labels["test"], len(SEG_CLASSES))
    out["seg:object"] = iou_counts(pred > 0, labels["test"] > 0, 2)
    return out


def measures(
    results_dir,
    p: Profile,
    which: Run | str,
    encoder: ViTConfig,
    data: DataConfig,
    n_train: int,
    n_test: int,
    n_seg_train: int,
    seed: int = 0,
) -> dict[str, dict]:
    """`measure_encoder` of a finished run, or of the baselines "random" (the ViT `encoder` at init, from `seed`) and
    "pixels", cached under results/<profile>/analysis/ (keyed by the run's config hash: no weights needed to reread)."""
    if not isinstance(which, Run) and which not in ("random", "pixels"):
        raise ValueError(f"which must be a Run, 'random' or 'pixels', got {which!r}")
    name = which.name if isinstance(which, Run) else which
    key = dict(
        version=MEASURES_VERSION,
        which=which.hash if isinstance(which, Run) else (which, repr(encoder)),
        data=repr(data),
        n=(n_train, n_test, n_seg_train),
        seed=seed,
    )

    def compute() -> dict[str, np.ndarray]:
        if isinstance(which, Run):
            model = load_encoder(results_dir, p.name, name)
        else:
            model = random_encoder(encoder, seed) if which == "random" else None
        return flatten(measure_encoder(model, load_splits(data, n_train, n_test), encoder.patch_size, n_seg_train, seed))

    return unflatten(cached(analysis_path(results_dir, p, f"hlvm_probe_{name}"), compute, **key))


def default_sizes(p: Profile) -> tuple[int, int, int]:
    """(n_train, n_test, n_seg_train): 5x and 2x the profile's hlvm.analysis_images (10k and 4k at mini; train capped
    at 10k), the segmentation head on the first half of the probe's train images."""
    n_train = min(10_000, 5 * p.hlvm.analysis_images)
    return n_train, 2 * p.hlvm.analysis_images, n_train // 2


def on_synthetic(p: Profile) -> bool:
    """Whether the profile's HLVM grid is pretrained on the synthetic hierarchical dataset (where latents are known)."""
    return (p.hlvm.dataset or p.data.name) == "hierarchical"


def collect(
    results_dir, p: Profile, runs: Mapping[object, Run], n_train: int, n_test: int, n_seg_train: int, seed: int = 0
) -> tuple[dict[object, dict], dict[str, str]]:
    """`measures` of each finished run of `runs` (label -> Run) and of the baselines, labelled "random init" and
    "raw pixels"; returns (label -> measures, run name -> why it is missing) for runs not finished."""
    ref = next(r for r in runs.values() if r.spec.model.encoder.patch_size == p.hlvm.patch_size)
    enc, data = ref.spec.model.encoder, ref.spec.data
    out, missing = {}, {}
    for label, run in runs.items():
        try:
            out[label] = measures(results_dir, p, run, enc, data, n_train, n_test, n_seg_train, seed)
        except RunNotReady as e:
            missing[run.name] = str(e).splitlines()[0]
    for label, which in (("random init", "random"), ("raw pixels", "pixels")):
        out[label] = measures(results_dir, p, which, enc, data, n_train, n_test, n_seg_train, seed)
    return out, missing


def table(
    measured: Mapping[object, Mapping[str, Mapping]], names: list[str], n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Long table (encoder, measure, value, lo, hi) of the measurements `names` ("cls:class", "seg:parts", ...; a
    name an encoder lacks, e.g. "cls:..." for raw pixels, is read from its "pixels:..." feature)."""
    rows = []
    for label, m in measured.items():
        picked = {n: m[n] if n in m else m["pixels:" + n.split(":", 1)[1]] for n in names}
        est, draws = bootstrap(picked, n_boot, seed)
        rows += [
            {"encoder": label, "measure": n, "value": est[n], "lo": ci(draws[n])[0], "hi": ci(draws[n])[1]} for n in names
        ]
    return pd.DataFrame(rows)


def all_hold(decisions: list[tuple[str, str]]) -> tuple[str, str]:
    """A claim made of several comparisons that must all hold: not reproduced if any is, else untestable if any is,
    else inconclusive if any is, else reproduced; the evidence of each, joined."""
    verdicts = [v for v, _ in decisions]
    for v in ("not reproduced", UNTESTABLE, "inconclusive"):
        if v in verdicts:
            return v, "; ".join(e for _, e in decisions)
    return "reproduced", "; ".join(e for _, e in decisions)


def noise_replicates(
    results_dir, p: Profile, n_train: int, n_test: int, n_seg_train: int, seed: int = 0
) -> tuple[list[dict], list[str]]:
    """`measures` of the base setting (ratio 0.75, base unit) at every pretraining seed the grid has (its own and
    hlvm.noise_seeds: `runs.base_seeds`) that finished, and the names of those runs."""
    runs = base_seeds(p, seed)
    measured, _ = collect(results_dir, p, runs, n_train, n_test, n_seg_train, seed)
    return [measured[k] for k in runs if k in measured], [r.name for k, r in runs.items() if k in measured]


def seed_floor(replicates: list[Mapping[str, Mapping]], names: list[str], scale: float = 100.0) -> float | None:
    """Seed noise floor (`claims.noise_floor`: the largest gap between two seeds of one configuration) of the mean
    over `names` of the measurements, x scale, from `noise_replicates`; None with fewer than 2 seeds."""
    return noise_floor([scale * np.mean([bootstrap({n: r[n]}, n_boot=1)[0][n] for n in names]) for r in replicates])
