# %% [markdown]
# # LC-MAE §4.2: random masking as augmentation and as a receptive-field limit
#
# Yue et al., *Understanding Masked Autoencoders From a Local Contrastive Perspective*, §4.2 and App. A:
# Fig 5, Fig 6, Table 3, Fig A.1 and Table A.1.
#
# The paper argues random masking does two things: it augments (forcing invariance to missing patches), and
# it limits how far the encoder looks. Evidence: MAE's encoder attends more locally than DINO's or a supervised
# ViT's (Fig 5); the attention distance grows with the mask ratio (Fig 6); autoencoders *without* masking whose
# tokens must predict larger blocks finetune better, yet linear-probe far worse than MAE (Table 3, Fig A.1);
# and MAE pretrained on one single image still beats random initialisation (Table A.1).
#
# > Our commentary is in block quotes. This notebook reads finished runs and small cached measurements.

# %% tags=["parameters"]
profile = "mini"
results_dir = "../results"
overrides = []
mae_run = "mae_r0.75"  # our MAE at the default ratio (Tables 3, A.1)
fig5_mae = ""  # Fig 5 encoders, empty means lcmae.mae_reference, dino_reference, supervised_reference of the profile
fig5_dino = ""
fig5_supervised = ""
n_images = 0  # test images for attention distances, 0 means lcmae.analysis_images of the profile
margin = 1.0  # accuracy points for "about equal" claims (two one-sided tests)

# %%
import numpy as np
import pandas as pd
import matplotlib.pyplot as plt
import seaborn as sns
from IPython.display import Markdown, display
from scipy.stats import spearmanr

from maelab.evaluation import analysis
from maelab.evaluation import figures
from maelab.evaluation.claims import Summary, bootstrap_ci, summary_path, verdict_equivalent, verdict_from_ci, verdict_spearman
from maelab.papers import lcmae
from maelab.pipeline.config import load_profile
from maelab.pipeline.builders import ratio_name

p = load_profile(profile, overrides)
figures.setup()
summary = Summary("lcmae_4_2_random_masking", "LC-MAE §4.2: random masking", p.name, 1, figures.scale_tag(p))
n_images = n_images or p.lcmae.analysis_images
fig5_mae = fig5_mae or lcmae.reference(p, "mae")
fig5_dino = fig5_dino or lcmae.reference(p, "dino")
fig5_supervised = fig5_supervised or lcmae.reference(p, "supervised")
ratios = sorted(p.lcmae.mask_ratios)
blocks = list(p.lcmae.ae_blocks)
ps = p.encoder.patch_size
display(Markdown(f"**Scale.** {figures.scale_note(p)}\n\nAttention distances on {n_images} test images, unmasked, in pixels "
                 f"(image side {p.encoder.img_size} px; the paper's 224 px)."))

# %%
ae_runs = [f"ae_b{b}" for b in blocks]
encoders = list(dict.fromkeys([fig5_mae, fig5_dino, fig5_supervised, mae_run] + [ratio_name(r) for r in ratios] + ae_runs))
dist = analysis.attention_distances(results_dir, p, encoders, n_images)  # name -> [images, layers, heads]
per_image = {name: d.mean(axis=(1, 2)) for name, d in dist.items()}  # mean over layers and heads, per image

# %% [markdown]
# ## Fig 5: MAE attends more locally than DINO and a supervised ViT
#
# Attention distance (Dosovitskiy et al.): for each query token, the attention-weighted mean pixel distance to
# the key tokens (cls dropped, rows renormalised), averaged over queries, images and, in the plot, heads.
# The paper compares MAE, DINO and DeiT ViT-B/16 from their released weights (our `paper` profile loads
# them from timm). Offline all three are ours, trained on the same images with the same encoder: MAE
# (`mae_r0.75`), the DINO objective (`dino_ref`) and supervised training from random init (`scratch_ft`,
# our finetuning recipe, DeiT-style).

# %%
labels = {fig5_mae: "MAE", fig5_dino: "DINO", fig5_supervised: "supervised"}
display(Markdown("Fig 5 encoders: " + ", ".join(f"{v} = `{k}`" for k, v in labels.items())))
fig5 = pd.concat([pd.DataFrame(dist[r].mean(0)).reset_index(names="layer").melt(id_vars="layer", var_name="head", value_name="distance")
                  .assign(model=labels[r]) for r in labels])
fig5["layer"] += 1
ax = sns.lineplot(data=fig5, x="layer", y="distance", hue="model", marker="o", errorbar=None)
sns.scatterplot(data=fig5, x="layer", y="distance", hue="model", alpha=0.35, legend=False, ax=ax, s=15)
ax.set(title="Fig 5: attention distance per encoder layer (dots: heads)", ylabel="mean attention distance (px)")
plt.show()
for other in (fig5_dino, fig5_supervised):
    diff = per_image[other] - per_image[fig5_mae]
    ci = bootstrap_ci(diff)
    summary.claim(f"lcmae-fig5-mae-below-{labels[other].lower()}",
                  f"MAE's encoder attention distance is smaller than {labels[other]}'s (Fig 5)",
                  *verdict_from_ci(ci, 0.0, "greater", label=f"bootstrap 95% CI over images of {labels[other]} - MAE (px)"),
                  ours=float(diff.mean()), paper="smaller", ci=ci)

# %% [markdown]
# ## Fig 6: the mask ratio controls the receptive field
#
# MAE pretrained at mask ratios 0.3-0.9 with the same budget. The paper reports a strong positive correlation
# between mask ratio and attention distance, more pronounced in deeper layers. We give Spearman's ρ between
# ratio and distance per layer and for the mean over layers (with 5 ratios, p < 0.05 needs a perfectly
# monotone relation).

# %%
by_ratio = pd.DataFrame({r: dist[ratio_name(r)].mean(axis=(0, 2)) for r in ratios}, index=pd.RangeIndex(1, p.encoder.depth + 1, name="layer"))
ax = sns.lineplot(data=by_ratio.reset_index().melt(id_vars="layer", var_name="mask ratio", value_name="distance"),
                  x="layer", y="distance", hue="mask ratio", marker="o", palette="viridis")
ax.set(title="Fig 6: attention distance per layer and mask ratio", ylabel="mean attention distance (px)")
plt.show()
rho = pd.DataFrame({"Spearman rho (ratio vs distance)": [spearmanr(ratios, by_ratio.loc[l]).statistic for l in by_ratio.index]},
                   index=by_ratio.index)
display(rho.round(2).T)
mean_by_ratio = by_ratio.mean(axis=0)
summary.claim("lcmae-fig6-correlation", "Attention distance increases with the mask ratio (Fig 6, mean over layers)",
              *verdict_spearman(ratios, mean_by_ratio.values, expected_sign=1),
              ours=float(spearmanr(ratios, mean_by_ratio.values).statistic), paper="strong positive")
half = p.encoder.depth // 2
print(f"range of distance over ratios: deeper half {np.ptp(by_ratio.iloc[half:].mean(axis=0)):.2f} px, "
      f"shallower half {np.ptp(by_ratio.iloc[:half].mean(axis=0)):.2f} px")

# %% [markdown]
# ## Table 3 and Fig A.1: autoencoders without masking, predicting larger blocks
#
# Without masking (mask ratio 0, every token decoded), each token predicts the $b \times b$ block centred on it
# (Fig 7); pixels of a block outside the image are not predicted (excluded from loss and normalisation).
# The paper's blocks 16/48/80/112 on a 224-px image with 16-px patches are 1, 3, 5, 7 patches. We keep the
# patch counts: blocks of 1, 3, 5, 7 patches of our patch size (sizes printed below).
#
# > The mapping keeps the receptive field in tokens, not as a fraction of the image: our largest block covers
# > the whole image where the paper's covers half of it.

# %%
display(Markdown(f"Our blocks: {blocks} px = {[b // ps for b in blocks]} patches of {ps} px on a {p.encoder.img_size}-px image."))
paper_t3 = {"Random Init": (78.6, None), "MAE": (82.9, 55.4), **{f"AE({b})": v for b, v in zip(blocks, [(78.7, 5.7), (81.2, 5.7), (81.5, 5.6), (81.8, 5.6)])}}
rows_t3 = {"Random Init": ("scratch_ft", "random_init_lp"), "MAE": (f"{mae_run}_ft", f"{mae_run}_lp"),
           **{f"AE({b})": (f"ae_b{b}_ft", f"ae_b{b}_lp") for b in blocks}}
res = analysis.results_table(results_dir, p, [r for pair in rows_t3.values() for r in pair])
table3 = pd.DataFrame({
    "paper FT (%)": {k: v[0] for k, v in paper_t3.items()},
    "ours FT (%)": {k: res.loc[ft, "accuracy"] for k, (ft, _) in rows_t3.items()},
    "paper LP (%)": {k: v[1] for k, v in paper_t3.items()},
    "ours LP (%)": {k: res.loc[lp, "accuracy"] for k, (_, lp) in rows_t3.items()},
})
display(table3.round(2))
if len(blocks) != 4:
    display(Markdown("> The paper's rows AE(16)..AE(112) are matched to our blocks in order; this profile has a different count."))

# %%
smallest, largest = f"ae_b{blocks[0]}", f"ae_b{blocks[-1]}"
checks = [
    ("lcmae-t3-ae-p-like-random", f"Without masking, AE(p) finetunes about like random init (within {margin} points)",
     f"{smallest}_ft", "scratch_ft", "equivalent", 78.7 - 78.6),
    ("lcmae-t3-larger-blocks-help", "Predicting larger blocks raises finetuning accuracy: AE(largest) > AE(p)",
     f"{largest}_ft", f"{smallest}_ft", "greater", 81.8 - 78.7),
    ("lcmae-t3-mae-beats-ae-p", "MAE finetunes better than the autoencoder AE(p)", f"{mae_run}_ft", f"{smallest}_ft", "greater", 82.9 - 78.7),
    ("lcmae-t3-ae-lp-poor", "Autoencoders linear-probe far worse than MAE: MAE LP > AE(largest) LP", f"{mae_run}_lp", f"{largest}_lp",
     "greater", 55.4 - 5.6),
]
for cid, statement, a, b, kind, paper_delta in checks:
    delta, ci = analysis.paired_accuracy_delta(results_dir, p, a, b)
    label = "paired bootstrap 95% CI over test images"
    decision = verdict_equivalent(ci, margin, label) if kind == "equivalent" else verdict_from_ci(ci, 0.0, "greater", label)
    summary.claim(cid, statement, *decision, ours=delta, paper=paper_delta, ci=ci)
    print(f"{statement}: Δ = {delta:+.2f} points [{ci[0]:+.2f}, {ci[1]:+.2f}]  (paper {paper_delta:+.1f})")

# %%
figa1 = pd.DataFrame({name: dist[r].mean(axis=(0, 2)) for name, r in [("MAE", mae_run)] + [(f"AE({b})", f"ae_b{b}") for b in blocks]},
                     index=pd.RangeIndex(1, p.encoder.depth + 1, name="layer"))
ax = sns.lineplot(data=figa1.reset_index().melt(id_vars="layer", var_name="model", value_name="distance"),
                  x="layer", y="distance", hue="model", marker="o")
ax.set(title="Fig A.1: attention distance of MAE and the autoencoders", ylabel="mean attention distance (px)")
plt.show()
diff = per_image[largest] - per_image[smallest]
ci = bootstrap_ci(diff)
summary.claim("lcmae-figA1-blocks-widen", "Larger prediction blocks give larger attention distance: AE(largest) > AE(p) (Fig A.1)",
              *verdict_from_ci(ci, 0.0, "greater", label="bootstrap 95% CI over images (px)"),
              ours=float(diff.mean()), paper="larger", ci=ci)

# %% [markdown]
# ## Table A.1: MAE pretrained on a single image
#
# Following Asano et al., MAE pretrained on one image (random crops and masks of it) for 5% of the full run's
# iterations (the paper: 5 epochs of one image vs 100 epochs of ImageNet; we repeat the image to the dataset's
# length per epoch), then finetuned like the others. The paper: single image 81.8, ImageNet 82.9, random init 78.6.

# %%
res_a1 = analysis.results_table(results_dir, p, ["mae_single_image_ft", f"{mae_run}_ft", "scratch_ft"])
tablea1 = pd.DataFrame({"paper FT (%)": [81.8, 82.9, 78.6], "ours FT (%)": res_a1["accuracy"].values},
                       index=["1 image", "full training set", "Random Init"])
display(tablea1.round(2))
delta, ci = analysis.paired_accuracy_delta(results_dir, p, "mae_single_image_ft", "scratch_ft")
summary.claim("lcmae-ta1-single-image", "MAE pretrained on a single image finetunes better than random init (Table A.1)",
              *verdict_from_ci(ci, 0.0, "greater", label="paired bootstrap 95% CI over test images"),
              ours=delta, paper=81.8 - 78.6, ci=ci)

# %% [markdown]
# ## Summary

# %%
summary.headline("MAE attention distance (mean of layers)", float(per_image[fig5_mae].mean()), None, unit="px")
summary.headline("DINO attention distance (mean of layers)", float(per_image[fig5_dino].mean()), None, unit="px")
for k in ("MAE", f"AE({blocks[0]})", f"AE({blocks[-1]})"):
    summary.headline(f"Table 3 {k} FT", float(table3.loc[k, "ours FT (%)"]), table3.loc[k, "paper FT (%)"], unit="%")
summary.headline("Table A.1 single image FT", float(res_a1.loc["mae_single_image_ft", "accuracy"]), 81.8, unit="%")
display(summary.table())
display(summary.claims_table())
summary.save(summary_path(results_dir, p.name, "lcmae_4_2_random_masking"))
