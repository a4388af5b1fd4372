"""Execute the Jupytext paper notebooks with papermill into `<name>.ipynb` and `<name>.status.json`.

A failed run never replaces those: it is kept beside them as `<name>.failed.ipynb` and `<name>.failed.status.json`.

papermill cannot read Jupytext `.py` files, so each notebook is read with `jupytext.read` and passed as a
NotebookNode. Parameters are checked against the notebook's `parameters` cell (papermill only warns).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jupytext
import nbformat
import papermill
import yaml
from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from papermill.exceptions import PapermillExecutionError

from maelab.evaluation.claims import save_json, summary_path

KERNEL = "python3"
INJECTED = ("profile", "results_dir")  # always set by `execute`, never through `parameters`


@dataclass
class NotebookRun:
    """The outcome of executing one notebook."""

    name: str
    status: str  # 'ok' | 'failed'
    duration_s: float
    parameters: dict[str, object]  # what was injected, profile and results_dir included
    output: Path  # <name>.ipynb, or <name>.failed.ipynb for a failed run
    error: str | None = None


def parameters_of(nb_path: str | os.PathLike) -> dict[str, object]:
    """Defaults in the notebook's `parameters` cell: literals evaluated, other expressions kept as source text."""
    nb = jupytext.read(nb_path)
    cells = [c for c in nb.cells if c.cell_type == "code" and "parameters" in c.metadata.get("tags", [])]
    if not cells:
        raise ValueError(f"{nb_path} has no cell tagged 'parameters'; start one with: # %% tags=[\"parameters\"]")
    source = cells[0].source
    defaults: dict[str, object] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.AnnAssign):
            node = ast.Assign(targets=[node.target], value=node.value)
        if not isinstance(node, ast.Assign) or node.value is None:
            continue
        for target in node.targets:
            if isinstance(target, ast.Name):
                try:
                    defaults[target.id] = ast.literal_eval(node.value)
                except (ValueError, TypeError, SyntaxError):
                    defaults[target.id] = ast.get_source_segment(source, node.value)
    return defaults


def check_parameters(nb_path: str | os.PathLike, parameters: dict[str, object]) -> None:
    """Raise ValueError for a parameter the notebook does not define, or for profile / results_dir."""
    reserved = sorted(set(parameters) & set(INJECTED))
    if reserved:
        raise ValueError(f"set {reserved} through the profile / results_dir arguments, not as parameters")
    valid = parameters_of(nb_path)
    unknown = sorted(set(parameters) - set(valid))
    if unknown:
        raise ValueError(f"{Path(nb_path).name}: unknown parameter(s) {unknown}; valid: {sorted(valid)}")


def ensure_kernel() -> None:
    """Raise unless the Jupyter kernel `python3` runs this interpreter (the one maelab is installed in)."""
    this_python = {"python", "python3", f"python3.{sys.version_info.minor}", sys.executable}
    try:
        argv0 = KernelSpecManager().get_kernel_spec(KERNEL).argv[0]
    except NoSuchKernel:
        argv0 = None
    if argv0 not in this_python:
        found = "no such kernel" if argv0 is None else f"it runs {argv0}"
        raise RuntimeError(
            f"Jupyter kernel {KERNEL!r} must run {sys.executable} ({found}); "
            f"install it with: {sys.executable} -m ipykernel install --sys-prefix --name {KERNEL}"
        )


def _provenance(results_dir: Path) -> dict[str, object]:
    """The maelab checkout's commit, and whether it has uncommitted changes outside `results_dir` (None: no git)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True, check=True).stdout

    try:
        commit, top = git("rev-parse", "HEAD").strip(), Path(git("rev-parse", "--show-toplevel").strip())
        outside = [f":(top,exclude){results_dir.relative_to(top)}"] if results_dir.is_relative_to(top) else []
        dirty = bool(git("status", "--porcelain", "--", ":/", *outside).strip())
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": dirty}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class _Snapshot:
    """A file's bytes and identity before a run (save_json replaces a file, so a new save is a new inode)."""

    data: bytes
    key: tuple[int, int]

    @classmethod
    def of(cls, path: Path) -> _Snapshot | None:
        if not path.exists():
            return None
        st = path.stat()
        return cls(path.read_bytes(), (st.st_ino, st.st_mtime_ns))


def _written(path: Path, before: _Snapshot | None) -> bool:
    """Whether `path` was saved since `before` was taken."""
    if not path.exists():
        return False
    st = path.stat()
    return before is None or (st.st_ino, st.st_mtime_ns) != before.key


def _restore(path: Path, before: _Snapshot | None) -> None:
    """Put back the bytes of `before` (or remove `path` when there was none)."""
    if before is None:
        path.unlink(missing_ok=True)
        return
    tmp = path.with_name(f".{path.name}.restore")
    tmp.write_bytes(before.data)
    os.replace(tmp, path)


def _aside(path: Path, name: str) -> Path:
    """Where a failed run keeps its version of a notebook file: <name>.failed.ipynb, <name>.failed.status.json, ..."""
    return path.with_name(f"{name}.failed{path.name[len(name) :]}")


def _relative_paths(executed: Path, source: Path, output: Path, results_dir: Path) -> None:
    """papermill records its input and output as absolute paths: store them relative to the results directory."""
    nb = nbformat.read(executed, as_version=4)
    meta = nb.metadata.get("papermill", {})
    meta.update(input_path=os.path.relpath(source, results_dir), output_path=os.path.relpath(output, results_dir))
    nbformat.write(nb, executed)


def execute(
    nb_path: str | os.PathLike,
    profile: str,
    results_dir: str | os.PathLike,
    parameters: dict[str, object] | None = None,
    out_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> NotebookRun:
    """Run one notebook into <results_dir>/<profile>/notebooks/ (or out_dir); a failing cell does not raise.

    The notebook is written aside while it runs. On success it becomes <name>.ipynb with <name>.status.json (and
    the <name>.summary.json it saved; an older one is removed), and the files of an earlier failure are removed.
    On failure the last good files stay as they were and the failed run's go beside them: <name>.failed.ipynb,
    <name>.failed.status.json and, if it saved one, <name>.failed.summary.json. Raises ValueError for unknown
    parameters. `timeout` is per cell, in seconds. The notebook runs with its own directory as cwd and gets
    results_dir relative to it; status.json holds paths relative to results_dir.
    """
    nb_path = Path(nb_path).resolve()
    name = nb_path.stem
    check_parameters(nb_path, parameters or {})
    ensure_kernel()
    results_dir = Path(results_dir).resolve()
    injected = {**(parameters or {}), "profile": profile, "results_dir": os.path.relpath(results_dir, nb_path.parent)}
    output = Path(out_dir or results_dir / profile / "notebooks").resolve() / f"{name}.ipynb"
    output.parent.mkdir(parents=True, exist_ok=True)
    running = output.with_name(f".{name}.running.ipynb")
    summary = summary_path(results_dir, profile, name)
    before = _Snapshot.of(summary)

    started, t0, error, provenance = _now(), time.perf_counter(), None, _provenance(results_dir)
    try:
        papermill.execute_notebook(
            jupytext.read(nb_path),
            str(running),
            parameters=injected,
            kernel_name=KERNEL,
            language="python",
            cwd=str(nb_path.parent),
            execution_timeout=timeout,
            progress_bar=False,
        )
    except PapermillExecutionError as e:
        error = f"{e.ename}: {e.evalue}"
    except (CellTimeoutError, DeadKernelError) as e:
        error = f"{type(e).__name__}: {e}"
    except BaseException:  # interrupted, or the kernel did not start: the last good files stay as they were
        running.unlink(missing_ok=True)
        if _written(summary, before):
            _restore(summary, before)
        raise
    run = NotebookRun(name, "failed" if error else "ok", time.perf_counter() - t0, injected, output, error)
    if error:
        run.output = _aside(output, name)
        if _written(summary, before):
            os.replace(summary, _aside(summary, name))
            _restore(summary, before)
        else:
            _aside(summary, name).unlink(missing_ok=True)  # an earlier failure's
    if running.exists():
        _relative_paths(running, nb_path, run.output, results_dir)
        os.replace(running, run.output)
    save_json(
        run.output.with_name(run.output.name.removesuffix(".ipynb") + ".status.json"),
        {
            "notebook": name,
            "source": os.path.relpath(nb_path, results_dir),
            "output": os.path.relpath(run.output, results_dir),
            "status": run.status,
            "duration_s": round(run.duration_s, 3),
            "parameters": {k: v for k, v in injected.items() if k != "results_dir"},
            "error": error,
            "started": started,
            "finished": _now(),
            **provenance,
        },
    )
    if not error:
        if before is not None and not _written(summary, before):
            summary.unlink()  # this run saved no summary: the older one's claims are not this run's
        for stale in (output, output.with_suffix(".status.json"), summary):
            _aside(stale, name).unlink(missing_ok=True)
    return run


def run_all(
    nb_paths: Sequence[str | os.PathLike],
    profile: str,
    results_dir: str | os.PathLike,
    out_dir: str | os.PathLike | None = None,
    timeout: float | None = None,
) -> list[NotebookRun]:
    """Run the notebooks in order with their default parameters, continuing after failures."""
    for nb_path in nb_paths:  # fail fast on a notebook without a parameters cell, before running any
        parameters_of(nb_path)
    return [execute(p, profile, results_dir, out_dir=out_dir, timeout=timeout) for p in nb_paths]


def _literal(text: str) -> object:
    """A -p value as JSON, else YAML, else the text itself (`[0,1]`, `true`, `null`, `1e-3`, `smoke`)."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def main(argv: Sequence[str] | None = None, prog: str = "python -m maelab.pipeline.notebooks") -> int:
    """CLI: rerun one notebook with new parameters. Exit 0 ok, 1 notebook failed, 2 bad parameters."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Rerun ONE paper notebook with new parameters (papermill). Writes "
        "<results-dir>/<profile>/notebooks/<name>.ipynb and <name>.status.json (a failed run goes to "
        "<name>.failed.ipynb and leaves the last good one in place); then rebuild the report with "
        "python -m maelab report --profile <profile>. Exit code: 0 ok, 1 the notebook failed, 2 bad parameters.",
        epilog=f"example: {prog} notebooks/lcmae_3_local_contrastive.py --profile smoke "
        '--results-dir results -p seeds "[0,1]"',
    )
    parser.add_argument("notebook", type=Path, help="Jupytext notebook (.py, percent format)")
    parser.add_argument("--profile", default="smoke", help="results profile (default: smoke)")
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="default: results")
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help='override a name of the notebook\'s parameters cell; VALUE is JSON/YAML, e.g. -p seeds "[0,1]"',
    )
    parser.add_argument("--out-dir", type=Path, help="write the executed notebook here instead")
    parser.add_argument("--timeout", type=float, help="per-cell timeout in seconds")
    args = parser.parse_args(argv)
    try:
        run = execute(
            args.notebook,
            args.profile,
            args.results_dir,
            {n: _literal(v) for n, v in args.parameter},
            out_dir=args.out_dir,
            timeout=args.timeout,
        )
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{run.status}: {run.name} in {run.duration_s:.1f} s -> {run.output}")
    if run.error:
        print(run.error, file=sys.stderr)
    return 0 if run.status == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
