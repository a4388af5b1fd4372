"""launch() and DDP on a real SLURM: a job killed on a cluster without accounting, and 2-task jobs (gloo on CPU).

The 8-GPU `paper` jobs rely on the SLURM side of DDP (ranks, MASTER_ADDR from the node list, the port, per-rank logs,
only rank 0 writing); here two CPU tasks of one job exercise the same code.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import cloudpickle
import pytest
import torch

from maelab.pipeline.config import load_profile
from maelab.pipeline.launch import launch
from maelab.pipeline.registry import all_runs
from maelab.pipeline.runs import run_dir

submitit = pytest.importorskip("submitit")
pytestmark = pytest.mark.slurm
cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the job's Python cannot import this test module


def _cmdline(pid: int) -> list[str]:
    """argv of a process ([] once it is gone): python's, not that of the srun that starts it."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0") + [""] * 5
    except OSError:
        return [""] * 5


def smoke_mae(p):
    return next(r for r in all_runs(p, ("lcmae",)) if r.name == "mae_r0.75")


def test_a_job_killed_on_a_cluster_without_accounting_is_reported_failed_and_the_rerun_resumes(
    slurm_env, tmp_path, monkeypatch, capsys
):
    """Without accounting (`sacct` fails) submitit reads the state UNKNOWN and would wait forever for the result."""
    no_accounting = tmp_path / "bin"
    no_accounting.mkdir()
    (no_accounting / "sacct").write_text("#!/bin/sh\necho 'sacct: error: Slurm accounting storage is disabled' >&2\nexit 1\n")
    (no_accounting / "sacct").chmod(0o755)
    monkeypatch.setenv("PATH", f"{no_accounting}:{os.environ['PATH']}")
    p = load_profile("smoke", ["pretrain.epochs=40", "runtime.save_every_s=0.5", "runtime.log_every=5"])
    run = smoke_mae(p)
    outcomes: list = []
    worker = threading.Thread(target=lambda: outcomes.extend(launch([run], p, tmp_path, cluster="slurm", gone_grace_s=5)))
    worker.start()
    ckpt = run_dir(tmp_path, "smoke", run.name) / "checkpoints" / "last.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.2)
    assert ckpt.exists(), slurm_env.logs()
    job_id = slurm_env.run("squeue", "-h", "-o", "%i").stdout.split()[0]
    (task,) = [
        pid
        for pid in map(int, filter(str.isdigit, os.listdir("/proc")))
        if _cmdline(pid)[1:4] == ["-u", "-m", "submitit.core._submit"] and str(tmp_path) in _cmdline(pid)[4]
    ]
    os.kill(task, signal.SIGKILL)  # it dies without a result, as on an OOM kill (scancel would let it checkpoint)
    worker.join(timeout=90)
    assert not worker.is_alive(), "launch() still waits for a job that left the queue"
    assert outcomes[0].status == "failed" and "left the queue without a result" in outcomes[0].error, outcomes
    assert f"[failed] {run.name}  SLURM job {job_id} left the queue" in capsys.readouterr().out  # printed as it ended

    again = launch([run], p, tmp_path, cluster="slurm", gone_grace_s=5)
    assert [o.status for o in again] == ["done"], again
    logs = "".join(f.read_text() for f in (ckpt.parent.parent / "logs").glob("*_log.out"))
    assert "resumed from step" in logs
    steps = [json.loads(line)["step"] for line in (ckpt.parent.parent / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(5, 40 * 4 + 1, 5))  # 256 images / 64 = 4 steps per epoch; none lost, none repeated
    result = json.loads((ckpt.parent.parent / "result.json").read_text())
    assert set(result["final"]) == {"loss"} and result["wall_s"] > 0


def pretrain_smoke_mae_deterministically(out_dir: str) -> dict:
    """The smoke MAE on the smoke data and schedule, without masking or augmentation, so that every sample's loss is
    a function of the weights alone and 2 ranks x 32 images == 1 rank x 64 (test_train.py does the same locally)."""
    from maelab.data.augment import normalize
    from maelab.data.datasets import load_dataset
    from maelab.pipeline.runs import pretraining_model
    from maelab.training.distributed import init_distributed
    from maelab.training.train import train

    torch.set_num_threads(1)
    env = init_distributed("cpu")
    print(
        f"rank {env.rank} of {env.world_size}, master {os.environ.get('MASTER_ADDR')}:{os.environ.get('MASTER_PORT')}",
        flush=True,
    )
    spec = smoke_mae(load_profile("smoke")).spec
    torch.manual_seed(spec.seed)
    mae = pretraining_model(spec).mae
    objective = lambda net, x, y, gen: (net(normalize(x, spec.data.name), mask_ratio=0.0).loss, {})
    train(mae, objective, load_dataset(spec.data, train=True), spec.optim, Path(out_dir), env, spec.seed, log_every=1)
    return {
        "rank": env.rank,
        "world": env.world_size,
        "master": os.environ.get("MASTER_ADDR"),
        "weights": mae.state_dict() if env.is_main else None,
    }


def test_two_tasks_pretrain_the_smoke_mae_like_one_task(slurm_env, tmp_path):
    """Tolerance as test_train.py's gloo test: float32 all-reduce order, 1e-6; the qkv key bias (true gradient 0) excluded."""
    results = {}
    for tasks in (1, 2):
        executor = submitit.AutoExecutor(folder=tmp_path / f"logs{tasks}", cluster="slurm")
        executor.update_parameters(timeout_min=10, tasks_per_node=tasks, cpus_per_task=1)
        job = executor.submit(pretrain_smoke_mae_deterministically, str(tmp_path / f"run{tasks}"))
        results[tasks] = job.results()
        assert [(r["rank"], r["world"]) for r in results[tasks]] == [(r, tasks) for r in range(tasks)]
        steps = [json.loads(line)["step"] for line in (tmp_path / f"run{tasks}" / "metrics.jsonl").read_text().splitlines()]
        assert steps == [1, 2, 3, 4]  # only rank 0 writes: no line twice
    assert {r["master"] for r in results[2]} == {slurm_env.hostname}  # MASTER_ADDR: the first node of the job's node list
    rank_logs = sorted(p.name.split("_")[1] for p in (tmp_path / "logs2").glob("*_log.out"))
    assert rank_logs == ["0", "1"]
    for rank in (0, 1):
        (log,) = (tmp_path / "logs2").glob(f"*_{rank}_log.out")
        assert f"rank {rank} of 2, master {slurm_env.hostname}:" in log.read_text()
    one, two = results[1][0]["weights"], results[2][0]["weights"]
    for name, a in one.items():
        b = two[name]
        if name.endswith("attn.qkv.bias"):
            d = a.shape[0] // 3
            a, b = torch.cat([a[:d], a[2 * d :]]), torch.cat([b[:d], b[2 * d :]])
        assert torch.allclose(a, b, atol=1e-6, rtol=0), name


def test_a_two_task_pipeline_run_writes_once_and_keeps_both_ranks_logs(slurm_env, tmp_path):
    p = load_profile("smoke", ["slurm.tasks_per_node=2", "slurm.cpus_per_task=1"])
    run = smoke_mae(p)
    assert [o.status for o in launch([run], p, tmp_path, cluster="slurm")] == ["done"]
    d = run_dir(tmp_path, "smoke", run.name)
    assert json.loads((d / "result.json").read_text())["world_size"] == 2
    assert [json.loads(line)["step"] for line in (d / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3, 4]
    assert sorted(f.name.split("_")[-2] for f in (d / "logs").glob("*_log.out")) == ["0", "1"]
