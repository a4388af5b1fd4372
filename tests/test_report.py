import json
from html import escape
from pathlib import Path

import pytest

from maelab.pipeline.notebooks import run_all
from maelab.pipeline.report import _ledger_row, build_report

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
SECTIONS = [
    {"name": "ok", "paper": "Fixture paper", "title": "OK section"},
    {"name": "lcmae_9_missing", "paper": "LC-MAE", "title": "A section that never ran"},
]

pytestmark = pytest.mark.notebooks


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    results_dir = tmp_path_factory.mktemp("results")
    runs = run_all([FIXTURES / "fails.py", FIXTURES / "ok.py"], "smoke", results_dir)
    assert [r.status for r in runs] == ["failed", "ok"]  # continues after the failure
    return results_dir


def test_report_index_and_ledger(results):
    index = build_report(results, "smoke", sections=SECTIONS)
    report = results / "smoke" / "report"
    assert index == report / "index.html"
    assert (report / "ok.html").exists() and (report / "fails.html").exists()
    html = index.read_text()
    assert escape("OK fixture: accuracy above the paper's") in html  # first markdown heading
    assert "Failing fixture" in html and "A section that never ran" in html
    assert "<td class='ok'>ok</td>" in html
    assert "<td class='failed'>failed</td>" in html
    assert "<td class='not-run'>not run</td>" in html
    assert "<b>0.9</b> <span class='muted'>vs paper 0.8</span>" in html
    assert "Claims ledger" in html and "ok-1" in html and "<td class='reproduced'>reproduced</td>" in html
    assert "cdn" not in html.lower()
    ledger = json.loads((report / "ledger.json").read_text())
    assert [(c["notebook"], c["id"], c["verdict"]) for c in ledger] == [("ok", "ok-1", "reproduced")]


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
