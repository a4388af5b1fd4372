"""How one run executes in its directory (pipeline/runs.py says what a run is and where its files live).

A rerun skips a finished run, resumes one with a checkpoint, and refuses a directory whose hash differs.
`JobRunner` is the one callable every submitit job runs; on timeout or preemption submitit calls its
`checkpoint()`, which requeues it to resume from checkpoints/last.pt.
"""

import os
import time
from pathlib import Path

import numpy as np
import torch

from ..data.datasets import NUM_CLASSES, load_dataset
from ..evaluation.claims import save_json
from ..models.vit import ViTEncoder
from ..training.checkpoint import atomic_save, trained_seconds
from ..training.distributed import DistEnv, init_distributed
from ..training.finetune import FinetuneObjective, ViTClassifier, predict
from ..training.optim import param_groups
from ..training.probe import ProbeModel, cache_inputs, probe_objective
from ..training.train import train
from .config import RuntimeConfig, identity
from .runs import (
    DinoSpec,
    EvalSpec,
    FinetuneSpec,
    PretrainSpec,
    ProbeSpec,
    Run,
    load_encoder,
    pretraining_model,
    read_result,
    run_dir,
    run_state,
    snapshot_file,
)


class Job:
    """One run being executed: its directory, process group and runtime settings."""

    def __init__(self, run: Run, results_dir: Path, profile: str, rt: RuntimeConfig, env: DistEnv):
        self.run, self.results_dir, self.profile, self.rt, self.env = run, Path(results_dir), profile, rt, env
        self.dir = run_dir(results_dir, profile, run.name)

    def train(self, model: torch.nn.Module, objective, dataset, groups: list[dict] | None = None, snapshot=None) -> dict:
        spec = self.run.spec
        return train(
            model,
            objective,
            dataset,
            spec.optim,
            self.dir,
            self.env,
            spec.seed,
            groups=groups,
            log_every=self.rt.log_every,
            save_every_s=self.rt.save_every_s,
            num_workers=spec.data.num_workers,
            desc=self.run.name,
            snapshot_epochs=self.rt.snapshot_epochs if snapshot else (),
            snapshot=snapshot,
        )

    def save(self, obj: object, file: str) -> None:
        if self.env.is_main:
            atomic_save(obj, self.dir / file)

    def accuracy(self, preds: torch.Tensor, labels: torch.Tensor) -> dict:
        """Accuracy (%) and counts; rank 0 keeps the per-image predictions for paired comparisons."""
        correct = int((preds == labels).sum())
        if self.env.is_main:
            np.savez_compressed(self.dir / "predictions.npz", pred=preds.numpy(), label=labels.numpy())
        return {"accuracy": 100.0 * correct / len(labels), "correct": correct, "total": len(labels)}

    def init(self, encoder: ViTEncoder, spec: EvalSpec) -> ViTEncoder:
        """Load the encoder.pt of the run named by spec.init into `encoder` (random init when there is none)."""
        if spec.init:
            encoder.load_state_dict(load_encoder(self.results_dir, self.profile, spec.init).state_dict())
        return encoder


def _pretrain(job: Job) -> dict:
    """MAE, LC-MAE and DINO: every pretraining model maps (uint8 images, generator) -> (loss, logs)."""
    spec: PretrainSpec | DinoSpec = job.run.spec
    torch.manual_seed(spec.seed)
    model = pretraining_model(spec)
    data = load_dataset(spec.data, train=True, crop=not getattr(model, "crops_itself", False))
    last = job.train(
        model,
        lambda net, x, y, gen: net(x, gen),
        data,
        snapshot=lambda epoch: job.save(model.encoder.state_dict(), snapshot_file(epoch)),
    )
    job.save(model.encoder.state_dict(), "encoder.pt")
    job.save(model.state_dict(), "model.pt")
    return {"final": last}


def _finetune(job: Job) -> dict:
    spec: FinetuneSpec = job.run.spec
    torch.manual_seed(spec.seed)
    num_classes = NUM_CLASSES[spec.data.name]
    model = ViTClassifier(spec.encoder, num_classes, spec.recipe.global_pool, spec.recipe.drop_path)
    job.init(model.encoder, spec)
    groups = param_groups(model, spec.optim.weight_decay, spec.optim.layer_decay, spec.encoder.depth)
    objective = FinetuneObjective(spec.recipe, spec.data.name, num_classes)
    job.train(model, objective, load_dataset(spec.data, train=True), groups)
    job.save(model.encoder.state_dict(), "encoder.pt")
    test = load_dataset(spec.data, train=False)
    return job.accuracy(*predict(model, test, spec.data.name, job.rt.eval_batch_size, job.env.device))


def _probe(job: Job) -> dict:
    """Frozen encoder + head; the whole probe is kept (probe.pt) so other test splits can be scored later."""
    spec: ProbeSpec = job.run.spec
    torch.manual_seed(spec.seed)
    model = ProbeModel(job.init(ViTEncoder(spec.encoder), spec), NUM_CLASSES[spec.data.name], spec.recipe).to(job.env.device)
    train_set, test_set = load_dataset(spec.data, train=True), load_dataset(spec.data, train=False)
    if not spec.recipe.augment:
        train_set, test_set = (
            cache_inputs(model, s, spec.data.name, job.rt.eval_batch_size, job.env.device) for s in (train_set, test_set)
        )
    job.train(model, probe_objective(spec.data.name, spec.recipe.augment), train_set)
    job.save(model.state_dict(), "probe.pt")
    if spec.recipe.augment:
        return job.accuracy(*predict(model, test_set, spec.data.name, job.rt.eval_batch_size, job.env.device))
    model.eval()
    with torch.no_grad():
        batches = test_set.images.split(job.rt.eval_batch_size)
        preds = torch.cat([model(z.to(job.env.device)).argmax(-1).cpu() for z in batches])
    return job.accuracy(preds, test_set.labels)


EXECUTE = {"pretrain": _pretrain, "dino": _pretrain, "finetune": _finetune, "probe": _probe}


def execute(run: Run, results_dir: Path, profile: str, rt: RuntimeConfig) -> dict:
    """Run (or resume, or skip) one run in its directory; returns its result.

    Files are written so that a kill at any point leaves a state run_state reads right: config first, DONE after
    result.json and the weights, the checkpoint removed last. wall_s adds the training time earlier attempts left
    in the checkpoint to this attempt's.
    """
    d = run_dir(results_dir, profile, run.name)
    state = run_state(d, run)
    if state == "done":
        return read_result(d)
    if rt.threads_per_job:
        torch.set_num_threads(rt.threads_per_job)
    env = init_distributed(rt.device)
    ckpt = d / "checkpoints" / "last.pt"
    earlier_s = trained_seconds(ckpt)
    if env.is_main:
        (d / "DONE").unlink(missing_ok=True)  # a rebuild, or a DONE beside a result.json or artifact that is damaged
        d.mkdir(parents=True, exist_ok=True)
        save_json(
            d / "config.json",
            {
                "name": run.name,
                "kind": run.kind,
                "hash": run.hash,
                "spec": identity(run.spec),
                "data_root": run.spec.data.root,
            },
        )
        (d / "config.hash").write_text(run.hash + "\n")
    start = time.time()
    result = EXECUTE[run.kind](Job(run, results_dir, profile, rt, env))
    if env.is_main:
        result.update(
            name=run.name,
            kind=run.kind,
            hash=run.hash,
            wall_s=earlier_s + time.time() - start,
            device=str(env.device),
            world_size=env.world_size,
            threads=torch.get_num_threads(),
        )
        save_json(d / "result.json", result)
        tmp = d / f".DONE.tmp{os.getpid()}"
        tmp.write_text(run.hash + "\n")
        os.replace(tmp, d / "DONE")
        ckpt.unlink(missing_ok=True)  # weights live on in encoder.pt / model.pt / probe.pt
    return result


class JobRunner:
    """The callable submitit runs for every run; requeued on timeout/preemption, it resumes from last.pt."""

    def __call__(self, run: Run, results_dir: str, profile: str, rt: RuntimeConfig) -> dict:
        return execute(run, Path(results_dir), profile, rt)

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(JobRunner(), *args, **kwargs)
