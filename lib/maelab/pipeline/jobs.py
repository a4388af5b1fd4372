"""What a run is (a frozen spec) and how one executes in its directory.

results/<profile>/runs/<name>/ holds config.json (the resolved spec), config.hash, metrics.jsonl,
checkpoints/last.pt (while training), encoder.pt / model.pt, result.json, and DONE, written last.
A rerun skips a run whose DONE and hash match, resumes one with a checkpoint, and refuses a
directory whose hash differs. `JobRunner` is the one callable every submitit job runs; on timeout
or preemption submitit calls its `checkpoint()`, which requeues it to resume from last.pt.
"""

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..training.checkpoint import atomic_save
from ..evaluation.claims import save_json
from .config import RuntimeConfig, config_hash, identity
from ..data.datasets import NUM_CLASSES, DataConfig, load_dataset, mae_augment
from ..models.dino import DINO, DINOConfig
from ..training.distributed import DistEnv, init_distributed
from ..training.finetune import FinetuneConfig, FinetuneObjective, ViTClassifier, predict
from ..models.lcmae import LCMAE, LCMAELosses
from ..models.mae import MAEConfig, MaskedAutoencoder
from ..training.optim import OptimConfig, param_groups
from ..training.probe import ProbeConfig, ProbeModel, cache_inputs, probe_objective
from ..training.train import train
from ..models.vit import ViTConfig, ViTEncoder

# normalized_std of the LC-MAE projector output v at the end of pretraining: ~1 when spread, 0 when every output
# is the same vector. A collapsed run is still finetuned: whether its *encoder* learned is part of the evidence.
COLLAPSE_THRESHOLD = 0.1


class RunConflict(RuntimeError):
    pass


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
class FinetuneSpec:
    data: DataConfig
    encoder: ViTConfig
    init: str  # name of the run whose encoder.pt starts it; "" = random init
    init_hash: str
    recipe: FinetuneConfig
    optim: OptimConfig
    seed: int = 0


@dataclass(frozen=True)
class ProbeSpec:
    data: DataConfig
    encoder: ViTConfig
    init: str
    init_hash: str
    recipe: ProbeConfig
    optim: OptimConfig
    seed: int = 0


Spec = PretrainSpec | DinoSpec | FinetuneSpec | ProbeSpec
KINDS = {PretrainSpec: "pretrain", DinoSpec: "dino", FinetuneSpec: "finetune", ProbeSpec: "probe"}


@dataclass(frozen=True)
class Run:
    name: str
    spec: Spec
    notebooks: tuple[str, ...] = ()

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


def run_state(d: Path, run: Run) -> str:
    """'done', 'resume' or 'new'; RunConflict if the directory holds a different config."""
    hash_file = d / "config.hash"
    if not hash_file.exists():
        return "new"
    found = hash_file.read_text().strip()
    if found != run.hash:
        raise RunConflict(
            f"{d} holds run {run.name!r} with config hash {found}, but the registry now gives {run.hash} "
            f"(compare {d / 'config.json'}). Not mixing results: move or delete that directory, or use another "
            f"--results-dir / profile."
        )
    return "done" if (d / "DONE").exists() else "resume"


def read_result(d: Path) -> dict:
    return json.loads((d / "result.json").read_text())


def load_encoder(results_dir: Path, profile: str, init: str, cfg: ViTConfig, drop_path: float = 0.0) -> ViTEncoder:
    enc = ViTEncoder(cfg, drop_path_rate=drop_path)
    if init:
        enc.load_state_dict(torch.load(run_dir(results_dir, profile, init) / "encoder.pt", map_location="cpu"))
    return enc


def build_pretrain_model(spec: PretrainSpec) -> torch.nn.Module:
    mae = MaskedAutoencoder(spec.model)
    return LCMAE(mae, spec.lcmae.projector_dim, spec.lcmae.losses) if spec.lcmae else mae


def _pretrain(run: Run, d: Path, env: DistEnv, rt: RuntimeConfig, results_dir: Path, profile: str) -> dict:
    spec: PretrainSpec = run.spec
    torch.manual_seed(spec.seed)
    model = build_pretrain_model(spec)

    def objective(net, x, y, gen):
        out = net(mae_augment(x, spec.data.name, gen))
        return out if spec.lcmae else (out.loss, {})

    last = train(model, objective, load_dataset(spec.data, train=True), spec.optim, d, env, spec.seed,
                 log_every=rt.log_every, save_every_s=rt.save_every_s, num_workers=spec.data.num_workers, desc=run.name)
    mae = model.mae if spec.lcmae else model
    if env.is_main:
        atomic_save(mae.encoder.state_dict(), d / "encoder.pt")
        atomic_save(model.state_dict(), d / "model.pt")
    result = {"final": last}
    if spec.lcmae:
        result["collapsed"] = bool(last["v_std"] < COLLAPSE_THRESHOLD)
        result["collapse_threshold"] = COLLAPSE_THRESHOLD
    return result


def _dino(run: Run, d: Path, env: DistEnv, rt: RuntimeConfig, results_dir: Path, profile: str) -> dict:
    spec: DinoSpec = run.spec
    torch.manual_seed(spec.seed)
    model = DINO(spec.encoder, spec.dino, spec.data.name)
    groups = param_groups(model.student, spec.optim.weight_decay)
    data = load_dataset(spec.data, train=True, crop=False)  # DINO's multi-crop does the cropping
    last = train(model, lambda net, x, y, gen: net(x, gen), data, spec.optim, d, env, spec.seed, groups=groups,
                 log_every=rt.log_every, save_every_s=rt.save_every_s, num_workers=spec.data.num_workers, desc=run.name)
    if env.is_main:
        atomic_save(model.encoder.state_dict(), d / "encoder.pt")
    return {"final": last}


def _evaluate(model: torch.nn.Module, spec: FinetuneSpec | ProbeSpec, d: Path, env: DistEnv, rt: RuntimeConfig,
              test: object = None) -> dict:
    test = test if test is not None else load_dataset(spec.data, train=False)
    preds, labels = predict(model, test, spec.data.name, rt.eval_batch_size, env.device)
    return _accuracy(preds, labels, d, env)


def _accuracy(preds: torch.Tensor, labels: torch.Tensor, d: Path, env: DistEnv) -> dict:
    """Accuracy (%) and counts; rank 0 keeps the per-image predictions for paired comparisons."""
    correct = int((preds == labels).sum())
    if env.is_main:
        np.savez_compressed(d / "predictions.npz", pred=preds.numpy(), label=labels.numpy())
    return {"accuracy": 100.0 * correct / len(labels), "correct": correct, "total": len(labels)}


def _finetune(run: Run, d: Path, env: DistEnv, rt: RuntimeConfig, results_dir: Path, profile: str) -> dict:
    spec: FinetuneSpec = run.spec
    torch.manual_seed(spec.seed)
    num_classes = NUM_CLASSES[spec.data.name]
    model = ViTClassifier(spec.encoder, num_classes, spec.recipe.global_pool, spec.recipe.drop_path)
    if spec.init:
        model.encoder.load_state_dict(load_encoder(results_dir, profile, spec.init, spec.encoder).state_dict())
    groups = param_groups(model, spec.optim.weight_decay, spec.optim.layer_decay, spec.encoder.depth)
    train(model, FinetuneObjective(spec.recipe, spec.data.name, num_classes), load_dataset(spec.data, train=True),
          spec.optim, d, env, spec.seed, groups=groups, log_every=rt.log_every, save_every_s=rt.save_every_s,
          num_workers=spec.data.num_workers, desc=run.name)
    if env.is_main:
        atomic_save(model.encoder.state_dict(), d / "encoder.pt")
    return _evaluate(model, spec, d, env, rt)


def _probe(run: Run, d: Path, env: DistEnv, rt: RuntimeConfig, results_dir: Path, profile: str) -> dict:
    spec: ProbeSpec = run.spec
    torch.manual_seed(spec.seed)
    encoder = load_encoder(results_dir, profile, spec.init, spec.encoder)
    model = ProbeModel(encoder, NUM_CLASSES[spec.data.name], spec.recipe).to(env.device)
    train_set, test_set = load_dataset(spec.data, train=True), load_dataset(spec.data, train=False)
    if not spec.recipe.augment:
        train_set = cache_inputs(model, train_set, spec.data.name, rt.eval_batch_size, env.device)
        test_set = cache_inputs(model, test_set, spec.data.name, rt.eval_batch_size, env.device)
    train(model, probe_objective(spec.data.name, spec.recipe.augment), train_set, spec.optim, d, env, spec.seed,
          log_every=rt.log_every, save_every_s=rt.save_every_s, desc=run.name)
    if spec.recipe.augment:
        return _evaluate(model, spec, d, env, rt, test_set)
    model.eval()
    with torch.no_grad():
        preds = torch.cat([model(z.to(env.device)).argmax(-1).cpu() for z in test_set.images.split(rt.eval_batch_size)])
    return _accuracy(preds, test_set.labels, d, env)


EXECUTE = {"pretrain": _pretrain, "dino": _dino, "finetune": _finetune, "probe": _probe}


def execute(run: Run, results_dir: Path, profile: str, rt: RuntimeConfig) -> dict:
    """Run (or resume, or skip) one run in its directory; returns its result."""
    d = run_dir(results_dir, profile, run.name)
    state = run_state(d, run)
    if state == "done":
        return read_result(d)
    if rt.threads_per_job:
        torch.set_num_threads(rt.threads_per_job)
    env = init_distributed(rt.device)
    if env.is_main and state == "new":
        d.mkdir(parents=True, exist_ok=True)
        save_json(d / "config.json", {"name": run.name, "kind": run.kind, "hash": run.hash, "spec": identity(run.spec),
                                      "data_root": run.spec.data.root})
        (d / "config.hash").write_text(run.hash + "\n")
    start = time.time()
    result = EXECUTE[run.kind](run, d, env, rt, Path(results_dir), profile)
    if env.is_main:
        result.update(name=run.name, kind=run.kind, hash=run.hash, wall_s=time.time() - start,
                      device=str(env.device), world_size=env.world_size, threads=torch.get_num_threads())
        save_json(d / "result.json", result)
        (d / "checkpoints" / "last.pt").unlink(missing_ok=True)  # weights live on in encoder.pt / model.pt
        tmp = d / f".DONE.tmp{os.getpid()}"
        tmp.write_text(run.hash + "\n")
        os.replace(tmp, d / "DONE")
    return result


class JobRunner:
    """The callable submitit runs for every run; requeued on timeout/preemption, it resumes from last.pt."""

    def __call__(self, run: Run, results_dir: str, profile: str, rt: RuntimeConfig) -> dict:
        return execute(run, Path(results_dir), profile, rt)

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(JobRunner(), *args, **kwargs)

