"""The HLVM §3 grid (App. C.1) at a profile's scale, on the dataset of [hlvm] (the synthetic hierarchical one at mini).

- mask ratios at the base mask unit, and mask units at ratio 0.75, with the ViT patch fixed (`grid_name`): the
  paper's decoupled design, where the mask unit is a multiple of the patch;
- the original MAE's coupled design, ViT patch = mask unit (`coupled_name`; App. Table 4/5);
- §3.6's suggestion, a loss without the masked pixels next to visible ones, at the base setting (`border_name`).

The Fashion-MNIST ratio sweep of the checkpoint bank (builders.ratio_sweep) is read beside it where a real-image
version is meaningful (§3.1, §3.3). Where the grid trains on the profile's own data (`paper`: ImageNet), each encoder
also gets its linear probe `<run>_lp` (`probes`), the IN1K probe that §3.3's Table 1 and §3.4's Table 2 score.
"""

from dataclasses import replace

from ...pipeline.builders import default_mae_name, pretrain, probe, seeded
from ...pipeline.config import Profile
from ...pipeline.runs import PretrainSpec, Run


def grid_name(ratio: float, unit: int, seed: int = 0) -> str:
    return seeded(f"hlvm_r{ratio:g}_u{unit}", seed)


def coupled_name(patch: int, seed: int = 0) -> str:
    return seeded(f"hlvm_coupled_p{patch}", seed)


def border_name(width: int, seed: int = 0) -> str:
    return seeded(f"hlvm_border{width}", seed)


def _pretrain(p: Profile, seed: int, patch: int, ratio: float, unit: int, **kw) -> PretrainSpec:
    h = p.hlvm
    data = replace(p.data, name=h.dataset or p.data.name, img_size=h.img_size or p.data.img_size, train_subset=h.train_subset)
    encoder = replace(p.encoder, img_size=data.img_size, patch_size=patch)
    optim = replace(p.pretrain, epochs=h.epochs, warmup_epochs=h.warmup_epochs) if h.epochs else p.pretrain
    spec = pretrain(p, seed, optim=optim, data=data, mask_ratio=ratio, mask_unit=None if unit == patch else unit, **kw)
    return replace(spec, model=replace(spec.model, encoder=encoder))


def grid(p: Profile, seed: int = 0) -> dict[tuple[str, float], Run]:
    """(axis, value) -> run, axis in {"ratio", "unit", "coupled", "border", "seed"} ("seed": the base setting, ratio
    0.75 at the base unit, with another seed, for the noise floor). A setting that is the bank's default MAE
    (at paper scale: the coupled patch 16 on the profile's data) is that run, under its name."""
    h = p.hlvm
    specs = {
        ("ratio", r): (grid_name(r, h.base_unit, seed), _pretrain(p, seed, h.patch_size, r, h.base_unit))
        for r in h.mask_ratios
    }
    specs |= {("unit", u): (grid_name(0.75, u, seed), _pretrain(p, seed, h.patch_size, 0.75, u)) for u in h.mask_units}
    specs |= {("coupled", c): (coupled_name(c, seed), _pretrain(p, seed, c, 0.75, c)) for c in h.coupled_patches}
    specs |= {
        ("border", w): (border_name(w, seed), _pretrain(p, seed, h.patch_size, 0.75, h.base_unit, loss_ignore_border=w))
        for w in h.border_widths
    }
    if seed == p.seeds[0]:
        specs |= {
            ("seed", s): (grid_name(0.75, h.base_unit, s), _pretrain(p, s, h.patch_size, 0.75, h.base_unit))
            for s in h.noise_seeds
        }
    bank = pretrain(p, seed)
    names_of: dict[PretrainSpec, str] = {bank: default_mae_name(p, seed)}
    return {key: Run(names_of.setdefault(spec, name), spec) for key, (name, spec) in specs.items()}


def base_seeds(p: Profile, seed: int = 0) -> dict[tuple[str, float], Run]:
    """The base setting (ratio 0.75 at the base unit) at every pretraining seed of the grid, its own run first, then
    `grid`'s ("seed", s) runs (hlvm.noise_seeds): the replicates of every synthetic seed noise floor."""
    g = grid(p, seed)
    base = ("ratio", 0.75) if ("ratio", 0.75) in g else ("unit", p.hlvm.base_unit)
    return {key: run for key, run in g.items() if key == base or key[0] == "seed"}


def probes(p: Profile, seed: int = 0) -> dict[tuple[str, float], Run]:
    """(axis, value) -> the linear probe `<run>_lp` of that grid encoder on the profile's labelled data (its own
    encoder shape, the profile's [probe] recipe), where the grid trains on the profile's dataset at its image size;
    else empty (mini: the grid's synthetic images are not the profile's, and its notebooks probe them themselves)."""
    h = p.hlvm
    if h.dataset not in ("", p.data.name) or h.img_size not in (0, p.data.img_size):
        return {}
    return {
        key: Run(f"{run.name}_lp", replace(probe(p, run, run.spec.seed), encoder=run.spec.model.encoder))
        for key, run in grid(p, seed).items()
    }


def runs(p: Profile, seed: int) -> list[Run]:
    """Every run the HLVM notebooks read: the grid's pretrainings on the [hlvm] dataset (read as frozen encoders: no
    finetuning) and, where the grid trains on the profile's data, their linear probes."""
    return list({run.name: run for run in [*grid(p, seed).values(), *probes(p, seed).values()]}.values())
