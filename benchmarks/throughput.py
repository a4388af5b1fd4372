"""Pretraining throughput of a profile's model: images/s and achieved GFLOP/s (not a test).

    python benchmarks/throughput.py --profile mini                      # MAE, this machine's default threads
    python benchmarks/throughput.py --profile mini --threads 1 --kind lcmae
    python benchmarks/throughput.py --profile small --device cuda

FLOPs are counted by torch.utils.flop_counter (matmuls and attention) for one forward + backward step,
so GFLOP/s is what the matmul units achieved; elementwise work is not counted. img/s is the median of
--repeats timings of --steps steps, with min and max; a warning says when other processes kept the CPU busy
meanwhile (from /proc/stat, on Linux), since that understates the numbers (by up to 15x on a busy machine).
"""

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from maelab.models.lcmae import LCMAELosses
from maelab.pipeline.builders import pretrain
from maelab.pipeline.config import load_profile
from maelab.pipeline.runs import LCMAESpec, pretraining_model

BUSY_CORES = 0.5  # other processes using more than this many cores on average make a measurement suspect


def cpu_busy_s() -> float | None:
    """CPU-seconds every process on the machine has spent busy since boot (Linux /proc/stat); None elsewhere."""
    try:
        user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    except (OSError, ValueError):
        return None
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    """CPU-seconds this process (all its threads) has used."""
    t = os.times()
    return t.user + t.system


def timed(fn: Callable[[], None], repeats: int) -> tuple[list[float], float | None]:
    """Wall seconds of each of `repeats` calls of fn, and the cores other processes kept busy meanwhile (None: unknown)."""
    busy, own, start = cpu_busy_s(), own_cpu_s(), time.perf_counter()
    seconds = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - t)
    end_busy = cpu_busy_s()
    if busy is None or end_busy is None:
        return seconds, None
    return seconds, max(0.0, end_busy - busy - (own_cpu_s() - own)) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="mini")
    ap.add_argument(
        "--kind", default="mae", choices=["mae", "lcmae", "ae"], help="MAE, LC-MAE setting (a), or the unmasked AE(p)"
    )
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch-size", type=int, default=0, help="0: the profile's pretraining batch")
    ap.add_argument("--steps", type=int, default=10, help="steps per timing")
    ap.add_argument("--repeats", type=int, default=5, help="timings; img/s is their median")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    p = load_profile(args.profile)
    lcmae = LCMAESpec(LCMAELosses(), p.lcmae.projector_dim) if args.kind == "lcmae" else None
    extra = {"mask_ratio": 0.0, "target_block": p.encoder.patch_size} if args.kind == "ae" else {}
    spec = pretrain(p, 0, lcmae=lcmae, **extra)
    model = pretraining_model(spec).to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    B = args.batch_size or p.pretrain.batch_size
    e = p.encoder
    x = torch.randint(0, 256, (B, e.in_chans, e.img_size, e.img_size), dtype=torch.uint8, device=args.device)
    amp = args.device.startswith("cuda")

    def step() -> None:
        with torch.autocast(args.device.split(":")[0], dtype=torch.bfloat16, enabled=amp):
            loss, _ = model(x)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    for _ in range(2):
        step()
    if amp:
        torch.cuda.synchronize()

    def steps() -> None:
        for _ in range(args.steps):
            step()
        if amp:
            torch.cuda.synchronize()

    seconds, others = timed(steps, args.repeats)
    rates = sorted(B * args.steps / s for s in seconds)
    rate = statistics.median(rates)
    print(
        f"profile={p.name} kind={args.kind} device={args.device} threads={torch.get_num_threads()} batch={B}: "
        f"{rate:.0f} img/s (median of {len(rates)} x {args.steps} steps; min {rates[0]:.0f}, max {rates[-1]:.0f}), "
        f"{flops / 1e9:.2f} GFLOP/step, {flops * rate / B / 1e9:.1f} GFLOP/s achieved"
    )
    if others is None:
        print("note: cannot tell whether other processes used the CPU meanwhile (no /proc/stat)", file=sys.stderr)
    elif others > BUSY_CORES:
        print(
            f"warning: other processes kept {others:.1f} of {os.cpu_count()} CPU cores busy during the measurement, "
            "so these numbers are too low; rerun on an idle machine",
            file=sys.stderr,
        )


if __name__ == "__main__":
    main()
