import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from maelab.pipeline import notebooks
from maelab.evaluation.claims import Summary, summary_path
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
    assert run.parameters == {"accuracy": 0.7, "profile": "smoke", "results_dir": str(tmp_path.resolve())}
    assert "accuracy parameter = 0.7" in _outputs(run.output)
    status = json.loads(run.output.with_suffix(".status.json").read_text())
    assert status["status"] == "ok" and status["error"] is None and status["parameters"]["accuracy"] == 0.7
    assert {"duration_s", "started", "finished", "commit"} <= set(status)
    summary = Summary.load(summary_path(tmp_path, "smoke", "ok"))
    assert summary.headlines["accuracy"].ours == 0.7
    assert summary.claims["ok-1"].verdict == "not reproduced"  # 0.7 vs 0.8 on 1000 images each


@pytest.mark.notebooks
def test_execute_failing_notebook_keeps_partial_output(tmp_path):
    stale = summary_path(tmp_path, "smoke", "fails")
    Summary("fails", "stale", "smoke").save(stale)
    run = execute(FAILS, "smoke", tmp_path)
    assert run.status == "failed"
    assert run.error == "RuntimeError: boom in the second cell"
    outputs = _outputs(run.output)
    assert "first cell ran" in outputs and "never reached" not in outputs
    status = json.loads(run.output.with_suffix(".status.json").read_text())
    assert status["status"] == "failed" and "boom" in status["error"]
    assert not stale.exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "maelab.pipeline.notebooks", *args], capture_output=True, text=True)


@pytest.mark.notebooks
def test_cli_exit_codes(tmp_path):
    ok = _cli(
        str(OK), "--profile", "smoke", "--results-dir", str(tmp_path), "-p", "accuracy", "0.95", "-p", "seeds", "[0,1]"
    )
    assert ok.returncode == 0, ok.stderr
    assert "accuracy parameter = 0.95" in _outputs(tmp_path / "smoke" / "notebooks" / "ok.ipynb")
    assert Summary.load(summary_path(tmp_path, "smoke", "ok")).claims["ok-1"].seeds == 2
    assert _cli(str(FAILS), "--results-dir", str(tmp_path)).returncode == 1
    bad = _cli(str(OK), "--results-dir", str(tmp_path), "-p", "acc", "1")
    assert bad.returncode == 2 and "valid: ['accuracy'" in bad.stderr


def test_cli_help_says_it_reruns_one_notebook():
    assert "Rerun ONE paper notebook with new parameters" in _cli("--help").stdout
