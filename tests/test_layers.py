"""The package's layers, read from the source: no import cycles, and no layer imports one above it."""

import ast
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "lib" / "maelab"
# a layer may import only the layers listed for it (and itself)
ALLOWED = {
    "data": set(),
    "models": {"data"},
    "training": {"data", "models"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """maelab modules a file imports at any depth of its code (function-level imports included)."""
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + (node.module.split(".") if node.module else []))
            names = [f"{target}.{a.name}" for a in node.names]
            found |= {n for n in names + [target] if n.startswith("maelab")}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("maelab")}
    return found


def import_graph() -> nx.DiGraph:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for name, path in modules.items():
        for target in imports_of(path):
            while target not in modules and "." in target:  # `from .x import name` names a module's attribute
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name and target != "maelab":
                g.add_edge(name, target)
    return g


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_the_import_graph_sees_known_edges():
    g = import_graph()
    assert g.has_edge("maelab.pipeline.jobs", "maelab.training.train")
    assert g.has_edge("maelab.models.mae", "maelab.models.vit")


def test_no_import_cycles():
    cycles = list(nx.simple_cycles(import_graph()))
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("low", sorted(ALLOWED))
def test_lower_layers_import_nothing_above_them(low):
    g = import_graph()
    bad = [(a, b) for a, b in g.edges if layer(a) == low and layer(b) not in ALLOWED[low] | {low}]
    assert not bad, f"{low}/ imports above itself: {bad}"


def test_generic_analysis_does_not_plan_runs():
    """Finished runs are rebuilt from their own config.json: the generic analysis never imports the planner."""
    assert not import_graph().has_edge("maelab.evaluation.analysis", "maelab.pipeline.registry")
