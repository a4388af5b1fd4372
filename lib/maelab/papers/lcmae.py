"""LC-MAE wing: Yue et al., *Understanding Masked Autoencoders From a Local Contrastive Perspective*.

The paper's runs (Table 1 §3.3, Table 2 §4.1, Table 3 and A.1 §4.2), its settings with the paper's
numbers, the names of its runs, and its paper-specific measurements on finished runs: the eq 2 / eq 4
identities, the decoder's attention and feature semantics (Fig 2-4) and the collapse statistics.

Two schedules: claims about what MAE learns read the shared checkpoint bank's default MAE (the profile's [pretrain]);
the ablations (Table 1, 2, 3, A.1) train on `ablation_optim` beside their own MAE baseline `short_mae_name`, and their
claims are judged under `ablation_calibration` (gates measured on that schedule). A profile may skip the ablations'
finetunes (`ablation_finetuned`): their finetuning claims are then untestable there, with `ablation_finetune_reason`.
"""

from dataclasses import replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..evaluation.analysis import (
    analysis_path,
    cached,
    correctness,
    finished_result,
    fixed_mask_noise,
    paired_claim,
    reference_encoder,
    validation_images,
)
from ..evaluation.claims import (
    SMOKE_PROFILES,
    Calibration,
    Claim,
    Summary,
    describe_gates,
    format_estimate,
    seed_bootstrap_delta,
    untestable,
    verdict_seed_aware,
)
from ..evaluation.metrics import patch_center_distances, s_attn_per_image, s_sim_per_image, similarity_weights
from ..models.lcmae import LCMAELosses, eq2_sides, eq4_sides
from ..models.losses import normalized_std
from ..models.mae import MaskedAutoencoder
from ..models.targets import patchify
from ..models.vit import attention_modules, capture_attention
from ..pipeline.builders import (
    default_mae,
    default_mae_name,
    dino_reference,
    pretrain,
    random_init,
    ratio_sweep,
    seeded,
    single_image,
    supervised_reference,
    with_evals,
)
from ..pipeline.config import Profile
from ..pipeline.estimate import estimate
from ..pipeline.runs import LCMAESpec, Run, load_model
from ..training.optim import OptimConfig

# Table 1: setting -> (L_MAE, L_cross, L_in), and the paper's finetune accuracy on IN-1K (ViT-B/16).
TABLE1 = {
    "a": (LCMAELosses(True, True, True), 83.0),
    "b": (LCMAELosses(True, False, False), 82.9),
    "c": (LCMAELosses(False, True, False), None),  # "Collapse"
    "d": (LCMAELosses(False, False, True), 82.2),
    "e": (LCMAELosses(True, True, False), 83.1),
    "f": (LCMAELosses(True, False, True), 82.8),
    "g": (LCMAELosses(False, True, True), 82.5),
}
DECODERS = ("weighted_average", "conv")  # Table 2's local decoders, beside the transformer of the default MAE

# normalized_std of the projector output v at the end of pretraining: ~1 when spread, 0 when every output
# is the same vector. A collapsed run is still finetuned: whether its *encoder* learned is part of the evidence.
COLLAPSE_THRESHOLD = 0.1  # on v, as logged during pretraining: reported as "projector collapse" only
# Collapse of a *representation* (decoder features h, encoder cls), calibrated on plain MAE (Table 1 (b)), the setting
# that cannot collapse (every removed patch has its own pixel target): a feature is collapsed when its spread is below
# COLLAPSE_FRACTION of (b)'s spread of the same feature, an order of magnitude.
COLLAPSE_FRACTION = 0.1
COLLAPSE_REFERENCE = "b"

# Why a profile without a DINO reference (lcmae.dino_reference = "") has none: measured at mini (issue 9), where a
# 2-epoch DINO did not learn and one that does would not fit the 3-hour budget.
NO_DINO_REASON = (
    "at mini, a DINO that measurably learns does not fit the 3-hour budget (2 epochs gave a final teacher entropy "
    "of 6.12 of the uniform maximum ln 1024 = 6.93 and a linear probe +0.38 [-0.27, 1.03] points over random init)"
)


def table1_name(setting: str, seed: int = 0) -> str:
    return seeded(f"lcmae_t1_{setting}", seed)


def decoder_name(kind: str, seed: int = 0) -> str:
    return seeded(f"mae_dec_{kind}", seed)


def ae_name(block: int, seed: int = 0) -> str:
    return seeded(f"ae_b{block}", seed)


def single_image_name(seed: int = 0) -> str:
    return seeded("mae_single_image", seed)


def short_mae_name(p: Profile, seed: int = 0) -> str:
    """The default MAE on the ablation schedule, the baseline of Table 2's decoders and Table A.1's single image: the
    default MAE itself when the ablations train as long as the bank."""
    return seeded("mae_short", seed) if ablation_optim(p) != p.pretrain else default_mae_name(p, seed)


def ablation_optim(p: Profile) -> OptimConfig:
    """The schedule of the LC-MAE ablations (Table 1, 2, 3, A.1): lcmae.ablation_epochs, else [pretrain]'s."""
    if not p.lcmae.ablation_epochs:
        return p.pretrain
    return replace(p.pretrain, epochs=p.lcmae.ablation_epochs, warmup_epochs=p.lcmae.ablation_warmup_epochs)


def ablation_finetuned(p: Profile) -> bool:
    """Does the profile finetune the ablations (lcmae.ablation_finetune)? If not, Table 1's settings and the AE(p) runs
    have their `_lp` probes only, and Table 2's decoders and Table A.1's single image, read only by finetuning claims,
    are not trained at all. `short_mae_name`'s `_ft` and `_lp` and scratch_ft stay either way: they are the ablation
    schedule's gates (`ablation_calibration`)."""
    return p.lcmae.ablation_finetune


def not_run(p: Profile) -> str:
    """What a table shows in place of a number from a run the profile does not declare."""
    return f"not run at {p.name}"


def ablation_ft_accuracy(results_dir: Path, p: Profile, pretraining: str) -> float | None:
    """Test accuracy (%) of an ablation's finetune `<pretraining>_ft`; None where the profile does not finetune the
    ablations (`ablation_finetuned`)."""
    return float(finished_result(results_dir, p, f"{pretraining}_ft")["accuracy"]) if ablation_finetuned(p) else None


@lru_cache
def ablation_finetune_cost(p: Profile) -> tuple[int, float, int, float]:
    """What `--set lcmae.ablation_finetune=true` adds to a profile that skips the ablations' finetunes, by the dry run's
    FLOP estimate: (finetunes, their job-minutes, pretrainings only they read, those pretrainings' job-minutes)."""
    on = replace(p, lcmae=replace(p.lcmae, ablation_finetune=True))
    declared = {r.name for seed in p.seeds for r in runs(p, seed)}
    extra = estimate([r for seed in p.seeds for r in runs(on, seed) if r.name not in declared], p)
    ft = [e.device_hours * 60 for e in extra if e.kind == "finetune"]
    pre = [e.device_hours * 60 for e in extra if e.kind != "finetune"]
    return len(ft), sum(ft), len(pre), sum(pre)


def ablation_finetune_reason(p: Profile, calibration: Calibration | None) -> str | None:
    """Why a claim that needs an ablation's finetune is untestable at `p` (the ablations are not finetuned there); None
    where they are. `calibration`: the gates the notebook judges the ablations under (`judge_ablations`), whose
    finetuning seed noise floor and MAE - random init gain the reason quotes."""
    if ablation_finetuned(p):
        return None
    n_ft, ft_minutes, n_pre, pre_minutes = ablation_finetune_cost(p)
    floor = calibration.noise_floor.get("ft") if calibration else None
    gate = (calibration.gates.get("finetuning") or {}) if calibration else {}
    gain = (
        f"; MAE - random init on this schedule, {short_mae_name(p)}_ft - scratch_ft: "
        f"{format_estimate(gate['gain'], gate['ci'])} points"
        if gate.get("gain") is not None and gate.get("ci")
        else ""
    )
    return (
        f"not run at profile {p.name} (lcmae.ablation_finetune = false): on the ablation schedule "
        f"({ablation_optim(p).epochs:g} epochs) the finetuning differences between ablations are mostly within the "
        f"seed noise floor of finetuning ({'unmeasured' if floor is None else f'{floor:.2f} points'}{gain}), and the {n_ft} "
        f"finetunes would cost ~{ft_minutes:.0f} job-minutes{' of the 3-hour budget' if p.name == 'mini' else ''} "
        f"(~{ft_minutes + pre_minutes:.0f} with the {n_pre} pretrainings only they read); "
        "`--set lcmae.ablation_finetune=true` runs them"
    )


def ablation_ft_claim(
    summary: Summary,
    results_dir: Path,
    p: Profile,
    reason: str | None,
    cid: str,
    statement: str,
    run_a: str,
    run_b: str,
    kind: str = "greater",
    paper: float | None = None,
) -> Claim:
    """A claim on finetuning accuracy(a) - accuracy(b) where a or b is an ablation's finetune: `paired_claim` (metric
    "ft", finetuning gate), or untestable with `reason` (`ablation_finetune_reason`) where the ablations are not
    finetuned."""
    if reason is None:
        return paired_claim(
            summary, results_dir, p, cid, statement, run_a, run_b, kind=kind, metric="ft", gate="finetuning", paper=paper
        )
    return summary.claim(cid, statement, *untestable(reason), paper=paper, gate="finetuning", unit="points", rule=kind)


def describe_ablation_finetune(p: Profile, reason: str | None) -> str:
    """One Markdown paragraph where the profile does not finetune the ablations ("" where it does)."""
    if reason is None:
        return ""
    return (
        f"**Ablation finetunes not run at `{p.name}`.** The ablations are linear-probed only (Table 1's settings, the "
        "autoencoders) or not trained (Table 2's local decoders, Table A.1's single image, which only finetuning claims "
        f'read); their FT cells read "{not_run(p)}" and the claims that need them are untestable at this profile, with '
        f"this reason: {reason}."
    )


def random_init_names(p: Profile, seed: int = 0) -> tuple[str, str]:
    """The shared random-init baselines: (finetuned from scratch, probe of a random encoder)."""
    return seeded("scratch_ft", seed), seeded("random_init_lp", seed)


def reference(p: Profile, which: str) -> str:
    """The run (or "timm:<model>") of a reference encoder: "mae", "dino" or "supervised"; "" = the default MAE for
    "mae" and no reference for the others (a claim that needs it is untestable at that profile)."""
    name = getattr(p.lcmae, f"{which}_reference")
    return name or (default_mae_name(p) if which == "mae" else "")


def ablation_calibration(results_dir: Path, p: Profile, calibration: Calibration | None) -> Calibration | None:
    """The gates as the ablation claims (Table 1, 2, 3, A.1) need them: measured on the ablation schedule.

    "MAE-init beats random init" there means the ablations' baseline `short_mae_name(p)` (one seed) against random init
    (the calibration's seeds): finetuning gate `_ft` vs `scratch_ft`, representation gate `_lp` vs `random_init_lp`,
    each by the seed-aware rule with the calibration's seed noise floor of the metric (measured on the bank's schedule,
    the only one with several seeds). `gains` (the equivalence rule's discrimination check) are those CIs. Where the
    ablations train as long as the bank (`short_mae_name` is the default MAE), the calibration itself."""
    short = short_mae_name(p)
    if calibration is None or short == default_mae_name(p):
        return calibration
    ft, lp = random_init_names(p)
    gates, gains = {}, {}
    for gate, metric, base in (("finetuning", "ft", ft), ("representation", "lp", lp)):
        seeds = (calibration.gates.get(gate) or {}).get("seeds") or [0]
        bases = [seeded(base, s) for s in seeds]
        delta, ci = seed_bootstrap_delta(
            correctness(results_dir, p, [f"{short}_{metric}"]), correctness(results_dir, p, bases)
        )
        floor = calibration.noise_floor.get(metric)
        verdict, evidence = verdict_seed_aware(ci, 1, len(bases), floor)
        gates[gate] = {
            "passed": verdict == "reproduced",
            "metric": metric,
            "gain": delta,
            "ci": list(ci),
            "noise_floor": floor,
            "seeds": list(seeds),
            "evidence": f"ablation schedule ({ablation_optim(p).epochs:g} epochs): {short}_{metric} - {base} (seeds "
            f"{list(seeds)}) {format_estimate(delta, ci)} points, {verdict}: {evidence}",
        }
        gains[metric] = list(ci)
    return Calibration(calibration.profile, gates, calibration.noise_floor, gains)


def judge_ablations(summary: Summary, results_dir: Path, p: Profile) -> Calibration | None:
    """From here on `summary` records ablation claims: judged under `ablation_calibration`'s gates (computed from the
    bank's calibration it holds), each claim's scale note naming the ablation schedule. Returns those gates."""
    summary.calibration = ablation_calibration(results_dir, p, summary.calibration)
    summary.scale_note += f"; ablation schedule {ablation_optim(p).epochs:g} ep, MAE baseline {short_mae_name(p)}"
    return summary.calibration


def describe_ablation_gates(calibration: Calibration | None, p: Profile) -> str:
    """One Markdown paragraph: the gates the ablation claims are judged under."""
    if short_mae_name(p) == default_mae_name(p):
        return "**Gates of the ablation claims:** the ablations train on the bank's schedule beside the default MAE: as above."
    if p.name in SMOKE_PROFILES or calibration is None:
        return describe_gates(calibration, p.name)
    return (
        "**Gates of the ablation claims:** "
        + "; ".join(
            f"{name} gate **{'passed' if g['passed'] else 'not passed'}** ({g['evidence']})"
            for name, g in calibration.gates.items()
        )
        + "."
    )


def collapsed(final_logs: dict) -> bool:
    """§3.3's collapse, read on the projector output v at the end of pretraining (v_std below the threshold)."""
    return final_logs["v_std"] < COLLAPSE_THRESHOLD


def collapse_table(spreads: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Which feature of each run collapsed: h and encoder cls against COLLAPSE_FRACTION x the spread of the same feature
    in `reference` (plain MAE), v against COLLAPSE_THRESHOLD. `collapse`: "representation" when h or the encoder
    collapsed, "projector only" when only v did, else "none"."""
    out = spreads.copy()
    for col, name in (("spread of h", "decoder h"), ("spread of encoder cls", "encoder cls")):
        threshold = COLLAPSE_FRACTION * spreads.loc[reference, col]
        out[f"{name} collapsed (< {threshold:.3g})"] = spreads[col] < threshold
    out[f"v collapsed (< {COLLAPSE_THRESHOLD})"] = spreads["spread of v"] < COLLAPSE_THRESHOLD
    rep = out.iloc[:, -3] | out.iloc[:, -2]
    out["collapse"] = np.where(rep, "representation", np.where(out.iloc[:, -1], "projector only", "none"))
    return out


def runs(p: Profile, seed: int) -> list[Run]:
    """Every run the LC-MAE notebooks read, shared ones included. Fig 6 reads the bank's ratio sweep; the ablations
    train on the ablation schedule beside their own MAE baseline (`mae_short`), finetuned where `ablation_finetuned`."""
    out = ratio_sweep(p, seed, tuple(sorted(set(p.lcmae.mask_ratios) | {p.masking.mask_ratio}))) + random_init(p, seed)
    if p.lcmae.dino_reference and not p.lcmae.dino_reference.startswith("timm:"):  # else released weights, or none
        out += dino_reference(p, seed)
    optim, ft = ablation_optim(p), ablation_finetuned(p)
    t1_decoder = replace(p.decoder, depth=p.lcmae.table1_decoder_depth)
    t1_optim = replace(optim, blr=p.lcmae.blr)
    for setting, (losses, _) in TABLE1.items():
        spec = pretrain(p, seed, decoder=t1_decoder, optim=t1_optim, lcmae=LCMAESpec(losses, p.lcmae.projector_dim))
        out += with_evals(Run(table1_name(setting, seed), spec), p, seed, ft=ft)
    if optim != p.pretrain:  # finetuned and probed whatever `ft`: the ablation schedule's gates
        out += with_evals(Run(short_mae_name(p, seed), pretrain(p, seed, optim=optim)), p, seed)
    for kind in DECODERS if ft else ():  # Table 2 is finetuning claims only
        spec = pretrain(p, seed, decoder=replace(p.decoder, kind=kind), optim=optim)
        out += with_evals(Run(decoder_name(kind, seed), spec), p, seed, lp=False)
    for block in p.lcmae.ae_blocks:
        spec = pretrain(p, seed, mask_ratio=0.0, target_block=block, optim=optim)
        out += with_evals(Run(ae_name(block, seed), spec), p, seed, ft=ft)
    if ft:  # Table A.1 is finetuning claims only
        data, single_optim = single_image(p, optim, p.lcmae.single_image_epoch_fraction)
        spec = pretrain(p, seed, optim=single_optim, data=data)
        out += with_evals(Run(single_image_name(seed), spec), p, seed, lp=False)
    return out + default_mae(p, seed) + supervised_reference(p)


def load_mae(results_dir: Path, p: Profile, name: str) -> MaskedAutoencoder:
    """The MAE inside a finished pretraining run (MAE or LC-MAE), in eval mode."""
    return load_model(results_dir, p.name, name).mae.eval()


@torch.no_grad()
def collapse_spreads(results_dir: Path, p: Profile, names: list[str], n_images: int, seed: int = 0) -> pd.DataFrame:
    """Where an LC-MAE run collapsed: normalised spread (losses.normalized_std, ~1 spread, 0 constant) over test
    images of the projector output v and the decoder features h at one removed token per image (random masks),
    and of the encoder's cls feature (unmasked). One row per run."""

    def compute() -> dict[str, np.ndarray]:
        imgs, _ = validation_images(p, n_images)
        rows = []
        for name in names:
            model = load_model(results_dir, p.name, name)
            torch.manual_seed(seed)
            out = model.mae(imgs)
            token = out.mask.argmax(dim=1)  # first removed token of each image
            h = out.hidden[torch.arange(len(imgs)), token]
            rows.append(
                [normalized_std(model.projector(h)), normalized_std(h), normalized_std(model.mae.encoder(imgs)[0][:, 0])]
            )
        return {"spreads": np.array(rows, dtype=float)}

    spreads = cached(analysis_path(results_dir, p, "collapse_spreads"), compute, runs=names, n=n_images, seed=seed)["spreads"]
    return pd.DataFrame(
        spreads, index=pd.Index(names, name="run"), columns=["spread of v", "spread of h", "spread of encoder cls"]
    )


@torch.no_grad()
def decoder_layers(mae: MaskedAutoencoder, imgs: torch.Tensor, mask_seed: int = 0) -> dict[str, torch.Tensor]:
    """One fixed random mask for every image (§4.1).

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


def decoder_semantics(
    results_dir: Path, p: Profile, mae_run: str, ref_run: str, n_images: int, mask_seed: int = 0, example_images: int = 2
) -> dict[str, np.ndarray]:
    """Fig 2-4 per decoder layer and image: S_attn (eq 7), S_sim (eq 8), attention distance of removed tokens.

    S_attn: attention rows of the removed (query) tokens over all keys incl. cls, [k, heads, n] per image;
    s_attn_images[l, i] = mean over j != i of cos(A_li, A_lj), whose mean over i is eq 7.
    S_sim: W = cosine similarity of patch features; decoder block outputs vs the reference encoder's
    normed last-layer patch tokens (DINO in the paper), over all token positions; eq 8 = mean over images.
    s_sim_pixels_images: the same with raw pixel patches in place of the decoder's features (Fig 3's baseline).
    Without a reference (`ref_run` ""), neither S_sim is computed.
    decoder_distance_images: attention-weighted pixel distance from each removed query to the patch keys
    (cls dropped, renormalised); uniform_distance is its value for attention spread evenly.
    example_maps [images, 2 queries, layers, N]: head-averaged attention of two removed tokens.
    """

    @torch.no_grad()
    def compute() -> dict[str, np.ndarray]:
        mae = load_mae(results_dir, p, mae_run)
        imgs, labels = validation_images(p, n_images)
        layers = decoder_layers(mae, imgs, mask_seed)
        removed = layers["mask"].bool().nonzero().squeeze(1)
        attn = layers["attn"][:, :, :, 1 + removed]  # queries = removed tokens: [I, layers, H, k, N]
        s_attn_images = torch.stack([s_attn_per_image(attn[:, layer]) for layer in range(attn.shape[1])])  # [layers, I]
        c = mae.cfg.encoder
        dist = patch_center_distances(c.grid_size, c.patch_size)[removed]  # [k, L]
        patch_attn = attn[..., 1:] / attn[..., 1:].sum(-1, keepdim=True)  # drop cls key, renormalise
        dec_distance = (patch_attn * dist).sum(-1).mean(dim=(2, 3)).T  # [layers, I]
        picks = removed[torch.linspace(0, len(removed) - 1, 2).long()]
        example = layers["attn"][:example_images][:, :, :, 1 + picks].mean(2).transpose(1, 2)  # [E, 2, layers, N]
        out = {
            "s_attn_images": s_attn_images.numpy(),
            "decoder_distance_images": dec_distance.numpy(),
            "uniform_distance": dist.mean().numpy(),
            "mask": layers["mask"].numpy(),
            "example_maps": example.numpy(),
            "example_queries": picks.numpy(),
            "example_images": imgs[:example_images].numpy(),
            "labels": labels.numpy(),
        }
        if ref_run:
            w_ref = similarity_weights(reference_encoder(results_dir, p, ref_run)(imgs)[0][:, 1:])
            features = layers["features"]
            out["s_sim_images"] = torch.stack(
                [s_sim_per_image(w_ref, similarity_weights(features[:, layer])) for layer in range(features.shape[1])]
            ).numpy()
            out["s_sim_pixels_images"] = s_sim_per_image(w_ref, similarity_weights(patchify(imgs, c.patch_size))).numpy()
        return out

    return cached(
        analysis_path(results_dir, p, f"decoder_semantics_{mae_run}"),
        compute,
        mae=mae_run,
        ref=ref_run,
        n=n_images,
        seed=mask_seed,
        examples=example_images,
    )


@torch.no_grad()
def reformulation_check(results_dir: Path, p: Profile, mae_run: str, n_images: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Eq 2 and eq 4 evaluated on real decoder outputs h(x, m) for two random masks m_a, m_b.

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
            l4, r4 = eq4_sides(h_a[b], x[b], removed, removed.roll(1))
            lhs4.append(l4)
            rhs4.append(r4)
        return {
            "eq2_lhs": lhs2[both].numpy(),
            "eq2_rhs": rhs2[both].numpy(),
            "eq2_cross_term": ((h_a - h_b) ** 2).sum(-1)[both].numpy(),
            "eq2_pred_error": ((h_b - x) ** 2).sum(-1)[both].numpy(),
            "eq4_lhs": torch.cat(lhs4).numpy(),
            "eq4_rhs": torch.cat(rhs4).numpy(),
        }

    return cached(analysis_path(results_dir, p, f"reformulation_{mae_run}"), compute, run=mae_run, n=n_images, seed=seed)


@torch.no_grad()
def untrained_reformulation(
    results_dir: Path, p: Profile, mae_run: str, n_images: int, seed: int = 0
) -> dict[str, np.ndarray]:
    """`reformulation_check`'s eq 2 terms for the same architecture at initialisation (torch.manual_seed(run seed), as the
    pretraining job builds it; no weights needed) and the same masks: the baseline of "training shrinks the cross-view
    term"."""
    from ..pipeline.runs import load_run, untrained_model

    mae = untrained_model(load_run(results_dir, p.name, mae_run).spec).mae
    imgs, _ = validation_images(p, n_images)
    g = torch.Generator().manual_seed(seed)
    units = fixed_mask_noise(mae, 0).shape[1]
    out_a = mae(imgs, noise=torch.rand(len(imgs), units, generator=g))
    out_b = mae(imgs, noise=torch.rand(len(imgs), units, generator=g))
    both = (out_a.mask * out_b.mask).bool()
    return {
        "eq2_cross_term": ((out_a.pred - out_b.pred) ** 2).sum(-1)[both].numpy(),
        "eq2_pred_error": ((out_b.pred - out_a.target) ** 2).sum(-1)[both].numpy(),
    }


def reference_learned(results_dir: Path, p: Profile, ref_run: str, floor: float | None) -> tuple[str | None, str]:
    """Did the DINO reference encoder learn? Its probe against a random encoder's, by the seed-aware rule with the
    probe's seed noise floor, plus its final teacher entropy against the uniform maximum ln K. Released weights are
    taken as learned; no reference (`ref_run` "") is a failed precondition (NO_DINO_REASON).

    Returns (the failed precondition or None, one line of evidence)."""
    if not ref_run:
        text = f"no DINO reference at profile {p.name} (lcmae.dino_reference is empty): {NO_DINO_REASON}"
        return text, text
    if ref_run.startswith("timm:"):
        return None, f"released weights {ref_run}"
    random_lp = random_init_names(p)[1]
    delta, ci = seed_bootstrap_delta(correctness(results_dir, p, [f"{ref_run}_lp"]), correctness(results_dir, p, [random_lp]))
    verdict, evidence = verdict_seed_aware(ci, 1, 1, floor)
    entropy = finished_result(results_dir, p, ref_run)["final"].get("teacher_entropy", float("nan"))
    text = (
        f"{ref_run}'s probe - random encoder's probe {format_estimate(delta, ci)} points ({verdict}: {evidence}); "
        f"final teacher "
        f"entropy {entropy:.2f} of the uniform maximum ln {p.dino.out_dim} = {np.log(p.dino.out_dim):.2f}"
    )
    return (None if verdict == "reproduced" else f"the reference {ref_run} did not measurably learn: {text}"), text
