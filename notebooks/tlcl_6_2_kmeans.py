# %% [markdown]
# # TLCL §6.2 (Fig 3): K-means on MAE patch features as zero-shot segmentation
#
# *Mask Models are Token Level Contrastive Learners* (anonymous submission), §4.3 and §6.2, Fig 3.
#
# > "In Section 4.3, we argued that MAE is a token level Contrastive Learning, which could result in good zero-shot
# > segmentation results. Here we demonstrate a few non-cherry-picked segmentation examples by performing K-means on MAE
# > features." (§6.2)
#
# The paper shows examples only. We add a number: on the synthetic hierarchical dataset, whose generator knows each
# pixel's object and part (`data.hierarchical`: `object_mask`, `part_map`), K-means on each image's unmasked encoder
# patch features (k = 2 against the object mask, k = 5 against background + 4 parts), clusters upsampled to pixels,
# matched to the true regions by the Hungarian algorithm on IoU (`scipy.optimize.linear_sum_assignment`), mIoU over the
# regions present. Encoders: the HLVM grid's MAEs at each mask ratio (`hlvm.grid(p, 0)[("ratio", r)]`, pretrained on
# the synthetic data). **Baselines:** K-means on the raw patch pixels, and on a random-init encoder of the same
# architecture. Images are drawn by a fixed seed from the test split, not picked.
#
# > Our commentary is in block quotes. This notebook reads finished pretraining runs and caches its measurements.

# %% tags=["parameters"]
profile = "mini"
results_dir = "../results"
overrides = []
n_images = 0  # test images scored, 0 means min(200, tlcl.analysis_images)
seed = 0  # draws the images and seeds K-means and the random-init encoder
n_examples = 4

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from maelab.evaluation import figures
from maelab.evaluation.claims import (
    Summary,
    bootstrap_ci,
    describe_gates,
    format_estimate,
    load_calibration,
    noise_floor,
    summary_path,
    verdict_from_ci,
    verdict_seed_aware,
)
from maelab.papers import hlvm, tlcl
from maelab.pipeline.config import load_profile

p = load_profile(profile, overrides)
figures.setup()
calibration = load_calibration(results_dir, p.name)
summary = Summary(
    "tlcl_6_2_kmeans", "TLCL §6.2: K-means segmentation", p.name, 1, figures.scale_tag(p), calibration=calibration
)
n_images = n_images or min(200, p.tlcl.analysis_images)
pool = max(p.hlvm.analysis_images, n_images)
grid = hlvm.grid(p, 0)
ratios = sorted(r for axis, r in grid if axis == "ratio")
runs = {r: grid[("ratio", r)].name for r in ratios}
base = runs[min(ratios, key=lambda r: abs(r - p.masking.mask_ratio))]  # the ratio closest to the default MAE's
display(
    Markdown(
        f"**Scale.** {figures.scale_note(p)}\n\nSegmentation on the synthetic dataset ({p.hlvm.img_size} px, patch "
        f"{p.hlvm.patch_size}): {n_images} test images drawn with seed {seed} from the first {pool}; encoders "
        f"{', '.join(f'`{n}`' for n in runs.values())} (one seed each); the random-init and raw-pixel baselines use "
        f"`{base}`'s architecture. The paper: ViT-B on IN-1K, examples only.\n\n{describe_gates(calibration, p.name)}"
    )
)

# %%
scores = {f"MAE r={r}": tlcl.segmentation_miou(results_dir, p, n, "encoder", n_images, pool, seed) for r, n in runs.items()}
scores["random init"] = tlcl.segmentation_miou(results_dir, p, base, "random", n_images, pool, seed)
scores["raw pixels"] = tlcl.segmentation_miou(results_dir, p, base, "pixels", n_images, pool, seed)
rows = []
for label, s in scores.items():
    for truth, k in tlcl.SEGMENTATION_K.items():
        ci = bootstrap_ci(s[truth])
        rows.append({"features": label, "ground truth": f"{truth} (k={k})", "mIoU": 100 * s[truth].mean(), "ci": ci})
table = pd.DataFrame(rows)
display(
    table.assign(
        **{"mIoU (%) [95% CI]": [format_estimate(m, (100 * c[0], 100 * c[1]), False) for m, c in zip(table.mIoU, table.ci)]}
    )
    .pivot(index="features", columns="ground truth", values="mIoU (%) [95% CI]")
    .loc[list(scores)]
)
ax = sns.barplot(data=table, x="mIoU", y="features", hue="ground truth", order=list(scores))
ax.set(title="K-means zero-shot segmentation: mIoU after Hungarian matching", xlabel="mIoU (%)")
plt.show()

# %% [markdown]
# ## Fig 3: examples (the first images of the seeded draw, not picked)
#
# Rows: image, true parts, then K-means (k = 5) on raw pixels, the random-init encoder and the MAE at each ratio; cluster
# colours are arbitrary (the mIoU above matches clusters to parts; the colours here are not matched).

# %%
seg = tlcl.segmentation_images(n_images, pool, seed)
side, g = seg["parts"].shape[-1], int(round(scores["raw pixels"]["parts_clusters"].shape[1] ** 0.5))
shown = ["raw pixels", "random init"] + [f"MAE r={r}" for r in ratios]
fig, axes = plt.subplots(2 + len(shown), n_examples, figsize=(1.6 * n_examples, 1.6 * (2 + len(shown))), squeeze=False)
for j in range(n_examples):
    axes[0, j].imshow(seg["images"][j, 0], cmap="gray")
    axes[1, j].imshow(seg["parts"][j], cmap="tab10", vmin=0, vmax=9)
    for i, label in enumerate(shown):
        up = np.kron(scores[label]["parts_clusters"][j].reshape(g, g), np.ones((side // g, side // g), dtype=int))
        axes[2 + i, j].imshow(up, cmap="tab10", vmin=0, vmax=9)
for i, label in enumerate(["image", "true parts"] + shown):
    axes[i, 0].set_ylabel(label, fontsize=7)
for ax in axes.flat:
    ax.set(xticks=[], yticks=[])
fig.suptitle("Fig 3: K-means (k=5) on patch features", y=1.0)
plt.show()

# %% [markdown]
# ## Claims (ours, beyond the paper's examples)
#
# At the ratio closest to the default (`base` above): the MAE's part mIoU beats raw-pixel K-means and a random-init
# encoder, paired per image, CI over images. The MAE is one pretraining seed; the seed noise floor of each mIoU is the
# largest gap between the seeds of the HLVM grid's base setting (`hlvm.grid`'s "seed" runs beside ratio 0.75 at the base
# unit), and a comparison is decisive only beyond it (`verdict_seed_aware`). Without those seeds the floor is unmeasured
# and the comparison untestable; the numbers' own verdict is kept beside it.

# %%
seed_names = [grid[("ratio", 0.75)].name] + [run.name for (axis, _), run in grid.items() if axis == "seed"]
seed_scores = [tlcl.segmentation_miou(results_dir, p, n, "encoder", n_images, pool, seed) for n in seed_names]
floors = {truth: noise_floor([100 * s[truth].mean() for s in seed_scores]) for truth in tlcl.SEGMENTATION_K}
display(
    Markdown(
        f"Seed noise floor of the mIoU over {', '.join(f'`{n}`' for n in seed_names)}: "
        + ", ".join(f"{truth} {'unmeasured' if f is None else f'{f:.2f} points'}" for truth, f in floors.items())
    )
)
mae = scores[f"MAE r={[r for r, n in runs.items() if n == base][0]}"]
for other in ("raw pixels", "random init"):
    for truth in tlcl.SEGMENTATION_K:
        diff = 100 * (mae[truth] - scores[other][truth])
        ci = bootstrap_ci(diff)
        display(
            summary.claim(
                f"tlcl-fig3-{truth}-over-{other.replace(' ', '-')}",
                f"K-means on MAE patch features segments {truth} better than on {other} (mIoU, §6.2 quantified)",
                *verdict_seed_aware(ci, 1, 1, floors[truth]),
                ours=float(diff.mean()),
                paper="good zero-shot segmentation (examples)",
                ci=ci,
                gate="representation",
                unit="mIoU points",
                null=0.0,
                rule="greater",
                raw_verdict=verdict_from_ci(ci)[0],
            )
        )

# %% [markdown]
# ## Summary

# %%
for label, s in scores.items():
    summary.headline(
        f"mIoU {label}: object / parts",
        f"{100 * s['object'].mean():.1f} / {100 * s['parts'].mean():.1f}",
        None,
        unit="%",
        note="paper: examples only",
    )
display(summary.table())
display(summary.claims_table())
summary.save(summary_path(results_dir, p.name, "tlcl_6_2_kmeans"))
