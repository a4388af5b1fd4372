"""HLVM: Kong et al., *Understanding Masked Autoencoders via Hierarchical Latent Variable Models* (CVPR 2023).

Theory (§2.3, Appendix A): for a mask m, Theorem 1 locates the minimal set c of latent variables that carries all the
information shared by the masked part x_m and the visible part x_mc; Algorithm 1 finds (c, s_m), Algorithm 2 an s_mc.

Graphs are `networkx.DiGraph`s whose nodes carry ``kind`` in {"latent", "exogenous", "observed"}. Eq. 1 writes every
variable as an invertible function of its parents and its own exogenous noise; here an exogenous noise is an explicit
parentless node with exactly one child, and a parentless latent is its own source of randomness (a root z = g(eps)
with eps merged into z). Assumption 1: observed nodes have no children.

Reading of Theorem 1 used throughout (stated in full in `notebooks/hlvm_2_3_identifiability.py`). The *sources* of a
set W, src(W), are the parentless nodes that are W or ancestors of W. Because every generating function is invertible
(Eq. 1), a variable determines its parents, hence all its ancestors and its sources, and its sources determine it:
W carries exactly the information of src(W). With mutually independent sources, Theorem 1 reads:

- condition 1, x_m = g_xm(c, s_m) with g_xm invertible  <=>  src(C | S_m) == src(x_m)  (every source of x_m is
  carried by (C, S_m), and (C, S_m) carries nothing x_m does not determine); the same for x_mc with S_mc;
- condition 2, s_m independent of (c, s_mc)  <=>  src(S_m) and src(C | S_mc) share no source;
- condition 3, c minimal: dim(C) = sum over c in C of dim(c) is smallest among the subsets C' of the latents that are
  ancestors of both x_m and x_mc (the paper's proof: "d in c implied d in Ancestors(x_m) and Ancestors(x_mc)") and
  satisfy conditions 1-2; dim(c) = |src(c)|, one dimension per one-dimensional source, which is the dimension an
  invertible Eq. 1 gives a variable (the paper's "dimension increases monotonically along directed paths").
"""

from __future__ import annotations

import itertools
import random
import re
from collections.abc import Iterable, Mapping, Sequence

import networkx as nx

KINDS = ("latent", "exogenous", "observed")


# ---------------------------------------------------------------------------------------------------------------------
# Graph checks and source sets


def _check(graph: nx.DiGraph, masked: Iterable[str]) -> tuple[set[str], set[str]]:
    """Validate `graph` and `masked` against Eq. 1 and Assumption 1; return (masked, visible) observed sets."""
    for node, kind in graph.nodes(data="kind"):
        if kind not in KINDS:
            raise ValueError(f"node {node!r} has kind {kind!r}; expected one of {KINDS}")
    if not nx.is_directed_acyclic_graph(graph):
        raise ValueError(f"graph has a cycle: {nx.find_cycle(graph)}")
    for node, kind in graph.nodes(data="kind"):
        if kind == "observed" and graph.out_degree(node):
            raise ValueError(f"observed node {node!r} has children {sorted(graph.successors(node))} (Assumption 1)")
        if kind == "exogenous" and (graph.in_degree(node) or graph.out_degree(node) != 1):
            raise ValueError(f"exogenous node {node!r} must have no parents and exactly one child (Eq. 1)")
    observed = {n for n, k in graph.nodes(data="kind") if k == "observed"}
    masked = set(masked)
    if not masked <= observed:
        raise ValueError(f"masked names that are not observed nodes: {sorted(masked - observed)}")
    return masked, observed - masked


def sources(graph: nx.DiGraph) -> dict[str, frozenset[str]]:
    """src(v) for every node v: the parentless nodes that are v or ancestors of v (computed in topological order)."""
    src: dict[str, frozenset[str]] = {}
    for v in nx.topological_sort(graph):
        parents = list(graph.predecessors(v))
        src[v] = frozenset().union(*(src[p] for p in parents)) if parents else frozenset({v})
    return src


def _union(src: Mapping[str, frozenset[str]], nodes: Iterable[str]) -> frozenset[str]:
    return frozenset().union(*(src[v] for v in nodes))


def _ancestors(graph: nx.DiGraph, nodes: Iterable[str]) -> set[str]:
    """Strict ancestors of a set of nodes (one reverse breadth-first search)."""
    seen: set[str] = set()
    stack = [p for v in nodes for p in graph.predecessors(v)]
    while stack:
        v = stack.pop()
        if v not in seen:
            seen.add(v)
            stack.extend(graph.predecessors(v))
    return seen


def shared_latents(graph: nx.DiGraph, masked: set[str], visible: set[str]) -> set[str]:
    """Latent variables that are ancestors of both x_m and x_mc: the only candidates for c."""
    both = _ancestors(graph, masked) & _ancestors(graph, visible)
    return {z for z in both if graph.nodes[z]["kind"] == "latent"}


def dim(src: Mapping[str, frozenset[str]], C: Iterable[str]) -> int:
    """dim(c) of the concatenation c of the variables in C: sum of |src(z)| (one dimension per source)."""
    return sum(len(src[z]) for z in C)


# ---------------------------------------------------------------------------------------------------------------------
# Algorithms 1 and 2


def _algorithm1_as_printed(graph: nx.DiGraph, masked: set[str], visible: set[str]) -> tuple[set[str], set[str]]:
    """Algorithm 1 line by line: backtrack from each masked x, stop at ancestors of x_mc (selection), then drop every d
    in C with another d' in C on a directed path from d to X_mc (pruning)."""
    nodes = graph.nodes
    ancestors_visible = _ancestors(graph, visible)
    C: set[str] = set()
    S_m: set[str] = set()
    for x in sorted(masked):
        Z = {x}
        while Z:
            parents = {p for z in Z for p in graph.predecessors(z)}  # LocateParents(Z)
            S_m |= {p for p in parents if nodes[p]["kind"] == "exogenous"}
            Z = {p for p in parents if nodes[p]["kind"] != "exogenous"}
            C |= Z & ancestors_visible
            Z -= ancestors_visible
    on_paths_to_visible = ancestors_visible | visible
    for d in sorted(C):
        directed_paths = nx.descendants(graph, d) & on_paths_to_visible  # DirectedPaths(d, X_mc)
        if (C - {d}) & directed_paths:
            C.discard(d)
    return C, S_m


def _min_dim_cover(universe: frozenset[str], candidates: Mapping[str, frozenset[str]], rank: Mapping[str, int]) -> set[str]:
    """Exact minimum of sum |candidates[z]| over sets of candidates whose union is `universe` (branch and bound).

    Candidates with equal source sets carry the same information: only the highest one (smallest `rank`) is kept. The
    search branches on the uncovered source with the fewest candidates, so a source private to one candidate (in the
    paper's model every latent has one: its own noise) is a forced choice and the search is linear there; it is
    exponential only when many latents carry no noise of their own (weighted set cover is NP-hard in general)."""
    by_src: dict[frozenset[str], str] = {}
    for z in sorted(candidates, key=lambda z: (rank[z], z)):
        by_src.setdefault(candidates[z], z)
    options = {s: sorted((src for src in by_src if s in src), key=lambda src: (len(src), rank[by_src[src]])) for s in universe}
    best: list = [None, float("inf")]

    def search(chosen: list[str], covered: frozenset[str], cost: int) -> None:
        uncovered = universe - covered
        if cost + len(uncovered) >= best[1]:
            return
        if not uncovered:
            best[:] = [set(chosen), cost]
            return
        s = min(uncovered, key=lambda s: (len(options[s]), s))
        for src in options[s]:
            search(chosen + [by_src[src]], covered | src, cost + len(src))

    search([], frozenset(), 0)
    return best[0]


def minimal_c(graph: nx.DiGraph, masked: set[str], as_printed: bool = False) -> tuple[set[str], set[str]]:
    """(C, S_m) of Theorem 1 for the mask `masked` (a set of observed nodes).

    as_printed=True runs Algorithm 1 (App. A) literally. The default is the corrected algorithm: C is a set of minimal
    dim(C) among the shared latents (ancestors of both x_m and x_mc) whose sources are exactly the sources shared by
    x_m and x_mc, and S_m = src(x_m) - src(C). Why the printed algorithm needs correcting:
    - its pruning keeps d when no other member of C lies on a directed path from d to X_mc, which is the only way it
      knows that d is recoverable from the rest of C. Two members can carry the same sources without such a path
      (a and b, noiseless children of one root r, both parents of x1 masked and x2 visible): it returns {a, b},
      dimension 2, where {r} (dimension 1) satisfies conditions 1-2. Pruning by sources ("d carries nothing that
      the others do not") is the actual criterion; minimal dim is then a set cover, solved exactly here;
    - a parentless latent that only x_m depends on has no exogenous parent for LocateParents to put in S_m, so it is
      lost and x_m is not determined; the corrected S_m contains every source of x_m not carried by C.
    In the paper's model (every latent has its own noise) both return the same C: the shared latents with no shared
    descendant. Polynomial there (ancestor sets); see `_min_dim_cover` for the general case.
    """
    masked, visible = _check(graph, masked)
    if as_printed:
        return _algorithm1_as_printed(graph, masked, visible)
    src = sources(graph)
    shared_sources = _union(src, masked) & _union(src, visible)
    candidates = {z: src[z] for z in shared_latents(graph, masked, visible)}
    rank = {z: len(_ancestors(graph, [z])) for z in candidates}
    C = _min_dim_cover(shared_sources, candidates, rank)
    return C, set(_union(src, masked) - _union(src, C))


def s_mc(graph: nx.DiGraph, masked: set[str], C: set[str]) -> set[str]:
    """An S_mc for the given C: Algorithm 2 (App. A), backtracking from each visible x until C or a source.

    Two repairs to the printed listing: P' is reset to the empty set on every pass of the while loop (as printed it is
    never emptied, so P never becomes empty and the loop does not end), and a parentless latent that is not in C is
    put in S_mc (it is its own exogenous source)."""
    masked, visible = _check(graph, masked)
    nodes = graph.nodes
    S_mc: set[str] = set()
    for x in sorted(visible):
        P = {x}
        while P:
            P_next: set[str] = set()
            for p in P:
                if nodes[p]["kind"] == "latent" and not graph.in_degree(p) and p not in C:
                    S_mc.add(p)
                for q in graph.predecessors(p):  # LocateParents(p)
                    if nodes[q]["kind"] == "exogenous":
                        S_mc.add(q)
                    elif q in C:
                        S_mc |= set(graph.predecessors(p)) - {q}
                    else:
                        P_next.add(q)
            P = P_next
    return S_mc


# ---------------------------------------------------------------------------------------------------------------------
# Brute-force check of Theorem 1


def _conditions_1_2(
    src: Mapping[str, frozenset[str]], masked: set[str], visible: set[str], C: set[str], S_m: set[str], S_mc: set[str]
) -> list[str]:
    problems = []
    for name, x, S in (("x_m", masked, S_m), ("x_mc", visible, S_mc)):
        carried, needed = _union(src, C | S), _union(src, x)
        if needed - carried:
            problems.append(
                f"condition 1: {name} is not determined by (C, S): its sources {sorted(needed - carried)} "
                "are not carried by C or S"
            )
        if carried - needed:
            problems.append(
                f"condition 1: (C, S) is not recoverable from {name}: sources {sorted(carried - needed)} "
                f"are not sources of {name}"
            )
    common = _union(src, S_m) & _union(src, C | S_mc)
    if common:
        problems.append(f"condition 2: S_m and (C, S_mc) have common sources {sorted(common)}")
    return problems


def theorem1_holds(graph: nx.DiGraph, masked: set[str], C: set[str], S_m: set[str], S_mc: set[str]) -> list[str]:
    """The violated conditions of Theorem 1 for (C, S_m, S_mc), in words; empty when all hold.

    Conditions 1-2 as source-set identities (module docstring). Condition 3 by brute force over every subset C' of the
    shared latents: C' admits some (S_m, S_mc) iff it does with S_m = src(x_m) - src(C'), S_mc = src(x_mc) - src(C')
    (any valid triple forces src(C') = src(x_m) & src(x_mc), for which these two work), so each C' is checked with
    those. Exponential in the number of shared latents: small graphs only."""
    masked, visible = _check(graph, masked)
    C, S_m, S_mc = set(C), set(S_m), set(S_mc)
    src = sources(graph)
    problems = _conditions_1_2(src, masked, visible, C, S_m, S_mc)
    candidates = sorted(shared_latents(graph, masked, visible))
    if C - set(candidates):
        problems.append(f"condition 3: C contains {sorted(C - set(candidates))}, not ancestors of both x_m and x_mc")
    smallest = None
    for k in range(len(candidates) + 1):
        for subset in itertools.combinations(candidates, k):
            Cp = set(subset)
            S_m_p, S_mc_p = (set(_union(src, x) - _union(src, Cp)) for x in (masked, visible))
            if (smallest is None or dim(src, Cp) < dim(src, smallest)) and not _conditions_1_2(
                src, masked, visible, Cp, S_m_p, S_mc_p
            ):
                smallest = Cp
    if smallest is not None and dim(src, smallest) < dim(src, C):
        problems.append(
            f"condition 3: C = {sorted(C)} has dim {dim(src, C)} but C' = {sorted(smallest)} has dim {dim(src, smallest)}"
        )
    return problems


def forward_determined(graph: nx.DiGraph, given: Iterable[str]) -> set[str]:
    """Nodes computable from `given` by running Eq. 1 forwards only (no inversion): `given`, and every node with
    parents all of which are computable. The reading of "determined by" without invertible generating functions."""
    known = set(given)
    for v in nx.topological_sort(graph):
        parents = list(graph.predecessors(v))
        if parents and all(p in known for p in parents):
            known.add(v)
    return known


# ---------------------------------------------------------------------------------------------------------------------
# Figure 4 and random graphs


FIGURE4_MASKS = {
    "conservative": {"x1"},
    "aggressive": {"x1", "x2", "x3", "x4", "x5"},
    "ideal": {"x1", "x2", "x4"},
}
"""Masked pixels of Fig. 4 (a)-(c) under our reading of the figure (see `figure4_graph`)."""

FIGURE4_PAPER_C = {"conservative": {"z3"}, "aggressive": {"z6"}, "ideal": {"z1", "z2"}}
"""C of Fig. 4 per §2.3: (a) "a low-level variable z3 will mix in c", (b) "low-level latent variables z6 will be
learned", (c) the high-level variables."""


def figure4_graph() -> nx.DiGraph:
    """Fig. 4's graph: high-level z1, z2; mid-level z3..z6; pixels x1..x6; one exogenous noise per variable (Eq. 1).

    The figure's edges are not in the text; this reading makes each high-level variable the root of its own subtree,
    z1 -> z3, z4 and z2 -> z5, z6, with z3 -> x1, x2; z4 -> x3; z5 -> x4; z6 -> x5, x6, which reproduces all three
    statements of §2.3 with the masks of `FIGURE4_MASKS`."""
    edges = [
        ("z1", "z3"),
        ("z1", "z4"),
        ("z2", "z5"),
        ("z2", "z6"),
        ("z3", "x1"),
        ("z3", "x2"),
        ("z4", "x3"),
        ("z5", "x4"),
        ("z6", "x5"),
        ("z6", "x6"),
    ]
    graph = nx.DiGraph(edges)
    for v in list(graph):
        graph.nodes[v]["kind"] = "observed" if v.startswith("x") else "latent"
        graph.add_node(f"e_{v}", kind="exogenous")
        graph.add_edge(f"e_{v}", v)
    return graph


def _graph(edges: Iterable[tuple[str, str]], kinds: Mapping[str, str]) -> nx.DiGraph:
    graph = nx.DiGraph(list(edges))
    nx.set_node_attributes(graph, dict(kinds), "kind")
    return graph


def printed_counterexamples() -> dict[str, tuple[nx.DiGraph, set[str]]]:
    """The smallest graphs (with their mask) on which Algorithm 1 as printed violates Theorem 1 (found by searching
    random graphs, see the notebook):

    - "redundant C": r -> a, r -> b (a, b without noise of their own), a, b -> x1 (masked), x2. Both a and b are
      shared and neither lies on a path from the other to x2, so the pruning keeps C = {a, b} (dim 2), yet a and b
      only carry r, and C = {r} (dim 1) satisfies conditions 1-2: condition 3 fails.
    - "parentless root": r -> x1 (masked), s -> x2. r is x1's only source but has no exogenous parent, so
      LocateParents never puts it in S_m and x1 is not determined by (C, S_m) = ({}, {}): condition 1 fails."""
    latent, observed = "latent", "observed"
    redundant = _graph(
        [("r", "a"), ("r", "b"), ("a", "x1"), ("a", "x2"), ("b", "x1"), ("b", "x2")],
        {"r": latent, "a": latent, "b": latent, "x1": observed, "x2": observed},
    )
    root = _graph([("r", "x1"), ("s", "x2")], {"r": latent, "s": latent, "x1": observed, "x2": observed})
    return {"redundant C": (redundant, {"x1"}), "parentless root": (root, {"x1"})}


def random_hierarchical_dag(
    rng: random.Random,
    latent_layers: Sequence[int] | None = None,
    n_observed: int | None = None,
    latent_noise: float = 1.0,
    observed_noise: bool = True,
    max_parents: int = 2,
) -> nx.DiGraph:
    """A random layered DAG: latent layers ``z{l}_{i}`` (each latent of layer l > 0 has 1..max_parents parents in layer
    l - 1), observed leaves ``x{i}`` with 1..max_parents latent parents (from the last layer with probability 0.75,
    else from any layer). Each latent gets its own exogenous parent ``e_{z}`` with probability `latent_noise` (1: the
    paper's model; 0: noise-free latents, the roots being their own sources); observed get one if `observed_noise`.
    Defaults draw 1-3 layers of 1-3 latents and 2-6 observed."""
    if latent_layers is None:
        latent_layers = [rng.randint(1, 3) for _ in range(rng.randint(1, 3))]
    if n_observed is None:
        n_observed = rng.randint(2, 6)
    graph = nx.DiGraph()
    layers: list[list[str]] = []
    for level, width in enumerate(latent_layers):
        layer = [f"z{level}_{i}" for i in range(width)]
        for z in layer:
            graph.add_node(z, kind="latent")
            if layers:
                for p in rng.sample(layers[-1], rng.randint(1, min(max_parents, len(layers[-1])))):
                    graph.add_edge(p, z)
        layers.append(layer)
    latents = [z for layer in layers for z in layer]
    for i in range(n_observed):
        pool = layers[-1] if rng.random() < 0.75 else latents
        graph.add_node(f"x{i}", kind="observed")
        for p in rng.sample(pool, rng.randint(1, min(max_parents, len(pool)))):
            graph.add_edge(p, f"x{i}")
    for v in list(graph):
        noisy = observed_noise if graph.nodes[v]["kind"] == "observed" else rng.random() < latent_noise
        if noisy:
            graph.add_node(f"e_{v}", kind="exogenous")
            graph.add_edge(f"e_{v}", v)
    return graph


def add_latent_noise(graph: nx.DiGraph) -> nx.DiGraph:
    """A copy of `graph` in which every latent with parents and no exogenous parent gets its own ``e_{z}`` (Eq. 1:
    z = g(Pa(z), eps_z)); parentless latents are already their own sources."""
    graph = graph.copy()
    for z, kind in list(graph.nodes(data="kind")):
        parents = list(graph.predecessors(z))
        if kind == "latent" and parents and all(graph.nodes[p]["kind"] != "exogenous" for p in parents):
            graph.add_node(f"e_{z}", kind="exogenous")
            graph.add_edge(f"e_{z}", z)
    return graph


# ---------------------------------------------------------------------------------------------------------------------
# Masks on a patch grid and the level of C


def sample_unit_mask(rng: random.Random, ratio: float, unit: int, grid: int = 8) -> set[tuple[int, int]]:
    """Masked patches (row, col) of a `grid` x `grid` patch grid, masking whole `unit` x `unit` squares of patches.

    round(ratio * n_units) of the n_units = (grid / unit)^2 squares are masked, kept within [1, n_units - 1] so that
    both x_m and x_mc are non-empty (at unit 4, ratios 0.1 and 0.9 become 1/4 and 3/4)."""
    if grid % unit:
        raise ValueError(f"mask unit {unit} does not divide the {grid} x {grid} patch grid")
    side = grid // unit
    n_units = side * side
    n_masked = min(max(round(ratio * n_units), 1), n_units - 1)
    squares = rng.sample(range(n_units), n_masked)
    return {(unit * (s // side) + dr, unit * (s % side) + dc) for s in squares for dr in range(unit) for dc in range(unit)}


def level_of_c(graph: nx.DiGraph, masked: set[str], levels: Mapping[str, Iterable[str]]) -> dict[str, int]:
    """Number of the corrected Algorithm 1's C at each level of `levels` (level name -> its latent nodes, high to low);
    C nodes in no level are counted under "other" (present only then)."""
    C, _ = minimal_c(graph, masked)
    level_of = {z: name for name, nodes in levels.items() for z in nodes}
    counts = {name: 0 for name in levels}
    for z in C:
        name = level_of.get(z, "other")
        counts[name] = counts.get(name, 0) + 1
    return counts


# ---------------------------------------------------------------------------------------------------------------------
# Drawing


def _natural_key(name: str) -> list:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def layered_layout(graph: nx.DiGraph) -> dict[str, tuple[float, float]]:
    """Positions as in the paper's figures: latents by depth from the top, observed on the bottom row, each row ordered
    by the mean x of its parents; every exogenous node just above-left of its child."""
    nodes = graph.nodes
    depth: dict[str, int] = {}
    for v in nx.topological_sort(graph):
        if nodes[v]["kind"] == "latent":
            parents = [p for p in graph.predecessors(v) if nodes[p]["kind"] == "latent"]
            depth[v] = 1 + max((depth[p] for p in parents), default=-1)
    bottom = 1 + max(depth.values(), default=-1)
    depth.update({v: bottom for v in graph if nodes[v]["kind"] == "observed"})
    pos: dict[str, tuple[float, float]] = {}
    for level in range(bottom + 1):
        row = [v for v in depth if depth[v] == level]
        parent_x = {v: [pos[p][0] for p in graph.predecessors(v) if p in pos] for v in row}
        row.sort(key=lambda v: (sum(parent_x[v]) / len(parent_x[v]) if parent_x[v] else 0.0, _natural_key(v)))
        for i, v in enumerate(row):
            pos[v] = (i - (len(row) - 1) / 2, -float(level))
    for v in graph:
        if nodes[v]["kind"] == "exogenous":
            child = next(iter(graph.successors(v)))
            pos[v] = (pos[child][0] - 0.3, pos[child][1] + 0.35)
    return pos


def draw(
    graph: nx.DiGraph,
    masked: set[str],
    C: Iterable[str] = (),
    S_m: Iterable[str] = (),
    S_mc: Iterable[str] = (),
    ax=None,
    title: str | None = None,
):
    """Draw `graph` layered like Fig. 4: masked pixels dark with a cross mark, visible pixels white, C blue (as in the
    paper), S_m orange, S_mc green, other latents light grey; exogenous nodes small. Returns the axes."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    if ax is None:
        ax = plt.gca()
    C, S_m, S_mc = set(C), set(S_m), set(S_mc)
    palette = {
        "masked": "#555555",
        "visible": "white",
        "C": "#4c8bf5",
        "S_m": "#f5a04c",
        "S_mc": "#5bbf6a",
        "latent": "#e6e6e6",
        "exogenous": "#f7f7f7",
    }

    def role(v: str) -> str:
        if v in C:
            return "C"
        if v in S_m:
            return "S_m"
        if v in S_mc:
            return "S_mc"
        if graph.nodes[v]["kind"] == "observed":
            return "masked" if v in masked else "visible"
        return graph.nodes[v]["kind"]

    pos = layered_layout(graph)
    exogenous = [v for v in graph if graph.nodes[v]["kind"] == "exogenous"]
    main = [v for v in graph if v not in exogenous]
    nx.draw_networkx_edges(graph, pos, ax=ax, arrows=True, arrowsize=10, edge_color="#888888", node_size=500)
    for nodes, size in ((main, 600), (exogenous, 120)):
        nx.draw_networkx_nodes(
            graph, pos, nodelist=nodes, ax=ax, node_size=size, edgecolors="black", node_color=[palette[role(v)] for v in nodes]
        )
    for nodes, colour in (([v for v in main if v in masked], "white"), ([v for v in main if v not in masked], "black")):
        nx.draw_networkx_labels(
            graph, pos, {v: f"{v}\n×" if v in masked else v for v in nodes}, ax=ax, font_size=8, font_color=colour
        )
    handles = [
        Line2D([], [], marker="o", ls="", markersize=9, markeredgecolor="black", markerfacecolor=palette[r], label=r)
        for r in ("masked", "visible", "C", "S_m", "S_mc")
    ]
    ax.legend(handles=handles, loc="lower center", bbox_to_anchor=(0.5, -0.18), ncol=5, fontsize=7, frameon=False)
    ax.set_title(title or "")
    ax.axis("off")
    return ax
