from pathlib import Path

import pytest

from maelab.papers import hlvm, lcmae
from maelab.papers.lcmae import TABLE1
from maelab.pipeline.builders import default_mae_name
from maelab.pipeline.config import load_profile
from maelab.pipeline.registry import PAPERS, all_runs
from maelab.pipeline.runs import load_run

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", ["smoke", "mini", "small", "paper"])
def test_runs_are_unique_and_dependencies_declared(name):
    runs = all_runs(load_profile(name))
    names = [r.name for r in runs]
    assert len(names) == len(set(names))
    for r in runs:
        assert set(r.deps) <= set(names), r.name


def test_lcmae_runs_cover_every_experiment():
    p = load_profile("smoke")
    names = {r.name for r in all_runs(p, ("lcmae",))}
    assert {f"lcmae_t1_{s}{e}" for s in TABLE1 for e in ("", "_ft", "_lp")} <= names
    assert {f"mae_r{r:g}" for r in p.lcmae.mask_ratios} <= names
    assert {
        "mae_dec_weighted_average_ft",
        "mae_dec_conv_ft",
        "mae_single_image_ft",
        "scratch_ft",
        "random_init_lp",
        "dino_ref_lp",
    } <= names
    assert {f"ae_b{b}_ft" for b in p.lcmae.ae_blocks} <= names


def test_mini_skips_the_ablation_finetunes_but_keeps_their_gates_and_small_keeps_them():
    """lcmae.ablation_finetune: false at mini drops every ablation's `_ft` (and the decoder / single-image pretrainings,
    read only by finetuning claims), keeps the probes and the ablation schedule's finetuning gate (mae_short_ft vs
    scratch_ft), and changes no other run; small (the default, true) finetunes every ablation."""
    mini = load_profile("mini")
    assert not lcmae.ablation_finetuned(mini)
    runs = {r.name: r.hash for r in all_runs(mini, ("lcmae",))}
    ablations = [f"lcmae_t1_{s}" for s in TABLE1] + [f"ae_b{b}" for b in mini.lcmae.ae_blocks]
    assert not {f"{a}_ft" for a in ablations} & set(runs)
    assert {f"{a}{e}" for a in ablations for e in ("", "_lp")} <= set(runs)
    assert {"mae_short", "mae_short_ft", "mae_short_lp", "scratch_ft"} <= set(runs)
    assert not {n for n in runs if n.startswith(("mae_dec_", "mae_single_image"))}
    on = {r.name: r.hash for r in all_runs(load_profile("mini", ["lcmae.ablation_finetune=true"]), ("lcmae",))}
    assert runs.items() <= on.items()  # the same runs with the same configs, plus the ablation finetunes
    assert set(on) - set(runs) == {f"{a}_ft" for a in ablations} | {
        "mae_dec_weighted_average",
        "mae_dec_weighted_average_ft",
        "mae_dec_conv",
        "mae_dec_conv_ft",
        "mae_single_image",
        "mae_single_image_ft",
    }
    small = load_profile("small")
    assert lcmae.ablation_finetuned(small)
    names = {r.name for r in all_runs(small, ("lcmae",))}
    ablations = [f"lcmae_t1_{s}" for s in TABLE1] + [f"ae_b{b}" for b in small.lcmae.ae_blocks]
    assert {f"{a}_ft" for a in ablations} | {"mae_dec_weighted_average_ft", "mae_dec_conv_ft", "mae_single_image_ft"} <= names


def test_table1_settings_are_configurations_of_one_pretraining():
    runs = {r.name: r for r in all_runs(load_profile("smoke"), ("lcmae",))}
    specs = [runs[f"lcmae_t1_{s}"].spec for s in TABLE1]
    assert len({(s.model, s.optim, s.data) for s in specs}) == 1  # same model, budget and data
    assert [s.lcmae.losses for s in specs] == [TABLE1[s][0] for s in TABLE1]


def test_autoencoders_have_no_masking_and_block_targets():
    p = load_profile("smoke")
    runs = {r.name: r for r in all_runs(p, ("lcmae",))}
    for b in p.lcmae.ae_blocks:
        m = runs[f"ae_b{b}"].spec.model
        assert m.mask_ratio == 0.0 and m.target_block == b


def test_a_finetune_depends_on_its_pretraining_hash():
    p = load_profile("smoke")
    base = {r.name: r for r in all_runs(p, ("lcmae",))}
    changed = {r.name: r for r in all_runs(load_profile("smoke", ["pretrain.blr=1e-3"]), ("lcmae",))}
    assert base["mae_r0.75_ft"].hash != changed["mae_r0.75_ft"].hash
    assert base["scratch_ft"].hash == changed["scratch_ft"].hash


def test_mini_runs_rebuild_from_their_committed_configs():
    """Every committed results/mini run is one the registry declares (no stale run), with the same config hash, and its
    config.json rebuilds to exactly the declared spec (so readers never re-plan the profile). A declared run not
    committed yet is one the notebooks report as not finished."""
    runs = {r.name: r for r in all_runs(load_profile("mini"))}
    committed = sorted(d.name for d in (REPO / "results/mini/runs").iterdir() if (d / "DONE").exists())
    assert committed and set(committed) <= set(runs), set(committed) - set(runs)
    for name in committed:
        assert load_run(REPO / "results", "mini", name) == runs[name]


def test_shared_runs_are_declared_once_across_papers():
    """Each paper alone declares a subset of all runs with the same configs; the bank's default MAE is one run that
    LC-MAE, TLCL and the calibration all read; HLVM's grid has runs of its own on the synthetic dataset."""
    p = load_profile("mini")
    everything = {r.name: r.hash for r in all_runs(p)}
    per_paper = {paper: {r.name: r.hash for r in all_runs(p, (paper,))} for paper in PAPERS}
    for runs in per_paper.values():
        assert runs.items() <= everything.items()
    assert set().union(*per_paper.values()) == set(everything)
    bank = default_mae_name(p)
    assert all(bank in runs for runs in per_paper.values())  # the calibration runs come with every selection
    assert {"mae_h4", "mae_r0.75_tlcl_pft", "supervised_ref_tlcl_bnlp"} <= set(per_paper["tlcl"]) - set(per_paper["lcmae"])
    hlvm_own = set(per_paper["hlvm"]) - set(per_paper["lcmae"])
    assert {run.name for run in hlvm.grid(p).values()} == hlvm_own
    assert default_mae_name(load_profile("smoke", ["masking.mask_ratio=0.6"])) == "mae_r0.6"


def test_hlvm_grid_decouples_the_mask_unit_from_the_patch():
    """App. C.1: units at ratio 0.75 keep the ViT patch; the coupled design sets patch = unit; a unit equal to the
    patch is the plain MAE mask (mask_unit None), so the decoupled unit-4 run and the coupled patch-4 run are one run."""
    p = load_profile("mini")
    g = hlvm.grid(p)
    assert g[("unit", 16)].spec.model.encoder.patch_size == 4 and g[("unit", 16)].spec.model.mask_unit == 16
    assert g[("coupled", 16)].spec.model.encoder.patch_size == 16 and g[("coupled", 16)].spec.model.mask_unit is None
    assert g[("coupled", 4)] == g[("unit", 4)]
    assert g[("ratio", 0.75)] == g[("unit", 8)]
    assert g[("border", 2)].spec.model.loss_ignore_border == 2 and g[("border", 2)].hash != g[("unit", 8)].hash
    assert {r.spec.data.name for r in g.values()} == {"hierarchical"} and g[("ratio", 0.1)].spec.model.encoder.img_size == 32


def test_unknown_paper():
    with pytest.raises(ValueError, match="unknown paper"):
        all_runs(load_profile("smoke"), ("mae",))
