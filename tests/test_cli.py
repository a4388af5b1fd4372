"""reproduce.sh and python -m maelab: bad input gets a clear error naming the fix, and loses nothing."""

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def sh(*args, cwd=REPO):
    return subprocess.run(["./reproduce.sh", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_unknown_stage_and_option():
    r = sh("--only", "train")
    assert r.returncode == 2 and "unknown stage 'train'; stages: setup,data,runs,notebooks,report" in r.stderr
    r = sh("--gpus", "8")
    assert r.returncode == 2 and "unknown option --gpus" in r.stderr


def test_unknown_profile_lists_valid_ones(tmp_path):
    r = sh("--profile", "huge", "--only", "runs", "--results-dir", str(tmp_path))
    assert r.returncode == 2 and "valid profiles: ['mini', 'paper', 'small', 'smoke']" in r.stderr


def test_bad_override_names_the_valid_keys(tmp_path):
    r = sh("--profile", "smoke", "--only", "runs", "--set", "pretrain.epoch=3", "--results-dir", str(tmp_path))
    assert r.returncode == 2 and "valid keys" in r.stderr and "'epochs'" in r.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path):
    r = sh("--profile", "smoke", "--only", "runs", "--paper", "lcmae", "--dry-run", "--cluster", "local",
           "--results-dir", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "wave 0 (local" in r.stdout and "lcmae_t1_c[pretrain]" in r.stdout and "runs to do" in r.stdout
    assert not any(tmp_path.iterdir())


def test_status_lists_every_run():
    r = subprocess.run([str(REPO / ".venv/bin/python"), "-m", "maelab", "status", "--profile", "smoke", "--paper", "lcmae",
                        "--results-dir", "/nonexistent"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "new     pretrain  lcmae_t1_a" in r.stdout
