"""The pipeline with cluster=local: runs finish, reruns skip, conflicts are refused, failures stay contained."""

import json
from dataclasses import replace

import pytest

from maelab.pipeline.config import ConfigError, load_profile
from maelab.pipeline.launch import launch, resolve_cluster, summarize, waves
from maelab.pipeline.registry import all_runs
from maelab.pipeline.runs import RunConflict, run_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def profile():
    return load_profile("smoke", ["runtime.local_parallelism=2"])


def pick(p, *names):
    runs = {r.name: r for r in all_runs(p, ("lcmae",))}
    return [runs[n] for n in names]


def test_waves_order_dependencies(profile):
    runs = pick(profile, "mae_r0.75_ft", "mae_r0.75", "mae_r0.75_lp", "scratch_ft")
    order = [[r.name for r in w] for w in waves(runs)]
    assert order == [["mae_r0.75", "scratch_ft"], ["mae_r0.75_ft", "mae_r0.75_lp"]]


def test_local_runs_skip_when_done_and_refuse_a_changed_config(profile, tmp_path):
    runs = pick(profile, "mae_r0.75", "mae_r0.75_lp")
    outcomes = launch(runs, profile, tmp_path, cluster="local")
    assert [o.status for o in outcomes] == ["done", "done"], summarize(outcomes)
    d = run_dir(tmp_path, "smoke", "mae_r0.75_lp")
    result = json.loads((d / "result.json").read_text())
    assert 0 <= result["accuracy"] <= 100 and result["total"] == 500
    assert (d / "DONE").read_text().strip() == runs[1].hash
    assert [p.suffix for p in sorted((d / "logs").iterdir())] == [".err", ".out"]
    assert launch(runs, profile, tmp_path, cluster="local") == []  # everything done: nothing submitted
    changed = pick(load_profile("smoke", ["pretrain.blr=1e-3"]), "mae_r0.75")
    with pytest.raises(RunConflict, match="different|config hash"):
        launch(changed, profile, tmp_path, cluster="local")


def test_a_failing_job_is_reported_with_its_own_error_and_blocks_only_its_dependents(profile, tmp_path, capsys):
    bad, bad_ft, good = pick(profile, "mae_r0.9", "scratch_ft", "random_init_lp")
    bad = replace(bad, spec=replace(bad.spec, optim=replace(bad.spec.optim, batch_size=100_000)))
    bad_ft = replace(bad_ft, name="mae_r0.9_ft", spec=replace(bad_ft.spec, init=bad.name, init_hash=bad.hash))
    outcomes = {o.name: o for o in launch([bad, bad_ft, good], profile, tmp_path, cluster="local")}
    assert outcomes["mae_r0.9"].status == "failed"
    assert outcomes["mae_r0.9"].error == "ValueError: batch_size=100000 is larger than the 256 training samples"
    assert outcomes["mae_r0.9"].log.endswith(".err")
    assert outcomes["mae_r0.9_ft"].status == "blocked"
    assert outcomes["random_init_lp"].status == "done"
    printed = capsys.readouterr().out  # each run as its job ends
    assert "[failed] mae_r0.9  ValueError: batch_size=100000" in printed and "[done] random_init_lp" in printed
    line = next(ln for ln in summarize(list(outcomes.values())).splitlines() if "failed: mae_r0.9" in ln)
    assert line.index("ValueError: batch_size") < line.index("log: ") and line.endswith(".err")


def test_missing_data_stops_before_anything_is_submitted(profile, tmp_path):
    (run,) = pick(profile, "mae_r0.9")
    run = replace(run, spec=replace(run.spec, data=replace(run.spec.data, root=str(tmp_path / "nowhere"))))
    with pytest.raises(ConfigError, match=r"nothing submitted: DatasetNotFound: .*nowhere/train-images.*Fix: .*--data-root"):
        launch([run], profile, tmp_path, cluster="local")
    assert not (tmp_path / "smoke").exists()


def test_dry_run_submits_nothing(profile, tmp_path, capsys):
    outcomes = launch(pick(profile, "mae_r0.75", "mae_r0.75_ft"), profile, tmp_path, cluster="local", dry_run=True)
    assert [o.status for o in outcomes] == ["planned", "planned"]
    assert "wave 1 (local, 1 runs): mae_r0.75_ft[finetune]" in capsys.readouterr().out
    assert not (tmp_path / "smoke").exists()


@pytest.mark.parametrize("sinfo_exit, expected", [(0, "slurm"), (1, "local")])
def test_auto_cluster_needs_a_controller_that_answers(tmp_path, monkeypatch, sinfo_exit, expected):
    for tool, code in (("sbatch", 0), ("sinfo", sinfo_exit)):  # Slurm's client packages without a slurm.conf: sinfo fails
        exe = tmp_path / tool
        exe.write_text(f"#!/bin/sh\nexit {code}\n")
        exe.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert resolve_cluster("auto") == expected
    with pytest.raises(ValueError, match="choose one of"):
        resolve_cluster("kubernetes")


def test_notebooks_reading_an_unfinished_run_get_the_command_that_makes_it(profile, tmp_path):
    from maelab.evaluation.analysis import results_table

    with pytest.raises(FileNotFoundError, match="--profile smoke --only runs"):
        results_table(tmp_path, profile, ["scratch_ft"])
