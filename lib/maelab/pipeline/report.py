"""HTML report of executed notebooks: one page per notebook, an index of sections and the claims ledger.

Reads results/<profile>/notebooks/<name>{,.failed}.{ipynb,status.json,summary.json} (see notebooks.py); writes
results/<profile>/report/: <name>.html (the last good run), <name>.failed.html (a failed latest run), index.html,
ledger.json and mathjax/ (served next to the pages, so formulas render offline).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter

from maelab.evaluation.claims import VERDICTS, Summary, format_value, save_json

HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
INDEX_COLUMNS = ("Paper", "Section", "Status", "Duration", "Parameters", "Headline numbers", "")
LEDGER_COLUMNS = ("Notebook", "Claim", "Ours", "Paper", "Verdict", "CI", "Seeds", "Profile", "Evidence", "Scale note")
HIDDEN_PARAMETERS = ("profile", "results_dir")  # the same on every row of an index
NOT_COMPUTED = "not computed"  # the verdict of an expected claim whose notebook failed or did not run

# MathJax 2 from the pip package jupyter-server-mathjax, copied next to the pages: HTML-CSS output with the
# STIX-Web fonts (the only ones it ships), 2.7 MB. The -full config holds the input jax and the common
# extensions; not copied: SVG output, MathML input, a11y, localizations (English is built in).
MATHJAX_DIR = "mathjax"
MATHJAX_PARTS = (
    "LICENSE",
    "MathJax.js",
    "config/TeX-AMS-MML_HTMLorMML-full.js",
    "config/Safe.js",
    "extensions",
    "jax/element",
    "jax/output/HTML-CSS",
    "fonts/HTML-CSS/STIX-Web/woff",
)
MATHJAX_SKIP = ("a11y", "MathML")
MATHJAX_LOCAL_CONFIG = """\
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}});
MathJax.Ajax.loadComplete("[MathJax]/config/maelab.js");
"""
MATHJAX_URL = f"{MATHJAX_DIR}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,maelab"
# nbconvert's lab template without what it loads from the network: require.js, mermaid, the widget manager
OFFLINE_TEMPLATE = """\
{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock -%}
{%- block html_head_js_mermaidjs -%}{%- endblock -%}
{%- block jupyter_widgets -%}{%- endblock -%}
"""

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f0f0f0; }
ul { margin: 0; padding-left: 1.2em; }
.ok, .reproduced { background: #d4edda; }
.failed, .not-reproduced { background: #f8d7da; }
.inconclusive { background: #fff3cd; }
.not-run, .not-computed, .untestable-at-this-scale { background: #e2e3e5; }
.muted { color: #777; }
"""


def install_mathjax(report_dir: str | os.PathLike) -> Path:
    """Copy the MathJax files the pages use into <report_dir>/mathjax/ and return its MathJax.js."""
    spec = importlib.util.find_spec("jupyter_server_mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the report needs MathJax from jupyter-server-mathjax: pip install -e '.[notebooks]'")
    source = Path(spec.submodule_search_locations[0]) / "static"
    target = Path(report_dir) / MATHJAX_DIR
    for part in MATHJAX_PARTS:
        src, dst = source / part, target / part
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*MATHJAX_SKIP))
        else:
            shutil.copyfile(src, dst)
    (target / "config" / "maelab.js").write_text(MATHJAX_LOCAL_CONFIG)
    return target / "MathJax.js"


def render_notebook(ipynb: str | os.PathLike, out_html: str | os.PathLike, keep_code: bool = False) -> Path:
    """One executed notebook -> HTML (nbconvert `lab` template), code cells hidden unless keep_code.

    The page loads nothing from the network: MathJax from ./mathjax/ (see `install_mathjax`). It is written
    aside and then replaces out_html; a notebook that does not parse raises ValueError and leaves the old page.
    """
    return _export(_read_notebook(Path(ipynb)), Path(out_html), keep_code)


def _export(nb: nbformat.NotebookNode, out_html: Path, keep_code: bool) -> Path:
    hide = not keep_code
    exporter = HTMLExporter(
        template_name="lab",
        template_file="maelab_offline.html.j2",
        extra_loaders=[DictLoader({"maelab_offline.html.j2": OFFLINE_TEMPLATE})],
        mathjax_url=MATHJAX_URL,
        exclude_input=hide,
        exclude_input_prompt=hide,
        exclude_output_prompt=hide,
    )
    body, _ = exporter.from_notebook_node(nb)
    out_html.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_html.with_name(f".{out_html.name}.tmp")
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, out_html)
    return out_html


def _read_notebook(ipynb: Path) -> nbformat.NotebookNode:
    """An executed notebook; a file that does not parse raises ValueError naming it."""
    try:
        return nbformat.read(ipynb, as_version=4)
    except (ValueError, nbformat.ValidationError) as e:
        raise ValueError(f"{ipynb} does not parse ({type(e).__name__}: {e}); rerun the notebook to rewrite it") from e


def notebook_title(nb: nbformat.NotebookNode) -> str | None:
    """The first markdown heading of a notebook."""
    for cell in nb.cells:
        match = HEADING.search(cell.source) if cell.cell_type == "markdown" else None
        if match:
            return match.group(1)
    return None


def _read_status(path: Path) -> dict | None:
    """A <name>.status.json, None when absent; one that does not parse raises ValueError naming it."""
    if not path.exists():
        return None
    try:
        status = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} does not parse ({e}); rerun the notebook to rewrite it") from e
    if not isinstance(status, dict) or "status" not in status:
        raise ValueError(f"{path} is not a notebook status (no 'status' key); rerun the notebook to rewrite it")
    return status


def _read_summary(path: Path) -> dict | None:
    """A <name>.summary.json as a dict, None when absent; one that does not parse raises ValueError naming it."""
    if not path.exists():
        return None
    try:
        return Summary.load(path).to_dict()
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path} does not parse as a summary ({type(e).__name__}: {e}); rerun the notebook") from e


def _render_pages(name: str, nb_dir: Path, report_dir: Path, keep_code: bool, errors: list[str]) -> tuple[dict, str | None]:
    """Render <name>.ipynb and <name>.failed.ipynb (removing a stale failed page) -> ({link text: page}, title).

    A notebook that does not parse keeps its previous page; the error naming it is appended to `errors`.
    """
    pages, titles = {}, []
    for kind, stem in (("page", name), ("failed page", f"{name}.failed")):
        ipynb, html = nb_dir / f"{stem}.ipynb", report_dir / f"{stem}.html"
        if not ipynb.exists():
            if kind == "failed page":
                html.unlink(missing_ok=True)
            continue
        try:
            nb = _read_notebook(ipynb)
            _export(nb, html, keep_code)
            titles.append(notebook_title(nb))
        except ValueError as e:
            errors.append(str(e))
        if html.exists():
            pages[kind] = html.name
    return pages, next(filter(None, titles), None)


def _section_row(name: str, section: dict, nb_dir: Path, report_dir: Path, keep_code: bool) -> dict:
    """Everything the index and the ledger show about one notebook.

    Status is that of the latest run: 'ok', 'failed' (it failed, or one of its files does not parse: `reason`
    names it) or 'not run'. Only an ok notebook's claims carry verdicts; otherwise each claim of its last good
    summary is listed as 'not computed', with the reason, or one line says that none were.
    """
    errors: list[str] = []

    def attempt(read, path: Path) -> dict | None:
        try:
            return read(path)
        except ValueError as e:
            errors.append(str(e))
            return None

    summary = attempt(_read_summary, nb_dir / f"{name}.summary.json")
    status = attempt(_read_status, nb_dir / f"{name}.failed.status.json") or attempt(
        _read_status, nb_dir / f"{name}.status.json"
    )
    pages, title = _render_pages(name, nb_dir, report_dir, keep_code, errors)
    if status is None and not errors and pages:
        errors.append(f"{nb_dir / f'{name}.status.json'} is missing; rerun the notebook to rewrite it")
    if errors:
        state, reason = "failed", "; ".join(errors)
    elif status:
        state, reason = status["status"], status.get("error")
    else:
        state, reason = "not run", "the notebook has not been executed"
    ok = state == "ok"
    claims = (
        [{"notebook": name, **c} for c in (summary or {}).get("claims", [])]
        if ok
        else _not_computed(name, summary, reason or state)
    )
    return {
        "name": name,
        "paper": section.get("paper", ""),
        "title": title or (summary or {}).get("title") or section.get("title") or name,
        "status": state,
        "reason": reason,
        "duration_s": (status or {}).get("duration_s"),
        "parameters": (status or {}).get("parameters", {}),
        "headlines": (summary or {}).get("headlines", []) if ok else [],
        "claims": claims,
        "pages": pages,
    }


def _not_computed(name: str, summary: dict | None, reason: str) -> list[dict]:
    """Ledger entries for the claims a notebook was expected to compute but did not."""
    if not summary or not summary["claims"]:
        return [
            {
                "notebook": name,
                "id": "",
                "statement": f"claims of {name} not computed: {reason}",
                "verdict": NOT_COMPUTED,
                "evidence": reason,
            }
        ]
    return [
        {
            "notebook": name,
            "id": c["id"],
            "statement": c["statement"],
            "paper": c.get("paper"),
            "verdict": NOT_COMPUTED,
            "evidence": f"{reason} (the last successful run found: {c['verdict']})",
            "profile": c.get("profile", ""),
        }
        for c in summary["claims"]
    ]


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
    status = escape(row["status"]) + (f"<br><span class='muted'>{escape(row['reason'])}</span>" if row["reason"] else "")
    links = "<br>".join(f"<a href='{escape(page)}'>{escape(kind)}</a>" for kind, page in row["pages"].items())
    cells = [
        _td(escape(row["paper"])),
        _td(f"{escape(row['title'])}<br><span class='muted'>{escape(row['name'])}</span>"),
        _td(status, cls=row["status"]),
        _td(escape(duration)),
        _td(escape(params or "defaults")),
        _td(f"<ul>{headlines}</ul>" if headlines else "—"),
        _td(links or "—"),
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
    counts = ", ".join(f"{sum(c['verdict'] == v for c in claims)} {v}" for v in (*VERDICTS, NOT_COMPUTED))
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


def _executed_names(nb_dir: Path) -> list[str]:
    """Notebooks with a good or failed executed notebook in nb_dir, in name order (files being written excluded)."""
    stems = (p.name.removesuffix(".ipynb") for p in nb_dir.glob("*.ipynb") if not p.name.startswith("."))
    return sorted({stem.removesuffix(".failed") for stem in stems})


def build_report(
    results_dir: str | os.PathLike,
    profile: str,
    keep_code: bool = False,
    sections: list[dict] | None = None,
    description: str = "",
) -> Path:
    """Render every executed notebook of a profile and write report/index.html, report/ledger.json and report/mathjax/.

    description: what the profile is (shown under the title).
    sections: expected notebooks in index order, dicts with keys name, paper, title; those without output show
    as 'not run'. Executed notebooks not in `sections` follow in name order. The ledger lists every claim a
    notebook computed, and as 'not computed' (with the reason) those of a notebook that failed or did not run.
    """
    nb_dir = Path(results_dir) / profile / "notebooks"
    report_dir = Path(results_dir) / profile / "report"
    report_dir.mkdir(parents=True, exist_ok=True)
    install_mathjax(report_dir)
    expected = {s["name"]: s for s in sections or []}
    names = list(expected) + [n for n in _executed_names(nb_dir) if n not in expected]
    rows = [_section_row(name, expected.get(name, {}), nb_dir, report_dir, keep_code) for name in names]
    claims = [c for row in rows for c in row["claims"]]
    save_json(report_dir / "ledger.json", claims)
    index = report_dir / "index.html"
    tmp = index.with_name(".index.html.tmp")
    tmp.write_text(_index_html(profile, rows, claims, description), encoding="utf-8")
    os.replace(tmp, index)
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
