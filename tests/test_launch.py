"""launch.py without running jobs: the data check, the error line of a failed job, a SLURM job that left the queue,
the requeue limit. (Jobs themselves: test_pipeline.py locally, tests/slurm on a real cluster, test_faults.py.)"""

import time
import traceback

import pytest
from submitit.core.utils import FailedJobError, UncompletedJobError

from maelab.data.datasets import DataConfig, DatasetNotFound, check_available
from maelab.pipeline.config import load_profile
from maelab.pipeline.launch import Dispatcher, Outcome, job_error, make_executor, summarize


def submitit_failure(exc: Exception) -> FailedJobError:
    """The FailedJobError submitit's Job.exception() builds around a job's traceback."""
    try:
        raise exc
    except Exception:
        trace = traceback.format_exc()
    return FailedJobError(
        f"Job (task=0) failed during processing with trace:\n----------------------\n{trace}\n"
        "----------------------\nYou can check full logs with 'job.stderr(0)' and 'job.stdout(0)'"
        "or at paths:\n  - /r/submitit/12_0_log.err\n  - /r/submitit/12_0_log.out"
    )


def test_a_failed_job_is_summed_up_by_its_own_exception_not_by_a_log_path():
    error = job_error(submitit_failure(DatasetNotFound("Fashion-MNIST not found: tried /x. Fix: pass --data-root DIR")))
    assert error == "maelab.data.datasets.DatasetNotFound: Fashion-MNIST not found: tried /x. Fix: pass --data-root DIR"
    assert job_error(submitit_failure(ValueError("two\nlines"))) == "ValueError: two lines"
    no_result = UncompletedJobError(
        "Job 12 (task: 0) with path /r/12_0_result.pkl\nhas not produced any output (state: "
        "UNKNOWN)\nError stream produced:\n----\nlots of log"
    )
    assert job_error(no_result) == "Job 12 (task: 0) with path /r/12_0_result.pkl has not produced any output (state: UNKNOWN)"
    summary = summarize(
        [Outcome("a", "failed", "/r/12_0_log.err", error), Outcome("b", "blocked", error="dependency a did not finish")]
    )
    assert summary.splitlines() == [
        "1 failed",
        "1 blocked",
        f"  failed: a  {error}  log: /r/12_0_log.err",
        "  blocked: b  dependency a did not finish",
    ]


@pytest.mark.parametrize(
    "name, root, missing",
    [
        ("fashion_mnist", "nowhere", "nowhere/train-images-idx3-ubyte.gz. Fix: `sudo apt-get install dataset-fashion-mnist`"),
        ("cifar10", "nowhere", "nowhere/cifar-10-batches-py. Fix: pass --data-root"),
        ("imagenet", "nowhere", "nowhere/train. Fix: pass --data-root"),
    ],
)
def test_check_available_names_the_missing_file_and_the_fix(name, root, missing, tmp_path):
    with pytest.raises(DatasetNotFound, match=missing.replace(".", r"\.").replace("`", ".")):
        check_available(DataConfig(name=name, root=str(tmp_path / root)))
    check_available(DataConfig())  # the installed Debian package (tests/run.sh installs it)


def test_a_test_split_alone_missing_is_found(tmp_path):
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz"):
        (tmp_path / f).touch()
    with pytest.raises(DatasetNotFound, match="t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz"):
        check_available(DataConfig(root=str(tmp_path)))


def test_the_requeue_limit_is_a_profile_setting(tmp_path):
    p = load_profile("smoke", ["slurm.max_num_timeout=25"])
    assert make_executor("slurm", tmp_path / "%j", p)._executor.max_num_timeout == 25
    assert load_profile("smoke").slurm.max_num_timeout == 10


class FakeJob:
    def __init__(self, job_id: str):
        self.job_id = job_id

    def done(self) -> bool:
        return False


def test_a_slurm_job_that_left_the_queue_is_reported_after_the_grace_period(tmp_path, monkeypatch):
    queue = tmp_path / "queue"
    squeue = tmp_path / "squeue"
    squeue.write_text(f"#!/bin/sh\ncat {queue}\n")
    squeue.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    dispatcher = Dispatcher(None, "slurm", load_profile("smoke"), tmp_path, poll_s=0, gone_grace_s=0.3)
    dispatcher.running = [(FakeJob("7_0"), None), (FakeJob("7_1"), None), (FakeJob("8"), None)]
    queue.write_text("7_0\n8\n")
    assert dispatcher._vanished() == set()  # 7_1 just left: its result may still be on its way
    queue.write_text("7_0\n")
    time.sleep(0.35)
    assert dispatcher._vanished() == {"7_1"}  # 8 has been gone for less than the grace period
    squeue.write_text("#!/bin/sh\nexit 1\n")  # the controller does not answer: nobody is declared gone on that
    time.sleep(0.35)
    assert dispatcher._vanished() == set()
