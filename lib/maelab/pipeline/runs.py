"""What a run is (a frozen spec with a name) and where its files live.

results/<profile>/runs/<name>/ holds config.json (the resolved spec), config.hash, metrics.jsonl,
checkpoints/last.pt (while training), encoder.pt / model.pt, result.json, and DONE, written last.
A finished run is rebuilt from its own config.json and checked against its config.hash, so readers
never re-plan the profile to find out what a run was.
"""

import dataclasses
import json
import typing
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data.datasets import NUM_CLASSES, DataConfig
from ..models.dino import DINO, DINOConfig
from ..models.lcmae import LCMAE, LCMAELosses
from ..models.mae import MAEConfig, MAEPretraining, MaskedAutoencoder
from ..models.vit import ViTConfig, ViTEncoder
from ..training.finetune import FinetuneConfig
from ..training.optim import OptimConfig
from ..training.probe import ProbeConfig, ProbeModel
from .config import ConfigError, _coerce, config_hash


class RunConflict(RuntimeError):
    pass


class RunNotReady(FileNotFoundError):
    """A run a reader needs is unfinished, unreadable, or its weights are not in this checkout."""


@dataclass(frozen=True)
class LCMAESpec:
    losses: LCMAELosses
    projector_dim: int


@dataclass(frozen=True)
class PretrainSpec:
    data: DataConfig
    model: MAEConfig
    optim: OptimConfig
    lcmae: LCMAESpec | None = None
    seed: int = 0


@dataclass(frozen=True)
class DinoSpec:
    data: DataConfig
    encoder: ViTConfig
    dino: DINOConfig
    optim: OptimConfig
    seed: int = 0


@dataclass(frozen=True)
class EvalSpec:
    """What finetuning and probing share: labelled data, the encoder shape and the run whose encoder.pt starts it."""

    data: DataConfig
    encoder: ViTConfig
    init: str  # name of the run whose encoder.pt starts it; "" = random init
    init_hash: str
    optim: OptimConfig
    seed: int = 0


@dataclass(frozen=True)
class FinetuneSpec(EvalSpec):
    recipe: FinetuneConfig = FinetuneConfig()


@dataclass(frozen=True)
class ProbeSpec(EvalSpec):
    recipe: ProbeConfig = ProbeConfig()


Spec = PretrainSpec | DinoSpec | FinetuneSpec | ProbeSpec
KINDS = {PretrainSpec: "pretrain", DinoSpec: "dino", FinetuneSpec: "finetune", ProbeSpec: "probe"}
SPEC_OF_KIND = {kind: cls for cls, kind in KINDS.items()}
# files a finished run must have for its readers (besides result.json and DONE)
ARTIFACTS = {
    "pretrain": ("encoder.pt", "model.pt"),
    "dino": ("encoder.pt", "model.pt"),
    "finetune": ("encoder.pt", "predictions.npz"),
    "probe": ("predictions.npz", "probe.pt"),
}
WEIGHTS = (".pt",)  # git-ignored: a fresh clone has results without weights


@dataclass(frozen=True)
class Run:
    name: str
    spec: Spec

    @property
    def kind(self) -> str:
        return KINDS[type(self.spec)]

    @property
    def deps(self) -> tuple[str, ...]:
        init = getattr(self.spec, "init", "")
        return (init,) if init else ()

    @property
    def hash(self) -> str:
        return config_hash({"kind": self.kind, "spec": self.spec})


def run_dir(results_dir: Path, profile: str, name: str) -> Path:
    return Path(results_dir) / profile / "runs" / name


def read_json(path: Path) -> dict:
    """A JSON file, or RunNotReady naming the file and the fix when it is missing or does not parse."""
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError as e:
        raise RunNotReady(f"{path} is missing; Fix: run the runs stage (`./reproduce.sh --only runs`)") from e
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RunNotReady(
            f"{path} does not parse ({e}); Fix: rerun the runs stage (`./reproduce.sh --only runs`), "
            f"which redoes a run whose files are damaged"
        ) from e


def read_result(d: Path) -> dict:
    return read_json(Path(d) / "result.json")


def intact(path: Path) -> bool:
    """Whether an artifact exists and is whole: .pt and .npz files are zip archives, and a cut one lacks its
    directory (a cheap check: no tensor is read)."""
    return Path(path).exists() and zipfile.is_zipfile(path)


def missing_artifacts(d: Path, kind: str) -> list[str]:
    """Artifacts a finished run of this kind must have that are absent or damaged."""
    return [f for f in ARTIFACTS[kind] if not intact(d / f)]


def records_parse(d: Path, config_hash: str) -> bool:
    """Whether config.json parses and names config_hash, and every metrics.jsonl line parses."""
    log = d / "metrics.jsonl"
    try:
        if read_json(d / "config.json").get("hash") != config_hash:
            return False
        for line in log.read_text().splitlines() if log.exists() else []:
            json.loads(line)
    except (RunNotReady, json.JSONDecodeError, UnicodeDecodeError):
        return False
    return True


def run_state(d: Path, run: Run) -> str:
    """'done', 'weights-missing' (finished, but its .pt files are not in this checkout), 'resume' or 'new'.

    RunConflict if the directory holds a different config. A DONE whose result.json, config.json or
    metrics.jsonl does not parse, or whose non-weight artifacts are missing or damaged, is not done: the run
    resumes (or restarts) and rewrites them.
    """
    hash_file = d / "config.hash"
    if not hash_file.exists():
        return "new"
    found = hash_file.read_text().strip()
    if found != run.hash:
        raise RunConflict(
            f"{hash_file} says run {run.name!r} has config hash {found!r}, but the profile now gives {run.hash} "
            f"(compare {d / 'config.json'}). Not mixing results: move or delete {d}, or use another "
            f"--results-dir / profile."
        )
    if not (d / "DONE").exists():
        return "resume"
    try:
        read_result(d)
    except RunNotReady:
        return "resume"
    if not records_parse(d, found):
        return "resume"
    missing = missing_artifacts(d, run.kind)
    if any(not m.endswith(WEIGHTS) for m in missing):
        return "resume"
    return "weights-missing" if missing else "done"


def from_identity(cls: type, data: object, where: str = "spec") -> object:
    """Inverse of config.identity for a dataclass type: plain JSON -> the frozen dataclass tree."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        kwargs = {
            f.name: from_identity(hints[f.name], data[f.name], f"{where}.{f.name}")
            for f in dataclasses.fields(cls)
            if f.name in data
        }
        return cls(**kwargs)
    options = [t for t in typing.get_args(cls) if dataclasses.is_dataclass(t)]
    if options and data is not None:  # `X | None` with X a dataclass
        return from_identity(options[0], data, where)
    try:
        return _coerce(data, cls, where)
    except ConfigError as e:
        raise RunNotReady(f"config.json: {e}") from e


def load_run(results_dir: Path, profile: str, name: str) -> Run:
    """A finished run rebuilt from its own config.json, checked against its config.hash and DONE marker."""
    d = run_dir(results_dir, profile, name)
    if not (d / "DONE").exists():
        raise RunNotReady(f"run {name} is not finished ({d}); run `./reproduce.sh --profile {profile} --only runs` first")
    config = read_json(d / "config.json")
    run = Run(name, from_identity(SPEC_OF_KIND[config["kind"]], config["spec"]))
    stored = (d / "config.hash").read_text().strip()
    if run.hash != stored:
        raise RunConflict(
            f"{d / 'config.json'} rebuilds to hash {run.hash}, but config.hash says {stored}: "
            f"the directory was edited or written by another version; delete it and rerun"
        )
    return run


def pretraining_model(spec: PretrainSpec | DinoSpec) -> torch.nn.Module:
    """The module a pretraining run trains: forward(uint8 images, generator) -> (loss, logs); `.encoder` is kept."""
    if isinstance(spec, DinoSpec):
        return DINO(spec.encoder, spec.dino, spec.data.name)
    mae = MaskedAutoencoder(spec.model)
    if spec.lcmae:
        return LCMAE(mae, spec.data.name, spec.lcmae.projector_dim, spec.lcmae.losses)
    return MAEPretraining(mae, spec.data.name)


def untrained_model(spec: PretrainSpec | DinoSpec, seed: int | None = None) -> torch.nn.Module:
    """`pretraining_model(spec)` at initialisation, in eval mode: torch.manual_seed(seed, by default the run's seed) first,
    as the pretraining job builds it, so no weights are needed. The untrained baseline of a pretraining run."""
    torch.manual_seed(spec.seed if seed is None else seed)
    return pretraining_model(spec).eval()


def encoder_config(spec: Spec) -> ViTConfig:
    return spec.model.encoder if isinstance(spec, PretrainSpec) else spec.encoder


def _weights(d: Path, file: str, name: str, profile: str) -> dict:
    path = d / file
    if not intact(path):
        raise RunNotReady(
            f"run {name} finished, but its weights {path} are {'damaged' if path.exists() else 'not in this checkout'} "
            f"(weights are never committed). "
            f"Fix: `python -m maelab runs --profile {profile} --rebuild {name}` retrains exactly that run "
            f"(its first training took {read_result(d).get('wall_s', float('nan')) / 60:.0f} min)"
        )
    return torch.load(path, map_location="cpu")


def load_encoder(results_dir: Path, profile: str, name: str) -> ViTEncoder:
    """The encoder any finished run left in encoder.pt (MAE, DINO teacher, finetuned ViT), in eval mode."""
    run = load_run(results_dir, profile, name)
    enc = ViTEncoder(encoder_config(run.spec))
    enc.load_state_dict(_weights(run_dir(results_dir, profile, name), "encoder.pt", name, profile))
    return enc.eval()


def snapshot_file(epoch: float) -> str:
    """Where a pretraining run keeps its encoder at `epoch` of its schedule (runtime.snapshot_epochs)."""
    return f"snapshots/encoder_e{epoch:g}.pt"


def load_snapshot(results_dir: Path, profile: str, name: str, epoch: float) -> ViTEncoder:
    """The encoder of a finished pretraining run at `epoch` of its schedule (a learning curve's point), in eval mode."""
    run = load_run(results_dir, profile, name)
    enc = ViTEncoder(encoder_config(run.spec))
    enc.load_state_dict(_weights(run_dir(results_dir, profile, name), snapshot_file(epoch), name, profile))
    return enc.eval()


def load_model(results_dir: Path, profile: str, name: str) -> torch.nn.Module:
    """The whole pretraining module of a finished pretraining run (model.pt), in eval mode."""
    run = load_run(results_dir, profile, name)
    if run.kind not in ("pretrain", "dino"):
        raise ValueError(f"run {name} is a {run.kind} run; load_model reads pretraining runs")
    model = pretraining_model(run.spec)
    model.load_state_dict(_weights(run_dir(results_dir, profile, name), "model.pt", name, profile))
    return model.eval()


def load_probe(results_dir: Path, profile: str, name: str) -> ProbeModel:
    """A finished probe run's whole probe (frozen encoder + trained head, probe.pt), in eval mode: score it on any
    split of its dataset (data.datasets.load_split), e.g. the shifted test sets, without retraining the head."""
    run = load_run(results_dir, profile, name)
    if run.kind != "probe":
        raise ValueError(f"run {name} is a {run.kind} run; load_probe reads probe runs")
    spec: ProbeSpec = run.spec
    model = ProbeModel(ViTEncoder(spec.encoder), NUM_CLASSES[spec.data.name], spec.recipe)
    model.load_state_dict(_weights(run_dir(results_dir, profile, name), "probe.pt", name, profile))
    return model.eval()
