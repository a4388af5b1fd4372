import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from maelab.evaluation.claims import Summary, summary_path
from maelab.pipeline import notebooks
from maelab.pipeline.notebooks import _literal, ensure_kernel, execute, parameters_of

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
OK, FAILS = FIXTURES / "ok.py", FIXTURES / "fails.py"


def _outputs(ipynb: Path) -> str:
    """All text outputs of an executed notebook."""
    nb = nbformat.read(ipynb, as_version=4)
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


def test_parameters_of():
    assert parameters_of(OK) == {"profile": "smoke", "results_dir": "../results", "accuracy": 0.9, "seeds": [0]}


def test_parameters_of_keeps_non_literals_as_source(tmp_path):
    nb = tmp_path / "nb.py"
    nb.write_text('# %% tags=["parameters"]\nn = 2 ** 3\nlr: float = 1e-3\nout = Path("x")\n\n# %%\nprint(n)\n')
    assert parameters_of(nb) == {"n": "2 ** 3", "lr": 1e-3, "out": 'Path("x")'}


def test_parameters_of_without_a_parameters_cell(tmp_path):
    nb = tmp_path / "nb.py"
    nb.write_text("# %%\nx = 1\n")
    with pytest.raises(ValueError, match="no cell tagged 'parameters'"):
        parameters_of(nb)


def test_unknown_parameter_lists_the_valid_ones(tmp_path):
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['acc'\]; valid: \['accuracy', 'profile'"):
        execute(OK, "smoke", tmp_path, {"acc": 0.5})
    with pytest.raises(ValueError, match="profile"):
        execute(OK, "smoke", tmp_path, {"profile": "full"})
    assert not (tmp_path / "smoke").exists()


@pytest.mark.parametrize(
    "text, value",
    [("[0,1]", [0, 1]), ("true", True), ("null", None), ("1e-3", 1e-3), ("smoke", "smoke"), ("a: [", "a: [")],
)
def test_cli_values_are_json_or_yaml(text, value):
    assert _literal(text) == value


def test_missing_kernel_says_how_to_install(monkeypatch):
    class NoKernels:
        def get_kernel_spec(self, name):
            raise notebooks.NoSuchKernel(name)

    monkeypatch.setattr(notebooks, "KernelSpecManager", NoKernels)
    with pytest.raises(RuntimeError, match="ipykernel install --sys-prefix --name python3"):
        ensure_kernel()


@pytest.mark.notebooks
def test_execute_ok_injects_parameters(tmp_path):
    run = execute(OK, "smoke", tmp_path, {"accuracy": 0.7})
    assert (run.name, run.status, run.error) == ("ok", "ok", None)
    assert run.output == tmp_path / "smoke" / "notebooks" / "ok.ipynb"
    # results_dir relative to the notebook's directory (its cwd): no machine path in the executed notebook
    assert run.parameters == {"accuracy": 0.7, "profile": "smoke", "results_dir": os.path.relpath(tmp_path, FIXTURES)}
    assert "accuracy parameter = 0.7" in _outputs(run.output)
    status = json.loads(run.output.with_suffix(".status.json").read_text())
    assert (
        status["status"] == "ok" and status["error"] is None and status["parameters"] == {"accuracy": 0.7, "profile": "smoke"}
    )
    assert status["output"] == "smoke/notebooks/ok.ipynb" and status["source"] == os.path.relpath(OK, tmp_path)
    assert {"duration_s", "started", "finished", "commit", "dirty"} <= set(status)
    assert str(tmp_path) not in run.output.with_suffix(".status.json").read_text()
    papermill_paths = json.loads(run.output.read_text())["metadata"]["papermill"]
    assert papermill_paths["output_path"] == "smoke/notebooks/ok.ipynb"
    assert papermill_paths["input_path"] == os.path.relpath(OK, tmp_path)
    summary = Summary.load(summary_path(tmp_path, "smoke", "ok"))
    assert summary.headlines["accuracy"].ours == 0.7
    assert summary.claims["ok-1"].ours == 0.7


def test_provenance_is_the_commit_at_execution_and_ignores_the_results_dir(tmp_path, monkeypatch):
    repo = tmp_path / "repo"
    (repo / "results").mkdir(parents=True)
    git = lambda *a: subprocess.run(["git", "-C", str(repo), *a], check=True, capture_output=True, text=True).stdout.strip()
    git("init", "-q")
    (repo / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    monkeypatch.setattr(notebooks, "__file__", str(repo / "code.py"))
    (repo / "results" / "new.json").write_text("{}")
    assert notebooks._provenance(repo / "results") == {"commit": git("rev-parse", "HEAD"), "dirty": False}
    (repo / "code.py").write_text("x = 2\n")
    assert notebooks._provenance(repo / "results") == {"commit": git("rev-parse", "HEAD"), "dirty": True}
    monkeypatch.setattr(notebooks, "__file__", str(tmp_path / "elsewhere.py"))
    assert notebooks._provenance(repo / "results") == {"commit": None, "dirty": None}


@pytest.mark.notebooks
def test_execute_failing_notebook_keeps_partial_output(tmp_path):
    run = execute(FAILS, "smoke", tmp_path)
    assert run.status == "failed"
    assert run.error == "RuntimeError: boom in the second cell"
    assert run.output == tmp_path / "smoke" / "notebooks" / "fails.failed.ipynb"
    outputs = _outputs(run.output)
    assert "first cell ran" in outputs and "never reached" not in outputs
    status = json.loads((tmp_path / "smoke" / "notebooks" / "fails.failed.status.json").read_text())
    assert status["status"] == "failed" and "boom" in status["error"]
    assert not (tmp_path / "smoke" / "notebooks" / "fails.ipynb").exists()
    assert sorted(p.name for p in run.output.parent.iterdir()) == ["fails.failed.ipynb", "fails.failed.status.json"]


@pytest.mark.notebooks
def test_a_failure_never_replaces_the_last_good_run(tmp_path):
    """ok, then the same notebook failing after it saved a new summary, then ok again."""
    nb_dir = tmp_path / "smoke" / "notebooks"
    assert execute(OK, "smoke", tmp_path).status == "ok"
    good = {name: (nb_dir / name).read_bytes() for name in ("ok.ipynb", "ok.status.json", "ok.summary.json")}
    broken = tmp_path / "src" / "ok.py"  # the same notebook name, now failing in a cell after its summary is saved
    broken.parent.mkdir()
    broken.write_text(OK.read_text() + '\n# %%\nraise RuntimeError("after the summary")\n')
    run = execute(broken, "smoke", tmp_path, {"accuracy": 0.5})
    assert (run.status, run.output) == ("failed", nb_dir / "ok.failed.ipynb")
    assert {name: (nb_dir / name).read_bytes() for name in good} == good
    assert Summary.load(nb_dir / "ok.failed.summary.json").headlines["accuracy"].ours == 0.5
    assert json.loads((nb_dir / "ok.failed.status.json").read_text())["error"] == "RuntimeError: after the summary"
    assert execute(OK, "smoke", tmp_path, {"accuracy": 0.6}).status == "ok"
    assert sorted(p.name for p in nb_dir.iterdir()) == ["ok.ipynb", "ok.status.json", "ok.summary.json"]
    assert Summary.load(nb_dir / "ok.summary.json").headlines["accuracy"].ours == 0.6


@pytest.mark.notebooks
def test_a_success_without_a_summary_removes_the_old_one(tmp_path):
    stale = summary_path(tmp_path, "smoke", "fails")
    Summary("fails", "stale", "smoke").save(stale)
    quiet = tmp_path / "src" / "fails.py"
    quiet.parent.mkdir()
    quiet.write_text('# %% tags=["parameters"]\nprofile = "smoke"\nresults_dir = "../results"\n')
    assert execute(quiet, "smoke", tmp_path).status == "ok"
    assert not stale.exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maelab.pipeline.notebooks", *args], capture_output=True, text=True)


@pytest.mark.notebooks
def test_cli_exit_codes(tmp_path):
    ok = _cli(str(OK), "--profile", "smoke", "--results-dir", str(tmp_path), "-p", "accuracy", "0.95", "-p", "seeds", "[0,1]")
    assert ok.returncode == 0, ok.stderr
    assert "accuracy parameter = 0.95" in _outputs(tmp_path / "smoke" / "notebooks" / "ok.ipynb")
    assert Summary.load(summary_path(tmp_path, "smoke", "ok")).claims["ok-1"].seeds == 2
    assert _cli(str(FAILS), "--results-dir", str(tmp_path)).returncode == 1
    bad = _cli(str(OK), "--results-dir", str(tmp_path), "-p", "acc", "1")
    assert bad.returncode == 2 and "valid: ['accuracy'" in bad.stderr


def test_cli_help_says_it_reruns_one_notebook():
    out = _cli("--help").stdout
    assert "Rerun ONE paper notebook with new parameters" in out and "python -m maelab report --profile" in out
