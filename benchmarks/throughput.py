"""Pretraining throughput of a profile's model: images/s and achieved GFLOP/s (not a test).

    python benchmarks/throughput.py --profile mini                      # MAE, this machine's default threads
    python benchmarks/throughput.py --profile mini --threads 1 --kind lcmae
    python benchmarks/throughput.py --profile small --device cuda

FLOPs are counted by torch.utils.flop_counter (matmuls and attention) for one forward + backward step,
so GFLOP/s is what the matmul units achieved; elementwise work is not counted.
"""

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from maelab.pipeline.config import load_profile
from maelab.pipeline.runs import LCMAESpec, pretraining_model
from maelab.models.lcmae import LCMAELosses
from maelab.pipeline.builders import pretrain


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="mini")
    ap.add_argument("--kind", default="mae", choices=["mae", "lcmae", "ae"], help="MAE, LC-MAE setting (a), or the unmasked AE(p)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch-size", type=int, default=0, help="0: the profile's pretraining batch")
    ap.add_argument("--steps", type=int, default=10)
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
    t = time.perf_counter()
    for _ in range(args.steps):
        step()
    if amp:
        torch.cuda.synchronize()
    dt = (time.perf_counter() - t) / args.steps
    print(f"profile={p.name} kind={args.kind} device={args.device} threads={torch.get_num_threads()} batch={B}: "
          f"{B / dt:.0f} img/s, {flops / 1e9:.2f} GFLOP/step, {flops / dt / 1e9:.1f} GFLOP/s achieved")


if __name__ == "__main__":
    main()
