# %% [markdown]
# # HLVM §3.1: does masking make MAE reconstruct high-level or low-level structure?
#
# Kong et al., *Understanding Masked Autoencoders via Hierarchical Latent Variable Models* (CVPR 2023), §3.1, Fig 5,
# App. C.3 and Fig 9.
#
# > **Setup (App. C.3).** "All samples from ImageNet-1K are passed through the encoder without any masking, and the
# > decoder reconstructs images in the original input space. Since no masking is applied, no masking token is applied
# > to the input of the decoder." The reconstruction is compared with its input by two structural metrics (SSIM,
# > FSIM) and two pixel metrics (PSNR, MSE; Fig 5 plots -MSE).
# >
# > **Claims (§3.1).** "varying masking ratios from 0.1 to 0.75, higher masking ratios produce reconstructions with
# > higher structural information similarities with the original image (higher SSIM and FSIM), but the model trained
# > with the extremely high ratio 0.9 captures more low-level information (higher PSNR and higher negative MSE) [...]
# > lower masking ratios tend to reconstruct images that capture low-level information better. [...] larger patch
# > sizes produce image reconstructions that capture high-level similarities better, while smaller patch sizes have
# > low-level metrics." Fig 9 (coupled patch = ViT patch) shows the same for patch sizes.
#
# Fig 5 and Fig 9 print no values, so the paper's side of every comparison is its stated direction.
#
# > Our commentary is in block quotes. This notebook reads finished runs and small cached measurements.

# %% tags=["parameters"]
profile = "mini"
results_dir = "../results"
overrides = []
n_images = 0  # unmasked test images per model, 0 means hlvm.analysis_images of the profile

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from maelab.data.augment import normalize
from maelab.evaluation import analysis, figures
from maelab.evaluation.claims import (
    Summary,
    bootstrap_ci,
    describe_gates,
    format_estimate,
    load_calibration,
    summary_path,
)
from maelab.papers import hlvm
from maelab.papers.hlvm import experiments as hx
from maelab.pipeline.builders import pretrain, seeded
from maelab.pipeline.config import load_profile
from maelab.pipeline.runs import RunNotReady, load_model, load_run

p = load_profile(profile, overrides)
figures.setup()
calibration = load_calibration(results_dir, p.name)
summary = Summary(
    "hlvm_3_1_reconstruction", "HLVM §3.1: reconstructions", p.name, 1, figures.scale_tag(p), calibration=calibration
)
n_images = n_images or p.hlvm.analysis_images
syn = hx.synthetic_models(p)
fm = hx.fmnist_sweep(p)
default = p.masking.mask_ratio
fm_seeds = [seeded(fm[default], s) for s in p.calibration.seeds]
syn_seeds = hx.base_seed_runs(p)  # the base setting at every pretraining seed: the synthetic noise floors
done = hx.finished(results_dir, p, [*(n for axis in syn.values() for n in axis.values()), *syn_seeds, *fm.values(), *fm_seeds])
syn_spec = hlvm.grid(p)[("ratio", default)].spec  # the random-init baselines' architectures
fm_spec = pretrain(p, 0)
METRICS = {"ssim": "SSIM", "fsim": "FSIM", "psnr": "PSNR (dB)", "neg_mse": "-MSE"}
display(
    Markdown(
        f"**Scale.** {figures.scale_note(p)}\n\nSynthetic grid (ViT patch {p.hlvm.patch_size} px on {p.hlvm.img_size} px, "
        f"{p.hlvm.epochs:g} epochs of {p.hlvm.train_subset} images) and the Fashion-MNIST ratio sweep of the bank; "
        f"{n_images} unmasked test images per model.\n\n{describe_gates(calibration, p.name)}\n\n"
        f"Finished runs read here: {len(done)}."
    )
)

# %% [markdown]
# ## Reconstructing the unmasked image
#
# Every model here was pretrained with `norm_pix_loss` (MAE's default): its decoder predicts each patch standardised by
# the patch's own mean and standard deviation. These two numbers are restored from the input patch, so part of every
# score comes for free: the **patch-statistics baseline** (a decoder that predicts 0, i.e. each patch at its own mean)
# shows how much. The second baseline is the **same MAE at random initialisation**
# (seed 0), reconstructed the same way.
#
# > A caveat the paper does not discuss: MAE's loss covers only the *masked* patches, so the decoder's output at a
# > visible position is never trained, and at ratio 0 every position is visible. The protocol scores exactly that
# > output, and how far it is from the input depends on how often a model saw visible positions in the decoder
# > (90% of them at ratio 0.1, 10% at 0.9) as much as on what it learned. A model scoring below the baselines is
# > therefore not evidence that it learned nothing; it is a limit of this measurement.
#
# Metrics (`metrics.image_quality`, piq 0.8) on [0, 1] grey pixels: SSIM with piq's 11x11 Gaussian window (sigma 1.5,
# no padding: 22x22 window positions on a 32-px image, 18x18 on 28 px; the paper's 224-px images have 214x214),
# FSIM without chroma (`chromatic=False`; its 4 log-Gabor scales have wavelengths 6-48 px, so the coarsest exceeds our
# images), PSNR with data range 1, and -MSE. All per image, so every difference gets a paired CI over images.


# %%
def quality(name: str, dataset: str, imgs, model) -> dict[str, np.ndarray]:
    """Per-image metrics of one model (a run name, "random init" or "patch mean"), cached per run."""
    key = load_run(results_dir, p.name, name).hash if name in done else name
    return analysis.cached(
        analysis.analysis_path(results_dir, p, f"hlvm_recon_{dataset}_{name.replace(' ', '_')}"),
        lambda: hx.reconstruction_quality(model(), imgs, dataset),
        run=key,
        n=n_images,
    )


results = {"synthetic": {}, "fashion_mnist": {}}
inputs = {
    "synthetic": ("hierarchical", normalize(hx.synthetic_split(syn_spec.data, "test", n_images)["images"], "hierarchical")),
    "fashion_mnist": ("fashion_mnist", analysis.validation_images(p, n_images)[0]),
}
grid = hlvm.grid(p)
baselines = {  # per data set: ViT patch -> the architecture of its random-init baseline
    "synthetic": {c: grid[("coupled", c)].spec for c in p.hlvm.coupled_patches} | {p.hlvm.patch_size: syn_spec},
    "fashion_mnist": {p.encoder.patch_size: fm_spec},
}
for ds, names in [
    ("synthetic", [n for axis in syn.values() for n in axis.values()] + syn_seeds),
    ("fashion_mnist", [*fm.values(), *fm_seeds]),
]:
    dataset, imgs = inputs[ds]
    for name in dict.fromkeys(n for n in names if n in done):
        results[ds][name] = quality(name, dataset, imgs, lambda n=name: load_model(results_dir, p.name, n).mae)
    for patch, spec in sorted(baselines[ds].items()):
        results[ds][f"random init p{patch}"] = quality(
            f"random init p{patch}", dataset, imgs, lambda s=spec: hx.random_init_mae(s)
        )
        results[ds][f"patch mean p{patch}"] = quality(f"patch mean p{patch}", dataset, imgs, lambda q=patch: q)

# %% [markdown]
# ## Fig 5 / Fig 9: the four metrics per model
#
# Rows: mask ratio at the base mask unit (synthetic), mask unit at ratio 0.75 (decoupled, ViT patch fixed; the
# paper's Fig 5 second row), the coupled design (ViT patch = mask unit; Fig 9) and the Fashion-MNIST ratio sweep.
# Blue: mean over images with a 95% bootstrap CI; black: random init; red: the patch-statistics baseline, each at the
# model's ViT patch (the coupled row changes it).


# %%
def rows_of() -> list[tuple[str, str, dict]]:
    return [
        ("synthetic: mask ratio", "synthetic", syn["ratio"]),
        ("synthetic: mask unit (px), decoupled", "synthetic", syn["unit"]),
        ("synthetic: patch = unit (px), coupled", "synthetic", syn["coupled"]),
        ("Fashion-MNIST: mask ratio", "fashion_mnist", fm),
    ]


base_patch = {"synthetic": p.hlvm.patch_size, "fashion_mnist": p.encoder.patch_size}


def patch_of(ds: str, axis_title: str, v: float) -> int:
    """The ViT patch of a model in a row of the figure (only the coupled design changes it)."""
    return int(v) if "coupled" in axis_title else base_patch[ds]


rows = [r for r in rows_of() if any(n in results[r[1]] for n in r[2].values())]
if rows:
    fig, axes = plt.subplots(len(rows), 4, figsize=(13, 2.6 * len(rows)), squeeze=False)
    for (title, ds, models), ax_row in zip(rows, axes):
        for (metric, label), ax in zip(METRICS.items(), ax_row):
            xs = [v for v, n in models.items() if n in results[ds]]
            ticks = [f"{v:g}" for v in xs]
            means = np.array([results[ds][models[v]][metric].mean() for v in xs])
            cis = np.array([bootstrap_ci(results[ds][models[v]][metric]) for v in xs]).reshape(-1, 2)
            ax.errorbar(ticks, means, yerr=np.abs(cis.T - means), fmt="o-", color="tab:blue", label="MAE")
            for base, style in (("random init", "kx--"), ("patch mean", "r+:")):
                ys = [results[ds][f"{base} p{patch_of(ds, title, v)}"][metric].mean() for v in xs]
                ax.plot(ticks, ys, style, lw=1, label=base)
            ax.set(title=f"{label}", xlabel=title)
        ax_row[0].legend(fontsize=7)
    fig.suptitle(f"Fig 5 / Fig 9: reconstruction of unmasked test images ({figures.scale_tag(p)})")
    fig.tight_layout()
    plt.show()

table = pd.DataFrame(
    [
        {"data": ds, "model": name, **{label: r[m].mean() for m, label in METRICS.items()}}
        for ds, res in results.items()
        for name, r in res.items()
    ]
)
if len(table):
    display(table.set_index(["data", "model"]).round(3))

# %% [markdown]
# Example reconstructions (synthetic test images, then Fashion-MNIST): input, then each model of the ratio sweep.


# %%
def examples(name: str, dataset: str, x) -> torch.Tensor | None:
    """One model's reconstructions of the example images, cached per run; None if neither its weights nor a cache are
    in this checkout."""
    try:
        return torch.from_numpy(
            analysis.cached(
                analysis.analysis_path(results_dir, p, f"hlvm_recon_examples_{dataset}_{name}"),
                lambda: {"rec": hx.reconstruct(load_model(results_dir, p.name, name).mae, x).numpy()},
                run=load_run(results_dir, p.name, name).hash,
                n=len(x),
            )["rec"]
        )
    except RunNotReady:
        return None


for ds, models, imgs_of in [
    ("hierarchical", syn["ratio"], inputs["synthetic"][1]),
    ("fashion_mnist", fm, inputs["fashion_mnist"][1]),
]:
    x = imgs_of[:4]
    rec_of = {r: examples(n, ds, x) for r, n in models.items() if n in done}
    left_out = [models[r] for r, rec in rec_of.items() if rec is None]
    if left_out:
        display(Markdown(f"{ds}: left out of the examples (no weights in this checkout, no cached example): {left_out}"))
    shown = [(r, models[r]) for r, rec in rec_of.items() if rec is not None]
    if not shown:
        continue
    recs = [rec_of[r] for r, _ in shown]
    fig, axes = plt.subplots(len(x), 1 + len(shown), figsize=(1.3 * (1 + len(shown)), 1.3 * len(x)), squeeze=False)
    for i in range(len(x)):
        for j, (img, title) in enumerate([(x[i], "input")] + [(r[i], f"r={v:g}") for r, (v, _) in zip(recs, shown)]):
            axes[i, j].imshow(hx.to_unit_range(img[None], ds)[0, 0].clamp(0, 1), cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_axis_off()
            if i == 0:
                axes[i, j].set_title(title, fontsize=8)
    fig.suptitle(f"{ds}: unmasked reconstructions per mask ratio")
    plt.show()

# %% [markdown]
# ## Claims
#
# Each claim compares pretrainings with one seed per setting, so under the verdict rules a difference is decisive
# only if its 95% CI over test images, widened by the metric's **seed noise floor**, clears 0. On Fashion-MNIST the
# floor of each metric is measured here, from the calibration seeds of the default MAE (the largest gap between two
# seeds' means); on the synthetic grid from the three seeds of its base setting (ratio 0.75 at the base unit,
# `hlvm.grid`'s "seed" runs). Without such seeds a claim reads *untestable*, with the image-level verdict kept beside
# it ("the numbers alone"), which covers no seed-to-seed variation.

# %%
floors = {"fashion_mnist": hx.seed_floors(results["fashion_mnist"], fm_seeds, METRICS)}
floors["synthetic"] = hx.seed_floors(results["synthetic"], syn_seeds, METRICS)
seeds_done = [n for n in fm_seeds if n in results["fashion_mnist"]]
syn_seeds_done = [n for n in syn_seeds if n in results["synthetic"]]
display(
    Markdown(
        f"Seed noise floors on Fashion-MNIST ({len(seeds_done)} seeds of `{fm[default]}`): "
        + ", ".join(f"{METRICS[m]} {'unmeasured' if f is None else f'{f:.4f}'}" for m, f in floors["fashion_mnist"].items())
        + f"; on the synthetic grid ({len(syn_seeds_done)} seeds of `{syn_seeds[0]}`): "
        + ", ".join(f"{METRICS[m]} {'unmeasured' if f is None else f'{f:.4f}'}" for m, f in floors["synthetic"].items())
    )
)


def comparison_claim(cid: str, statement: str, ds: str, pairs: list[tuple[str, str]], metrics: list[str], paper: str) -> None:
    """A claim that every (a, b) pair has metric(a) > metric(b), for each metric listed."""
    names = sorted({n for pair in pairs for n in pair})
    absent = hx.missing(names, list(results[ds]))
    parts, raws, ours = [], [], []
    for m in metrics:
        for a, b in pairs:
            if absent:
                continue
            delta, ci, decision, raw = hx.compare(results[ds][a][m], results[ds][b][m], floors[ds].get(m), METRICS[m])
            parts.append((decision[0], f"{METRICS[m]} {a} - {b} {format_estimate(delta, ci)}: {decision[1]}"))
            raws.append((raw, ""))
            ours.append(f"{METRICS[m]} {delta:+.3g}")
    decision = absent or hx.all_of(parts)
    display(
        summary.claim(
            cid,
            statement,
            *decision,
            ours="; ".join(ours) or None,
            paper=paper,
            gate="representation",
            raw_verdict=hx.all_of(raws)[0] if raws else None,
        )
    )


for ds, ratio_names in [("synthetic", syn["ratio"]), ("fashion_mnist", fm)]:
    lo_r, hi_r = min(ratio_names), max(ratio_names)
    comparison_claim(
        f"hlvm-3.1-{ds}-structure-rises",
        f"{ds}: SSIM and FSIM rise from mask ratio {lo_r:g} to {default:g} (Fig 5, top row)",
        ds,
        [(ratio_names[default], ratio_names[lo_r])],
        ["ssim", "fsim"],
        "higher at 0.75 than at 0.1 (no values printed)",
    )
    comparison_claim(
        f"hlvm-3.1-{ds}-structure-falls-at-0.9",
        f"{ds}: SSIM and FSIM fall from mask ratio {default:g} to {hi_r:g} (Fig 5, top row)",
        ds,
        [(ratio_names[default], ratio_names[hi_r])],
        ["ssim", "fsim"],
        "lower at 0.9 than at 0.75",
    )
    comparison_claim(
        f"hlvm-3.1-{ds}-pixel-extremes",
        f"{ds}: PSNR and -MSE are higher at the extreme ratios ({lo_r:g}, {hi_r:g}) than at {default:g} (Fig 5)",
        ds,
        [(ratio_names[lo_r], ratio_names[default]), (ratio_names[hi_r], ratio_names[default])],
        ["psnr", "neg_mse"],
        "higher at 0.1 and 0.9 than at 0.75",
    )
for axis, fig_name in [("unit", "Fig 5, bottom row (decoupled)"), ("coupled", "Fig 9 (coupled)")]:
    units = syn[axis]
    comparison_claim(
        f"hlvm-3.1-synthetic-{axis}-structure",
        f"synthetic: the largest mask unit ({max(units)} px) gives higher SSIM and FSIM than the smallest ({min(units)} px) "
        f"({fig_name})",
        "synthetic",
        [(units[max(units)], units[min(units)])],
        ["ssim", "fsim"],
        "larger patch sizes: higher SSIM and FSIM",
    )

# %% [markdown]
# Beside the claims, each model of the ratio sweeps against the patch-statistics baseline: how much the decoder adds
# to the restored patch mean and standard deviation.

# %%
shape = []
for ds, ratio_names in [("synthetic", syn["ratio"]), ("fashion_mnist", fm)]:
    for v, name in ratio_names.items():
        if name in results[ds]:
            shape.append(
                {
                    "data": ds,
                    "mask ratio": v,
                    **{
                        f"{label} - patch mean": (
                            results[ds][name][m] - results[ds][f"patch mean p{base_patch[ds]}"][m]
                        ).mean()
                        for m, label in METRICS.items()
                    },
                }
            )
if shape:
    display(pd.DataFrame(shape).set_index(["data", "mask ratio"]).round(3))

# %% [markdown]
# ## Summary

# %%
for ds, ratio_names in [("synthetic", syn["ratio"]), ("fashion_mnist", fm)]:
    for v in (min(ratio_names), default, max(ratio_names)):
        if ratio_names[v] in results[ds]:
            for m in ("ssim", "psnr"):
                summary.headline(
                    f"{ds} {METRICS[m]} at mask ratio {v:g}",
                    float(results[ds][ratio_names[v]][m].mean()),
                    "trend only (Fig 5 prints no values)",
                    note=f"patch-mean baseline {results[ds][f'patch mean p{base_patch[ds]}'][m].mean():.3f}",
                )
display(summary.table())
display(summary.claims_table())
display(Markdown(f"**Ledger of this notebook:** {summary.ledger()}"))
summary.save(summary_path(results_dir, p.name, "hlvm_3_1_reconstruction"))
