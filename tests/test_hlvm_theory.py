"""HLVM §2.3 / App. A: Algorithms 1-2 against a brute-force check of Theorem 1 (lib/maelab/papers/hlvm.py)."""

import random

import matplotlib
import networkx as nx
import pytest

from maelab.papers.hlvm import (
    FIGURE4_MASKS,
    FIGURE4_PAPER_C,
    add_latent_noise,
    draw,
    figure4_graph,
    forward_determined,
    level_of_c,
    minimal_c,
    printed_counterexamples,
    random_hierarchical_dag,
    s_mc,
    sample_unit_mask,
    theorem1_holds,
)

matplotlib.use("Agg")


def two_level_tree() -> nx.DiGraph:
    """r -> a, b; a -> x1, x2; b -> x3, x4; one exogenous noise per variable."""
    g = nx.DiGraph([("r", "a"), ("r", "b"), ("a", "x1"), ("a", "x2"), ("b", "x3"), ("b", "x4")])
    for v in list(g):
        g.nodes[v]["kind"] = "observed" if v.startswith("x") else "latent"
        g.add_node(f"e_{v}", kind="exogenous")
        g.add_edge(f"e_{v}", v)
    return g


def observed(g):
    return sorted(v for v, k in g.nodes(data="kind") if k == "observed")


@pytest.mark.parametrize(
    "masked, C, S_m",
    [
        ({"x1"}, {"a"}, {"e_x1"}),  # a still reaches x2: the low-level a is c
        ({"x1", "x2"}, {"r"}, {"e_x1", "e_x2", "e_a"}),  # all of a's pixels masked: c moves up to r
        ({"x1", "x3"}, {"a", "b"}, {"e_x1", "e_x3"}),
        ({"x1", "x2", "x3"}, {"b"}, {"e_x1", "e_x2", "e_x3", "e_a"}),  # r is shared but recoverable from b: pruned
    ],
)
def test_two_level_tree_by_hand(masked, C, S_m):
    g = two_level_tree()
    for as_printed in (False, True):
        assert minimal_c(g, masked, as_printed=as_printed) == (C, S_m)
    assert theorem1_holds(g, masked, C, S_m, s_mc(g, masked, C)) == []


def test_algorithm2_by_hand():
    g = two_level_tree()
    # x2's parent a is in C: its other parent e_x2 joins; x3, x4 backtrack through b and r to their noises.
    assert s_mc(g, {"x1"}, {"a"}) == {"e_x2", "e_x3", "e_x4", "e_b", "e_r"}
    assert s_mc(g, {"x1", "x2"}, {"r"}) == {"e_x3", "e_x4", "e_b"}


def test_theorem1_check_reports_each_condition():
    g = two_level_tree()
    masked, S_mc = {"x1"}, {"e_x2", "e_x3", "e_x4", "e_b", "e_r"}
    assert any("x_m is not determined" in p for p in theorem1_holds(g, masked, {"a"}, set(), S_mc))
    assert any("condition 2" in p for p in theorem1_holds(g, masked, {"a"}, {"e_x1", "e_r"}, S_mc))
    assert any("not recoverable from x_m" in p for p in theorem1_holds(g, masked, {"a"}, {"e_x1", "e_b"}, S_mc))
    # {r, a}: conditions 1-2 hold but dim 1 + 2 > dim({a}) = 2
    problems = theorem1_holds(g, masked, {"r", "a"}, {"e_x1"}, {"e_x2", "e_x3", "e_x4", "e_b"})
    assert problems == ["condition 3: C = ['a', 'r'] has dim 3 but C' = ['a'] has dim 2"]


@pytest.mark.parametrize("case", sorted(FIGURE4_MASKS))
def test_figure4_paper_answers(case):
    g = figure4_graph()
    masked = FIGURE4_MASKS[case]
    for as_printed in (False, True):
        C, S_m = minimal_c(g, masked, as_printed=as_printed)
        assert C == FIGURE4_PAPER_C[case]
        assert theorem1_holds(g, masked, C, S_m, s_mc(g, masked, C)) == []


def test_figure4_aggressive_by_hand():
    g = figure4_graph()
    masked = FIGURE4_MASKS["aggressive"]
    C, S_m = minimal_c(g, masked)
    assert S_m == {"e_x1", "e_x2", "e_x3", "e_x4", "e_x5", "e_z1", "e_z3", "e_z4", "e_z5"}  # not e_z2: z6 carries z2
    assert s_mc(g, masked, C) == {"e_x6"}
    # The pruning of z2 is lossless only because z6 = g(z2, e_z6) is invertible: run forwards, x4 needs z2.
    assert "x4" not in forward_determined(g, C | S_m)
    assert "x4" in forward_determined(g, C | S_m | {"e_z2"})


@pytest.mark.parametrize("name", ["redundant C", "parentless root"])
def test_printed_counterexample_fails_printed_and_passes_corrected(name):
    g, masked = printed_counterexamples()[name]
    C, S_m = minimal_c(g, masked, as_printed=True)
    assert theorem1_holds(g, masked, C, S_m, s_mc(g, masked, C)) != []
    C, S_m = minimal_c(g, masked)
    assert theorem1_holds(g, masked, C, S_m, s_mc(g, masked, C)) == []


def test_counterexamples_by_hand():
    g, masked = printed_counterexamples()["redundant C"]
    assert minimal_c(g, masked, as_printed=True) == ({"a", "b"}, set())
    assert minimal_c(g, masked) == ({"r"}, set())
    g, masked = printed_counterexamples()["parentless root"]
    assert minimal_c(g, masked, as_printed=True) == (set(), set())
    assert minimal_c(g, masked) == (set(), {"r"})
    assert s_mc(g, masked, set()) == {"s"}


@pytest.mark.parametrize("latent_noise", [1.0, 0.5, 0.0])
def test_brute_force_on_random_dags(latent_noise):
    """Theorem 1 on 200 random hierarchical DAGs per noise level with a random non-trivial mask. The corrected
    algorithm must pass every graph; the printed one every graph of the paper's model (noise on every latent)."""
    rng = random.Random(1234)
    printed_failures = 0
    for _ in range(200):
        g = random_hierarchical_dag(rng, latent_noise=latent_noise)
        xs = observed(g)
        masked = set(rng.sample(xs, rng.randint(1, len(xs) - 1)))
        C, S_m = minimal_c(g, masked)
        assert theorem1_holds(g, masked, C, S_m, s_mc(g, masked, C)) == [], (list(g.edges), masked)
        C, S_m = minimal_c(g, masked, as_printed=True)
        printed_failures += bool(theorem1_holds(g, masked, C, S_m, s_mc(g, masked, C)))
    if latent_noise == 1.0:
        assert printed_failures == 0


def test_random_dag_noise_levels():
    rng = random.Random(0)
    noisy = random_hierarchical_dag(rng, latent_layers=[2, 3], n_observed=4)
    assert all(f"e_{z}" in noisy for z, k in noisy.nodes(data="kind") if k != "exogenous")
    clean = random_hierarchical_dag(rng, latent_layers=[2, 3], n_observed=4, latent_noise=0.0, observed_noise=False)
    assert {k for _, k in clean.nodes(data="kind")} == {"latent", "observed"}
    assert sum(k == "latent" for _, k in clean.nodes(data="kind")) == 5 and len(observed(clean)) == 4


def bad(edges, kinds):
    g = nx.DiGraph(edges)
    for v, k in kinds.items():
        if k is not None:
            g.nodes[v]["kind"] = k
    return g


@pytest.mark.parametrize(
    "graph, masked, message",
    [
        (bad([("a", "b"), ("b", "a"), ("a", "x")], {"a": "latent", "b": "latent", "x": "observed"}), {"x"}, "cycle"),
        (
            bad([("a", "x"), ("x", "y")], {"a": "latent", "x": "observed", "y": "observed"}),
            {"y"},
            "observed node 'x' has children",
        ),
        (bad([("a", "x")], {"a": "latent", "x": "observed"}), {"a"}, "not observed nodes: \\['a'\\]"),
        (bad([("a", "x")], {"a": "latent", "x": "observed"}), {"pixel"}, "not observed nodes: \\['pixel'\\]"),
        (bad([("a", "x")], {"a": None, "x": "observed"}), {"x"}, "node 'a' has kind None"),
        (bad([("a", "x")], {"a": "hidden", "x": "observed"}), {"x"}, "node 'a' has kind 'hidden'"),
        (bad([("a", "e"), ("e", "x")], {"a": "latent", "e": "exogenous", "x": "observed"}), {"x"}, "exogenous node 'e'"),
    ],
)
def test_bad_input_raises(graph, masked, message):
    with pytest.raises(ValueError, match=message):
        minimal_c(graph, masked)
    with pytest.raises(ValueError, match=message):
        minimal_c(graph, masked, as_printed=True)
    with pytest.raises(ValueError, match=message):
        s_mc(graph, masked, set())


def test_sample_unit_mask():
    rng = random.Random(0)
    mask = sample_unit_mask(rng, 0.5, 2)
    assert len(mask) == 32  # 8 of the 16 2x2 squares
    assert all({(r // 2 * 2 + i, c // 2 * 2 + j) for i in (0, 1) for j in (0, 1)} <= mask for r, c in mask)
    assert len(sample_unit_mask(rng, 0.1, 4)) == 16 and len(sample_unit_mask(rng, 0.9, 4)) == 48  # 1 and 3 of 4
    assert len(sample_unit_mask(rng, 0.75, 1)) == 48
    with pytest.raises(ValueError, match="does not divide"):
        sample_unit_mask(rng, 0.5, 3)


def test_level_of_c_and_latent_noise():
    g = two_level_tree()
    levels = {"high": ["r"], "low": ["a", "b"]}
    assert level_of_c(g, {"x1"}, levels) == {"high": 0, "low": 1}
    assert level_of_c(g, {"x1", "x2"}, levels) == {"high": 1, "low": 0}
    assert level_of_c(g, {"x1", "x3"}, {"low": ["a"]}) == {"low": 1, "other": 1}
    g, masked = printed_counterexamples()["redundant C"]
    noisy = add_latent_noise(g)
    assert set(noisy) - set(g) == {"e_a", "e_b"}  # r is parentless: its own source
    assert minimal_c(noisy, masked) == ({"a", "b"}, set())  # with own noise, a and b are both needed


def test_draw_figure4():
    import matplotlib.pyplot as plt

    g = figure4_graph()
    masked = FIGURE4_MASKS["ideal"]
    C, S_m = minimal_c(g, masked)
    fig, ax = plt.subplots()
    assert draw(g, masked, C, S_m, s_mc(g, masked, C), ax=ax, title="ideal") is ax
    plt.close(fig)


def test_large_graph_in_the_papers_model_matches_printed():
    """Hundreds of nodes (the size of the synthetic dataset's DAG): the corrected search stays a single forced pass."""
    rng = random.Random(7)
    g = random_hierarchical_dag(rng, latent_layers=[3, 12, 48], n_observed=256, max_parents=3)
    for ratio in (0.1, 0.5, 0.9):
        masked = set(rng.sample(observed(g), int(ratio * 256)))
        assert minimal_c(g, masked) == minimal_c(g, masked, as_printed=True)
