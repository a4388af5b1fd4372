"""The report renders offline: no page loads anything from the network; MathJax is served from report/mathjax/."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from maelab.pipeline.notebooks import execute
from maelab.pipeline.report import build_report

pytestmark = pytest.mark.notebooks
FORMULAS = r"""# %% [markdown]
# # Formulas
#
# Inline $S^{attn}$ and displayed:
#
# $$\frac{a}{b} = \sum_{i=1}^{n} x_i^2$$

# %% tags=["parameters"]
profile = "smoke"
results_dir = "../results"
"""
NETWORK = re.compile(r"^(https?:)?//", re.IGNORECASE)
REFERENCE = re.compile(r"<(?:script|link)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    results = tmp_path_factory.mktemp("results")
    notebook = results / "src" / "formulas.py"
    notebook.parent.mkdir()
    notebook.write_text(FORMULAS)
    assert execute(notebook, "smoke", results).status == "ok"
    return build_report(results, "smoke").parent


def test_pages_reference_no_network_url_and_the_local_mathjax_exists(report):
    pages = sorted(report.glob("*.html"))
    assert [p.name for p in pages] == ["formulas.html", "index.html"]
    for page in pages:
        html = page.read_text()
        assert not [url for url in REFERENCE.findall(html) if NETWORK.match(url)], page.name
        assert not re.search(r"cdnjs|unpkg|jsdelivr", html), page.name
    [script] = [url for url in REFERENCE.findall((report / "formulas.html").read_text()) if "MathJax.js" in url]
    path, configs = re.fullmatch(r"(mathjax/MathJax\.js)\?config=([\w,-]+)", script).groups()
    assert (report / path).is_file()
    for config in configs.split(","):
        assert (report / "mathjax" / "config" / f"{config}.js").is_file(), config


def test_the_mathjax_copy_is_small(report):
    files = [f for f in (report / "mathjax").rglob("*") if f.is_file()]
    assert sum(f.stat().st_size for f in files) < 3_000_000 and len(files) < 250


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs a headless browser: apt-get install chromium")
def test_formulas_are_typeset_with_the_network_off(report):
    page = report / "formulas.html"
    assert "$S^{attn}$" in page.read_text()
    dom = subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--virtual-time-budget=10000",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert "$S^{attn}$" not in dom  # MathJax replaced the TeX with typeset math
    assert '<script type="math/tex" id="MathJax-Element-1">S^{attn}</script>' in dom
    assert dom.count('class="MathJax"') + dom.count('class="MathJax_Display"') >= 2 and 'class="MathJax_Error"' not in dom
