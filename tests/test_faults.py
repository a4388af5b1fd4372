"""Fault injection on tiny smoke runs: kill a job at the points that matter, damage each kind of run file, delete
weights under DONE, change the profile under a finished run. After each, the rerun must lose nothing finished,
report nothing stale as current, name the file and the fix in every error, keep the metrics log free of repeated
steps, and end bitwise equal to a run that was never disturbed (CPU, one thread: the loop is deterministic).

Kills run in a child process (`DRIVER`) that patches one function to SIGKILL (or SIGTERM) itself at the chosen
point; reruns and damage run in-process through the same `execute` every job runs.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from maelab.evaluation.analysis import cached, finished_result, predictions
from maelab.pipeline.config import load_profile
from maelab.pipeline.jobs import execute
from maelab.pipeline.launch import pending
from maelab.pipeline.registry import all_runs
from maelab.pipeline.runs import RunConflict, RunNotReady, load_encoder, run_dir, run_state

REPO = Path(__file__).resolve().parents[1]
# 256 images / 64 = 4 steps per epoch, 8 in all; a log line and a checkpoint at steps 2, 4, 6 and 8
OVERRIDES = ["pretrain.epochs=2", "probe.epochs=1", "runtime.log_every=2", "runtime.save_every_s=0"]
NAMES = ("mae_r0.75", "mae_r0.75_lp")
VOLATILE = {"wall_s", "elapsed_s"}

DRIVER = r"""
import json, os, signal, sys
point, results, overrides, name = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)
import torch
if point == "import":
    die()
from maelab.pipeline import jobs
from maelab.pipeline.config import load_profile
from maelab.pipeline.registry import all_runs
from maelab.training import train as loop

if point == "before-first-checkpoint":  # the step-2 line is logged, its checkpoint never written
    loop.atomic_save = lambda *args: die()
if point in ("after-checkpoint", "sigterm"):  # lr_at(step) starts step + 1
    lr_at, at = loop.lr_at, {"after-checkpoint": 5, "sigterm": 2}[point]
    def lr_then_signal(step, *args):
        if step == at:
            os.kill(os.getpid(), signal.SIGKILL if point == "after-checkpoint" else signal.SIGTERM)
        return lr_at(step, *args)
    loop.lr_at = lr_then_signal
if point == "mid-log-line":  # half of the step-6 line reaches the disk (checkpoint at step 4)
    class Torn:
        def __init__(self, *args):
            self.f = open(*args)
        def __enter__(self):
            return self
        def __exit__(self, *exc):
            self.f.close()
        def write(self, text):
            if json.loads(text)["step"] == 6:
                self.f.write(text[: len(text) // 2])
                self.f.flush()
                die()
            self.f.write(text)
    loop.open = Torn
if point == "result-json":  # killed inside save_json, half of result.json in its temporary file
    save_json = jobs.save_json
    def torn_save(path, obj):
        if path.name != "result.json":
            return save_json(path, obj)
        text = json.dumps(obj)
        (path.parent / f".result.json.{os.getpid()}.tmp").write_text(text[: len(text) // 2])
        die()
    jobs.save_json = torn_save
p = load_profile("smoke", overrides)
run = next(r for r in all_runs(p, ("lcmae",)) if r.name == name)
jobs.execute(run, results, p.name, p.runtime)
"""


@pytest.fixture(scope="module")
def profile():
    return load_profile("smoke", OVERRIDES)


@pytest.fixture(scope="module")
def runs(profile):
    by_name = {r.name: r for r in all_runs(profile, ("lcmae",))}
    return [by_name[n] for n in NAMES]


def rerun(runs, profile, results, rebuild=()):
    """What `python -m maelab runs` does for these runs, in this process: every pending run, in order."""
    for run in pending(runs, results, profile.name, rebuild):
        execute(run, results, profile.name, profile.runtime)


@pytest.fixture(scope="module")
def reference(runs, profile, tmp_path_factory):
    """Both runs, never disturbed."""
    results = tmp_path_factory.mktemp("reference")
    rerun(runs, profile, results)
    return results


@pytest.fixture
def finished(reference, tmp_path):
    """A copy of the undisturbed results, to damage."""
    shutil.copytree(reference / "smoke", tmp_path / "smoke")
    return tmp_path


def files(results: Path, name: str) -> dict[str, bytes]:
    d = run_dir(results, "smoke", name)
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def metrics(results: Path, name: str) -> list[dict]:
    lines = (run_dir(results, "smoke", name) / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in lines]


def assert_same_as_reference(results: Path, reference: Path, names=NAMES) -> None:
    """Finished, bitwise equal to the undisturbed runs (weights, result, metrics), no step logged twice."""
    for name in names:
        d, ref = run_dir(results, "smoke", name), run_dir(reference, "smoke", name)
        assert (d / "DONE").exists() and not (d / "checkpoints" / "last.pt").exists(), name
        result, expected = (
            {k: v for k, v in json.loads((x / "result.json").read_text()).items() if k not in VOLATILE} for x in (d, ref)
        )
        assert result == expected
        steps = [r["step"] for r in metrics(results, name)]
        assert steps == sorted(set(steps)), f"{name}: metrics.jsonl repeats steps {steps}"
        assert metrics(results, name) == metrics(reference, name)
        for weights in sorted(p.name for p in ref.glob("*.pt")):
            mine, theirs = (torch.load(x / weights) for x in (d, ref))
            assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine), f"{name}/{weights}"
        if (ref / "predictions.npz").exists():
            with np.load(d / "predictions.npz") as mine, np.load(ref / "predictions.npz") as theirs:
                assert all(np.array_equal(mine[k], theirs[k]) for k in theirs.files), f"{name}/predictions.npz"


def kill(point: str, results: Path, name: str = "mae_r0.75", expect: int = -signal.SIGKILL) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, point, str(results), json.dumps(OVERRIDES), name],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == expect, proc.stderr[-3000:]
    return proc


def state(results, run) -> str:
    return run_state(run_dir(results, "smoke", run.name), run)


def test_reference_runs_are_complete(reference, runs):
    assert [state(reference, r) for r in runs] == ["done", "done"]
    assert [r["step"] for r in metrics(reference, "mae_r0.75")] == [2, 4, 6, 8]
    assert set(finished_result(reference, load_profile("smoke", OVERRIDES), "mae_r0.75")["final"]) == {"loss"}


# kills


@pytest.mark.parametrize(
    "point, left",
    [
        ("import", "no run directory"),
        ("before-first-checkpoint", "step 2 logged, no checkpoint: a fresh start must clear the log"),
        ("after-checkpoint", "checkpoint at step 4, step 5 done but not logged"),
        ("mid-log-line", "checkpoint at step 4, half a line for step 6"),
        ("result-json", "final checkpoint at step 8, half a result.json in its temporary file, no DONE"),
    ],
)
def test_sigkill_then_rerun_equals_an_undisturbed_run(point, left, runs, profile, reference, tmp_path):
    kill(point, tmp_path)
    d = run_dir(tmp_path, "smoke", "mae_r0.75")
    assert state(tmp_path, runs[0]) == ("new" if point == "import" else "resume"), left
    if point == "result-json":
        assert torch.load(d / "checkpoints" / "last.pt", weights_only=False)["step"] == 8
        with pytest.raises(RunNotReady, match="is not finished.*--only runs"):
            finished_result(tmp_path, profile, "mae_r0.75")
    rerun(runs[:1], profile, tmp_path)
    assert_same_as_reference(tmp_path, reference, NAMES[:1])


def test_sigterm_checkpoints_mid_interval_and_the_resumed_log_is_exact(runs, profile, reference, tmp_path):
    proc = kill("sigterm", tmp_path, expect=1)
    assert "Interrupted: mae_r0.75: SIGTERM at step 3 of 8; checkpoint saved to" in proc.stderr
    ckpt = torch.load(run_dir(tmp_path, "smoke", "mae_r0.75") / "checkpoints" / "last.pt", weights_only=False)
    assert ckpt["step"] == 3 and ckpt["count"] == 1  # half of the logging interval of step 4, kept for the resume
    rerun(runs[:1], profile, tmp_path)
    assert_same_as_reference(tmp_path, reference, NAMES[:1])
    d = run_dir(tmp_path, "smoke", "mae_r0.75")  # times add up over the two attempts
    elapsed = [json.loads(line)["elapsed_s"] for line in (d / "metrics.jsonl").read_text().splitlines()]
    assert ckpt["elapsed_s"] < elapsed[1] and elapsed == sorted(elapsed)
    assert json.loads((d / "result.json").read_text())["wall_s"] > ckpt["elapsed_s"]


def test_ctrl_c_in_the_terminal_checkpoints_and_prints_one_line(tmp_path):
    """`python -m maelab runs` in its own process group, as in a terminal; Ctrl-C signals the whole group."""
    overrides = [
        "runtime.local_parallelism=1",
        "runtime.save_every_s=1e9",
        "runtime.log_every=1",
        "pretrain.epochs=8",
        "lcmae.dino_reference=timm:none",
    ]  # no DINO run: the first job is a 32-step pretraining run
    cmd = [
        sys.executable,
        "-m",
        "maelab",
        "runs",
        "--profile",
        "smoke",
        "--paper",
        "lcmae",
        "--cluster",
        "local",
        "--results-dir",
        str(tmp_path),
    ] + [a for o in overrides for a in ("--set", o)]
    proc = subprocess.Popen(
        cmd,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    deadline = time.time() + 120
    while not [p for p in tmp_path.glob("smoke/runs/*/metrics.jsonl") if p.read_text().count("\n") >= 2]:
        assert time.time() < deadline and proc.poll() is None, proc.communicate()
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out + err
    assert err.strip().splitlines() == ["interrupted; rerun to resume"], err
    assert "Traceback" not in out + err
    (ckpt_path,) = tmp_path.glob("smoke/runs/*/checkpoints/last.pt")  # saved on the signal alone
    ckpt = torch.load(ckpt_path, weights_only=False)
    log = ckpt_path.parent.parent / "metrics.jsonl"
    assert 2 <= ckpt["step"] < 32 and json.loads(log.read_text().splitlines()[-1])["step"] == ckpt["step"]
    p = load_profile("smoke", overrides)
    run = next(r for r in all_runs(p, ("lcmae",)) if r.name == ckpt_path.parent.parent.name)
    for results in (tmp_path, tmp_path / "undisturbed"):
        execute(run, results, p.name, p.runtime)
    assert_same_as_reference(tmp_path, tmp_path / "undisturbed", [run.name])


def test_ctrl_c_during_the_runs_stage_stops_reproduce_sh_with_130_before_the_notebooks(tmp_path):
    """./reproduce.sh in its own process group, as in a terminal; Ctrl-C once a run has started. The launcher exits 130
    (saving a checkpoint); reproduce.sh must exit 130 too, not go on to execute notebooks on unfinished runs."""
    overrides = ["runtime.local_parallelism=1", "runtime.save_every_s=1e9", "runtime.log_every=1", "pretrain.epochs=8"]
    overrides.append("lcmae.dino_reference=timm:none")  # as above: the first job is a 32-step pretraining run
    cmd = ["./reproduce.sh", "--profile", "smoke", "--only", "runs,notebooks,report", "--paper", "lcmae", "--cluster", "local"]
    cmd += ["--results-dir", str(tmp_path)] + [a for o in overrides for a in ("--set", o)]
    out_path = tmp_path / "reproduce.out"
    with open(out_path, "w") as out:  # a file, not a pipe: read while it runs, and nothing blocks on a full pipe
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
            env={**os.environ, "OMP_NUM_THREADS": "1", "MAELAB_VENV": sys.prefix},  # no setup stage: this venv
        )
    try:
        deadline = time.time() + 180
        while not [p for p in tmp_path.glob("smoke/runs/*/metrics.jsonl") if p.read_text().count("\n") >= 2]:
            assert time.time() < deadline and proc.poll() is None, out_path.read_text()
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGINT)
        deadline = time.time() + 120  # without the fix the notebooks stage starts: stop it at its first line
        while proc.poll() is None and "== notebooks" not in out_path.read_text() and time.time() < deadline:
            time.sleep(0.1)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    log = out_path.read_text()
    assert "== notebooks" not in log and "== report" not in log, log
    assert proc.returncode == 130, log
    assert "interrupted; rerun to resume" in log and "== runs interrupted: notebooks and report not run" in log
    assert "Traceback" not in log
    assert not list(tmp_path.glob("smoke/notebooks/*")), "no notebook may be executed after an interrupted runs stage"
    assert len(list(tmp_path.glob("smoke/runs/*/checkpoints/last.pt"))) == 1  # the interrupted run can resume


# damage


def cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize(
    "file, name, reader_error",
    [
        ("result.json", "mae_r0.75", r"result.json does not parse .*Fix: rerun the runs stage"),
        ("config.json", "mae_r0.75", r"config.json does not parse .*Fix: rerun the runs stage"),
        ("metrics.jsonl", "mae_r0.75", None),
        ("predictions.npz", "mae_r0.75_lp", None),  # its reader: test_a_cut_npz_is_named_by_its_reader
    ],
)
def test_a_damaged_run_file_is_not_done_and_the_rerun_redoes_the_run(
    file, name, reader_error, runs, profile, reference, finished
):
    cut(run_dir(finished, "smoke", name) / file)
    run = next(r for r in runs if r.name == name)
    assert state(finished, run) == "resume"  # never reported as done
    if reader_error:
        with pytest.raises(RunNotReady, match=reader_error):
            finished_result(finished, profile, name)
    rerun(runs, profile, finished)
    assert_same_as_reference(finished, reference)


def test_a_damaged_checkpoint_restarts_the_run(runs, profile, reference, tmp_path, capfd):
    kill("after-checkpoint", tmp_path)
    cut(run_dir(tmp_path, "smoke", "mae_r0.75") / "checkpoints" / "last.pt")
    rerun(runs[:1], profile, tmp_path)
    assert "last.pt is unreadable" in capfd.readouterr().out
    assert_same_as_reference(tmp_path, reference, NAMES[:1])


@pytest.mark.parametrize("damage", ["delete", "cut"])
def test_weights_missing_under_done_name_the_rebuild_and_it_restores_them_exactly(damage, runs, profile, reference, finished):
    encoder = run_dir(finished, "smoke", "mae_r0.75") / "encoder.pt"
    encoder.unlink() if damage == "delete" else cut(encoder)
    assert state(finished, runs[0]) == "weights-missing" and state(finished, runs[1]) == "done"
    with pytest.raises(
        RunNotReady,
        match=rf"encoder.pt are {'not in this checkout' if damage == 'delete' else 'damaged'}.*"
        r"Fix: `python -m maelab runs --profile smoke --rebuild mae_r0.75`",
    ):
        load_encoder(finished, "smoke", "mae_r0.75")
    assert pending(runs, finished, "smoke") == []  # nothing else needs it: a plain rerun leaves it alone
    rerun(runs, profile, finished, rebuild=("mae_r0.75",))
    assert_same_as_reference(finished, reference)


def test_a_checkpoint_left_or_deleted_under_done_changes_nothing(runs, profile, reference, finished):
    """Killed between DONE and the checkpoint's removal: the leftover is ignored, and deleting it is harmless."""
    ckpt = run_dir(finished, "smoke", "mae_r0.75") / "checkpoints" / "last.pt"
    ckpt.parent.mkdir(exist_ok=True)
    torch.save({"step": 8}, ckpt)
    before = files(finished, "mae_r0.75")
    rerun(runs, profile, finished)
    assert files(finished, "mae_r0.75") == before and [state(finished, r) for r in runs] == ["done", "done"]
    ckpt.unlink()
    assert_same_as_reference(finished, reference)


@pytest.mark.parametrize("change", ["profile", "config.hash"])
def test_a_changed_profile_or_hash_under_a_finished_run_is_refused_and_nothing_is_touched(change, runs, profile, finished):
    if change == "profile":
        runs = [r for r in all_runs(load_profile("smoke", OVERRIDES + ["pretrain.blr=1e-3"]), ("lcmae",)) if r.name in NAMES]
    else:
        cut(run_dir(finished, "smoke", "mae_r0.75") / "config.hash")
    before = files(finished, "mae_r0.75")
    with pytest.raises(RunConflict, match=r"mae_r0.75/config.hash says run 'mae_r0.75' has config hash .*move or delete"):
        rerun(runs, profile, finished)
    assert files(finished, "mae_r0.75") == before


@pytest.mark.parametrize("reader", ["analysis cache", "predictions.npz"])
def test_a_cut_npz_is_named_by_its_reader(reader, profile, finished, capfd):
    if reader == "predictions.npz":
        cut(run_dir(finished, "smoke", "mae_r0.75_lp") / "predictions.npz")
        with pytest.raises(RunNotReady, match="predictions.npz is missing or unreadable"):
            predictions(finished, profile, "mae_r0.75_lp")
        return
    compute = lambda: {"x": np.arange(3)}
    cached(finished / "m.npz", compute, n=1)
    (path,) = finished.glob("m_*.npz")
    cut(path)
    assert np.array_equal(cached(finished / "m.npz", compute, n=1)["x"], np.arange(3))  # recomputed, saying so
    assert f"{path} is unreadable" in capfd.readouterr().out
