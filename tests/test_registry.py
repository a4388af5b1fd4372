from pathlib import Path

import pytest

from maelab.papers.lcmae import TABLE1
from maelab.pipeline.builders import default_mae_name
from maelab.pipeline.config import load_profile
from maelab.pipeline.registry import all_runs
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
    """The committed results/mini runs are what the registry declares: same names, same config hashes, and each
    config.json rebuilds to exactly the declared spec (so readers never re-plan the profile)."""
    runs = all_runs(load_profile("mini"))
    assert sorted(r.name for r in runs) == sorted(d.name for d in (REPO / "results/mini/runs").iterdir())
    for r in runs:
        assert load_run(REPO / "results", "mini", r.name) == r


def test_shared_runs_are_declared_once_across_papers():
    p = load_profile("smoke")
    lcmae_runs = {r.name: r.hash for r in all_runs(p, ("lcmae",))}
    assert {r.name: r.hash for r in all_runs(p)} == lcmae_runs  # HLVM and TLCL declare no runs of their own yet
    assert (
        default_mae_name(p) in lcmae_runs and default_mae_name(load_profile("smoke", ["masking.mask_ratio=0.6"])) == "mae_r0.6"
    )


def test_unknown_paper():
    with pytest.raises(ValueError, match="unknown paper"):
        all_runs(load_profile("smoke"), ("mae",))
