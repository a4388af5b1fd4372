"""Runs at a profile's scale, and the shared runs several papers read.

A paper's wing (papers/<paper>.py) declares its runs with these builders. Runs that more than one
paper reads (the default MAE with its evaluations, the mask-ratio sweep, random init, the DINO
reference) have one builder and one name each, so every paper that asks for one gets the same run
and `registry.all_runs` merges them. Seeds beyond the first get a `_s<seed>` suffix; `_ft` =
finetuned, `_lp` = linear probe.
"""

from dataclasses import replace

from ..data.datasets import DataConfig, images_per_epoch
from ..models.decoders import DecoderConfig
from ..models.mae import MAEConfig
from ..training.optim import OptimConfig
from ..training.probe import ProbeConfig
from .config import Profile
from .runs import DinoSpec, FinetuneSpec, LCMAESpec, PretrainSpec, ProbeSpec, Run


def seeded(name: str, seed: int) -> str:
    return name if seed == 0 else f"{name}_s{seed}"


def ratio_name(ratio: float, seed: int = 0) -> str:
    """The MAE pretrained at mask ratio `ratio` (the profile's other settings)."""
    return seeded(f"mae_r{ratio:g}", seed)


def default_mae_name(p: Profile, seed: int = 0) -> str:
    """The profile's default MAE: the one every paper's "MAE" refers to."""
    return ratio_name(p.masking.mask_ratio, seed)


def pretrain(
    p: Profile,
    seed: int,
    decoder: DecoderConfig | None = None,
    optim: OptimConfig | None = None,
    lcmae: LCMAESpec | None = None,
    data: DataConfig | None = None,
    **masking,
) -> PretrainSpec:
    """MAE pretraining at the profile's scale; keyword overrides: mask_ratio, mask_unit, target_block, norm_pix_loss."""
    defaults = {
        "mask_ratio": p.masking.mask_ratio,
        "mask_unit": p.masking.mask_unit or None,  # TOML 0 = MAEConfig's None
        "norm_pix_loss": p.masking.norm_pix_loss,
    }
    model = MAEConfig(encoder=p.encoder, decoder=decoder or p.decoder, **{**defaults, **masking})
    return PretrainSpec(data or p.data, model, optim or p.pretrain, lcmae, seed)


def finetune(p: Profile, init: Run | None, seed: int) -> FinetuneSpec:
    return FinetuneSpec(
        data=p.finetune_data,
        encoder=p.encoder,
        init=init.name if init else "",
        init_hash=init.hash if init else "",
        optim=p.finetune,
        seed=seed,
        recipe=p.finetune_recipe,
    )


def probe(p: Profile, init: Run | None, seed: int, recipe: ProbeConfig | None = None) -> ProbeSpec:
    return ProbeSpec(
        data=p.probe_data,
        encoder=p.encoder,
        init=init.name if init else "",
        init_hash=init.hash if init else "",
        optim=p.probe,
        seed=seed,
        recipe=recipe or p.probe_recipe,
    )


def with_evals(pre: Run, p: Profile, seed: int, ft: bool = True, lp: bool = True) -> list[Run]:
    """A pretraining run plus its finetune (`_ft`) and/or linear-probe (`_lp`) runs."""
    runs = [pre]
    if ft:
        runs.append(Run(f"{pre.name}_ft", finetune(p, pre, seed)))
    if lp:
        runs.append(Run(f"{pre.name}_lp", probe(p, pre, seed)))
    return runs


def default_mae(p: Profile, seed: int) -> list[Run]:
    """The profile's default MAE, finetuned and linear-probed."""
    return with_evals(Run(default_mae_name(p, seed), pretrain(p, seed)), p, seed)


def ratio_sweep(p: Profile, seed: int, ratios: tuple[float, ...]) -> list[Run]:
    """MAE pretrainings over mask ratios (the default ratio is the default MAE, with its evaluations)."""
    runs = []
    for ratio in ratios:
        runs += (
            default_mae(p, seed)
            if ratio == p.masking.mask_ratio
            else [Run(ratio_name(ratio, seed), pretrain(p, seed, mask_ratio=ratio))]
        )
    return runs


def random_init(p: Profile, seed: int) -> list[Run]:
    """The random-init baselines: a ViT finetuned from scratch (`scratch_ft`) and a probe of a random encoder."""
    return [
        Run(seeded("scratch_ft", seed), finetune(p, None, seed)),
        Run(seeded("random_init_lp", seed), probe(p, None, seed)),
    ]


def dino_reference(p: Profile, seed: int) -> list[Run]:
    """A DINO-objective ViT of the encoder's size trained here (offline: no released weights), and its probe."""
    dino = Run(seeded("dino_ref", seed), DinoSpec(p.data, p.encoder, p.dino, p.dino_optim, seed))
    return with_evals(dino, p, seed, ft=False)


def calibration(p: Profile) -> list[Run]:
    """The calibration gate's runs: the default MAE (finetuned, probed) and the random-init baselines per seed."""
    return [run for seed in p.calibration.seeds for run in default_mae(p, seed) + random_init(p, seed)]


def single_image(p: Profile, epoch_fraction: float) -> tuple[DataConfig, OptimConfig]:
    """Data and schedule of pretraining on one image repeated to a full epoch, for `epoch_fraction` of the epochs."""
    data = replace(p.data, train_subset=1, repeat_to=images_per_epoch(p.data))
    optim = replace(
        p.pretrain, epochs=p.pretrain.epochs * epoch_fraction, warmup_epochs=p.pretrain.warmup_epochs * epoch_fraction
    )
    return data, optim
