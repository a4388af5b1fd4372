"""Runs at a profile's scale, and the shared runs several papers read.

A paper's wing (papers/<paper>.py) declares its runs with these builders. Runs that more than one
paper reads (the default MAE with its evaluations, the mask-ratio sweep, random init, the DINO
reference) have one builder and one name each, so every paper that asks for one gets the same run
and `registry.all_runs` merges them. Seeds beyond the first get a `_s<seed>` suffix; `_ft` =
finetuned, `_ft_scarce` = finetuned on few labels, `_lp` = linear probe.

The default MAE and the mask-ratio sweep form the **checkpoint bank** every paper reads; they train on the
profile's [pretrain] schedule, the longest one a profile affords.
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


def finetune(p: Profile, init: Run | None, seed: int, scarce: bool = False, epochs: float = 0.0) -> FinetuneSpec:
    """The profile's finetuning recipe; `scarce`: on calibration.scarce_labels labels for calibration.scarce_epochs;
    `epochs` > 0 replaces the schedule's length (warmup scaled with it)."""
    data, optim = p.finetune_data, p.finetune
    if scarce:
        data, epochs = replace(data, train_subset=p.calibration.scarce_labels), p.calibration.scarce_epochs
    if epochs:
        optim = replace(optim, epochs=epochs, warmup_epochs=optim.warmup_epochs * epochs / optim.epochs)
    return FinetuneSpec(
        data=data,
        encoder=p.encoder,
        init=init.name if init else "",
        init_hash=init.hash if init else "",
        optim=optim,
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


def with_evals(pre: Run, p: Profile, seed: int, ft: bool = True, lp: bool = True, scarce: bool = False) -> list[Run]:
    """A pretraining run plus its finetune (`_ft`), label-scarce finetune (`_ft_scarce`) and/or probe (`_lp`) runs."""
    runs = [pre]
    if ft:
        runs.append(Run(f"{pre.name}_ft", finetune(p, pre, seed)))
    if scarce and p.calibration.scarce_labels:
        runs.append(Run(f"{pre.name}_ft_scarce", finetune(p, pre, seed, scarce=True)))
    if lp:
        runs.append(Run(f"{pre.name}_lp", probe(p, pre, seed)))
    return runs


def default_mae(p: Profile, seed: int) -> list[Run]:
    """The profile's default MAE, finetuned (all labels, and few), and linear-probed."""
    return with_evals(Run(default_mae_name(p, seed), pretrain(p, seed)), p, seed, scarce=True)


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
    """The random-init baselines: a ViT finetuned from scratch (`scratch_ft`, and on few labels `scratch_ft_scarce`)
    and a probe of a random encoder."""
    runs = [Run(seeded("scratch_ft", seed), finetune(p, None, seed))]
    if p.calibration.scarce_labels:
        runs.append(Run(seeded("scratch_ft_scarce", seed), finetune(p, None, seed, scarce=True)))
    return runs + [Run(seeded("random_init_lp", seed), probe(p, None, seed))]


def supervised_reference(p: Profile) -> list[Run]:
    """A supervised ViT of the encoder's size: finetuned from scratch on every label for calibration.supervised_epochs
    (`supervised_ref`); the yardstick where a paper compares MAE with a supervised model. None when 0 epochs."""
    if not p.calibration.supervised_epochs:
        return []
    return [Run("supervised_ref", finetune(p, None, 0, epochs=p.calibration.supervised_epochs))]


def dino_reference(p: Profile, seed: int) -> list[Run]:
    """A DINO-objective ViT of the encoder's size trained here (offline: no released weights), and its probe."""
    dino = Run(seeded("dino_ref", seed), DinoSpec(p.data, p.encoder, p.dino, p.dino_optim, seed))
    return with_evals(dino, p, seed, ft=False)


def calibration(p: Profile) -> list[Run]:
    """The calibration gate's runs: the default MAE (finetuned, probed) and the random-init baselines per seed,
    and the supervised reference."""
    return [run for seed in p.calibration.seeds for run in default_mae(p, seed) + random_init(p, seed)] + supervised_reference(
        p
    )


def single_image(p: Profile, optim: OptimConfig, epoch_fraction: float) -> tuple[DataConfig, OptimConfig]:
    """Data and schedule of pretraining on one image repeated to a full epoch, for `epoch_fraction` of `optim`'s
    epochs (1.0: as many optimizer steps as the run on the whole dataset)."""
    data = replace(p.data, train_subset=1, repeat_to=images_per_epoch(p.data))
    return data, replace(optim, epochs=optim.epochs * epoch_fraction, warmup_epochs=optim.warmup_epochs * epoch_fraction)
