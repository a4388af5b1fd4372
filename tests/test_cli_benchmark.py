"""benchmarks/throughput.py: a median of several timings, and a warning when other processes used the CPU meanwhile."""

import importlib.util
import subprocess
import sys
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "throughput.py"
spec = importlib.util.spec_from_file_location("throughput", SCRIPT)
throughput = importlib.util.module_from_spec(spec)
spec.loader.exec_module(throughput)


@pytest.fixture
def busy_cpu():
    """Another process spinning on one core."""
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    time.sleep(0.5)
    yield
    spinner.kill()
    spinner.wait()


def test_timed_sees_another_process_using_the_cpu(busy_cpu):
    seconds, others = throughput.timed(lambda: time.sleep(0.3), repeats=3)
    assert len(seconds) == 3 and all(0.29 < s < 1.0 for s in seconds)
    assert others > throughput.BUSY_CORES  # the spinner alone keeps ~1 core busy


def test_timed_does_not_count_its_own_work(monkeypatch):
    monkeypatch.setattr(throughput, "cpu_busy_s", iter([100.0, 102.0]).__next__)  # 2 CPU-s busy in all...
    monkeypatch.setattr(throughput, "own_cpu_s", iter([10.0, 11.6]).__next__)  # ...1.6 of them its own
    seconds, others = throughput.timed(lambda: time.sleep(0.2), repeats=2)
    assert 0 < others <= 0.4 / sum(seconds) + 1e-9  # 0.4 CPU-s of others over >= 0.4 s of wall


def test_timed_without_proc_stat_says_unknown(monkeypatch):
    monkeypatch.setattr(throughput, "cpu_busy_s", lambda: None)
    assert throughput.timed(lambda: None, repeats=2)[1] is None


def test_benchmark_reports_median_min_max_and_warns_when_busy(busy_cpu):
    r = subprocess.run(
        [sys.executable, str(SCRIPT), "--profile", "smoke", "--threads", "1", "--steps", "1", "--repeats", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "img/s (median of 3 x 1 steps; min " in r.stdout and "GFLOP/s achieved" in r.stdout
    assert "warning: other processes kept" in r.stderr and "rerun on an idle machine" in r.stderr
