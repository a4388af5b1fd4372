"""HLVM wing: Kong et al., *Understanding Masked Autoencoders via Hierarchical Latent Variable Models* (CVPR 2023).

`theory` holds Algorithms 1-2 and the Theorem 1 checks (§2.3, App. A); `runs` the §3 grid of pretrainings.
"""

from .runs import border_name, coupled_name, grid, grid_name, runs
from .theory import (
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

__all__ = [
    "FIGURE4_MASKS",
    "FIGURE4_PAPER_C",
    "add_latent_noise",
    "border_name",
    "coupled_name",
    "draw",
    "figure4_graph",
    "forward_determined",
    "grid",
    "grid_name",
    "level_of_c",
    "minimal_c",
    "printed_counterexamples",
    "random_hierarchical_dag",
    "runs",
    "s_mc",
    "sample_unit_mask",
    "theorem1_holds",
]
