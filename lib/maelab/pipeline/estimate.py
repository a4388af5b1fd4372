"""What a run will ask of a cluster, before it is submitted: its resource request and a FLOP-derived time.

FLOPs are counted by torch.utils.flop_counter (as benchmarks/throughput.py does; on the CPU it counts the linear
layers and convolutions but not the L^2 terms of fused attention, a few percent at these token counts) on a batch of
two images of each distinct model, once per dry run; a run's total is FLOPs per image times the
images it processes. Its time is that total over `runtime.achieved_tflops`, the throughput one job's devices
achieve together: a stated assumption until benchmarks/throughput.py has measured it on the cluster.
"""

import functools
import math
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from ..data.datasets import DATASETS, NUM_CLASSES, images_per_epoch
from ..models.vit import ViTEncoder
from ..training.finetune import ViTClassifier
from ..training.probe import ProbeModel
from .config import Profile
from .runs import FinetuneSpec, ProbeSpec, Run, encoder_config, pretraining_model


@dataclass(frozen=True)
class Estimate:
    name: str
    kind: str
    tflop: float  # total work of the run
    hours: float  # wall hours of one job at runtime.achieved_tflops
    device_hours: float  # hours x devices held (GPUs, or CPU jobs when there is no GPU)


def _count(step) -> float:
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops() / 2  # per image of the batch of two


def _keeps_torch_rng(count):
    """Building a model to count it draws from torch's global generator: give the caller's state back unchanged."""

    @functools.wraps(count)
    def wrapper(run: Run) -> float:
        with torch.random.fork_rng(devices=[]):
            return count(run)

    return wrapper


@_keeps_torch_rng
def flops_per_image(run: Run) -> float:
    """FLOPs of one training step per image (probe: one encoder forward; its head costs nothing in comparison)."""
    spec = run.spec
    enc = encoder_config(spec)
    x = torch.zeros(2, enc.in_chans, enc.img_size, enc.img_size, dtype=torch.uint8)
    if run.kind in ("pretrain", "dino"):
        model = pretraining_model(spec)
        return _count(lambda: model(x, torch.Generator().manual_seed(0))[0].backward())
    if isinstance(spec, FinetuneSpec):
        model = ViTClassifier(spec.encoder, NUM_CLASSES[spec.data.name])
        return _count(lambda: model(x.float()).sum().backward())
    encoder = ViTEncoder(spec.encoder)
    with torch.no_grad():
        return _count(lambda: encoder.forward_tokens(x.float()))


@_keeps_torch_rng
def tuned_flops_per_image(run: Run) -> float:
    """FLOPs of one step of a cached probe's trainable blocks per image (TLCL's partial FT trains the last block on
    the cached tokens entering it every step); 0 for a probe that trains its head only, or any other run."""
    spec = run.spec
    if not isinstance(spec, ProbeSpec) or spec.recipe.tune == "none" or spec.recipe.augment:
        return 0.0
    model = ProbeModel(ViTEncoder(spec.encoder), NUM_CLASSES[spec.data.name], spec.recipe)
    tokens = torch.zeros(2, 1 + spec.encoder.num_patches, spec.encoder.embed_dim)
    return _count(lambda: model.trainable(tokens).sum().backward())


def images_processed(run: Run) -> float:
    """Images one run pushes through its counted step: epochs x images per epoch (a probe without augmentation
    encodes its training and test images once), plus one forward over the test split after finetuning."""
    spec = run.spec
    train = spec.optim.epochs * images_per_epoch(spec.data)
    test = spec.data.test_subset or DATASETS[spec.data.name].test_size
    if isinstance(spec, ProbeSpec) and not spec.recipe.augment:
        return images_per_epoch(spec.data) + test
    return train + (test / 3 if isinstance(spec, FinetuneSpec) else 0)  # a forward is a third of a training step


def estimate(runs: list[Run], p: Profile) -> list[Estimate]:
    """One Estimate per run; FLOPs are counted once per distinct model."""
    per_model: dict[str, float] = {}
    devices = max(1, p.slurm.nodes * p.slurm.gpus_per_node) if p.runtime.device != "cpu" else 1
    out = []
    for run in runs:
        key = repr(
            (
                run.kind,
                getattr(run.spec, "model", None),
                getattr(run.spec, "encoder", None),
                getattr(run.spec, "dino", None),
                getattr(run.spec, "recipe", None),
            )
        )
        if key not in per_model:
            per_model[key] = (flops_per_image(run), tuned_flops_per_image(run))
        counted, tuned = per_model[key]
        tflop = (counted * images_processed(run) + tuned * run.spec.optim.epochs * images_per_epoch(run.spec.data)) / 1e12
        hours = tflop / p.runtime.achieved_tflops / 3600
        out.append(Estimate(run.name, run.kind, tflop, hours, hours * devices))
    return out


def describe(estimates: list[Estimate], p: Profile) -> str:
    """The resource request of one job and each run's estimate, then the total, as printed by a dry run."""
    s, gpu = p.slurm, p.runtime.device != "cpu"
    unit = "GPU-hours" if gpu else "job-hours"
    request = (
        f"each job: {s.nodes} node(s) x {s.gpus_per_node} GPU(s), {s.tasks_per_node} task(s) x {s.cpus_per_task} CPUs, "
        f"time limit {s.timeout_min} min (SLURM); estimates assume {p.runtime.achieved_tflops:g} TFLOP/s achieved "
        f"per job (runtime.achieved_tflops; measure it with benchmarks/throughput.py)"
    )
    lines = [request]
    for e in estimates:
        attempts = math.ceil(e.hours * 60 / s.timeout_min) if e.hours else 1
        note = f", {attempts - 1} requeue(s) at the time limit" if attempts > 1 else ""
        if attempts - 1 > s.max_num_timeout:
            note += f" > slurm.max_num_timeout={s.max_num_timeout}: raise it"
        lines.append(
            f"  {e.name:28s} {e.kind:9s} {e.tflop:10.4g} TFLOP  {e.hours * 60:9.3g} min  {e.device_hours:9.3g} {unit}{note}"
        )
    total = sum(e.device_hours for e in estimates)
    lines.append(f"total: {len(estimates)} runs, {sum(e.tflop for e in estimates):.4g} TFLOP, about {total:.3g} {unit}")
    return "\n".join(lines)
