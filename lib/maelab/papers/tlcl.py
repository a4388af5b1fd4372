"""TLCL wing: Zhang et al., *How Mask Matters: Towards Theoretical Understandings of Masked Autoencoders* read as
token-level contrastive learners (§4 theory, §6.1-6.4 experiments).

Runs: §6.3's three probes (LP: linear head; BN + LP: non-learnable BN then linear; partial FT: linear head and the
last block's qkv projection) with AdamW as the paper, on the bank's default MAE (every calibration seed), on random
init and on the supervised reference; §6.4's MAE with more heads at the same width, beside the default MAE.
"""

from dataclasses import replace

from ..pipeline.builders import default_mae_name, finetune, pretrain, probe, seeded, supervised_reference
from ..pipeline.config import Profile
from ..pipeline.runs import Run
from ..training.probe import ProbeConfig

PROBES = {"lp": ProbeConfig(head="linear"), "bnlp": ProbeConfig(head="bn_linear"), "pft": ProbeConfig(tune="last_qkv")}
PAPER_TABLE1 = {"cifar10": (64.4, 76.6, 83.3), "in1k": (48.0, 68.0, 69.3)}  # LP, BN+LP, partial FT (%)
PAPER_TABLE2 = {3: (64.4, 89.7), 6: (67.5, 90.2)}  # heads -> (LP without BN, FT) on CIFAR-10, ViT-Tiny


def probe_name(init: str, method: str) -> str:
    """§6.3's probe `method` (lp | bnlp | pft) of the encoder of run `init` ("random_init[_s<seed>]" for none)."""
    return f"{init}_tlcl_{method}"


def heads_name(p: Profile, heads: int, seed: int = 0) -> str:
    """§6.4's MAE with `heads` attention heads; the profile's head count is the default MAE."""
    return default_mae_name(p, seed) if heads == p.encoder.num_heads else seeded(f"mae_h{heads}", seed)


def _probes(p: Profile, init: Run | None, label: str, seed: int, methods=tuple(PROBES)) -> list[Run]:
    optim = replace(p.probe, optimizer="adamw", blr=p.tlcl.probe_blr, weight_decay=0.0)
    runs = []
    for method in methods:
        spec = probe(p, init, seed, recipe=replace(p.probe_recipe, head=PROBES[method].head, tune=PROBES[method].tune))
        runs.append(Run(probe_name(label, method), replace(spec, optim=optim)))
    return runs


def runs(p: Profile, seed: int) -> list[Run]:
    """The TLCL runs: probes of the bank's default MAE per calibration seed, of random init and of the supervised
    reference (§6.3), and the head-count ablation (§6.4)."""
    out = []
    if seed == p.seeds[0]:
        for s in p.calibration.seeds:
            mae = Run(default_mae_name(p, s), pretrain(p, s))
            out += _probes(p, mae, mae.name, s) + _probes(p, None, seeded("random_init", s), s)
        for ref in supervised_reference(p):
            out += _probes(p, ref, ref.name, 0)
    for heads in p.tlcl.head_counts:
        name = heads_name(p, heads, seed)
        mae = Run(name, pretrain(p, seed))
        if heads != p.encoder.num_heads:
            spec = pretrain(p, seed)
            mae = Run(name, replace(spec, model=replace(spec.model, encoder=replace(p.encoder, num_heads=heads))))
            out += [mae, Run(f"{name}_ft", finetune(p, mae, seed))]
        out += _probes(p, mae, name, seed, methods=("lp",))
    return list({r.name: r for r in out}.values())
