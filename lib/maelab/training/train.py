"""One training loop for every objective (MAE, LC-MAE, DINO, finetuning, partial finetuning).

An objective is `objective(model, images_uint8, labels, generator) -> (loss, logs)`; it does its own
augmentation with `generator`. The loop owns the schedule, mixed precision, DDP, logging (tqdm +
JSON lines) and checkpoints. A checkpoint holds model, optimizer, grad scaler, step, every RNG
state (torch, CUDA, numpy, python, the augmentation generator), the logging interval's partial sums,
the last logged values and the training time so far; the data order is a function of (seed, epoch),
so resuming from step k replays exactly the run that was not interrupted, its log included.
SIGINT or SIGTERM during the loop saves a checkpoint after the current step (under DDP: at the next
logging step, where the ranks agree) and raises Interrupted; a rerun resumes there.
If the model defines `before_optimizer_step(step, total)` / `after_optimizer_step(step, total)`,
they are called around each optimizer step (DINO: freeze the last layer, EMA teacher).
"""

import json
import math
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from tqdm import tqdm

from ..data.datasets import ImageTensors, epoch_batches, iterate
from .checkpoint import atomic_save, load_if_readable, rng_state, set_rng_state
from .distributed import DistEnv, all_reduce_mean
from .optim import OptimConfig, build_optimizer, lr_at, param_groups, set_lr

Objective = Callable[[nn.Module, torch.Tensor, torch.Tensor, torch.Generator], tuple[torch.Tensor, dict[str, torch.Tensor]]]


def schedule_steps(num_samples: int, cfg: OptimConfig) -> tuple[int, int, int]:
    """(steps per epoch, total steps, warmup steps) for a global batch of cfg.batch_size."""
    per_epoch = num_samples // cfg.batch_size
    if per_epoch == 0:
        raise ValueError(f"batch_size={cfg.batch_size} is larger than the {num_samples} training samples")
    return per_epoch, max(1, round(cfg.epochs * per_epoch)), round(cfg.warmup_epochs * per_epoch)


class Interrupted(Exception):
    """SIGINT/SIGTERM stopped training after a checkpoint was saved; a rerun resumes from it."""


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after `step` (work lost since the last checkpoint is redone), and a last line cut
    short by a kill mid-write."""
    if not path.exists():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # lines are appended whole, one per logging step: only a kill mid-write cuts one short
        if record["step"] <= step:
            kept.append(line)
    path.write_text("".join(line + "\n" for line in kept))


@contextmanager
def stop_requests():
    """Inside: SIGINT and SIGTERM set `.signum` of the yielded object instead of stopping the process.

    Off the main thread (where Python delivers no signals) the object is never set.
    """
    request = type("StopRequest", (), {"signum": 0})()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}

    def handler(signum, frame):
        request.signum = signum

    for s in previous:
        signal.signal(s, handler)
    try:
        yield request
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train(
    model: nn.Module,
    objective: Objective,
    dataset: ImageTensors | torch.utils.data.Dataset,
    cfg: OptimConfig,
    run_dir: Path,
    env: DistEnv,
    seed: int,
    groups: list[dict] | None = None,
    amp_dtype: torch.dtype | None = torch.bfloat16,
    log_every: int = 20,
    save_every_s: float = 600.0,
    stop_after: int | None = None,
    num_workers: int = 0,
    desc: str = "train",
    snapshot_epochs: tuple[float, ...] = (),
    snapshot: Callable[[float], None] | None = None,
) -> dict[str, float]:
    """Train to cfg.epochs (or until step stop_after, then checkpoint and return).

    snapshot(epoch) is called on rank 0 right after the optimizer step that completes each of snapshot_epochs
    (rounded to a step, inside the schedule): a learning curve's checkpoints, written before any checkpoint after it.

    Returns the last logged values (means over the logging interval and over processes), on every rank, also
    when a resumed run had already reached its last step. Raises Interrupted after SIGINT/SIGTERM (checkpoint saved).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path, log_path = run_dir / "checkpoints" / "last.pt", run_dir / "metrics.jsonl"
    dev = env.device
    amp_dtype = amp_dtype if dev.type == "cuda" else None
    model.to(dev)
    optimizer = build_optimizer(groups if groups is not None else param_groups(model, cfg.weight_decay), cfg)
    scaler = torch.amp.GradScaler(dev.type, enabled=amp_dtype == torch.float16)
    generator = torch.Generator(dev).manual_seed(seed * 1000 + env.rank)
    torch.manual_seed(seed + env.rank)
    step, count, sums, last, elapsed = 0, 0, {}, {}, 0.0
    state = load_if_readable(ckpt_path, dev)
    if state:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        mine = state["rank_states"][env.rank % len(state["rank_states"])]  # exact only with the same world size
        set_rng_state(mine["rng"])
        generator.set_state(mine["generator"].cpu())
        # checkpoints written before the log state was kept were saved at logging steps, where the sums are empty
        step, count, sums = state["step"], state.get("count", 0), mine.get("sums", {})
        last, elapsed = state.get("last", {}), state.get("elapsed_s", 0.0)
        if env.is_main:
            print(f"{desc}: resumed from step {step} ({ckpt_path})", flush=True)
    if env.is_main:
        truncate_log(log_path, step)  # from scratch: an earlier attempt's lines go too
    net = model
    if env.world_size > 1:
        net = DistributedDataParallel(model, device_ids=[dev.index] if dev.type == "cuda" else None)
    per_epoch, total, warmup = schedule_steps(len(dataset), cfg)
    snapshot_at = {round(e * per_epoch): e for e in snapshot_epochs if 0 < round(e * per_epoch) < total}
    local_bs = cfg.batch_size // env.world_size
    hooks_before = getattr(model, "before_optimizer_step", None)
    hooks_after = getattr(model, "after_optimizer_step", None)
    last_save, t0 = time.time(), time.time() - elapsed  # elapsed_s adds up over attempts

    def save() -> None:
        """Collective: every rank contributes its RNG states and partial log sums; rank 0 writes."""
        mine = {"rng": rng_state(), "generator": generator.get_state(), "sums": {k: v.cpu() for k, v in sums.items()}}
        rank_states = [mine]
        if env.world_size > 1:
            rank_states = [None] * env.world_size
            dist.all_gather_object(rank_states, mine)
        if env.is_main:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict(),
                "rank_states": rank_states,
                "step": step,
                "count": count,
                "last": last,
                "elapsed_s": time.time() - t0,
            }
            atomic_save(state, ckpt_path)

    def save_or_stop(stop) -> tuple[bool, bool]:
        """(save now, stop now). Rank 0's clock decides saves, at logging steps; a signal on any rank stops all ranks:
        at once in a single process, at the next logging step under DDP (collectives need every rank)."""
        at_log_step = step % log_every == 0
        due = at_log_step and env.is_main and time.time() - last_save > save_every_s
        if env.world_size == 1:
            return due, bool(stop.signum)
        if not at_log_step:
            return False, False
        flags = torch.tensor([float(due), float(bool(stop.signum))], device=dev)
        dist.all_reduce(flags, op=dist.ReduceOp.MAX)
        return bool(flags[0]), bool(flags[1])

    bar = tqdm(total=total, initial=step, desc=desc, disable=not env.is_main, mininterval=1 if sys.stderr.isatty() else 30)
    net.train()
    with stop_requests() as stop:
        while step < total:
            epoch = step // per_epoch
            batches = epoch_batches(len(dataset), local_bs, seed, epoch, env.rank, env.world_size)
            for images, labels in iterate(dataset, batches[step - epoch * per_epoch :], num_workers):
                set_lr(optimizer, lr_at(step, total, warmup, cfg.lr, cfg.min_lr))
                with torch.autocast(dev.type, dtype=amp_dtype or torch.float32, enabled=amp_dtype is not None):
                    images, labels = images.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
                    loss, logs = objective(net, images, labels, generator)
                if not math.isfinite(loss.item()):
                    raise FloatingPointError(
                        f"{desc}: loss is {loss.item()} at step {step}; stopping (checkpoint kept at step of last save)"
                    )
                scaler.scale(loss).backward()
                if cfg.clip_grad:
                    scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), cfg.clip_grad)
                if hooks_before:
                    hooks_before(step, total)
                scaler.step(optimizer)
                scaler.update()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                if hooks_after:
                    hooks_after(step, total)
                if step in snapshot_at and snapshot and env.is_main:
                    snapshot(snapshot_at[step])
                for k, v in {"loss": loss, **logs}.items():
                    sums[k] = sums.get(k, 0) + v.detach().float()
                count += 1
                bar.update()
                if step % log_every == 0 or step == total:
                    means = all_reduce_mean(torch.stack(list(sums.values())) / count)  # every rank gets the same values
                    last = dict(zip(sums, means.tolist()))
                    if env.is_main:
                        record = {
                            "step": step,
                            "epoch": step / per_epoch,
                            "lr": optimizer.param_groups[0]["lr"],
                            **last,
                            "elapsed_s": time.time() - t0,
                        }
                        with open(log_path, "a") as f:
                            f.write(json.dumps(record) + "\n")
                        bar.set_postfix(loss=f"{last['loss']:.4f}")
                    sums, count = {}, 0
                if step == total:
                    break
                due, halt = save_or_stop(stop)
                if step == stop_after or due or halt:
                    save()
                    last_save = time.time()
                if halt:
                    bar.close()
                    name = signal.Signals(stop.signum).name
                    raise Interrupted(
                        f"{desc}: {name} at step {step} of {total}; checkpoint saved to {ckpt_path}, rerun to resume"
                    )
                if step == stop_after:
                    break
            if step == stop_after:
                break
    bar.close()
    if step == total:
        save()
    return last
