"""The report never shows fewer claims than expected, nor a failure's output as current (hand-made notebook files)."""

import json
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_markdown_cell, new_notebook

from maelab.evaluation.claims import Summary, save_json, summary_path
from maelab.pipeline.report import build_report

PROFILE = "mini"  # at smoke every claim reads untestable


def executed(results: Path, name: str, *, failed: bool = False, error: str | None = None, heading: str = "Section") -> None:
    """The files notebooks.execute leaves for one run of `name`: <name>[.failed].ipynb and .status.json."""
    stem = f"{name}.failed" if failed else name
    nb_dir = results / PROFILE / "notebooks"
    nb_dir.mkdir(parents=True, exist_ok=True)
    nbformat.write(new_notebook(cells=[new_markdown_cell(f"# {heading}")]), nb_dir / f"{stem}.ipynb")
    save_json(
        nb_dir / f"{stem}.status.json",
        {
            "notebook": name,
            "status": "failed" if failed else "ok",
            "error": error,
            "duration_s": 1.5,
            "parameters": {"profile": PROFILE},
        },
    )


def summary(results: Path, name: str) -> Path:
    s = Summary(name, "a title", PROFILE)
    s.claim("c-1", "Effect A is positive.", "reproduced", "95% CI [0.1, 0.2] entirely above 0", ours=0.15, paper=0.2)
    s.claim("c-2", "Effect B is negative.", "inconclusive", "95% CI includes 0", ours=-0.01, paper=-0.3)
    return s.save(summary_path(results, PROFILE, name))


def ledger(results: Path) -> list[dict]:
    return json.loads((results / PROFILE / "report" / "ledger.json").read_text())["claims"]


def test_failed_rerun_lists_the_last_good_claims_as_not_computed(tmp_path):
    executed(tmp_path, "nb")
    summary(tmp_path, "nb")
    executed(tmp_path, "nb", failed=True, error="RuntimeError: boom")
    html = build_report(tmp_path, PROFILE).read_text()
    entries = ledger(tmp_path)
    assert [(c["id"], c["verdict"]) for c in entries] == [("c-1", "not computed"), ("c-2", "not computed")]
    assert entries[0]["evidence"] == "RuntimeError: boom (the last successful run found: reproduced)"
    assert entries[0].get("ours") is None and entries[0]["paper"] == 0.2  # no stale number of ours
    assert "<td class='failed'>failed<br><span class='muted'>RuntimeError: boom</span></td>" in html
    assert "0 reproduced, 0 not reproduced, 0 inconclusive" in html and ", 2 not computed</p>" in html
    assert "<a href='nb.html'>page</a><br><a href='nb.failed.html'>failed page</a>" in html


def test_success_after_a_failure_drops_the_failed_page(tmp_path):
    executed(tmp_path, "nb")
    executed(tmp_path, "nb", failed=True, error="RuntimeError: boom")
    build_report(tmp_path, PROFILE)
    failed_page = tmp_path / PROFILE / "report" / "nb.failed.html"
    assert failed_page.exists()
    for f in (tmp_path / PROFILE / "notebooks").glob("nb.failed.*"):  # what a successful rerun does
        f.unlink()
    html = build_report(tmp_path, PROFILE).read_text()
    assert not failed_page.exists() and "failed page" not in html and "<td class='ok'>ok</td>" in html


@pytest.mark.parametrize("content", ['{"notebook": "nb", "claims": [{"id": "c-1", "verd', "[]"])
def test_a_corrupt_summary_is_named_and_its_claims_not_dropped_silently(tmp_path, content):
    executed(tmp_path, "nb")
    path = summary_path(tmp_path, PROFILE, "nb")
    path.write_text(content)
    html = build_report(tmp_path, PROFILE).read_text()
    [entry] = ledger(tmp_path)
    assert entry["verdict"] == "not computed"
    assert entry["statement"].startswith(f"claims of nb not computed: {path} does not parse as a summary")
    assert "<td class='failed'>failed<br>" in html and f"{path} does not parse" in html


def test_a_corrupt_status_or_notebook_is_named_and_the_previous_page_kept(tmp_path):
    executed(tmp_path, "nb", heading="Good heading")
    summary(tmp_path, "nb")
    build_report(tmp_path, PROFILE)
    page = tmp_path / PROFILE / "report" / "nb.html"
    good_page = page.read_text()
    ipynb = tmp_path / PROFILE / "notebooks" / "nb.ipynb"
    ipynb.write_text(ipynb.read_text()[:50])
    html = build_report(tmp_path, PROFILE).read_text()
    assert page.read_text() == good_page and "<a href='nb.html'>page</a>" in html
    assert f"{ipynb} does not parse" in html
    assert [(c["id"], c["verdict"]) for c in ledger(tmp_path)] == [("c-1", "not computed"), ("c-2", "not computed")]
    executed(tmp_path, "nb")
    status = tmp_path / PROFILE / "notebooks" / "nb.status.json"
    status.write_text('{"status": "o')
    assert f"{status} does not parse" in build_report(tmp_path, PROFILE).read_text()


def test_an_expected_notebook_that_never_ran(tmp_path):
    build_report(tmp_path, PROFILE, sections=[{"name": "hlvm_1_x", "paper": "hlvm", "title": "HLVM section"}])
    assert ledger(tmp_path) == [
        {
            "notebook": "hlvm_1_x",
            "id": "",
            "statement": "claims of hlvm_1_x not computed: the notebook has not been executed",
            "verdict": "not computed",
            "evidence": "the notebook has not been executed",
        }
    ]
