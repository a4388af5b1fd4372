"""Every run the notebooks need, per profile: one declarative place.

A run is declared once and named by what it is; runs several papers use (the mask-ratio sweep, the
random-init baseline, the DINO reference) live in `shared_runs` and notebooks refer to them by
name. Seeds beyond the first get a `_s<seed>` suffix. `_ft` = finetuned, `_lp` = linear probe.
"""

from dataclasses import replace

from .config import Profile
from ..models.decoders import DecoderConfig
from .jobs import DinoSpec, FinetuneSpec, LCMAESpec, PretrainSpec, ProbeSpec, Run
from ..models.lcmae import TABLE1
from ..models.mae import MAEConfig
from ..training.optim import OptimConfig
from ..training.probe import ProbeConfig

PAPERS = ("lcmae", "hlvm", "tlcl")


def ratio_name(ratio: float) -> str:
    return f"mae_r{ratio:g}"


def seeded(name: str, seed: int) -> str:
    return name if seed == 0 else f"{name}_s{seed}"


def pretrain(p: Profile, seed: int, decoder: DecoderConfig | None = None, optim: OptimConfig | None = None,
             lcmae: LCMAESpec | None = None, data=None, **masking) -> PretrainSpec:
    """MAE pretraining at the profile's scale; keyword overrides: mask_ratio, mask_unit, target_block, norm_pix_loss."""
    fields = {"mask_ratio": p.masking.mask_ratio, "mask_unit": p.masking.mask_unit or None,
              "norm_pix_loss": p.masking.norm_pix_loss, **masking}
    model = MAEConfig(encoder=p.encoder, decoder=decoder or p.decoder, **fields)
    return PretrainSpec(data or p.data, model, optim or p.pretrain, lcmae, seed)


def finetune(p: Profile, init: Run | None, seed: int) -> FinetuneSpec:
    return FinetuneSpec(p.finetune_data, p.encoder, init.name if init else "", init.hash if init else "",
                        p.finetune_recipe, p.finetune, seed)


def probe(p: Profile, init: Run | None, seed: int, recipe: ProbeConfig | None = None) -> ProbeSpec:
    return ProbeSpec(p.probe_data, p.encoder, init.name if init else "", init.hash if init else "",
                     recipe or p.probe_recipe, p.probe, seed)


def with_evals(pre: Run, p: Profile, seed: int, notebooks: tuple[str, ...], ft: bool = True, lp: bool = True) -> list[Run]:
    """A pretraining run plus its finetune and/or linear-probe runs."""
    runs = [pre]
    if ft:
        runs.append(Run(f"{pre.name}_ft", finetune(p, pre, seed), notebooks))
    if lp:
        runs.append(Run(f"{pre.name}_lp", probe(p, pre, seed), notebooks))
    return runs


def shared_runs(p: Profile, seed: int) -> list[Run]:
    """Runs more than one notebook reads."""
    lc3, lc41, lc42 = "lcmae_3_local_contrastive", "lcmae_4_1_decoder", "lcmae_4_2_random_masking"
    runs = []
    for ratio in sorted(set(p.lcmae.mask_ratios) | {p.masking.mask_ratio}):
        pre = Run(seeded(ratio_name(ratio), seed), pretrain(p, seed, mask_ratio=ratio), (lc42,))
        if ratio == p.masking.mask_ratio:  # the default MAE: Fig 2-5, Tables 2, 3, A.1
            pre = replace(pre, notebooks=(lc41, lc42))
            runs += with_evals(pre, p, seed, (lc41, lc42))
        else:
            runs.append(pre)
    runs.append(Run(seeded("scratch_ft", seed), finetune(p, None, seed), (lc3, lc42)))  # random init = supervised ViT
    runs.append(Run(seeded("random_init_lp", seed), probe(p, None, seed), (lc3, lc42)))
    if p.lcmae.dino_reference == "dino_ref":  # else released weights (timm) are the reference
        dino = Run(seeded("dino_ref", seed), DinoSpec(p.data, p.encoder, p.dino, p.dino_optim, seed), (lc41, lc42))
        runs += with_evals(dino, p, seed, (lc41, lc42), ft=False)
    return runs


def lcmae_runs(p: Profile, seed: int) -> list[Run]:
    """LC-MAE Table 1 (§3.3), Table 2 (§4.1), Table 3 and A.1 (§4.2)."""
    lc3, lc41, lc42 = "lcmae_3_local_contrastive", "lcmae_4_1_decoder", "lcmae_4_2_random_masking"
    runs = []
    t1_decoder = replace(p.decoder, depth=p.lcmae.table1_decoder_depth)
    t1_optim = replace(p.pretrain, blr=p.lcmae.blr)
    for setting, (losses, _) in TABLE1.items():
        spec = pretrain(p, seed, decoder=t1_decoder, optim=t1_optim, lcmae=LCMAESpec(losses, p.lcmae.projector_dim))
        runs += with_evals(Run(seeded(f"lcmae_t1_{setting}", seed), spec, (lc3,)), p, seed, (lc3,))
    for kind in ("weighted_average", "conv"):
        spec = pretrain(p, seed, decoder=replace(p.decoder, kind=kind))
        runs += with_evals(Run(seeded(f"mae_dec_{kind}", seed), spec, (lc41,)), p, seed, (lc41,), lp=False)
    for block in p.lcmae.ae_blocks:
        spec = pretrain(p, seed, mask_ratio=0.0, target_block=block)
        runs += with_evals(Run(seeded(f"ae_b{block}", seed), spec, (lc42,)), p, seed, (lc42,))
    single_data = replace(p.data, train_subset=1, repeat_to=len_of(p.data))
    single_optim = replace(p.pretrain, epochs=p.pretrain.epochs * p.lcmae.single_image_epoch_fraction,
                           warmup_epochs=p.pretrain.warmup_epochs * p.lcmae.single_image_epoch_fraction)
    spec = pretrain(p, seed, optim=single_optim, data=single_data)
    runs += with_evals(Run(seeded("mae_single_image", seed), spec, (lc42,)), p, seed, (lc42,), lp=False)
    return runs


TRAIN_SIZES = {"fashion_mnist": 60_000, "cifar10": 50_000, "imagenet": 1_281_167}


def len_of(data) -> int:
    """Images per epoch of a data config (single-image runs repeat one image this many times)."""
    return data.train_subset or TRAIN_SIZES[data.name]


PAPER_RUNS = {"lcmae": lcmae_runs}


def all_runs(p: Profile, papers: tuple[str, ...] = PAPERS) -> list[Run]:
    """Runs read by the given papers' notebooks (shared ones included), deduplicated by name."""
    unknown = sorted(set(papers) - set(PAPERS))
    if unknown:
        raise ValueError(f"unknown paper(s) {unknown}; choose from {list(PAPERS)}")
    by_name: dict[str, Run] = {}
    for seed in p.seeds:
        declared = shared_runs(p, seed)
        for paper in papers:
            if paper in PAPER_RUNS:
                declared += PAPER_RUNS[paper](p, seed)
        for run in declared:
            seen = by_name.setdefault(run.name, run)
            if seen.hash != run.hash:
                raise ValueError(f"run {run.name!r} is declared twice with different configs")
    return [r for r in by_name.values() if any(nb.split("_", 1)[0] in papers for nb in r.notebooks)]
