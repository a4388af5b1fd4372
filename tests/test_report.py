import json
from html import escape
from pathlib import Path

import pytest

from maelab.evaluation.claims import Summary, summary_path
from maelab.pipeline.notebooks import run_all
from maelab.pipeline.report import _ledger_row, build_report

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
SECTIONS = [
    {"name": "ok", "paper": "Fixture paper", "title": "OK section"},
    {"name": "lcmae_9_missing", "paper": "LC-MAE", "title": "A section that never ran"},
]


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results_dir = tmp_path_factory.mktemp("results")
    runs = run_all([FIXTURES / "fails.py", FIXTURES / "ok.py"], "smoke", results_dir)
    assert [r.status for r in runs] == ["failed", "ok"]  # continues after the failure
    return results_dir


@pytest.mark.notebooks
def test_report_index_and_ledger(results):
    index = build_report(results, "smoke", sections=SECTIONS)
    report = results / "smoke" / "report"
    assert index == report / "index.html"
    assert (report / "ok.html").exists() and (report / "fails.failed.html").exists()
    assert not (report / "fails.html").exists()  # fails never succeeded: it has only a failed page
    html = index.read_text()
    assert escape("OK fixture: accuracy above the paper's") in html  # first markdown heading
    assert "Failing fixture" in html and "A section that never ran" in html
    assert "<td class='ok'>ok</td>" in html
    assert "<td class='failed'>failed<br><span class='muted'>RuntimeError: boom in the second cell</span></td>" in html
    assert "<td class='not-run'>not run<br>" in html
    assert "<a href='fails.failed.html'>failed page</a>" in html and "<a href='ok.html'>page</a>" in html
    assert "<b>0.9</b> <span class='muted'>vs paper 0.8</span>" in html
    verdict = Summary.load(summary_path(results, "smoke", "ok")).claims["ok-1"].verdict
    assert "Claims ledger" in html and "ok-1" in html and f"<td class='{verdict.replace(' ', '-')}'>{verdict}</td>" in html
    assert ", 2 not computed</p>" in html
    assert "cdn" not in html.lower()
    ledger = json.loads((report / "ledger.json").read_text())
    assert [(c["notebook"], c["id"], c["verdict"]) for c in ledger] == [
        ("ok", "ok-1", verdict),
        ("lcmae_9_missing", "", "not computed"),
        ("fails", "", "not computed"),
    ]
    assert ledger[1]["statement"] == "claims of lcmae_9_missing not computed: the notebook has not been executed"
    assert ledger[2]["statement"] == "claims of fails not computed: RuntimeError: boom in the second cell"


@pytest.mark.notebooks
def test_report_hides_code_unless_keep_code(results):
    build_report(results, "smoke")
    page = results / "smoke" / "report" / "ok.html"
    assert "accuracy parameter = 0.9" in page.read_text()
    assert "difference_of_accuracies_ci" not in page.read_text()
    build_report(results, "smoke", keep_code=True)
    assert "difference_of_accuracies_ci" in page.read_text()


def test_ledger_escapes_text():
    claim = {"notebook": "n", "id": "c", "statement": "<script>x</script>", "verdict": "inconclusive", "ci": None}
    row = _ledger_row(claim)
    assert "<script>" not in row and "&lt;script&gt;" in row
