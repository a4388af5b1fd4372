"""reproduce.sh and python -m maelab: bad input gets a clear error naming the fix, and loses nothing."""

import itertools
import re
import shlex
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

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
    r = sh(
        "--profile",
        "smoke",
        "--only",
        "runs",
        "--paper",
        "lcmae",
        "--dry-run",
        "--cluster",
        "local",
        "--results-dir",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "wave 0 (local" in r.stdout and "lcmae_t1_c[pretrain]" in r.stdout and "runs to do" in r.stdout
    assert not any(tmp_path.iterdir())


def test_status_lists_every_run():
    r = subprocess.run(
        [
            str(REPO / ".venv/bin/python"),
            "-m",
            "maelab",
            "status",
            "--profile",
            "smoke",
            "--paper",
            "lcmae",
            "--results-dir",
            "/nonexistent",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0 and "new     pretrain  lcmae_t1_a" in r.stdout


def maelab(*args: str, shell_tail: str = "") -> subprocess.CompletedProcess:
    """python -m maelab ARGS [| shell_tail], with bash's PIPESTATUS of the python process printed last when piped."""
    cmd = " ".join([str(REPO / ".venv/bin/python"), "-m", "maelab", *map(shlex.quote, args)])
    if shell_tail:
        cmd = f'{cmd} | {shell_tail}; echo "rc=${{PIPESTATUS[0]}}"'
    return subprocess.run(["bash", "-c", cmd], cwd=REPO, capture_output=True, text=True, timeout=300)


def test_help_prints_the_header_comment_and_no_code():
    lines = (REPO / "reproduce.sh").read_text().splitlines()[1:]
    header = [re.sub(r"^# ?", "", line) for line in itertools.takewhile(lambda line: line.startswith("#"), lines)]
    r = sh("--help")
    assert r.returncode == 0 and r.stdout.splitlines() == header
    assert header[0].startswith("Reproduce the three MAE papers") and header[-1].endswith("its own wheels).")


@pytest.mark.parametrize(
    "args, option",
    [(["--profile"], "--profile"), (["--profile", "--only", "runs"], "--profile"), (["--only", "runs", "--set"], "--set")],
)
def test_an_option_without_its_value_says_so(args, option):
    r = sh(*args)
    assert r.returncode == 2 and r.stderr == f"{option} needs a value (./reproduce.sh --help lists the options)\n"


def test_bad_profile_or_override_fails_in_one_line_before_setup(tmp_path):
    r = sh("--profile", "nosuch", "--results-dir", str(tmp_path))  # every stage, setup included
    assert r.returncode == 2 and "== setup" not in r.stdout and "Traceback" not in r.stderr
    assert r.stderr == (
        "error: unknown profile 'nosuch'; valid profiles: ['mini', 'paper', 'small', 'smoke'] (or a path to a .toml file)\n"
    )
    r = sh("--profile", "smoke", "--set", "pretrain.epoch=3", "--results-dir", str(tmp_path))
    assert r.returncode == 2 and "== setup" not in r.stdout and len(r.stderr.splitlines()) == 1
    assert r.stderr.startswith("error: --set pretrain.epoch=3: [pretrain] has unknown key(s) ['epoch']; valid keys:")
    assert not any(tmp_path.iterdir())


def test_a_paper_with_nothing_implemented_says_so(monkeypatch, capsys):
    from maelab import __main__ as cli

    monkeypatch.setattr(cli, "paper_notebooks", lambda papers: [Path("lcmae_3.py")] if "lcmae" in papers else [])
    monkeypatch.setattr(
        cli, "all_runs", lambda p, papers=cli.PAPERS: [SimpleNamespace(name=f"{q}_run") for q in papers if q == "lcmae"]
    )
    assert cli.main(["check", "--profile", "smoke", "--paper", "tlcl"]) == 2
    assert capsys.readouterr().err == (
        "error: tlcl: no notebooks under notebooks/ and no runs yet, nothing to do; papers with notebooks or runs: ['lcmae']\n"
    )
    assert cli.main(["check", "--profile", "smoke", "--paper", "tlcl", "--paper", "lcmae"]) == 0
    out = capsys.readouterr()
    assert (
        out.out == "fashion_mnist\n" and out.err == "note: tlcl: no notebooks under notebooks/ and no runs yet; doing lcmae\n"
    )
    assert cli.main(["check", "--profile", "smoke"]) == 0 and capsys.readouterr().err == ""  # all papers: no note


def test_status_into_a_closed_pipe_exits_quietly():
    r = maelab("status", "--profile", "smoke", "--results-dir", "/nonexistent", shell_tail="head -n 0")
    assert r.stderr == "" and r.stdout == "rc=0\n"


def test_notebook_subcommand_forwards_to_the_notebook_runner(tmp_path):
    r = maelab("notebook", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: python -m maelab notebook [-h]")
    assert "Rerun ONE paper notebook with new parameters" in r.stdout
    ok = REPO / "tests" / "fixtures" / "notebooks" / "ok.py"
    r = maelab("notebook", str(ok), "--results-dir", str(tmp_path), "-p", "acc", "1")
    assert r.returncode == 2 and "unknown parameter(s) ['acc']; valid: ['accuracy'" in r.stderr
