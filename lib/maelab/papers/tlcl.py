"""TLCL wing: *Mask Models are Token Level Contrastive Learners* (anonymous submission; §4 theory, §6.1-6.4 experiments).

Runs: §6.3's three probes (LP: linear head; BN + LP: non-learnable BN then linear; partial FT: linear head and the
last block's qkv projection) with AdamW as the paper, on the bank's default MAE (every calibration seed), on random
init and on the supervised reference; §6.4's MAE with more heads at the same width, beside the default MAE.

Measurements on finished runs: the matrices of §3.1 under a fixed mask (`masked_patches`), their spectra and effective
rank (Assumption 4.1), Fig 2's component distances (§6.1), eq 4's normalized adjacency and eq 6's L_spec with the
proof's bound (Theorem 4.3), decoder attention against patch similarity (Lemma 4.6), and K-means zero-shot
segmentation scored against the synthetic dataset's object and part masks (§6.2).
"""

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..data import hierarchical
from ..data.augment import normalize
from ..data.datasets import DataConfig
from ..evaluation.analysis import analysis_path, cached, fixed_mask_noise, validation_images
from ..models.mae import MaskedAutoencoder
from ..models.masking import num_kept_units
from ..models.targets import normalize_targets, patchify
from ..models.vit import ViTEncoder, attention_modules, capture_attention
from ..pipeline.builders import default_mae_name, finetune, pretrain, probe, seeded, supervised_reference
from ..pipeline.config import Profile
from ..pipeline.runs import Run, load_encoder, load_model, load_run, load_snapshot, untrained_model
from ..training.probe import ProbeConfig

PROBES = {"lp": ProbeConfig(head="linear"), "bnlp": ProbeConfig(head="bn_linear"), "pft": ProbeConfig(tune="last_qkv")}
PAPER_TABLE1 = {"cifar10": (64.4, 76.6, 83.3), "in1k": (48.0, 68.0, 69.3)}  # LP, BN+LP, partial FT (%)
PAPER_TABLE2 = {3: (64.4, 89.7), 6: (67.5, 90.2)}  # heads -> (LP without BN, FT) on CIFAR-10, ViT-Tiny


def probe_name(init: str, method: str) -> str:
    """§6.3's probe `method` (lp | bnlp | pft) of the encoder of run `init` ("random_init[_s<seed>]" for none)."""
    return f"{init}_tlcl_{method}"


def heads_name(p: Profile, heads: int, seed: int = 0) -> str:
    """§6.4's MAE with `heads` attention heads; the profile's head count is the default MAE."""
    return default_mae_name(p, seed) if heads == p.encoder.num_heads else seeded(f"mae_h{heads}", seed)


def _probes(p: Profile, init: Run | None, label: str, seed: int, methods=tuple(PROBES)) -> list[Run]:
    optim = replace(p.probe, optimizer="adamw", blr=p.tlcl.probe_blr, weight_decay=0.0)
    runs = []
    for method in methods:
        spec = probe(p, init, seed, recipe=replace(p.probe_recipe, head=PROBES[method].head, tune=PROBES[method].tune))
        runs.append(Run(probe_name(label, method), replace(spec, optim=optim)))
    return runs


def runs(p: Profile, seed: int) -> list[Run]:
    """The TLCL runs: probes of the bank's default MAE per calibration seed, of random init and of the supervised
    reference (§6.3), and the head-count ablation (§6.4)."""
    out = []
    if seed == p.seeds[0]:
        for s in p.calibration.seeds:
            mae = Run(default_mae_name(p, s), pretrain(p, s))
            out += _probes(p, mae, mae.name, s) + _probes(p, None, seeded("random_init", s), s)
        for ref in supervised_reference(p):
            out += _probes(p, ref, ref.name, 0)
    for heads in p.tlcl.head_counts:
        name = heads_name(p, heads, seed)
        spec = pretrain(p, seed)
        mae = Run(name, spec)
        if heads != p.encoder.num_heads:
            mae = Run(name, replace(spec, model=replace(spec.model, encoder=replace(p.encoder, num_heads=heads))))
            out += [mae, Run(f"{name}_ft", finetune(p, mae, seed))]
        out += _probes(p, mae, name, seed, methods=("lp",))
    return list({r.name: r for r in out}.values())


# --- §4 and §6.1: spectra, Theorem 4.3's L_spec, Lemma 4.6's attention, Fig 2's component distances ----------------


def sweep_ratios(p: Profile, low: float = 0.5) -> list[float]:
    """§6.1's mask ratios: the bank's sweep (lcmae.mask_ratios) from `low` (the paper: 0.5-0.9)."""
    return sorted(r for r in set(p.lcmae.mask_ratios) if r >= low)


def untrained_mae(results_dir: Path, p: Profile, name: str) -> MaskedAutoencoder:
    """The MAE of pretraining run `name` at initialisation (torch.manual_seed(run seed), as its job builds it)."""
    return untrained_model(load_run(results_dir, p.name, name).spec).mae


@torch.no_grad()
def masked_patches(mae: MaskedAutoencoder, imgs: torch.Tensor, mask_seed: int = 0) -> dict[str, torch.Tensor]:
    """§3.1's matrices under one fixed random mask at the model's ratio (every image: N visible, N0 removed tokens).

    x0 / m [I, N0, F]: target X_0 and reconstruction g∘f(X) of the removed patches (the loss's space: norm_pix);
    xv / mv [I, N, F]: target and decoder output at the visible tokens; attn [I, layers, N0, N]: head-averaged decoder
    attention from each removed token to the visible tokens, renormalised over them (cls and removed keys dropped).
    """
    noise = fixed_mask_noise(mae, mask_seed).expand(len(imgs), -1)
    with capture_attention(attention_modules(mae.decoder)) as maps:
        out = mae(imgs, noise=noise)
    removed, visible = (out.mask[0] == 1).nonzero().squeeze(1), (out.mask[0] == 0).nonzero().squeeze(1)
    attn = torch.stack(maps, 1).mean(2)[:, :, 1 + removed][..., 1 + visible]  # [I, layers, N0, N]
    return {
        "x0": out.target[:, removed],
        "m": out.pred[:, removed],
        "xv": out.target[:, visible],
        "mv": out.pred[:, visible],
        "attn": attn / attn.sum(-1, keepdim=True),
    }


def effective_rank(s: torch.Tensor) -> torch.Tensor:
    """Effective rank exp(H(s / sum s)) of singular values s [..., k] (Roy & Vetterli 2007)."""
    q = s / s.sum(-1, keepdim=True).clamp_min(1e-12)
    return torch.exp(-(q * q.clamp_min(1e-12).log()).sum(-1))


def numerical_rank(s: torch.Tensor, rtol: float) -> torch.Tensor:
    """Singular values above rtol x the largest, per matrix: s [..., k] -> [...]."""
    return (s > rtol * s[..., :1]).sum(-1)


def component_distances(x0: torch.Tensor, m: torch.Tensor, k: int = 5) -> torch.Tensor:
    """§6.1, Fig 2: ||σ_i u_i v_i^T - σ̂_i û_i v̂_i^T||^2 / ||σ_i u_i v_i^T||^2 for i = 1..k, per matrix: [I, k]."""
    u, s, vh = torch.linalg.svd(x0.double(), full_matrices=False)
    uh, sh, vhh = torch.linalg.svd(m.double(), full_matrices=False)
    comp = lambda u, s, vh: s[:, :k, None, None] * u.mT[:, :k, :, None] * vh[:, :k, None, :]  # [I, k, N0, F]
    diff = comp(u, s, vh) - comp(uh, sh, vhh)
    return (torch.linalg.matrix_norm(diff, ord=2) ** 2 / s[:, :k] ** 2).float()  # spectral norm, as the paper's ||.||_2


def _normalize(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """D^-1/2 per node of the weights a [I, n, n] (eq 4) and the degrees; a degree <= 1e-9 x n x the image's largest
    |w_ij| (zero up to rounding) gets D^-1/2 = 0 (the pseudo-inverse: eq 4 leaves it undefined)."""
    deg = a.sum(-1)
    deg = torch.where(deg > 1e-9 * a.shape[-1] * a.abs().amax((-1, -2))[:, None], deg, torch.zeros_like(deg))
    return torch.where(deg > 0, deg.clamp_min(1e-300).rsqrt(), torch.zeros_like(deg)), deg


def normalized_adjacency(
    x0: torch.Tensor, r: int, kernel: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Eq 4 with Theorem 4.3's weights w_ij = <X_0r,i, X_0r,j> (X_0r: rank-r SVD truncation of X_0 [I, N0, F]), or with
    §4.3's kernel W_ij = exp(w_ij / 2σ^2) (kernel=True; 2σ^2 = the image's mean w_ii), whose degrees are all positive.

    Returns (𝒜 = D^-1/2 A D^-1/2 [I, N0, N0], N = D^-1/2 X_0r [I, N0, F] with N N^T = 𝒜 (None for the kernel),
    degrees [I, N0])."""
    u, s, vh = torch.linalg.svd(x0.double(), full_matrices=False)
    x0r = u[..., :r] @ torch.diag_embed(s[:, :r]) @ vh[:, :r]
    a = x0r @ x0r.mT
    if kernel:
        a = torch.exp(a / a.diagonal(dim1=-2, dim2=-1).mean(-1)[:, None, None])
    d, deg = _normalize(a)
    return d[..., None] * a * d[:, None, :], None if kernel else d[..., None] * x0r, deg


def spectral_terms(x0: torch.Tensor, m: torch.Tensor, r: int) -> dict[str, np.ndarray]:
    """Theorem 4.3 per image: L_MAE (eq 2), L_spec (eq 6) with eq 4's 𝒜 and with the kernel's ("l_spec_kernel"),
    eq 8's error ||M - N||^2, the proof's bound ||MM^T - NN^T||^2 <= ||M - N||^2 ||M + N||^2 (M = g∘f(X)) and the
    share of eq 4's nodes with degree <= 0."""
    adj, n, deg = normalized_adjacency(x0, r)
    adj_k = normalized_adjacency(x0, r, kernel=True)[0]
    m, x0 = m.double(), x0.double()
    sq = lambda t: t.pow(2).sum((-1, -2))
    out = {
        "l_mae": sq(m - x0),
        "l_spec": sq(m @ m.mT - adj),
        "l_spec_kernel": sq(m @ m.mT - adj_k),
        "nn_minus_adj": sq(n @ n.mT - adj),
        "eps": sq(m - n),
        "bound": sq(m - n) * sq(m + n),
        "bad_degree": (deg <= 0).double().mean(-1),
    }
    return {k: v.numpy() for k, v in out.items()}


def gram_bound(m: torch.Tensor, n: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides of ||MM^T - NN^T||_F^2 <= ||M - N||_F^2 ||M + N||_F^2 (Theorem 4.3's proof), per matrix."""
    m, n = m.double(), n.double()
    sq = lambda t: t.pow(2).sum((-1, -2))
    return sq(m @ m.mT - n @ n.mT), sq(m - n) * sq(m + n)


def _ranks(x: torch.Tensor) -> torch.Tensor:
    return x.argsort(-1).argsort(-1).double()


def row_spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman correlation of a and b along the last axis (no ties expected), [...]."""
    ra, rb = _ranks(a), _ranks(b)
    ra, rb = ra - ra.mean(-1, keepdim=True), rb - rb.mean(-1, keepdim=True)
    return (ra * rb).sum(-1) / (ra.norm(dim=-1) * rb.norm(dim=-1)).clamp_min(1e-12)


def attention_similarity(mats: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Lemma 4.6: per image and decoder layer, the mean over removed tokens i of Spearman(a_ij, s_ij) over visible j,
    for s = u'_j^T X_0,i (eq 16; u'_j: the decoder output at visible token j, in X's space) and X_j^T X_0,i (eq 17);
    `*_shuffled`: the same with the similarities of another removed token of the image (i -> i + 1): [I, layers]."""
    sims = {"u": mats["mv"] @ mats["x0"].mT, "pixel": mats["xv"] @ mats["x0"].mT}  # [I, N, N0]
    out = {}
    for name, s in sims.items():
        s = s.mT[:, None]  # [I, 1, N0, N]
        out[name] = row_spearman(mats["attn"], s).mean(-1).numpy()
        out[f"{name}_shuffled"] = row_spearman(mats["attn"], s.roll(1, dims=2)).mean(-1).numpy()
    return out


def feature_alignment(encoder: ViTEncoder, imgs: torch.Tensor, patch_size: int, r: int) -> np.ndarray:
    """Per image: Pearson correlation, over patch pairs i != j, of the encoder's unmasked patch-feature cosine similarity
    and the normalized adjacency 𝒜 of eq 4 built from all the image's (per-patch normalised) patches at rank r."""
    with torch.no_grad():
        feats = torch.nn.functional.normalize(encoder(imgs)[0][:, 1:].double(), dim=-1)
    adj = normalized_adjacency(normalize_targets(patchify(imgs, patch_size)), r)[0]
    off = ~torch.eye(adj.shape[-1], dtype=torch.bool)
    a, b = (feats @ feats.mT)[:, off], adj[:, off]
    a, b = a - a.mean(-1, keepdim=True), b - b.mean(-1, keepdim=True)
    return ((a * b).sum(-1) / (a.norm(dim=-1) * b.norm(dim=-1)).clamp_min(1e-12)).numpy()


def masked_measurements(
    results_dir: Path, p: Profile, name: str, n_images: int, untrained: bool = False, mask_seed: int = 0
) -> dict[str, np.ndarray]:
    """What §4 and §6.1 read from the MAE of pretraining run `name` (untrained: its initialisation) on n_images test
    images under one fixed mask, cached: singular values of X_0 and g∘f(X) ("s_x0", "s_m" [I, k]), Fig 2's component
    distances [I, 5], `spectral_terms` at rank r = min(N visible, F) (§5.1: the rank the visible tokens allow),
    the bound's two sides for (M, N) = (g∘f(X), X_0), `attention_similarity` ("attn_*" [I, layers]) and N0."""

    def compute() -> dict[str, np.ndarray]:
        mae = untrained_mae(results_dir, p, name) if untrained else load_model(results_dir, p.name, name).mae.eval()
        imgs, _ = validation_images(p, n_images)
        mats = masked_patches(mae, imgs, mask_seed)
        x0, m = mats["x0"], mats["m"]
        r = min(mats["xv"].shape[1], x0.shape[-1])
        lhs, rhs = gram_bound(m, x0)
        return {
            "s_x0": torch.linalg.svdvals(x0.double()).numpy(),
            "s_m": torch.linalg.svdvals(m.double()).numpy(),
            "distances": component_distances(x0, m, 5).numpy(),
            **spectral_terms(x0, m, r),
            "gram_lhs": lhs.numpy(),
            "gram_rhs": rhs.numpy(),
            **{f"attn_{k}": v for k, v in attention_similarity(mats).items()},
            "rank": np.array(r),
            "n_removed": np.array(x0.shape[1]),
        }

    key = dict(run=name, n=n_images, untrained=untrained, mask_seed=mask_seed)
    return cached(analysis_path(results_dir, p, f"tlcl_masked_{name}{'_init' if untrained else ''}"), compute, **key)


def alignment_curve(results_dir: Path, p: Profile, name: str, epochs: list[float], n_images: int) -> np.ndarray:
    """`feature_alignment` of run `name`'s encoder along pretraining [epochs, I]: epoch 0 is its initialisation, the
    snapshots (runtime.snapshot_epochs), and its schedule's last epoch the finished encoder; cached. Rank r as in
    `masked_measurements` at the run's own mask ratio."""

    def compute() -> dict[str, np.ndarray]:
        spec = load_run(results_dir, p.name, name).spec
        imgs, _ = validation_images(p, n_images)
        enc = spec.model.encoder
        r = min(num_kept_units(enc.num_patches, spec.model.mask_ratio), enc.patch_size**2 * enc.in_chans)
        out = []
        for e in epochs:
            encoder = (
                untrained_mae(results_dir, p, name).encoder
                if e == 0
                else load_encoder(results_dir, p.name, name)
                if e >= spec.optim.epochs
                else load_snapshot(results_dir, p.name, name, e)
            )
            out.append(feature_alignment(encoder, imgs, enc.patch_size, r))
        return {"alignment": np.stack(out)}

    path = analysis_path(results_dir, p, f"tlcl_alignment_{name}")
    return cached(path, compute, run=name, epochs=list(epochs), n=n_images)["alignment"]


# --- §6.2: K-means on encoder patch features as zero-shot segmentation ------------------------------------------------


def segmentation_images(n: int, pool: int, seed: int = 0, data: DataConfig | None = None) -> dict[str, np.ndarray]:
    """n test images of the synthetic dataset drawn by `seed` from its first `pool` (not picked by eye), with the
    ground truth of data.hierarchical: "object" [n, H, W] (0 background, 1 object) and "parts" (0 background, 1-4 parts).
    Read from the cached test split as the HLVM notebooks read it (hlvm.experiments.synthetic_split, under `data`'s
    root; default the dataset's own)."""
    from .hlvm.experiments import synthetic_split  # here, not at the top: it imports sklearn's t-SNE and torchvision

    test = synthetic_split(data or DataConfig(name="hierarchical"), "test", pool)
    pick = np.sort(np.random.default_rng(seed).choice(pool, n, replace=False))
    return {
        "images": test["images"].numpy()[pick],
        "object": test["object_mask"][pick].astype(np.int64),
        "parts": test["part_map"][pick],
    }


def kmeans_miou(features: np.ndarray, truth: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K-means (k clusters) on each image's patch features [I, L, D], upsampled to pixels and matched to the ground-truth
    regions truth [I, H, W] by the Hungarian algorithm on IoU; mIoU over the regions present: ([I], clusters [I, L])."""
    from sklearn.cluster import KMeans

    n, side = truth.shape[0], truth.shape[-1]
    grid = int(round(features.shape[1] ** 0.5))
    miou, clusters = np.zeros(n), np.zeros(features.shape[:2], dtype=np.int64)
    for i in range(n):
        clusters[i] = KMeans(k, n_init=4, random_state=seed).fit_predict(features[i])
        pred = np.kron(clusters[i].reshape(grid, grid), np.ones((side // grid, side // grid), dtype=np.int64)).ravel()
        regions = np.unique(truth[i])
        gt = np.searchsorted(regions, truth[i].ravel())
        inter = np.bincount(gt * k + pred, minlength=len(regions) * k).reshape(len(regions), k)
        iou = inter / (inter.sum(1, keepdims=True) + inter.sum(0, keepdims=True) - inter)
        rows, cols = linear_sum_assignment(-iou)
        miou[i] = iou[rows, cols].sum() / len(regions)
    return miou, clusters


SEGMENTATION_K = {"object": 2, "parts": 1 + hierarchical.NUM_PARTS}  # clusters per ground truth: background + regions


def segmentation_miou(
    results_dir: Path, p: Profile, name: str, features: str, n_images: int, pool: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """§6.2 quantified on `segmentation_images`: `kmeans_miou` of unmasked patch features against the object and the
    part masks ("object", "parts" [I] and their clusters [I, L]), cached. features: "encoder" (pretraining run `name`),
    "random" (its architecture at initialisation with torch.manual_seed(seed)) or "pixels" (its patches, raw)."""

    def compute() -> dict[str, np.ndarray]:
        spec = load_run(results_dir, p.name, name).spec
        if spec.data.name != "hierarchical":
            raise ValueError(f"{name} was pretrained on {spec.data.name}: the ground-truth masks are the synthetic dataset's")
        enc, seg = spec.model.encoder, segmentation_images(n_images, pool, seed, spec.data)
        imgs = normalize(torch.from_numpy(seg["images"]), spec.data.name)
        if features == "pixels":
            x = patchify(imgs, enc.patch_size)
        else:
            torch.manual_seed(seed)
            encoder = load_encoder(results_dir, p.name, name) if features == "encoder" else ViTEncoder(enc).eval()
            with torch.no_grad():
                x = encoder(imgs)[0][:, 1:]
        out = {}
        for truth, k in SEGMENTATION_K.items():
            out[truth], out[f"{truth}_clusters"] = kmeans_miou(x.numpy(), seg[truth], k, seed)
        return out

    key = dict(run=name, features=features, n=n_images, pool=pool, seed=seed)
    return cached(analysis_path(results_dir, p, f"tlcl_kmeans_{name}_{features}"), compute, **key)
