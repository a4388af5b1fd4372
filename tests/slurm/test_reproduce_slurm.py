"""reproduce.sh through a real SLURM: job arrays, notebooks, report; and a requeued job resuming from its checkpoint."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from maelab.pipeline.config import load_profile
from maelab.pipeline.launch import launch
from maelab.pipeline.registry import all_runs
from maelab.pipeline.runs import run_dir

pytestmark = pytest.mark.slurm
REPO = Path(__file__).resolve().parents[2]


def test_reproduce_smoke_end_to_end_through_sbatch(slurm_cluster, tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run(
        ["./reproduce.sh", "--profile", "smoke", "--cluster", "slurm", "--results-dir", str(results)],
        cwd=REPO,
        env=slurm_cluster.environ(),
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "submitted" in proc.stdout and "job array" in proc.stdout
    assert f"Report: {results.resolve()}/smoke/report/index.html" in proc.stdout
    # the runs went through sbatch as arrays: submitit names array task logs <jobid>_<index>_<rank>_log.out
    logs = [p.name for p in (results / "smoke" / "submitit").rglob("*_log.out")]
    assert any(re.fullmatch(r"\d+_[1-9]\d*_0_log\.out", name) for name in logs), logs[:5]
    done = [d for d in (results / "smoke" / "runs").iterdir() if (d / "DONE").exists()]
    assert len(done) == len(all_runs(load_profile("smoke")))
    statuses = {p.name: json.loads(p.read_text())["status"] for p in (results / "smoke" / "notebooks").glob("*.status.json")}
    assert statuses and set(statuses.values()) == {"ok"}, statuses
    index = (results / "smoke" / "report" / "index.html").read_text()
    ledger = json.loads((results / "smoke" / "report" / "ledger.json").read_text())
    assert ledger["claims"] and all(c["verdict"] in index for c in ledger["claims"])
    assert ledger["gates"] is not None  # the calibration notebook ran first
    # a second run finds everything done and submits nothing
    again = subprocess.run(
        ["./reproduce.sh", "--profile", "smoke", "--cluster", "slurm", "--results-dir", str(results), "--only", "runs"],
        cwd=REPO,
        env=slurm_cluster.environ(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "nothing to run" in again.stdout, again.stdout[-2000:]


def test_timeout_signal_requeues_and_resumes_from_checkpoint(slurm_env, tmp_path):
    p = load_profile("smoke", ["pretrain.epochs=60", "runtime.save_every_s=0.5", "runtime.log_every=5"])
    run = next(r for r in all_runs(p, ("lcmae",)) if r.name == "mae_r0.75")
    outcome: list = []
    worker = threading.Thread(target=lambda: outcome.extend(launch([run], p, tmp_path, cluster="slurm")))
    worker.start()
    ckpt = run_dir(tmp_path, "smoke", run.name) / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), slurm_env.logs()
    job_id = slurm_env.run("squeue", "-h", "-o", "%i").stdout.split()[0]
    slurm_env.run("scancel", "--signal=USR2", job_id)  # what SLURM sends submitit jobs before their time limit
    worker.join(timeout=300)
    assert not worker.is_alive() and outcome and outcome[0].status == "done", outcome
    log = "".join(p.read_text() for p in (tmp_path / "smoke" / "submitit").rglob("*_log.*"))
    assert "Requeued" in log or "requeue" in log.lower(), log[-2000:]
    resumed = [int(line.split("resumed from step ")[1].split()[0]) for line in log.splitlines() if "resumed from step" in line]
    assert resumed and resumed[0] > 0, log[-2000:]
    steps = [json.loads(line)["step"] for line in (ckpt.parent.parent / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 60 * 4  # 256 images / 64 = 4 steps per epoch, none repeated
