"""Every paper notebook executes with papermill on the smoke profile (runs made once, locally)."""

import json
from pathlib import Path

import pytest

from maelab.__main__ import notebooks_of
from maelab.evaluation.claims import VERDICTS, Summary, summary_path
from maelab.pipeline.config import load_profile
from maelab.pipeline.launch import launch
from maelab.pipeline.notebooks import execute, parameters_of
from maelab.pipeline.registry import PAPERS, all_runs

pytestmark = [pytest.mark.notebooks, pytest.mark.slow]
NOTEBOOKS = notebooks_of(PAPERS)


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    results = tmp_path_factory.mktemp("results")
    p = load_profile("smoke")
    outcomes = launch(all_runs(p), p, results, cluster="local")
    assert all(o.status == "done" for o in outcomes), [o for o in outcomes if o.status != "done"]
    return results


def test_every_notebook_has_the_standard_parameters():
    assert NOTEBOOKS
    for nb in NOTEBOOKS:
        params = parameters_of(nb)
        assert {"profile", "results_dir", "overrides"} <= set(params), nb.name
        assert params["profile"] == "mini"  # the embedded default


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_smoke(nb: Path, smoke_results):
    res = execute(nb, "smoke", smoke_results)
    assert res.status == "ok", res.error
    summary = Summary.load(summary_path(smoke_results, "smoke", nb.stem))
    assert summary.profile == "smoke" and (summary.claims or summary.headlines)
    assert all(c.verdict in VERDICTS and c.evidence for c in summary.claims.values())
    status = json.loads(res.output.with_name(f"{nb.stem}.status.json").read_text())
    assert status["status"] == "ok"
