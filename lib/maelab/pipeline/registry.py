"""The papers and the runs they read: each paper's wing declares its runs; shared runs merge by name.

The calibration gate's runs (does pretraining work at this profile?) come first, whatever the papers.
"""

from ..papers import hlvm, lcmae, tlcl
from .builders import calibration
from .config import Profile
from .runs import Run

PAPERS = ("lcmae", "hlvm", "tlcl")
RUNS_OF = {"lcmae": lcmae.runs, "hlvm": hlvm.runs, "tlcl": tlcl.runs}  # paper -> its wing's run builder


def all_runs(p: Profile, papers: tuple[str, ...] = PAPERS) -> list[Run]:
    """Runs the given papers read, for every seed of the profile; a name or config declared twice must agree."""
    unknown = sorted(set(papers) - set(PAPERS))
    if unknown:
        raise ValueError(f"unknown paper(s) {unknown}; choose from {list(PAPERS)}")
    declared = calibration(p)
    for seed in p.seeds:
        for paper in papers:
            declared += RUNS_OF[paper](p, seed) if paper in RUNS_OF else []
    by_name: dict[str, Run] = {}
    name_of_hash: dict[str, str] = {}
    for run in declared:
        if by_name.setdefault(run.name, run).hash != run.hash:
            raise ValueError(f"run {run.name!r} is declared twice with different configs")
        if name_of_hash.setdefault(run.hash, run.name) != run.name:
            raise ValueError(f"one config is declared as {name_of_hash[run.hash]!r} and as {run.name!r}")
    return list(by_name.values())
