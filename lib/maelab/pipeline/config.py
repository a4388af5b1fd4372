"""Profiles: one TOML file each (lib/maelab/profiles/), validated against typed sections on load.

A profile sets the scale of every experiment: data, model sizes, schedules, SLURM resources and the
papers' own knobs. `--set section.key=value` overrides a value from the command line. Unknown
profiles, sections and keys are errors that list the valid names.
"""

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomllib

from ..data.datasets import DataConfig
from ..models.decoders import DecoderConfig
from ..models.dino import DINOConfig
from ..models.mae import MAEConfig
from ..models.vit import ViTConfig
from ..training.finetune import FinetuneConfig
from ..training.optim import OptimConfig
from ..training.probe import ProbeConfig

PROFILE_DIR = Path(__file__).parent / "profiles"


class ConfigError(ValueError):
    pass


@dataclass(frozen=True)
class MaskingConfig:
    """The profile's default MAE masking; its defaults are MAEConfig's (one source)."""

    mask_ratio: float = MAEConfig.mask_ratio
    mask_unit: int = 0  # TOML has no null: 0 stands for MAEConfig's None, the ViT patch size (builders.pretrain maps it)
    norm_pix_loss: bool = MAEConfig.norm_pix_loss


@dataclass(frozen=True)
class RuntimeConfig:
    """How runs execute (not part of any run's identity)."""

    device: str = "auto"  # auto | cpu | cuda
    threads_per_job: int = 0  # torch threads per job; 0 = torch's default
    local_parallelism: int = 1  # local cluster: jobs at once
    save_every_s: float = 900.0
    log_every: int = 20
    eval_batch_size: int = 512
    achieved_tflops: float = 100.0  # what one job's devices achieve together: dry-run time estimates (pipeline/estimate.py)
    snapshot_epochs: tuple[float, ...] = ()  # pretraining runs also keep snapshots/encoder_e<epoch>.pt (learning curves)


@dataclass(frozen=True)
class SlurmConfig:
    """submitit/SLURM resources of one training job (one task per GPU)."""

    partition: str = ""
    account: str = ""
    qos: str = ""
    constraint: str = ""
    nodes: int = 1
    gpus_per_node: int = 0
    tasks_per_node: int = 1
    cpus_per_task: int = 2
    mem_gb: int = 0  # 0: the cluster's default
    timeout_min: int = 60
    array_parallelism: int = 16
    max_num_timeout: int = 10  # requeues after a time limit (or a preemption counted as one) before the job fails
    setup: tuple[str, ...] = ()  # shell lines before the job, e.g. "module load cuda"


@dataclass(frozen=True)
class CalibrationConfig:
    """The calibration gate: does pretraining measurably work at this profile? (issue: evidence that can decide)."""

    seeds: tuple[int, ...] = (0, 1, 2)  # pretraining seeds of the default MAE and of the random-init baselines
    scarce_labels: int = 0  # label-scarce finetuning (`_ft_scarce`) on this many class-stratified labels; 0 = none
    scarce_epochs: float = 10.0  # its schedule (the [finetune] recipe otherwise)
    supervised_epochs: float = 0.0  # a supervised reference (`supervised_ref`): scratch finetuning this long; 0 = none


@dataclass(frozen=True)
class LCMAEExperiments:
    """LC-MAE (Yue et al.) knobs per profile; defaults are the paper's (§3.3, §4, §5)."""

    blr: float = 6e-4  # §5: LC-MAE base lr
    projector_dim: int = 1024  # §5
    table1_decoder_depth: int = 2  # §3.3: "to shorten pretraining we set the decoder depth to 2"; Fig 2-4 use [decoder]
    mask_ratios: tuple[float, ...] = (0.3, 0.45, 0.6, 0.75, 0.9)  # Fig 6
    ae_blocks: tuple[int, ...] = (16, 48, 80, 112)  # Table 3 block sizes in pixels
    single_image_epoch_fraction: float = 0.05  # Table A.1: 5 epochs of one image vs 100 of the dataset
    analysis_images: int = 1000  # validation images for S_attn / S_sim / attention distance
    ablation_epochs: float = 0.0  # Table 1 / decoder / AE / single-image runs and their MAE baseline; 0 = [pretrain]'s
    ablation_warmup_epochs: float = 0.0
    # Finetune the ablations (Table 1 settings, AE(p): `_ft` beside their `_lp`; Table 2's decoders and Table A.1's single
    # image exist only to be finetuned): false declares none of those finetunes, and their claims are untestable
    ablation_finetune: bool = True
    # Fig 3 / Fig 5 reference encoders: a run name, or "timm:<model>" for released weights (paper scale)
    dino_reference: str = "timm:vit_base_patch16_224.dino"
    supervised_reference: str = "timm:deit_base_patch16_224"
    mae_reference: str = "timm:vit_base_patch16_224.mae"


@dataclass(frozen=True)
class HLVMExperiments:
    """HLVM (Kong et al. 2023) grid, §3 and App. C.1; defaults are the paper's (ImageNet, ViT patch 8, units 8/16/32 px).

    Mask ratios at the base unit; mask units at ratio 0.75 with the ViT patch fixed (decoupled); the original MAE's
    coupled design (ViT patch = unit) for the coupled patches; §3.6's border-ignoring loss at the base setting."""

    dataset: str = ""  # "" = the profile's [data]
    img_size: int = 0  # 0 = the profile's
    train_subset: int = 0
    epochs: float = 0.0  # 0 = [pretrain]'s
    warmup_epochs: float = 0.0
    patch_size: int = 8
    base_unit: int = 16
    mask_ratios: tuple[float, ...] = (0.1, 0.25, 0.5, 0.75, 0.9)
    mask_units: tuple[int, ...] = (8, 16, 32)
    coupled_patches: tuple[int, ...] = (8, 16, 32)
    border_widths: tuple[int, ...] = (4,)  # px of masked pixels next to visible ones left out of the loss (§3.6)
    noise_seeds: tuple[int, ...] = ()  # more seeds of the base setting (ratio 0.75, base unit): the grid's noise floor
    analysis_images: int = 2000


@dataclass(frozen=True)
class TLCLExperiments:
    """TLCL (Zhang et al.) knobs; defaults are the paper's (§6.4: ViT-Tiny, 3 vs 6 heads at width 192)."""

    head_counts: tuple[int, ...] = (3, 6)
    probe_blr: float = 1e-3  # §6.3: AdamW for every probe ("changing the optimizer of linear probing to AdamW")
    analysis_images: int = 1000


@dataclass(frozen=True)
class Profile:
    name: str
    description: str
    data: DataConfig
    encoder: ViTConfig
    decoder: DecoderConfig
    masking: MaskingConfig
    pretrain: OptimConfig
    finetune: OptimConfig
    finetune_recipe: FinetuneConfig
    finetune_data: DataConfig
    probe: OptimConfig
    probe_recipe: ProbeConfig
    probe_data: DataConfig
    dino: DINOConfig
    dino_optim: OptimConfig
    lcmae: LCMAEExperiments
    hlvm: HLVMExperiments
    tlcl: TLCLExperiments
    calibration: CalibrationConfig
    runtime: RuntimeConfig
    slurm: SlurmConfig
    seeds: tuple[int, ...] = (0,)
    overrides: tuple[str, ...] = field(default=())


SECTIONS = {f.name: f.type for f in dataclasses.fields(Profile) if dataclasses.is_dataclass(f.type)}
DATA_DEFAULTS = ("finetune_data", "probe_data")
TOP_LEVEL = ("description", "seeds")  # profile keys outside any section  # start from [data], then apply their own keys


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def _coerce(value: object, tp: object, where: str) -> object:
    """TOML value -> the field's type (tuples from arrays, floats from ints); a wrong type is an error."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            try:
                return _coerce(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} does not match {tp}")
    if origin is tuple:
        args = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected an array, got {value!r}")
        item_types = [args[0]] * len(value) if len(args) == 2 and args[1] is Ellipsis else list(args)
        if len(item_types) != len(value):
            raise ConfigError(f"{where}: expected {len(item_types)} values, got {value!r}")
        return tuple(_coerce(v, t, where) for v, t in zip(value, item_types))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is type(None) and value is None:
        return None
    if isinstance(tp, type) and isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ConfigError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {value!r}")


def build_section(cls: type, values: dict, where: str, base: object | None = None) -> object:
    """Dataclass from a TOML table; unknown keys are errors listing the valid ones."""
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(values) - set(valid))
    if unknown:
        raise ConfigError(f"[{where}] has unknown key(s) {unknown}; valid keys: {valid}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in values.items()}
    try:
        return dataclasses.replace(base, **kwargs) if base is not None else cls(**kwargs)
    except ValueError as e:
        raise ConfigError(f"[{where}]: {e}") from e


def parse_override(text: str) -> tuple[str, str, object]:
    """'section.key=value' or a top-level 'seeds=value' (TOML syntax; bare words are strings) -> (section, key, value).

    section is "" for a top-level key. An unknown section is an error naming the override."""
    lhs = text.split("=", 1)[0].strip()
    if "=" not in text or ("." not in lhs and lhs not in TOP_LEVEL):
        raise ConfigError(
            f"override {text!r} must look like section.key=value (e.g. pretrain.epochs=10) or "
            f"{'/'.join(TOP_LEVEL)}=value (e.g. seeds=[0,1,2])"
        )
    rhs = text.split("=", 1)[1]
    section, key = lhs.split(".", 1) if "." in lhs else ("", lhs)
    if section and section not in SECTIONS:
        raise ConfigError(f"override {text!r}: unknown section {section!r}; valid sections: {sorted(SECTIONS)}")
    try:
        value = tomllib.loads(f"v = {rhs.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        value = rhs.strip()
    return section, key, value


def load_profile(name: str, overrides: typing.Sequence[str] = ()) -> Profile:
    """Read lib/maelab/profiles/<name>.toml (or a path to a .toml), apply overrides, validate."""
    path = Path(name) if name.endswith(".toml") else PROFILE_DIR / f"{name}.toml"
    if not path.exists():
        raise ConfigError(f"unknown profile {name!r}; valid profiles: {available_profiles()} (or a path to a .toml file)")
    raw = tomllib.loads(path.read_text())
    for section, key, value in map(parse_override, overrides):
        if section:
            raw.setdefault(section, {})[key] = value
        else:
            raw[key] = value
    unknown = sorted(set(raw) - set(SECTIONS) - set(TOP_LEVEL))
    if unknown:
        raise ConfigError(f"profile {path.name} has unknown section(s) {unknown}; valid sections: {sorted(SECTIONS)}")
    sections = {}
    for section, cls in SECTIONS.items():
        base = sections["data"] if section in DATA_DEFAULTS else None
        sections[section] = build_section(cls, raw.get(section, {}), section, base)
    seeds = _coerce(raw.get("seeds", [0]), tuple[int, ...], "seeds")
    return Profile(name=path.stem, description=raw.get("description", ""), seeds=seeds, overrides=tuple(overrides), **sections)


# Fields that say where or how a run executes, not what it computes: excluded from its identity.
NOT_IDENTITY = {"root", "num_workers", "download"}
# Fields added after runs were committed: left out of the identity at their default, so older runs keep their hash.
OMIT_AT_DEFAULT = {"loss_ignore_border": 0}


def identity(obj: object) -> object:
    """A dataclass tree as plain JSON data, without the NOT_IDENTITY fields."""
    if dataclasses.is_dataclass(obj):
        return {
            f.name: identity(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if f.name not in NOT_IDENTITY and OMIT_AT_DEFAULT.get(f.name, ...) != getattr(obj, f.name)
        }
    if isinstance(obj, (list, tuple)):
        return [identity(v) for v in obj]
    if isinstance(obj, dict):
        return {k: identity(v) for k, v in obj.items()}
    return obj


def config_hash(obj: object) -> str:
    """sha256 of the canonical JSON of identity(obj), first 16 hex digits."""
    return hashlib.sha256(json.dumps(identity(obj), sort_keys=True).encode()).hexdigest()[:16]
