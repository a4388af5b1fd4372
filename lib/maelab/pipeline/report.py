"""HTML report of executed notebooks: one page per notebook, an index of sections and the claims ledger.

Reads results/<profile>/notebooks/<name>{,.failed}.{ipynb,status.json,summary.json} (see notebooks.py); writes
results/<profile>/report/: <name>.html (the last good run), <name>.failed.html (a failed latest run), index.html,
ledger.json (floats at 12 significant digits, `claims.stored`), ledger.png (the forest plot of every claim that opens
the index) and mathjax/ (served next to the pages, so formulas render offline).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import shutil
from collections.abc import Sequence
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from textwrap import shorten

import nbformat
from jinja2 import DictLoader
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from nbconvert import HTMLExporter

from maelab.evaluation.claims import (
    CALIBRATION_NOTEBOOK,
    UNTESTABLE,
    VERDICTS,
    Calibration,
    Summary,
    format_value,
    ledger_stats,
    load_calibration,
    save_json,
    stored,
)

HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)
INDEX_COLUMNS = ("Paper", "Section", "Status", "Duration", "Parameters", "Headline numbers", "")
LEDGER_COLUMNS = ("Notebook", "Claim", "Ours", "Paper", "Verdict", "CI", "Seeds", "Profile", "Evidence", "Scale note")
HIDDEN_PARAMETERS = ("profile", "results_dir")  # the same on every row of an index
NOT_COMPUTED = "not computed"  # the verdict of an expected claim whose notebook failed or did not run
HEADLINE_COLUMNS = ("Quantity", "Paper", "Ours", "Note")

# The forest plot: papers by notebook-name prefix, in this order (others follow); verdict -> (colour, marker)
PAPER_GROUPS = {"calibration": "Calibration gate", "data": "Data", "lcmae": "LC-MAE", "hlvm": "HLVM", "tlcl": "TLCL"}
VERDICT_STYLE = {
    "reproduced": ("#1b7f3b", "o"),
    "not reproduced": ("#c0392b", "X"),
    "inconclusive": ("#d68910", "D"),
    UNTESTABLE: ("#8c8c8c", "o"),
    NOT_COMPUTED: ("#b0b0b0", "s"),
}
FOREST_PNG = "ledger.png"
FOREST_CAPTION = (
    "Every claim of the ledger, grouped by paper. Units differ across claims (accuracy points, px, S_attn, ...), so each "
    "row has its own x-axis in the claim's own unit, not a standardised one. Marker: our estimate; bar: its 95% CI; "
    "dashed line: the value the CI is judged against (null or threshold); shaded: where the CI must lie for the claim "
    "to hold (one side of the line, or the ±margin band of an equivalence claim). Colour and marker shape: the verdict; "
    "untestable claims are grey and hollow, with what the numbers alone said. A claim without a CI shows its estimate "
    "only; a non-numeric result is written out."
)

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
.headlines th, .headlines td { border: none; border-bottom: 1px solid #eee; padding: 0.1em 0.4em; }
.headlines th { background: none; }
figure { margin: 0 0 2em 0; }
figure img { max-width: 100%; }
figcaption { max-width: 60em; }
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
        "<tr>"
        + "".join(
            f"<td>{escape(text)}</td>"
            for text in (
                f"{h['quantity']} ({h['unit']})" if h.get("unit") else h["quantity"],
                format_value(h["paper"]),
                format_value(h["ours"]),
                h.get("note", ""),
            )
        )
        + "</tr>"
        for h in row["headlines"]
    )
    headline_head = "".join(f"<th>{h}</th>" for h in HEADLINE_COLUMNS)
    duration = "—" if row["duration_s"] is None else f"{row['duration_s']:.1f} s"
    status = escape(row["status"]) + (f"<br><span class='muted'>{escape(row['reason'])}</span>" if row["reason"] else "")
    links = "<br>".join(f"<a href='{escape(page)}'>{escape(kind)}</a>" for kind, page in row["pages"].items())
    cells = [
        _td(escape(row["paper"])),
        _td(f"{escape(row['title'])}<br><span class='muted'>{escape(row['name'])}</span>"),
        _td(status, cls=row["status"]),
        _td(escape(duration)),
        _td(escape(params or "defaults")),
        _td(f"<table class='headlines'><tr>{headline_head}</tr>{headlines}</table>" if headlines else "—"),
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


def forest_rows(claims: list[dict]) -> list[dict]:
    """One row per ledger claim, grouped by paper (notebook-name prefix, `PAPER_GROUPS` order), for `forest_plot`.

    value: ours when it is a finite number, else None and `text` says what was found (a string, nothing, nan);
    ci: None unless both ends are finite.
    """
    order = list(PAPER_GROUPS)

    def paper(claim: dict) -> str:
        return claim["notebook"].split("_", 1)[0]

    def rank(claim: dict) -> tuple[int, str]:
        return (order.index(paper(claim)), "") if paper(claim) in order else (len(order), paper(claim))

    rows = []
    for c in sorted(claims, key=rank):
        ours, ci = c.get("ours"), c.get("ci")
        numeric = isinstance(ours, (int, float)) and not isinstance(ours, bool) and math.isfinite(ours)
        rows.append(
            {
                "group": PAPER_GROUPS.get(paper(c), paper(c)),
                "id": c["id"] or c["notebook"],
                "statement": c["statement"],
                "verdict": c["verdict"],
                "raw_verdict": c.get("raw_verdict") or c["verdict"],
                "value": float(ours) if numeric else None,
                "ci": ci if numeric and ci is not None and all(map(math.isfinite, ci)) else None,
                "null": c.get("null"),
                "rule": c.get("rule", ""),
                "unit": c.get("unit", ""),
                "text": "" if numeric else format_value(ours),
            }
        )
    return rows


def _estimate_text(row: dict) -> str:
    """'-0.43 [-0.97, 0.1] points'; empty for a non-numeric result (its panel says it)."""
    if row["value"] is None:
        return ""
    ci = "" if row["ci"] is None else f" [{format_value(row['ci'][0])}, {format_value(row['ci'][1])}]"
    return f"{format_value(row['value'])}{ci} {row['unit']}".strip()


def _draw_claim(ax, row: dict) -> None:
    """One claim's panel: the judged region shaded, the null line dashed, the CI as a bar, the estimate as a marker."""
    colour, marker = VERDICT_STYLE[row["verdict"]]
    ax.set_yticks([])
    ax.set_ylim(-1, 1)
    for side in ("left", "right", "top"):
        ax.spines[side].set_visible(False)
    if row["value"] is None:
        ax.spines["bottom"].set_visible(False)
        ax.set_xticks([])
        ax.text(
            0.0, 0.0, shorten(row["text"], 55, placeholder="…"), color=colour, fontsize=8, va="center", transform=ax.transAxes
        )
        return
    null, rule = row["null"], row["rule"]
    band = abs(null) if rule == "equivalent" and null is not None else None
    points = [row["value"], *(row["ci"] or ()), *(() if null is None else (null,)), *(() if band is None else (-band, band))]
    lo, hi = min(points), max(points)
    pad = 0.12 * ((hi - lo) or abs(hi) or 1.0)
    ax.set_xlim(lo - pad, hi + pad)
    if band is not None:
        ax.axvspan(-band, band, color="#dfe8f5")
        for edge in (-band, band):
            ax.axvline(edge, color="#555", ls="--", lw=0.8)
    elif null is not None:
        if rule in ("greater", "noninferior"):
            ax.axvspan(null, hi + pad, color="#dfe8f5")
        elif rule == "less":
            ax.axvspan(lo - pad, null, color="#dfe8f5")
        ax.axvline(null, color="#555", ls="--", lw=0.8)
    if row["ci"] is not None:
        ax.hlines(0, *row["ci"], color=colour, lw=2.5)
    hollow = row["verdict"] in (UNTESTABLE, NOT_COMPUTED)
    ax.plot(row["value"], 0, marker=marker, color=colour, mfc="white" if hollow else colour, mew=1.5, ms=7, gid="estimate")
    ax.xaxis.set_major_locator(MaxNLocator(5))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.3g}"))
    ax.tick_params(axis="x", labelsize=7, length=2, pad=1)


def forest_figure(rows: list[dict]) -> Figure:
    """The forest plot of `forest_rows`: a heading per paper, then one panel (axes) per claim with its own x-axis."""
    header_in, row_in, width_in = 0.4, 0.52, 13.0
    groups = list(dict.fromkeys(r["group"] for r in rows))
    height_in = 0.2 + header_in * len(groups) + row_in * len(rows)
    fig = Figure(figsize=(width_in, height_in))
    y, group = 0.1, None  # inches from the top
    for row in rows:
        if row["group"] != group:
            group = row["group"]
            fig.text(0.01, 1 - (y + 0.28) / height_in, group, fontsize=11, weight="bold")
            y += header_in
        top = 1 - y / height_in
        fig.text(0.01, top - 0.14 / height_in, row["id"], fontsize=8.5, weight="bold", va="center")
        fig.text(0.01, top - 0.32 / height_in, shorten(row["statement"], 95, placeholder="…"), fontsize=7, color="#555")
        ax = fig.add_axes((0.4, top - 0.3 / height_in, 0.3, 0.22 / height_in), gid=row["id"])
        _draw_claim(ax, row)
        colour = VERDICT_STYLE[row["verdict"]][0]
        raw = "" if row["raw_verdict"] == row["verdict"] else f" (numbers alone: {row['raw_verdict']})"
        fig.text(0.72, top - 0.14 / height_in, _estimate_text(row), fontsize=8, va="center")
        fig.text(0.72, top - 0.32 / height_in, row["verdict"] + raw, fontsize=7.5, color=colour, weight="bold")
        y += row_in
    return fig


def forest_plot(claims: list[dict], path: Path) -> Path | None:
    """Write the forest plot of the ledger's claims to `path` (PNG, replaced atomically); None (and no file) if none."""
    if not claims:
        path.unlink(missing_ok=True)
        return None
    tmp = path.with_name(f".{path.name}.tmp")
    forest_figure(forest_rows(claims)).savefig(tmp, format="png", dpi=100)
    os.replace(tmp, path)
    return path


def _calibration(results_dir: Path, profile: str) -> tuple[Calibration | None, str]:
    """The profile's calibration (None if its notebook has not run) and, if its summary does not parse, why."""
    try:
        return load_calibration(results_dir, profile), ""
    except (ValueError, TypeError) as e:
        return None, f"the {CALIBRATION_NOTEBOOK} summary does not parse ({e})"


def _gates_html(calibration: Calibration | None, problem: str, profile: str) -> str:
    """One line: the calibration gates, seed noise floors and MAE - random init gains the claims are judged under."""
    if problem:
        return f"<b>Calibration gates</b>: {escape(problem)}."
    if calibration is None:
        return (
            f"<b>Calibration gates</b>: unmeasured ({CALIBRATION_NOTEBOOK} has not run at profile {escape(profile)}): "
            f"every claim that needs a gate reads {UNTESTABLE}."
        )
    gates = "; ".join(
        f"{escape(name)} <span class='{'reproduced' if g['passed'] else 'not-reproduced'}'>"
        f"{'passed' if g['passed'] else 'not passed'}</span> ({escape(g['evidence'])})"
        for name, g in calibration.gates.items()
    )
    floors = ", ".join(
        f"{escape(m)} {'unmeasured' if f is None else format_value(f)}" for m, f in calibration.noise_floor.items()
    )
    gains = ", ".join(f"{escape(m)} [{format_value(lo)}, {format_value(hi)}]" for m, (lo, hi) in calibration.gains.items())
    return (
        f"<b>Calibration gates</b>: {gates}. Seed noise floors: {floors}. MAE − random init gains (95% CI, points): {gains}."
    )


def _ledger_stats_html(claims: list[dict]) -> str:
    """Claims tested, decisive, and the decisive verdicts chance alone would give (`ledger_stats`), with the margin."""
    stats = ledger_stats([c for c in claims if c["verdict"] in VERDICTS])
    not_computed = sum(c["verdict"] == NOT_COMPUTED for c in claims)
    return (
        f"<b>{stats['claims']} claims</b> with a verdict{f' ({not_computed} more not computed)' if not_computed else ''}: "
        f"<b>{stats['tested']} tested</b> (not {UNTESTABLE}), <b>{stats['decisive']} decisive</b> (reproduced or not "
        f"reproduced). If no claimed effect existed, chance alone would give at most "
        f"<b>{stats['expected_false_positives']:.2g}</b> decisive verdicts (α = {stats['alpha']:g} per tested claim, each "
        f"a 95% CI). Every “about equal” claim uses one equivalence margin, ±{stats['equivalence_margin']:g} accuracy "
        f"points (two one-sided tests: the 95% CI inside the band)."
    )


def _index_html(
    profile: str, rows: list[dict], claims: list[dict], gates: str, forest: Path | None, description: str = ""
) -> str:
    counts = ", ".join(f"{sum(c['verdict'] == v for c in claims)} {v}" for v in (*VERDICTS, NOT_COMPUTED))
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")
    head = "".join(f"<th>{h}</th>" for h in INDEX_COLUMNS)
    ledger_head = "".join(f"<th>{h}</th>" for h in LEDGER_COLUMNS)
    figure = (
        f"<figure><img src='{escape(forest.name)}' alt='forest plot of every claim, coloured by verdict'>"
        f"<figcaption class='muted'>{escape(FOREST_CAPTION)}</figcaption></figure>"
        if forest
        else "<p class='muted'>No claims yet.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>maelab report: {escape(profile)}</title>
<style>{CSS}</style></head><body>
<h1>maelab report: profile {escape(profile)}</h1>
<p>{escape(description)}</p>
<p class="muted">generated {escape(generated)}</p>
<p>{gates}</p>
<h2>Claims at a glance</h2>
<p>{_ledger_stats_html(claims)}</p>
<p>{escape(counts)}</p>
{figure}
<h2>Paper sections</h2>
<table><tr>{head}</tr>
{"".join(_index_row(r) for r in rows)}
</table>
<h2>Claims ledger</h2>
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
    """Render every executed notebook of a profile; write report/index.html, ledger.json, ledger.png and mathjax/.

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
    calibration, problem = _calibration(Path(results_dir), profile)
    save_json(
        report_dir / "ledger.json",
        stored(  # floats at SIGNIFICANT_DIGITS, as in the summaries it reads
            {
                "profile": profile,
                "verdicts": list(VERDICTS),
                "stats": ledger_stats([c for c in claims if c["verdict"] in VERDICTS]),
                "gates": calibration.gates if calibration else None,  # None: the calibration notebook has not run
                "noise_floors": calibration.noise_floor if calibration else None,
                "claims": claims,
            }
        ),
    )
    forest = forest_plot(claims, report_dir / FOREST_PNG)
    gates = _gates_html(calibration, problem, profile)
    index = report_dir / "index.html"
    tmp = index.with_name(".index.html.tmp")
    tmp.write_text(_index_html(profile, rows, claims, gates, forest, description), encoding="utf-8")
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
