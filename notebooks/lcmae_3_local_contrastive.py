# %% [markdown]
# # LC-MAE §3: MAE as local (token-level) contrastive learning
#
# Yue et al., *Understanding Masked Autoencoders From a Local Contrastive Perspective*, §3.1-3.3 and Table 1.
#
# The paper rewrites MAE's per-patch reconstruction loss so that a contrastive term appears inside it
# (eq 2 and eq 4), then makes those terms explicit losses in a two-view model, **LC-MAE**, and ablates them
# (Table 1). This notebook checks the rewriting on real model outputs and reruns the ablation at our scale.
#
# > **Two schedules.** §3.1-3.2 are about what MAE learns: they read the default MAE of the shared checkpoint bank
# > (the profile's pretraining schedule, the longest it affords). The Table 1 ablation trains on the shorter ablation
# > schedule (`lcmae.ablation_optim`); its settings are compared with one another and with the default MAE on that
# > same schedule (`mae_short`), never with the bank's MAE, and its claims are judged under gates measured on that
# > schedule.
#
# > Our commentary is in block quotes. Everything heavy (pretraining, finetuning, probing) ran beforehand in
# > `reproduce.sh`; this notebook only reads run results and small cached measurements.

# %% tags=["parameters"]
profile = "mini"
results_dir = "../results"
overrides = []
n_images = 256  # test images for the eq 2 / eq 4 check
mae_run = ""  # the MAE of §3.1-3.2, empty means the default MAE of the profile (the bank's)

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from IPython.display import Markdown, display

from maelab.evaluation import analysis, figures
from maelab.evaluation.analysis import paired_claim
from maelab.evaluation.claims import (
    Summary,
    bootstrap_ci,
    describe_gates,
    format_estimate,
    load_calibration,
    seed_bootstrap_delta,
    summary_path,
    untestable,
    verdict_from_ci,
)
from maelab.papers import lcmae
from maelab.papers.lcmae import COLLAPSE_FRACTION, COLLAPSE_REFERENCE, COLLAPSE_THRESHOLD, TABLE1, table1_name
from maelab.pipeline.builders import default_mae_name
from maelab.pipeline.config import load_profile

p = load_profile(profile, overrides)
figures.setup()
calibration = load_calibration(results_dir, p.name)
summary = Summary(
    "lcmae_3_local_contrastive",
    "LC-MAE §3: MAE as local contrastive learning",
    p.name,
    1,
    figures.scale_tag(p),
    calibration=calibration,
)
scratch_ft, random_init_lp = lcmae.random_init_names(p)
mae_run = mae_run or default_mae_name(p)
short_mae = lcmae.short_mae_name(p)
ablation_epochs = lcmae.ablation_optim(p).epochs
display(
    Markdown(
        f"**Scale.** {figures.scale_note(p)}\n\n**MAE of §3.1-3.2:** `{mae_run}` (the bank's default MAE, "
        f"{p.pretrain.epochs:g} epochs). **Table 1:** {ablation_epochs:g} pretraining epochs per setting, beside the "
        f"default MAE on the same schedule, `{short_mae}`.\n\n{describe_gates(calibration, p.name)}"
    )
)

# %% [markdown]
# ## §3.1-3.2: the reconstruction loss contains a patch-level contrastive term
#
# MAE encodes the visible patches $x[1-m]$ and a decoder predicts every patch, $h(x, m) = g(f(x[1-m]))$;
# the loss is the squared error on removed patches, eq 1: $\mathcal{L}(x,m) = \sum_i m_i \|h(x,m)_i - x_i\|^2$.
# Adding and subtracting the prediction for the same patch under a second mask $m_b$ gives eq 2,
#
# $$\|h(x,m_a)_j - x_j\|^2 = \|(h(x,m_a)_j - h(x,m_b)_j) + e_{pred}(j\,|\,m_b)\|^2, \qquad e_{pred}(j|m) = h(x,m)_j - x_j,$$
#
# whose first term aligns the same patch across two "augmented" (differently masked) views. Eq 4 does the
# same inside one view with a second removed position $j$: $\|(h_i - h_j) - (x_i - x_j) + e_{pred}(j|m)\|^2$.
# Both are identities, so they must hold to float precision on any model; we check them on the decoder
# outputs of the default MAE (the bank's) for two random masks, in per-patch-normalised pixel space
# (the target MAE trains on).

# %%
chk = lcmae.reformulation_check(results_dir, p, mae_run, n_images)
rows = []
for eq in ("eq2", "eq4"):
    lhs, rhs = chk[f"{eq}_lhs"], chk[f"{eq}_rhs"]
    rows.append(
        {
            "identity": eq,
            "tokens checked": len(lhs),
            "max |lhs - rhs|": np.abs(lhs - rhs).max(),
            "max relative error": (np.abs(lhs - rhs) / np.maximum(np.abs(lhs), 1e-12)).max(),
            "mean lhs": lhs.mean(),
        }
    )
identities = pd.DataFrame(rows).set_index("identity")
display(identities)
share = chk["eq2_cross_term"].mean() / (chk["eq2_cross_term"].mean() + chk["eq2_pred_error"].mean())
print(
    f"Mean size of the two terms of eq 2 over doubly-removed patches: cross-view term "
    f"{chk['eq2_cross_term'].mean():.3f}, prediction error {chk['eq2_pred_error'].mean():.3f} "
    f"(the cross-view term is {100 * share:.0f}% of their sum)"
)

# %%
worst = identities["max relative error"].max()
display(
    summary.claim(
        "lcmae-eq2-eq4",
        "Eq 2 and eq 4 rewrite the MAE loss exactly (identities).",
        *(
            ("reproduced", f"max relative error {worst:.1e} over {int(identities['tokens checked'].sum())} tokens (float32)")
            if worst < 1e-4
            else ("not reproduced", f"max relative error {worst:.1e} exceeds float32 round-off")
        ),
        ours=float(worst),
        paper="identity",
        seeds=1,
        scale_note=f"float32 decoder outputs of {mae_run}",
    )
)

# %% [markdown]
# > The identity is algebra, so this check validates our implementation (targets, unshuffling, masks) more than
# > the paper. The informative part is the size of the terms: the cross-view term $\|h(x,m_a)_j - h(x,m_b)_j\|^2$
# > is what an explicit $\mathcal{L}_{cross}$ would push to zero.
#
# ### §3.2: does MAE implicitly learn invariance to the mask?
#
# The paper reads eq 2 as MAE implicitly minimising the cross-view term, i.e. learning invariance to masking. We compare
# the cross-view term's share of the two terms in the trained model with its share in the *same architecture at
# initialisation* (same masks, same images; built from the run's seed, no weights needed): training should shrink it.
# CI: bootstrap over the doubly-removed tokens (paired: the same tokens in both).
#
# > Caveat on the baseline: an untrained decoder predicts almost the same thing whatever it sees, so it is trivially
# > invariant to the mask (and its prediction error is large). A cross-view share that *grows* with training can mean
# > that predictions became image-dependent, not that invariance was lost. A better baseline (the cross-view term
# > against the difference between two *images* under one mask) would separate the two readings; it is not measured
# > here.

# %%
init = lcmae.untrained_reformulation(results_dir, p, mae_run, n_images)
share_of = lambda d, idx: d["eq2_cross_term"][idx].mean() / (d["eq2_cross_term"][idx].mean() + d["eq2_pred_error"][idx].mean())
all_tokens = np.arange(len(chk["eq2_cross_term"]))
rng = np.random.default_rng(0)
boot = [share_of(chk, i) - share_of(init, i) for i in (rng.integers(0, len(all_tokens), len(all_tokens)) for _ in range(1000))]
ci = tuple(np.quantile(boot, [0.025, 0.975]))
trained_share, init_share = share_of(chk, all_tokens), share_of(init, all_tokens)
print(f"cross-view share of eq 2's terms: trained {100 * trained_share:.1f}%, at initialisation {100 * init_share:.1f}%")
display(
    summary.claim(
        "lcmae-3.2-implicit-invariance",
        "MAE implicitly learns invariance to masking: training shrinks eq 2's cross-view term (share, trained - initial)",
        *verdict_from_ci(ci, 0.0, "less", label="bootstrap 95% CI over tokens"),
        ours=trained_share - init_share,
        ci=ci,
        paper="shrinks (implicit)",
        gate="representation",
        unit="share",
        null=0.0,
        rule="less",
    )
)

# %% [markdown]
# ## §3.3: LC-MAE and the Table 1 ablation
#
# LC-MAE feeds two masked views $m_1, m_2$ of each image through the same MAE and a one-layer projector
# $p$, $v = p(h(x, m))$, and sums three losses:
#
# * $\mathcal{L}_{MAE}$: the reconstruction loss (eq 1);
# * $\mathcal{L}_{cross} = \sum_i m_{1,i} m_{2,i} (1 - \cos(v^{m_1}_i, v^{m_2}_i))$ (eq 5): the same position,
#   removed in both views, should have the same feature;
# * $\mathcal{L}_{in} = \sum_{i\ne j} m_i m_j |\cos(v_i, v_j) - \cos(x_i, x_j)|$ (eq 6): within a view, the
#   similarity structure of the features should match that of the image patches.
#
# Seven settings (a)-(g) switch the losses on and off; each is pretrained with the same budget (the ablation schedule),
# then finetuned and linear-probed. At `mini` the settings are linear-probed only (`lcmae.ablation_finetune = false`;
# the reason, the seed noise floor against the cost of the finetunes, is printed below the gates): the FT column reads
# "not run at mini" and the finetuning claims are untestable there.
# The paper's claims (its ablation points and collapse paragraph): (1) LC-MAE (a) is slightly above MAE (b) and
# "retains the effectiveness of MAE"; (2) the reconstruction loss helps, (a) > (g) and (f) > (d); (3) the cross-view
# loss helps, (g) > (d) and (a) > (f), and (e) (cross-view added to MAE) is the best setting, (e) > (b); (4) the in-view
# loss costs a little (0.1), (e) > (a) and (b) > (f); (5) without reconstruction (g) still reaches 82.5, close to MAE's
# 82.9; cross-view alone (c) collapses to a constant, the in-view loss alone (d) does not, and adding the
# reconstruction loss (e) or the in-view loss (g) prevents the collapse; collapsed solutions have large losses.
#
# > **A deviation from the paper.** The paper defines $v = p(h(x, m))$ with $h$'s output the predicted pixels; our
# > projector reads the decoder's last token features (the input of the pixel head) instead (see
# > `maelab/models/lcmae.py` for why). **Choices where the paper is silent.** Every setting, (b) included,
# > sees the same two views per image, so settings differ only in the summed losses; (b) is therefore MAE
# > with two masks per image, where the paper's (b) is plain MAE. Sums over tokens are averaged, as MAE's code does.
# > $x$ in eq 6 is the input
# > patch (dataset-normalised pixels). Losses no setting uses are frozen (pixel head in (c), (d), (g);
# > projector in (b)). In addition to finetuning (FT, where the profile finetunes the ablations) we report a linear
# > probe (LP, BN + linear on the cls token, MAE protocol), which is cheap and more sensitive to the representation at
# > small scale (but a raw-pixel softmax regression reaches about 80% on this dataset: see the calibration notebook).
# >
# > **Baselines on the same schedule.** Beside the seven settings the table shows the default MAE pretrained on the
# > ablation schedule (`mae_short`: one mask per image, the profile's decoder and learning rate; Table 1's settings use
# > the depth-2 decoder and LC-MAE's learning rate, as the paper does) and random init. The claims below are judged
# > under gates measured on this schedule: `mae_short` against random init, by the seed-aware rule (printed next).

# %%
ablation_calibration = lcmae.judge_ablations(summary, results_dir, p)
ft_reason = lcmae.ablation_finetune_reason(p, ablation_calibration)  # None where the ablations are finetuned
display(Markdown(lcmae.describe_ablation_gates(ablation_calibration, p)))
if ft_reason:
    display(Markdown(lcmae.describe_ablation_finetune(p, ft_reason)))

# %%
settings = list(TABLE1)
name = {s: table1_name(s) for s in settings}
pre = analysis.results_table(results_dir, p, [name[s] for s in settings])
ft = {s: lcmae.ablation_ft_accuracy(results_dir, p, name[s]) for s in settings}  # None: not finetuned at this profile
lp = analysis.results_table(results_dir, p, [f"{name[s]}_lp" for s in settings])
base = analysis.results_table(results_dir, p, [f"{short_mae}_ft", f"{short_mae}_lp", scratch_ft, random_init_lp])
spreads = lcmae.collapse_spreads(results_dir, p, [name[s] for s in settings], n_images)
spreads.index = settings
collapse = lcmae.collapse_table(spreads, COLLAPSE_REFERENCE)
collapsed = {s for s in settings if collapse.loc[s, "collapse"] == "representation"}
projector_only = {s for s in settings if collapse.loc[s, "collapse"] == "projector only"}
acc = lambda x: f"{x:.1f}"  # one test set of 10k images: a single accuracy's 95% CI is about ±0.8 points
extra = ["", "", "", ""]
pixel_lp = 100 * analysis.pixel_logreg_correct(p, results_dir).mean()  # the probe's linear baseline: no encoder
table1 = pd.DataFrame(
    {
        "L_MAE": ["✓" if TABLE1[s][0].mae else "" for s in settings] + ["✓", "", "", ""],
        "L_cross": ["✓" if TABLE1[s][0].cross else "" for s in settings] + extra,
        "L_in": ["✓" if TABLE1[s][0].in_view else "" for s in settings] + extra,
        "paper FT (%)": ["Collapse" if TABLE1[s][1] is None else TABLE1[s][1] for s in settings]
        + [TABLE1["b"][1], 78.6, "—", "—"],
        "ours FT (%)": [
            lcmae.not_run(p) if ft[s] is None else ("collapse: " if s in collapsed else "") + acc(ft[s]) for s in settings
        ]
        + [acc(base.loc[f"{short_mae}_ft", "accuracy"]), acc(base.loc[scratch_ft, "accuracy"]), "—", "—"],
        "ours LP (%)": [acc(v) for v in lp["accuracy"]]
        + [acc(base.loc[f"{short_mae}_lp", "accuracy"]), "—", acc(base.loc[random_init_lp, "accuracy"]), acc(pixel_lp)],
        "collapse (representation / projector)": [collapse.loc[s, "collapse"] for s in settings] + extra,
    },
    index=pd.Index(
        settings
        + [
            f"MAE, one mask per image ({short_mae})",
            "random init: scratch FT",
            "random init: probe",
            "raw pixels: softmax regression",
        ],
        name="setting",
    ),
)
display(table1)
display(
    Markdown(
        f"All pretrainings above: {ablation_epochs:g} epochs. The `{short_mae}` row is plain MAE on the same schedule "
        f"(paper: its (b), plain MAE, 82.9); the random-init rows are the baseline every pretraining must beat "
        f"(paper: 78.6 from Table 3); the raw-pixel row is the linear baseline of the LP column (no encoder). Accuracies are "
        f"printed to 0.1 point: on {int(base.loc[scratch_ft, 'total']):,} test images a single accuracy's 95% CI is "
        f"about ±0.8 points and a paired difference's ±0.5."
    )
)

# %% [markdown]
# ### Collapse evidence
#
# A collapsed model maps every input to the same vector. We measure the spread of a set of vectors as the
# per-dimension standard deviation of their $\ell_2$-normalised versions across images, times $\sqrt{D}$
# (SimSiam's statistic): about 1 for well-spread vectors, 0 when all coincide. During pretraining we track it for
# the projected features $v$ that $\mathcal{L}_{cross}$ and $\mathcal{L}_{in}$ act on (one removed token per image).
# After training we measure it on test images for $v$, for the decoder features $h$ the projector reads, and for the
# encoder's cls feature.
#
# **Collapse is judged on the representation**, $h$ and the encoder: the paper's Table 1 writes "Collapse" where an
# accuracy would be, i.e. the model is useless, not merely its projector. The threshold is calibrated on the setting
# that cannot collapse, plain MAE (b) (every removed patch has its own pixel target): a feature counts as collapsed when
# its spread is below a fraction (`COLLAPSE_FRACTION`) of (b)'s spread of the same feature, an order of magnitude.
# Every setting that keeps the reconstruction loss stays within a factor of about 2 of (b), far from that line. A run
# whose projector output $v$ fell below the fixed 0.1 line while $h$ and the encoder did not is reported as a
# *projector-only* collapse (the 0.1 line on $v$ is uncalibrated: (b)'s frozen projector sits below it for the first
# ~240 steps).

# %%
logs = pd.concat([analysis.metrics_log(results_dir, p, name[s]).assign(setting=s) for s in settings])
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
sns.lineplot(data=logs, x="step", y="v_std", hue="setting", ax=axes[0])
axes[0].axhline(COLLAPSE_THRESHOLD, color="k", ls="--", lw=1, label="0.1 (projector line)")
axes[0].set(yscale="log", title="spread of projected features v during pretraining", ylabel="normalised std of v")
axes[0].legend(fontsize=8, ncols=2)
sns.lineplot(data=logs, x="step", y="loss", hue="setting", ax=axes[1], legend=False)
axes[1].set(yscale="log", title="total pretraining loss")
plt.show()
display(collapse.round(3))


def spread_text(s: str) -> str:
    return (
        f"({s}): spread of h {spreads.loc[s, 'spread of h']:.3f}, encoder cls {spreads.loc[s, 'spread of encoder cls']:.3f}, "
        f"v {spreads.loc[s, 'spread of v']:.3f} -> {collapse.loc[s, 'collapse']}"
    )


ref_text = (
    f"thresholds {COLLAPSE_FRACTION:g} x ({COLLAPSE_REFERENCE})'s spreads: "
    f"h < {COLLAPSE_FRACTION * spreads.loc[COLLAPSE_REFERENCE, 'spread of h']:.3g}, "
    f"encoder < {COLLAPSE_FRACTION * spreads.loc[COLLAPSE_REFERENCE, 'spread of encoder cls']:.3g}"
)
display(
    summary.claim(
        "lcmae-t1-c-collapses",
        "Cross-view loss alone, setting (c), collapses to a constant point (representation)",
        "reproduced" if "c" in collapsed else "not reproduced",
        f"{spread_text('c')}; {ref_text}",
        ours=float(spreads.loc["c", "spread of encoder cls"]),
        paper="Collapse",
        unit="spread",
    )
)
guarded = {"e": "reconstruction loss", "g": "in-view loss"}
failed = sorted(set(guarded) & collapsed)
display(
    summary.claim(
        "lcmae-t1-guards-prevent-collapse",
        "Adding the reconstruction loss (e) or the in-view loss (g) avoids the collapse (representation)",
        "not reproduced" if failed else "reproduced",
        "; ".join(spread_text(s) + ("" if ft[s] is None else f", encoder FT {ft[s]:.1f}%") for s in guarded)
        + f"; {ref_text}"
        + (
            "; (e)'s projector alone collapsed (trained by L_cross only, it maps to a constant) while its features did not"
            if "e" in projector_only
            else ""
        ),
        ours=", ".join(f"({s}) {collapse.loc[s, 'collapse']}" for s in guarded),
        paper="no collapse",
    )
)
display(
    summary.claim(
        "lcmae-t1-d-no-collapse",
        "The in-view loss alone, setting (d), does not collapse (82.2 in the paper)",
        "not reproduced" if "d" in collapsed else "reproduced",
        f"{spread_text('d')}; {ref_text}",
        ours=collapse.loc["d", "collapse"],
        paper="no collapse (82.2)",
    )
)

# %% [markdown]
# ### §3.3: collapsed solutions have large losses
#
# The paper: "in both methods, collapse would result in large loss values". We compare the collapsed setting's final
# losses (mean of the last 10 logged steps, bootstrap over those steps) with the non-collapsed settings that
# optimise each loss: $\mathcal{L}_{in}$ against (a), (d), (f), (g); $\mathcal{L}_{MAE}$ against (a), (b), (e), (f).
#
# > (c) never trains the pixel head (frozen), so its $\mathcal{L}_{MAE}$ is that of an untrained head: the
# > $\mathcal{L}_{MAE}$ half shows what a collapsed encoder cannot give a head, not what a trained head would reach.

# %%
tail = {s: logs[logs.setting == s].tail(10) for s in settings}
rows, decisions = [], []
for loss, optimisers in (
    ("l_in", [s for s in settings if TABLE1[s][0].in_view]),
    ("l_mae", [s for s in settings if TABLE1[s][0].mae]),
):
    others = [s for s in optimisers if s not in collapsed]
    for c in sorted(collapsed):
        gaps = np.array([tail[c][loss].values.mean() - tail[o][loss].values.mean() for o in others])
        worst = others[int(gaps.argmin())]
        diff = tail[c][loss].values - tail[worst][loss].values.mean()
        ci = bootstrap_ci(diff) if len(diff) > 1 else (float(diff[0]), float(diff[0]))
        decisions.append(
            verdict_from_ci(
                ci, 0.0, "greater", label=f"{loss}({c}) - {loss}({worst}), bootstrap 95% CI over the last 10 steps"
            )
        )
        rows.append(
            {
                "loss": loss,
                "collapsed": c,
                "its final value": tail[c][loss].mean(),
                "closest non-collapsed optimiser": worst,
                "its value": tail[worst][loss].mean(),
                "gap [95% CI]": format_estimate(diff.mean(), ci),
            }
        )
display(
    pd.DataFrame(
        rows, columns=["loss", "collapsed", "its final value", "closest non-collapsed optimiser", "its value", "gap [95% CI]"]
    )
    .set_index(["loss", "collapsed"])
    .round(3)
)
verdicts = [d[0] for d in decisions]
overall = (
    untestable("no setting collapsed: no collapsed solution to measure")
    if not verdicts
    else (
        "reproduced"
        if all(v == "reproduced" for v in verdicts)
        else "not reproduced"
        if "not reproduced" in verdicts
        else "inconclusive",
        "; ".join(d[1] for d in decisions),
    )
)
display(
    summary.claim(
        "lcmae-3.3-collapse-large-loss",
        "Collapsed solutions have large L_MAE and L_in (§3.3)",
        *overall,
        ours=", ".join(f"{r['loss']} gap {r['gap [95% CI]']}" for r in rows) or None,
        paper="large",
    )
)

# %% [markdown]
# ### Pairwise claims
#
# Each claim compares two settings' finetuning accuracy on the same test images (paired bootstrap over images).
# Where the profile does not finetune the ablations (`mini`), the table shows the LP differences only and every claim
# below is untestable at that profile, with the reason (the seed noise floor and the cost of the finetunes).
# These are comparisons of pretrainings with one seed each, so the verdict rule is the seed-aware one: the CI over
# test images is widened by the finetuning seed noise floor measured by the calibration notebook, and the claims need
# the **finetuning gate of the ablation schedule** (`mae_short` measurably beats scratch, printed above). "About equal"
# and "not worse" claims use the one equivalence margin (±1 accuracy point, `claims.EQUIVALENCE_MARGIN`), which counts
# only if it separates MAE from random init on the same schedule (`mae_short` - scratch).
# The paper's differences are 0.1-0.6 points on ImageNet; our noise is of that order or larger.

# %%
rows = []
for s1, s2 in (("a", "b"), ("a", "g"), ("f", "d"), ("g", "d"), ("a", "f"), ("e", "a"), ("e", "b"), ("b", "f"), ("g", "b")):
    for metric, suffix in (("FT", "ft"), ("LP", "lp")):
        if metric == "FT" and ft_reason:
            ours = lcmae.not_run(p)
        else:
            ours = format_estimate(
                *seed_bootstrap_delta(
                    analysis.correctness(results_dir, p, [f"{name[s1]}_{suffix}"]),
                    analysis.correctness(results_dir, p, [f"{name[s2]}_{suffix}"]),
                )
            )
        paper_delta = TABLE1[s1][1] - TABLE1[s2][1] if metric == "FT" else None
        rows.append({"pair": f"({s1}) - ({s2})", "metric": metric, "paper Δ": paper_delta, "ours Δ [95% CI, images]": ours})
display(
    pd.DataFrame(rows)
    .pivot(index="pair", columns="metric", values=["ours Δ [95% CI, images]", "paper Δ"])
    .dropna(axis=1, how="all")
)

# %%
pairs = [
    (
        "lcmae-t1-a-vs-b",
        "LC-MAE (a) is not worse than MAE (b): 'retains the effectiveness of MAE' (our non-inferiority reading; "
        "our (b) sees two masks per image)",
        "a",
        "b",
        "noninferior",
    ),
    ("lcmae-t1-recon-a-g", "The reconstruction loss helps: (a) > (g)", "a", "g", "greater"),
    ("lcmae-t1-recon-f-d", "The reconstruction loss helps: (f) > (d)", "f", "d", "greater"),
    ("lcmae-t1-cross-g-d", "The cross-view loss helps: (g) > (d)", "g", "d", "greater"),
    ("lcmae-t1-cross-a-f", "The cross-view loss helps: (a) > (f)", "a", "f", "greater"),
    ("lcmae-t1-in-e-a", "The in-view loss costs a little: (e) > (a)", "e", "a", "greater"),
    ("lcmae-t1-in-b-f", "The in-view loss costs a little: (b) > (f)", "b", "f", "greater"),
    ("lcmae-t1-e-best", "Cross-view loss added to MAE helps: (e) > (b); (e) is the best setting", "e", "b", "greater"),
    (
        "lcmae-t1-g-close-to-b",
        "Without reconstruction, (g) comes close to MAE (b) (point 5: 82.5 vs 82.9)",
        "g",
        "b",
        "equivalent",
    ),
]
for cid, statement, s1, s2, kind in pairs:
    display(
        lcmae.ablation_ft_claim(
            summary,
            results_dir,
            p,
            ft_reason,
            cid,
            statement + f" (FT, Δ = {s1} - {s2})",
            f"{name[s1]}_ft",
            f"{name[s2]}_ft",
            kind=kind,
            paper=TABLE1[s1][1] - TABLE1[s2][1],
        )
    )

# %% [markdown]
# ### (g) against random init: our own probe claim
#
# The paper makes no "(g) beats random initialisation" comparison (its 82.5 vs 78.6 is assembled across Table 1 and
# Table 3); its point (5) compares (g) with MAE (b), tested above. We keep one claim of our own, labelled so: the linear
# probe of (g)'s encoder beats the probe of a random encoder (the representation gate applies).

# %%
display(
    paired_claim(
        summary,
        results_dir,
        p,
        "lcmae-t1-g-learns-lp",
        "(ours, not the paper's) Setting (g), without reconstruction, probes better than a random encoder (LP)",
        f"{name['g']}_lp",
        random_init_lp,
        metric="lp",
        gate="representation",
        paper=None,
    )
)

# %% [markdown]
# ## Summary

# %%
for s in ("a", "b", "g"):
    summary.headline(
        f"Table 1 ({s}) FT accuracy",
        "collapse" if s in collapsed else lcmae.not_run(p) if ft[s] is None else ft[s],
        TABLE1[s][1],
        unit="%",
        note="IN-1K ViT-B/16 in the paper; see scale",
    )
summary.headline(
    "Table 1 random init (scratch) FT accuracy", base.loc[scratch_ft, "accuracy"], 78.6, unit="%", note="paper: Table 3"
)
summary.headline("Table 1 (c)", "collapse" if "c" in collapsed else "no collapse", "Collapse")
summary.headline("Table 1 settings collapsed (representation)", ", ".join(sorted(collapsed)) or "none", "c")
summary.headline("Table 1 settings with a projector-only collapse", ", ".join(sorted(projector_only)) or "none", None)
display(summary.table())
display(summary.claims_table())
display(Markdown(f"**Ledger of this notebook:** {summary.ledger()}"))
summary.save(summary_path(results_dir, p.name, "lcmae_3_local_contrastive"))
