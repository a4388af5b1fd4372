"""HTML report of executed notebooks: one page per notebook, an index of sections and the claims ledger.

Reads results/<profile>/notebooks/<name>.{ipynb,status.json,summary.json}; writes results/<profile>/report/.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Sequence

import nbformat
from nbconvert import HTMLExporter

from maelab.evaluation.claims import VERDICTS, format_value, save_json

HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
INDEX_COLUMNS = ("Paper", "Section", "Status", "Duration", "Parameters", "Headline numbers", "")
LEDGER_COLUMNS = ("Notebook", "Claim", "Ours", "Paper", "Verdict", "CI", "Seeds", "Profile", "Evidence", "Scale note")
HIDDEN_PARAMETERS = ("profile", "results_dir")  # the same on every row of an index

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
ul { margin: 0; padding-left: 1.2em; }
.ok, .reproduced { background: #d4edda; }
.failed, .not-reproduced { background: #f8d7da; }
.inconclusive { background: #fff3cd; }
.not-run, .unknown { background: #e2e3e5; }
.muted { color: #777; }
"""


def render_notebook(ipynb: str | os.PathLike, out_html: str | os.PathLike, keep_code: bool = False) -> Path:
    """One executed notebook -> HTML (nbconvert `lab` template), code cells hidden unless keep_code.

    The template loads MathJax from a CDN: the page opens offline but LaTeX is then not typeset.
    """
    hide = not keep_code
    exporter = HTMLExporter(
        template_name="lab", exclude_input=hide, exclude_input_prompt=hide, exclude_output_prompt=hide
    )
    body, _ = exporter.from_filename(str(ipynb))
    out_html = Path(out_html)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    out_html.write_text(body, encoding="utf-8")
    return out_html


def notebook_title(ipynb: str | os.PathLike) -> str | None:
    """The first markdown heading of a notebook."""
    for cell in nbformat.read(ipynb, as_version=4).cells:
        match = HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if match:
            return match.group(1)
    return None


def _read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def _section_row(name: str, section: dict, nb_dir: Path, report_dir: Path) -> dict:
    """Everything the index shows about one notebook."""
    ipynb = nb_dir / f"{name}.ipynb"
    status = _read_json(nb_dir / f"{name}.status.json") or {}
    summary = _read_json(nb_dir / f"{name}.summary.json") or {}
    ran = ipynb.exists()
    return {
        "name": name,
        "paper": section.get("paper", ""),
        "title": (notebook_title(ipynb) if ran else None) or summary.get("title") or section.get("title") or name,
        "status": status.get("status", "unknown") if ran else "not run",
        "duration_s": status.get("duration_s"),
        "parameters": status.get("parameters", {}),
        "headlines": summary.get("headlines", []),
        "claims": [{"notebook": name, **c} for c in summary.get("claims", [])],
        "page": f"{name}.html" if (report_dir / f"{name}.html").exists() else None,
    }


def _td(content: str, cls: str = "") -> str:
    """A table cell; `content` is HTML already escaped, `cls` a status or verdict made into a CSS class."""
    return f"<td class='{escape(cls.replace(' ', '-'))}'>{content}</td>" if cls else f"<td>{content}</td>"


def _index_row(row: dict) -> str:
    params = ", ".join(f"{k}={v!r}" for k, v in row["parameters"].items() if k not in HIDDEN_PARAMETERS)
    headlines = "".join(
        f"<li>{escape(h['quantity'])}: <b>{escape(format_value(h['ours']))}</b> "
        f"<span class='muted'>vs paper {escape(format_value(h['paper']))}</span> {escape(h.get('unit', ''))}</li>"
        for h in row["headlines"]
    )
    duration = "—" if row["duration_s"] is None else f"{row['duration_s']:.1f} s"
    cells = [
        _td(escape(row["paper"])),
        _td(f"{escape(row['title'])}<br><span class='muted'>{escape(row['name'])}</span>"),
        _td(escape(row["status"]), cls=row["status"]),
        _td(escape(duration)),
        _td(escape(params or "defaults")),
        _td(f"<ul>{headlines}</ul>" if headlines else "—"),
        _td(f"<a href='{escape(row['page'])}'>page</a>" if row["page"] else "—"),
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _ledger_row(claim: dict) -> str:
    ci = "—" if claim.get("ci") is None else f"[{format_value(claim['ci'][0])}, {format_value(claim['ci'][1])}]"
    cells = [
        _td(escape(claim["notebook"])),
        _td(f"<b>{escape(claim['id'])}</b> {escape(claim['statement'])}"),
        _td(escape(format_value(claim.get("ours")))),
        _td(escape(format_value(claim.get("paper")))),
        _td(escape(claim["verdict"]), cls=claim["verdict"]),
        _td(escape(ci)),
        _td(escape(str(claim.get("seeds", "")))),
        _td(escape(claim.get("profile", ""))),
        _td(escape(claim.get("evidence", ""))),
        _td(escape(claim.get("scale_note", ""))),
    ]
    return "<tr>" + "".join(cells) + "</tr>"


def _index_html(profile: str, rows: list[dict], claims: list[dict], description: str = "") -> str:
    counts = ", ".join(f"{sum(c['verdict'] == v for c in claims)} {v}" for v in VERDICTS)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    head = "".join(f"<th>{h}</th>" for h in INDEX_COLUMNS)
    ledger_head = "".join(f"<th>{h}</th>" for h in LEDGER_COLUMNS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>maelab report: {escape(profile)}</title>
<style>{CSS}</style></head><body>
<h1>maelab report: profile {escape(profile)}</h1>
<p>{escape(description)}</p>
<p class="muted">generated {escape(generated)}</p>
<h2>Paper sections</h2>
<table><tr>{head}</tr>
{"".join(_index_row(r) for r in rows)}
</table>
<h2>Claims ledger</h2>
<p>{escape(counts)}</p>
<table><tr>{ledger_head}</tr>
{"".join(_ledger_row(c) for c in claims)}
</table>
</body></html>
"""


def build_report(
    results_dir: str | os.PathLike, profile: str, keep_code: bool = False, sections: list[dict] | None = None,
    description: str = "",
) -> Path:
    """Render every executed notebook of a profile and write report/index.html and report/ledger.json.

    description: what the profile is (shown under the title).
    sections: expected notebooks in index order, dicts with keys name, paper, title; those without output show
    as 'not run'. Executed notebooks not in `sections` follow in name order.
    """
    nb_dir = Path(results_dir) / profile / "notebooks"
    report_dir = Path(results_dir) / profile / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    executed = sorted(nb_dir.glob("*.ipynb"))
    for ipynb in executed:
        render_notebook(ipynb, report_dir / f"{ipynb.stem}.html", keep_code)
    expected = {s["name"]: s for s in sections or []}
    names = list(expected) + [p.stem for p in executed if p.stem not in expected]
    rows = [_section_row(name, expected.get(name, {}), nb_dir, report_dir) for name in names]
    claims = [c for row in rows for c in row["claims"]]
    save_json(report_dir / "ledger.json", claims)
    index = report_dir / "index.html"
    index.write_text(_index_html(profile, rows, claims, description), encoding="utf-8")
    return index


def main(argv: Sequence[str] | None = None) -> int:
    """CLI: build the report of one profile and print the index path."""
    parser = argparse.ArgumentParser(
        prog="python -m maelab.pipeline.report",
        description="Render results/<profile>/notebooks/*.ipynb to results/<profile>/report/ "
        "(one page per notebook, index.html with the claims ledger, ledger.json).",
    )
    parser.add_argument("--profile", default="smoke", help="results profile (default: smoke)")
    parser.add_argument("--results-dir", type=Path, default=Path("results"), help="default: results")
    parser.add_argument("--keep-code", action="store_true", help="show code cells in the notebook pages")
    args = parser.parse_args(argv)
    print(build_report(args.results_dir, args.profile, keep_code=args.keep_code))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
