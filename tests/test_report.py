import json
from html import escape
from pathlib import Path

import nbformat
import pytest
from matplotlib.colors import to_hex
from nbformat.v4 import new_markdown_cell, new_notebook

from maelab.evaluation.claims import UNTESTABLE, Summary, save_json, summary_path
from maelab.pipeline.notebooks import run_all
from maelab.pipeline.report import (
    NOT_COMPUTED,
    VERDICT_STYLE,
    _ledger_row,
    _ledger_stats_html,
    build_report,
    forest_figure,
    forest_rows,
)

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
    assert "<tr><td>accuracy (fraction)</td><td>0.8</td><td>0.9</td><td></td></tr>" in html  # paper, ours: no difference
    verdict = Summary.load(summary_path(results, "smoke", "ok")).claims["ok-1"].verdict
    assert "Claims ledger" in html and "ok-1" in html and f"<td class='{verdict.replace(' ', '-')}'>{verdict}</td>" in html
    assert ", 2 not computed</p>" in html
    assert "cdn" not in html.lower()
    ledger = json.loads((report / "ledger.json").read_text())
    assert ledger["verdicts"][-1] == "untestable at this scale" and ledger["stats"]["claims"] >= 1
    ledger = ledger["claims"]
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


def claim(notebook: str, id: str, verdict: str, **fields) -> dict:
    return {"notebook": notebook, "id": id, "statement": f"statement of {id}", "verdict": verdict, **fields}


LEDGER = [
    claim("lcmae_3_x", "a", "reproduced", ours=0.8, ci=[0.2, 1.4], unit="points", null=0.0, rule="greater"),
    claim("lcmae_3_x", "b", UNTESTABLE, raw_verdict="reproduced", ours=-0.2, ci=[-0.7, 0.3], null=-1.0, rule="equivalent"),
    claim("lcmae_3_x", "rho", "inconclusive", ours=-0.4, unit="Spearman rho"),  # numeric, no CI
    claim("lcmae_3_x", "collapse", "not reproduced", ours="(e) projector only"),  # non-numeric
    claim("lcmae_3_x", "missing", UNTESTABLE, ours=None),
    claim("calibration_gate", "gate-finetuning", "reproduced", ours=1.2, ci=[0.5, 1.9], null=0.0),
    claim("hlvm_2_3_x", "", NOT_COMPUTED),
]


def test_forest_rows_one_per_claim_grouped_by_paper():
    rows = forest_rows(LEDGER)
    assert [(r["group"], r["id"]) for r in rows] == [
        ("Calibration gate", "gate-finetuning"),
        *(("LC-MAE", c["id"]) for c in LEDGER[:5]),
        ("HLVM", "hlvm_2_3_x"),  # a not-computed entry has no id: named by its notebook
    ]
    by_id = {r["id"]: r for r in rows}
    assert by_id["rho"]["value"] == -0.4 and by_id["rho"]["ci"] is None
    assert by_id["collapse"]["value"] is None and by_id["collapse"]["text"] == "(e) projector only"
    assert by_id["missing"]["text"] == "—" and by_id["b"]["raw_verdict"] == "reproduced"
    [nan] = forest_rows([claim("lcmae_3_x", "nan", "inconclusive", ours=float("nan"), ci=[float("nan"), 1.0])])
    assert nan["value"] is None and nan["ci"] is None and nan["text"] == "nan"
    assert forest_figure([nan]).axes[0].texts[0].get_text() == "nan"


def test_forest_figure_has_a_panel_per_claim_and_untestable_is_grey_and_hollow():
    rows = forest_rows(LEDGER)
    fig = forest_figure(rows)
    assert [ax.get_gid() for ax in fig.axes] == [r["id"] for r in rows]
    panels = dict(zip([r["id"] for r in rows], fig.axes))

    def estimate(id: str):
        [marker] = [line for line in panels[id].lines if line.get_gid() == "estimate"]
        return marker

    grey = VERDICT_STYLE[UNTESTABLE][0]
    assert to_hex(estimate("b").get_color()) == grey and to_hex(estimate("b").get_markerfacecolor()) == "#ffffff"
    assert to_hex(estimate("a").get_markerfacecolor()) == VERDICT_STYLE["reproduced"][0]
    assert panels["b"].get_xlim()[0] < -1 and panels["b"].get_xlim()[1] > 1  # the equivalence band ±|null| is shown
    assert [t.get_text() for t in panels["collapse"].texts] == ["(e) projector only"]
    assert estimate("rho").get_xdata()[0] == -0.4 and not panels["rho"].collections  # a marker, no CI bar
    texts = [t.get_text() for t in fig.texts]
    assert f"{UNTESTABLE} (numbers alone: reproduced)" in texts and "-0.2 [-0.7, 0.3]" in texts


def test_ledger_stats_match_a_hand_count():
    # 6 claims with a verdict: 2 untestable, so 4 tested; 3 of them decisive; chance: 0.05 x 4 = 0.2
    html = _ledger_stats_html(LEDGER)
    assert "<b>6 claims</b> with a verdict (1 more not computed)" in html
    assert "<b>4 tested</b>" in html and "<b>3 decisive</b>" in html and "at most <b>0.2</b> decisive verdicts" in html
    assert "±1 accuracy points" in html


def _executed_notebooks(tmp_path, *names):
    """Minimal executed notebooks with an ok status under tmp_path/mini/notebooks."""
    nb_dir = tmp_path / "mini" / "notebooks"
    nb_dir.mkdir(parents=True)
    for name in names:
        nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {name}")]), nb_dir / f"{name}.ipynb")
        save_json(nb_dir / f"{name}.status.json", {"notebook": name, "status": "ok", "error": None, "parameters": {}})


def test_index_opens_with_the_gates_and_the_forest_plot(tmp_path):
    _executed_notebooks(tmp_path, "calibration_gate", "lcmae_3_x")
    calibration = Summary("calibration_gate", "Calibration", "mini")
    calibration.claim("gate-finetuning", "MAE-init beats scratch.", "reproduced", "CI above 0", ours=1.2, ci=(0.5, 1.9))
    calibration.extra["calibration"] = {
        "profile": "mini",
        "gates": {"finetuning": {"passed": True, "evidence": "+1.19 [+0.54, +1.86] points"}},
        "noise_floor": {"ft": 0.96, "lp": None},
        "gains": {"ft": [0.54, 1.86]},
    }
    calibration.save(summary_path(tmp_path, "mini", "calibration_gate"))
    lcmae = Summary("lcmae_3_x", "LC-MAE", "mini")  # no calibration: its gated claim is untestable
    lcmae.claim("c", "A gated claim.", "reproduced", "CI above 0", ours=0.8, ci=(0.2, 1.4), gate="finetuning")
    lcmae.claim("s", "A string result.", "not reproduced", "by eye", ours="none")
    lcmae.save(summary_path(tmp_path, "mini", "lcmae_3_x"))
    html = build_report(tmp_path, "mini").read_text()
    png = tmp_path / "mini" / "report" / "ledger.png"
    assert png.read_bytes().startswith(b"\x89PNG") and "<img src='ledger.png'" in html
    assert html.index("Calibration gates") < html.index("<img") < html.index("Paper sections")
    assert "finetuning <span class='reproduced'>passed</span> (+1.19 [+0.54, +1.86] points)" in html
    assert "Seed noise floors: ft 0.96, lp unmeasured" in html and "ft [0.54, 1.86]" in html
    assert f"<td class='untestable-at-this-scale'>{UNTESTABLE}</td>" in html
    assert "untestable-at-this-scale { background: #e2e3e5; }" in html  # grey, as in the plot


def test_ledger_json_stores_floats_at_12_significant_digits(tmp_path):
    """The paper's 67.41 - 47.45 is 19.96 in ledger.json, also when a summary was saved before rounding existed."""
    _executed_notebooks(tmp_path, "calibration_gate", "hlvm_3_x")
    calibration = Summary("calibration_gate", "Calibration", "mini")
    calibration.extra["calibration"] = {
        "profile": "mini",
        "gates": {"finetuning": {"passed": True, "evidence": "e", "gain": 3.300000000000003}},
        "noise_floor": {"lp": 1.1800000000000068},
        "gains": {"ft": [2.710000000000012, 3.9167500000000013]},
    }
    save_json(summary_path(tmp_path, "mini", "calibration_gate"), {**calibration.to_dict(), "extra": calibration.extra})
    hlvm = Summary("hlvm_3_x", "HLVM", "mini")
    for i in range(3):  # 3 tested claims: 0.05 * 3 = 0.15000000000000002
        hlvm.claim(f"c{i}", "A difference.", "inconclusive", "CI includes 0", ours=0.5, paper=67.41 - 47.45, ci=(0.1, 0.9))
    old = hlvm.to_dict()  # as an unrounded summary of an earlier version would store it
    old["claims"][0] |= {"paper": 19.959999999999994, "ci": [0.1 + 0.2, 0.9]}
    save_json(summary_path(tmp_path, "mini", "hlvm_3_x"), old)
    build_report(tmp_path, "mini")
    text = (tmp_path / "mini" / "report" / "ledger.json").read_text()
    ledger = json.loads(text)
    assert "19.959999" not in text and [c["paper"] for c in ledger["claims"]] == [19.96] * 3
    assert ledger["claims"][0]["ci"] == [0.3, 0.9] and ledger["stats"]["expected_false_positives"] == 0.15
    assert ledger["gates"]["finetuning"]["gain"] == 3.3 and ledger["noise_floors"] == {"lp": 1.18}
