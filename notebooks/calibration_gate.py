# %% [markdown]
# # Calibration gate: does MAE pretraining work at this profile?
#
# Every claim of the three papers about *what MAE learns* or *what MAE pretraining does to finetuning* presupposes
# that MAE pretraining, at the scale these notebooks run, measurably does something. This notebook measures that
# first, over several pretraining seeds, and turns it into two **gates** that every other notebook reads:
#
# * the **representation gate**: the BN + linear probe (MAE protocol, cls token) of the default MAE's frozen encoder
#   beats the same probe of a randomly initialised encoder, decisively with a seed-aware CI and by more than the
#   seed noise floor. Claims about what MAE learns (probes, attention, decoder semantics) need it.
# * the **finetuning gate**: finetuning from the default MAE beats finetuning from scratch with the same recipe,
#   by the same rule. Claims about finetuning accuracy after MAE-style pretraining need it.
#
# A claim whose gate failed reads **"untestable at this scale"** in the ledger, with the gate's numbers as evidence.
# It also measures the **seed noise floor** of each metric (how far apart two runs that differ only in their seed
# land), which single-seed comparisons elsewhere must exceed to be decisive, and the two baselines a reader needs
# beside a probe accuracy: a softmax regression on raw pixels and kNN on frozen features.
#
# > Our commentary is in block quotes. This notebook reads finished runs and small cached measurements.

# %% tags=["parameters"]
profile = "mini"
results_dir = "../results"
overrides = []
knn_k = 20  # neighbours of the kNN classifier (cosine similarity, majority vote)
pixel_max_iter = 500  # lbfgs iterations of the raw-pixel softmax regression
n_attention_images = 0  # test images for the attention-distance noise floor, 0 means lcmae.analysis_images of the profile

# %%

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display

from maelab.evaluation import analysis, figures
from maelab.evaluation.claims import (
    Summary,
    format_estimate,
    noise_floor,
    seed_bootstrap_delta,
    summary_path,
    untestable,
    verdict_from_ci,
)
from maelab.models.vit import ViTEncoder
from maelab.pipeline.builders import default_mae_name, seeded
from maelab.pipeline.config import load_profile
from maelab.pipeline.runs import RunNotReady, load_encoder, run_dir

p = load_profile(profile, overrides)
figures.setup()
summary = Summary(
    "calibration_gate",
    "Calibration gate: does MAE pretraining work at this profile?",
    p.name,
    len(p.calibration.seeds),
    figures.scale_tag(p),
)
display(
    Markdown(
        f"**Scale.** {figures.scale_note(p)}\n\n**Calibration seeds:** {list(p.calibration.seeds)} "
        f"(default MAE `{default_mae_name(p)}` and the random-init baselines, one pretraining + finetuning + probe per seed)."
    )
)

# %% [markdown]
# ## The runs
#
# For each calibration seed $s$: the default MAE pretrained with seed $s$ (`{mae}` for $s = 0$, `{mae}_s<s>` after),
# finetuned (`_ft`) and linear-probed (`_lp`) with seed $s$; a ViT finetuned from random initialisation (`scratch_ft`)
# and a probe of a random encoder (`random_init_lp`), both seeded with $s$. A seed counts once all five runs finished.
#
# > Seed 0's MAE was pretrained before a fix of the fixed sin-cos position table's channel order (its two halves
# > were swapped relative to facebookresearch/mae). The table is fixed, not learned, and every weight that reads it
# > is initialised i.i.d. per channel, so the swap is a relabelling of embedding channels: a model trained with the
# > old table has exactly the distribution of one trained with the new table. Seeds 0, 1, 2 are therefore
# > exchangeable in distribution and we pool them.


# %%
def arm_runs(seed: int) -> dict[str, str]:
    mae = default_mae_name(p, seed)
    return {
        "mae": mae,
        "mae_ft": f"{mae}_ft",
        "mae_lp": f"{mae}_lp",
        "scratch_ft": seeded("scratch_ft", seed),
        "random_init_lp": seeded("random_init_lp", seed),
    }


rows, seeds, missing = [], [], {}
for seed in p.calibration.seeds:
    names = arm_runs(seed)
    try:
        res = {k: analysis.finished_result(results_dir, p, v) for k, v in names.items() if k != "mae"}
    except RunNotReady as e:
        missing[seed] = str(e).splitlines()[0]
        continue
    seeds.append(seed)
    rows.append({"seed": seed, **{f"{k} (%)": r["accuracy"] for k, r in res.items()}})
per_seed = pd.DataFrame(rows).set_index("seed") if rows else pd.DataFrame()
display(per_seed.round(2))
if missing:
    display(Markdown("**Seeds not finished (left out):** " + "; ".join(f"seed {s}: {m}" for s, m in missing.items())))

# %% [markdown]
# ## Finetuning and linear probe per seed, and pooled over seeds
#
# Per seed: the paired difference on the same test images with a bootstrap CI over images (covers test-set
# sampling only). Pooled: `seed_bootstrap_delta`, a hierarchical bootstrap that resamples the seeds of each arm and
# then the test images (paired on images): its CI covers seed-to-seed variation too. With 3 seeds a percentile
# bootstrap over seeds is still narrow, so a gate also asks the gain to exceed the noise floor (below).


# %%
def correctness(kind: str, seed_list: list[int]) -> np.ndarray:
    return analysis.correctness(results_dir, p, [arm_runs(s)[kind] for s in seed_list]) if seed_list else np.zeros((0, 0))


metrics = {
    "ft": ("finetuning", "mae_ft", "scratch_ft", "MAE-init - scratch"),
    "lp": ("BN + linear probe (cls)", "mae_lp", "random_init_lp", "MAE - random init"),
}
corr = {m: (correctness(a, seeds), correctness(b, seeds)) for m, (_, a, b, _) in metrics.items()}
per_seed_delta = []
for m, (label, *_) in metrics.items():
    for i, s in enumerate(seeds):
        d, ci = seed_bootstrap_delta(corr[m][0][i : i + 1], corr[m][1][i : i + 1])
        per_seed_delta.append({"metric": label, "seed": s, "gain (points) [95% CI, images]": format_estimate(d, ci)})
if per_seed_delta:
    display(pd.DataFrame(per_seed_delta).pivot(index="seed", columns="metric").droplevel(0, axis=1))

# %% [markdown]
# ## Seed noise floor
#
# For each metric and configuration: the standard deviation of the accuracy over seeds and the largest gap between
# two seeds. The **noise floor of a metric** is the largest gap between two seeds of one configuration, over the two
# configurations (MAE-init and random init): the size of a difference two runs produce by their seeds alone. A
# comparison of two pretrainings with one seed each (most of the LC-MAE ledger) is decisive only if its CI over test
# images, widened by this floor on both sides, clears the threshold (`claims.verdict_seed_aware`).

# %%
floor_rows, floors = [], {}
for m, (label, a, b, _) in metrics.items():
    gaps = []
    for kind in (a, b):
        acc = per_seed[f"{kind} (%)"].values if len(seeds) else np.array([])
        gap = noise_floor(acc)
        gaps.append(gap)
        floor_rows.append(
            {
                "metric": label,
                "configuration": kind,
                "seeds": len(acc),
                "mean (%)": acc.mean() if len(acc) else np.nan,
                "std over seeds": acc.std(ddof=1) if len(acc) > 1 else np.nan,
                "max pairwise gap": np.nan if gap is None else gap,
            }
        )
    floors[m] = None if None in gaps else max(gaps)
floor_table = pd.DataFrame(floor_rows).set_index(["metric", "configuration"])
display(floor_table.round(2))
display(
    Markdown(
        "Noise floor per metric (points): "
        + ", ".join(f"{metrics[m][0]} {'unmeasured (< 2 seeds)' if f is None else f'{f:.2f}'}" for m, f in floors.items())
    )
)

# %% [markdown]
# ## Baselines beside the probe: raw pixels and kNN
#
# * **Raw pixels**: a softmax regression (scikit-learn `LogisticRegression`, lbfgs, C = 1) on the normalised pixels of
#   the probe's training subset, scored on the same test images. A linear probe of an encoder that stays below it has
#   not learned a linearly better representation than the input.
# * **kNN** (cosine similarity, majority vote of the k nearest training images, k as set above) on the frozen encoder's
#   cls token and on its mean-pooled patch tokens, for every encoder whose weights exist in this checkout: MAE
#   pretrainings with an `encoder.pt` (weights are never committed: a fresh clone has none; seed 0's MAE predates
#   this notebook) and random init, rebuilt exactly from its seed as the probe run does (`torch.manual_seed(seed)`
#   then `ViTEncoder(p.encoder)`; checked against a probe's saved encoder where one exists).

# %%
(train_x, train_y), (test_x, test_y) = analysis.probe_split(p, True), analysis.probe_split(p, False)
pixels = analysis.pixel_logreg_correct(p, results_dir, pixel_max_iter)
if seeds:
    assert np.array_equal(analysis.predictions(results_dir, p, arm_runs(seeds[0])["mae_lp"])["label"], test_y.numpy())


def random_encoder(seed: int) -> ViTEncoder:
    torch.manual_seed(seed)
    return ViTEncoder(p.encoder).eval()


rebuild_checks = []
for s in p.calibration.seeds:
    probe_pt = run_dir(results_dir, p.name, arm_runs(s)["random_init_lp"]) / "probe.pt"
    if probe_pt.exists():
        saved = {
            k.removeprefix("encoder."): v
            for k, v in torch.load(probe_pt, map_location="cpu").items()
            if k.startswith("encoder.")
        }
        rebuilt = random_encoder(s).state_dict()
        rebuild_checks.append(
            {"seed": s, "tensors": len(rebuilt), "identical": all(torch.equal(saved[k], v) for k, v in rebuilt.items())}
        )
if rebuild_checks:
    display(
        pd.DataFrame(rebuild_checks)
        .set_index("seed")
        .rename(columns={"identical": "rebuilt random encoder == probe's saved encoder"})
    )
    assert all(r["identical"] for r in rebuild_checks), "random init is not rebuilt exactly from its seed"
else:
    display(
        Markdown(
            "> No random-init probe weights (`probe.pt`) in this checkout: the rebuild from the seed is not checked here."
        )
    )


def knn(name: str, make_encoder) -> dict[str, np.ndarray]:
    """kNN correctness on cls and mean-pooled features of an encoder (built only when its measurement is not cached)."""

    def compute() -> dict[str, np.ndarray]:
        encoder = make_encoder()
        tr, te = analysis.encoder_features(encoder, train_x), analysis.encoder_features(encoder, test_x)
        return {
            pool: analysis.knn_correct(tr[pool], train_y.numpy(), te[pool], test_y.numpy(), knn_k) for pool in ("cls", "mean")
        }

    return analysis.cached(knn_path(name), compute, **knn_key(name))


def knn_key(name: str) -> dict:
    return {"encoder": name, "k": knn_k, "data": repr(p.probe_data)}


def knn_path(name: str) -> Path:
    return analysis.analysis_path(results_dir, p, f"knn_{name}")


def measurable(seed: int) -> bool:
    """A measurable MAE seed: weights in this checkout, or its kNN measurement cached (a fresh clone has no weights)."""
    name = default_mae_name(p, seed)
    return (run_dir(results_dir, p.name, name) / "encoder.pt").exists() or analysis.cache_file(
        knn_path(name), **knn_key(name)
    ).exists()


mae_weights = [s for s in p.calibration.seeds if measurable(s)]
knn_mae = {
    s: knn(default_mae_name(p, s), lambda s=s: load_encoder(results_dir, p.name, default_mae_name(p, s))) for s in mae_weights
}
knn_rand = {s: knn(f"random_init_s{s}", lambda s=s: random_encoder(s)) for s in p.calibration.seeds}
baseline_rows = [
    {"features": "raw pixels", "classifier": "softmax regression", "seeds": 1, "accuracy (%)": 100 * pixels.mean()}
]
for label, runs in (("MAE", knn_mae), ("random init", knn_rand)):
    for pool in ("cls", "mean"):
        if runs:
            acc = [100 * r[pool].mean() for r in runs.values()]
            baseline_rows.append(
                {
                    "features": f"{label} {pool} token{'s' if pool == 'mean' else ''}",
                    "classifier": f"kNN k={knn_k}",
                    "seeds": len(acc),
                    "accuracy (%)": np.mean(acc),
                    "max pairwise gap": noise_floor(acc) if len(acc) > 1 else np.nan,
                }
            )
for label, kind in (("MAE", "mae_lp"), ("random init", "random_init_lp")):
    if seeds:
        baseline_rows.append(
            {
                "features": f"{label} cls token",
                "classifier": "BN + linear probe",
                "seeds": len(seeds),
                "accuracy (%)": per_seed[f"{kind} (%)"].mean(),
                "max pairwise gap": floors["lp"],
            }
        )
baselines = pd.DataFrame(baseline_rows).set_index(["features", "classifier"])
display(baselines.round(2))
display(Markdown(f"kNN of MAE encoders with weights in this checkout: seeds {mae_weights or 'none'}."))

# %% [markdown]
# ### Seed noise floor of the encoder's attention distance
#
# Several LC-MAE claims (Fig 5, Fig A.1) compare the mean attention distance of two encoders, one seed each. Its seed
# noise floor: the largest gap between the mean attention distances (over layers, heads and the same test images as the
# LC-MAE notebooks) of default MAEs that differ only in their seed, for the seeds whose weights exist in this checkout
# (or whose measurement is cached).

# %%
n_attention_images = n_attention_images or p.lcmae.analysis_images
mae_names = [default_mae_name(p, s) for s in mae_weights]
attn_cached = analysis.cache_file(
    analysis.analysis_path(results_dir, p, "attention_distance"), runs=mae_names, n=n_attention_images
).exists()
if len(mae_names) >= 2 and (attn_cached or all((run_dir(results_dir, p.name, n) / "encoder.pt").exists() for n in mae_names)):
    attn = analysis.attention_distances(results_dir, p, mae_names, n_attention_images)
    attn_means = {name: float(attn[name].mean()) for name in mae_names}
    floors["attention_distance"] = noise_floor(list(attn_means.values()))
    display(pd.DataFrame({"mean attention distance (px)": attn_means}).round(3))
else:
    floors["attention_distance"] = None
attn_floor = floors["attention_distance"]
display(
    Markdown(
        "Attention-distance noise floor: "
        + ("unmeasured (MAE weights for < 2 seeds)" if attn_floor is None else f"{attn_floor:.3f} px")
        + f" (from the MAE seeds with weights: {mae_weights})."
    )
)

# %% [markdown]
# ## The gates
#
# **Rule.** A gate passes when (i) both arms have at least 2 finished seeds, (ii) the hierarchical bootstrap 95% CI
# of the gain (MAE minus random init, seeds then images) lies entirely above 0, and (iii) the mean gain exceeds the
# metric's seed noise floor. Otherwise it fails, and its evidence says which condition failed. At profile `smoke`
# a gate never passes (its numbers are never findings).

# %%
gates, gains = {}, {}
fig, ax = plt.subplots(figsize=(7, 2.2 + 0.3 * len(metrics)))
for i, (m, (label, _, _, what)) in enumerate(metrics.items()):
    name = {"ft": "finetuning", "lp": "representation"}[m]
    if len(seeds) >= 2:
        gain, ci = seed_bootstrap_delta(*corr[m])
        gains[m] = list(ci)
        decision = verdict_from_ci(
            ci, 0.0, "greater", label=f"hierarchical bootstrap 95% CI ({len(seeds)} seeds, then images)"
        )
        if decision[0] == "reproduced" and not gain > floors[m]:
            decision = (
                "inconclusive",
                f"{decision[1]}, but the gain {gain:.2f} does not exceed the seed noise floor {floors[m]:.2f}",
            )
        ax.errorbar(
            gain,
            i,
            xerr=[[gain - ci[0]], [ci[1] - gain]],
            fmt="o",
            capsize=4,
            color="C0" if decision[0] == "reproduced" else "C3",
        )
    else:
        gain, ci = (None, None)
        decision = untestable(f"{len(seeds)} finished calibration seed(s): the gate needs >= 2 per arm")
    claim = summary.claim(
        f"gate-{name}",
        f"{what}: the default MAE's {label} accuracy is above random init's ({name} gate)",
        *decision,
        ours=gain,
        paper="gain",
        ci=ci,
        seeds=len(seeds),
        unit="points",
        null=0.0,
    )
    display(claim)
    gates[name] = {
        "passed": claim.verdict == "reproduced",
        "metric": m,
        "gain": gain,
        "ci": None if ci is None else list(ci),
        "noise_floor": floors[m],
        "seeds": seeds,
        "evidence": f"{what} {label}: "
        + (
            claim.evidence
            if ci is None
            else f"{format_estimate(gain, ci)} points, seed noise floor "
            f"{'unmeasured' if floors[m] is None else f'{floors[m]:.2f}'}; {claim.verdict}"
        ),
    }
ax.axvline(0, color="k", lw=1)
ax.set(
    yticks=range(len(metrics)),
    yticklabels=[f"{v[3]}\n{v[0]}" for v in metrics.values()],
    xlabel="gain (accuracy points)",
    title="Calibration gates: gain over random init, hierarchical 95% CI",
    ylim=(-0.7, len(metrics) - 0.3),
)
plt.show()

# %% [markdown]
# ### Supplementary: kNN and raw pixels against the probe
#
# Not gates (the LC-MAE claims use the BN + linear probe), but the same seed-aware rule: kNN gain of MAE over random
# init where MAE weights exist, and the MAE probe against the raw-pixel softmax regression.

# %%
for pool in ("cls", "mean"):
    if len(knn_mae) and len(knn_rand):
        a = np.stack([r[pool] for r in knn_mae.values()]).astype(float)
        b = np.stack([r[pool] for r in knn_rand.values()]).astype(float)
        gain, ci = seed_bootstrap_delta(a, b)
        gains[f"knn_{pool}"] = list(ci)
        decision = (
            verdict_from_ci(ci, 0.0, "greater", label=f"hierarchical bootstrap 95% CI ({len(a)} vs {len(b)} seeds)")
            if min(len(a), len(b)) >= 2
            else untestable(
                f"MAE weights for {len(a)} seed(s) in this checkout: needs >= 2", verdict_from_ci(ci, 0.0, "greater")
            )
        )
        display(
            summary.claim(
                f"calibration-knn-{pool}",
                f"kNN (k={knn_k}) on MAE {pool} features beats kNN on random-init features",
                *decision,
                ours=gain,
                ci=ci,
                seeds=min(len(a), len(b)),
                unit="points",
                null=0.0,
                paper="gain",
            )
        )
if seeds:
    gain, ci = seed_bootstrap_delta(corr["lp"][0], pixels[None].astype(float))
    decision = (
        verdict_from_ci(ci, 0.0, "greater", label=f"hierarchical bootstrap 95% CI ({len(seeds)} MAE seeds, then images)")
        if len(seeds) >= 2
        else untestable("one MAE seed", verdict_from_ci(ci, 0.0, "greater"))
    )
    display(
        summary.claim(
            "calibration-probe-vs-pixels",
            "The BN + linear probe on MAE cls features beats a softmax regression on raw pixels",
            *decision,
            ours=gain,
            ci=ci,
            seeds=len(seeds),
            unit="points",
            null=0.0,
            paper="(no paper number)",
        )
    )

# %% [markdown]
# ## What this notebook does not yet measure (issue 9.1)
#
# * **The learning curve along the schedule**: no intermediate checkpoints are kept, so the gain is measured at the
#   end of the profile's schedule only (the pilot: kNN on mean-pooled tokens keeps improving up to 10 epochs
#   while the cls token degrades; finetuning gains appear at 10 epochs).
# * **Label-scarce finetuning** (e.g. 10 % of labels, several epochs), where the pilot shows a clear gain: our
#   finetuning uses every label for one epoch.
# * **The 3 h reallocation of `mini`** (fewer, longer pretrainings so the gates can pass) is not done: these are the
#   profile's current 1.25-epoch pretrainings.
#
# Until then the gates state what the current `mini` runs can support; every claim elsewhere that needs a failed gate
# reads "untestable at this scale".

# %% [markdown]
# ## Summary

# %%
summary.extra["calibration"] = {
    "profile": p.name,
    "gates": {k: {**v, "passed": bool(v["passed"])} for k, v in gates.items()},
    "noise_floor": floors,
    "gains": gains,
}
summary.extra["noise_floor_table"] = floor_table.reset_index().replace({np.nan: None}).to_dict(orient="records")
for label, a, b, _ in metrics.values():
    if seeds:
        summary.headline(
            f"{label}: default MAE", float(per_seed[f"{a} (%)"].mean()), None, unit="%", note=f"mean of {len(seeds)} seeds"
        )
        summary.headline(
            f"{label}: random init", float(per_seed[f"{b} (%)"].mean()), None, unit="%", note=f"mean of {len(seeds)} seeds"
        )
summary.headline(
    "raw pixels, softmax regression", float(100 * pixels.mean()), 79.6, unit="%", note="paper column: issue 9's pilot"
)
for s, r in knn_rand.items():
    summary.headline(
        f"kNN random init cls / mean (seed {s})",
        f"{100 * r['cls'].mean():.1f} / {100 * r['mean'].mean():.1f}",
        "64.5 / 61.0",
        unit="%",
        note="paper column: issue 9's pilot",
    )
for s, r in knn_mae.items():
    summary.headline(
        f"kNN MAE cls / mean (seed {s})",
        f"{100 * r['cls'].mean():.1f} / {100 * r['mean'].mean():.1f}",
        "74.1 / 74.6",
        unit="%",
        note="paper column: issue 9's pilot",
    )
display(summary.table())
display(summary.claims_table())
display(
    Markdown(
        "**Gates:** "
        + "; ".join(f"{k}: {'passed' if v['passed'] else 'not passed'} ({v['evidence']})" for k, v in gates.items())
    )
)
summary.save(summary_path(results_dir, p.name, "calibration_gate"))
