"""submitit against a real private SLURM cluster (see cluster.py and /work/shared/notes/slurm-single-node.md)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import cloudpickle
import pytest

from .cluster import write_sacct_standin

submitit = pytest.importorskip("submitit")

pytestmark = pytest.mark.slurm

# pytest imports this file under a name the job's Python cannot import: ship the functions/classes by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def square(x: int) -> int:
    return x * x


def fail(message: str) -> None:
    raise ValueError(message)


class SlowCounter(submitit.helpers.Checkpointable):
    """Counts to ``total`` in ``period``-second steps, saving the step to ``progress`` at each one.

    Its state (``self.step``) is what submitit's default ``checkpoint`` pickles on the timeout signal, so the
    requeued run resumes there; every run appends ``start <step>`` and every step ``step <n>`` to ``progress``.
    """

    def __init__(self) -> None:
        self.step = 0

    def __call__(self, progress: str, total: int, period: float = 0.5) -> int:
        path = Path(progress)
        with path.open("a") as f:
            f.write(f"start {self.step} {time.time():.3f}\n")
        while self.step < total:
            time.sleep(period)
            self.step += 1
            with path.open("a") as f:
                f.write(f"step {self.step} {time.time():.3f}\n")
        return self.step


def _executor(folder: Path, **params) -> submitit.AutoExecutor:
    executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    executor.update_parameters(timeout_min=10, cpus_per_task=1, **params)
    return executor


def _final_state(job, timeout: float = 30) -> str:
    """State from the sacct stand-in (forced refresh) once SLURM has finished the job."""
    deadline = time.monotonic() + timeout
    while True:
        state = job.watcher.get_state(job.job_id, mode="force")
        if job.watcher.is_done(job.job_id, mode="cache") or time.monotonic() > deadline:
            return state
        time.sleep(0.2)


def test_single_job(slurm_env, tmp_path: Path) -> None:
    job = _executor(tmp_path / "logs").submit(square, 7)
    assert job.result() == 49
    # the result file appears just before the job ends; the sacct stand-in must then report COMPLETED
    assert _final_state(job) == "COMPLETED"


def test_map_array(slurm_env, tmp_path: Path) -> None:
    executor = _executor(tmp_path / "logs", slurm_array_parallelism=2)
    jobs = executor.map_array(square, [1, 2, 3, 4])
    assert len(jobs) == 4
    assert all("_" in job.job_id for job in jobs)
    assert [job.result() for job in jobs] == [1, 4, 9, 16]
    assert [_final_state(job) for job in jobs] == ["COMPLETED"] * 4


def test_failing_job_raises_with_remote_traceback(slurm_env, tmp_path: Path) -> None:
    job = _executor(tmp_path / "logs").submit(fail, "boom from the job")
    with pytest.raises(submitit.core.utils.FailedJobError) as info:
        job.result()
    text = str(info.value)
    assert "ValueError: boom from the job" in text
    assert "Traceback" in text and "in fail" in text
    # submitit re-raises in the job after writing the result, so SLURM records the job as FAILED
    assert _final_state(job) == "FAILED"


def test_checkpointable_requeued_on_timeout_resumes(slurm_env, tmp_path: Path) -> None:
    progress = tmp_path / "progress.txt"
    total = 8
    job = _executor(tmp_path / "logs").submit(SlowCounter(), str(progress), total)

    def lines() -> list[str]:
        return progress.read_text().splitlines() if progress.exists() else []

    deadline = time.monotonic() + 60
    while sum(line.startswith("step") for line in lines()) < 3:
        assert time.monotonic() < deadline, f"job never reached step 3: {lines()} {job.state}"
        assert not job.done(), f"job ended before the signal: {job.stderr()}"
        time.sleep(0.1)
    signalled_at = time.time()
    job._interrupt(timeout=True)  # scancel <id> --signal USR2, as SLURM sends before the time limit

    assert job.result() == total
    runs: list[list[str]] = []
    for line in lines():
        if line.startswith("start"):
            runs.append([])
        runs[-1].append(line)
    assert len(runs) == 2, lines()
    first, second = runs
    assert first[0].split()[1] == "0"
    resumed_from = int(second[0].split()[1])
    saved_before_signal = max(int(line.split()[1]) for line in first[1:])
    assert 3 <= resumed_from <= saved_before_signal + 1, f"second run did not resume from the checkpoint: {lines()}"
    # the second run continues where the checkpoint left off and finishes
    assert [int(line.split()[1]) for line in second[1:]] == list(range(resumed_from + 1, total + 1))
    restart_delay = float(second[0].split()[2]) - signalled_at
    print(f"requeued job restarted {restart_delay:.1f} s after the timeout signal")
    assert "Requeued job" in (job.stderr() or "") + (job.stdout() or "")


def test_sacct_standin_reads_purged_jobs_from_jobcomp_log(tmp_path: Path) -> None:
    """Jobs the controller already forgot (MinJobAge) are answered from the jobcomp/filetxt log; last record wins."""
    fake_squeue = tmp_path / "squeue"
    fake_squeue.write_text("#!/bin/sh\nexit 0\n")
    fake_squeue.chmod(0o755)
    log = tmp_path / "jobcomp.log"
    common = "UserId=root(0) GroupId=root(0) Name=x Partition=debug NodeList=vm NodeCnt=1"
    log.write_text(
        "\n".join(
            [
                f"JobId=11 {common} JobState=REQUEUED DerivedExitCode=0:0 ExitCode=0:15",
                f"JobId=21 {common} JobState=FAILED ArrayJobId=20 ArrayTaskId=0 DerivedExitCode=0:0 ExitCode=1:0",
                f"JobId=20 {common} JobState=TIMEOUT ArrayJobId=20 ArrayTaskId=1 DerivedExitCode=0:0 ExitCode=0:1",
                f"JobId=11 {common} JobState=COMPLETED DerivedExitCode=0:0 ExitCode=0:0",
                f"JobId=30 {common} JobState=CANCELLED DerivedExitCode=0:0 ExitCode=0:0",
            ]
        )
        + "\n"
    )
    sacct = write_sacct_standin(tmp_path / "sacct", tmp_path / "slurm.conf", log, str(fake_squeue))
    # exactly the command line submitit 1.5.4's SlurmInfoWatcher builds
    out = subprocess.run(
        [str(sacct), "-o", "JobID,State,NodeList", "--parsable2", "-j", "11", "-j", "20"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.splitlines()[0] == "JobID|State|NodeList"
    assert sorted(out.splitlines()[1:]) == ["11|COMPLETED|vm", "20_0|FAILED|vm", "20_1|TIMEOUT|vm"]
    info = submitit.slurm.slurm.SlurmInfoWatcher().read_info(out)
    assert {k: v["State"] for k, v in info.items()} == {"11": "COMPLETED", "20_0": "FAILED", "20_1": "TIMEOUT"}


def test_sacct_standin_live_states(slurm_env, tmp_path: Path) -> None:
    """RUNNING/PENDING/CANCELLED straight from the controller, for plain sbatch jobs (one per CPU, plus one)."""
    cluster = slurm_env
    ids = []
    for _ in range(cluster.cpus + 1):
        out = cluster.run("sbatch", "--parsable", "-c", "1", "-o", str(tmp_path / "%j.out"), "--wrap", "sleep 60")
        ids.append(out.stdout.strip())

    def states() -> dict[str, str]:
        args = [a for i in ids for a in ("-j", i)]
        out = cluster.run("sacct", "-o", "JobID,State,NodeList", "--parsable2", *args).stdout.splitlines()
        assert out[0] == "JobID|State|NodeList"
        return {line.split("|")[0]: line.split("|")[1] for line in out[1:]}

    try:
        deadline = time.monotonic() + 30
        while sorted(states().values()) != ["PENDING"] + ["RUNNING"] * cluster.cpus:
            assert time.monotonic() < deadline, states()
            time.sleep(0.2)
    finally:
        cluster.run("scancel", *ids)
    deadline = time.monotonic() + 30
    while set(states().values()) != {"CANCELLED"}:
        assert time.monotonic() < deadline, states()
        time.sleep(0.2)
    cluster.wait_idle(timeout=30)
