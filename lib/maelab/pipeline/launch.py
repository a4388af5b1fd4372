"""Dispatch runs with submitit: SLURM job arrays, or local processes, in dependency waves.

Runs are ordered by their dependencies (pretrain -> finetune/probe) into waves; a wave starts when
the one before it has finished. On SLURM each wave goes out as one job array capped at
`slurm.array_parallelism`; locally at most `runtime.local_parallelism` jobs run at once. A failed
job does not stop the others: its dependents are blocked and the summary names its log.
"""

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from .config import Profile
from .jobs import JobRunner
from .runs import Run, run_dir, run_state

CLUSTERS = ("auto", "slurm", "local", "debug")


@dataclass
class Outcome:
    name: str
    status: str  # done | failed | blocked | planned
    log: str = ""
    error: str = ""


def resolve_cluster(cluster: str) -> str:
    """`auto` is slurm when `sbatch` is on PATH and its controller answers (`sinfo`), else local."""
    if cluster not in CLUSTERS:
        raise ValueError(f"unknown cluster {cluster!r}; choose one of {CLUSTERS}")
    if cluster == "auto":
        return "slurm" if shutil.which("sbatch") and slurm_reachable() else "local"
    return cluster


def slurm_reachable(timeout_s: float = 20) -> bool:
    """Whether a SLURM controller answers; Slurm's client packages alone (no slurm.conf) do not make a cluster."""
    try:
        return subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, timeout=timeout_s).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def waves(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped by dependency depth (DINO first within a wave); a dependency outside `runs` must already be done."""
    by_name = {r.name: r for r in runs}
    g = nx.DiGraph()
    g.add_nodes_from(by_name)
    g.add_edges_from((dep, r.name) for r in runs for dep in r.deps if dep in by_name)
    longest_first = lambda n: (by_name[n].kind != "dino", n)  # DINO is the slowest job of a wave
    return [[by_name[n] for n in sorted(gen, key=longest_first)] for gen in nx.topological_generations(g)]


def pending(runs: list[Run], results_dir: Path, profile: str, rebuild: tuple[str, ...] = ()) -> list[Run]:
    """Runs to execute: unfinished ones, the `rebuild` ones, and finished runs whose weights are missing from this
    checkout but that a run to execute starts from. Checks every run directory first, so a config conflict stops
    before any submission."""
    states = {r.name: run_state(run_dir(results_dir, profile, r.name), r) for r in runs}
    unknown = sorted(set(rebuild) - set(states))
    if unknown:
        raise ValueError(f"--rebuild {unknown[0]}: no such run in this profile and paper selection (see `python -m maelab status`)")
    todo = {n for n, state in states.items() if state not in ("done", "weights-missing")}
    todo |= {n for n in rebuild if states[n] == "weights-missing"}  # a run with its weights present is already done
    by_name = {r.name: r for r in runs}
    while True:
        needed = {d for n in todo for d in by_name[n].deps if states.get(d) == "weights-missing"} - todo
        if not needed:
            return [r for r in runs if r.name in todo]
        todo |= needed


def make_executor(cluster: str, folder: Path, p: Profile):
    import submitit

    ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
    s = p.slurm
    if cluster == "slurm":
        extra = {k: v for k, v in (("slurm_account", s.account), ("slurm_qos", s.qos), ("slurm_constraint", s.constraint),
                                   ("slurm_partition", s.partition)) if v}
        ex.update_parameters(timeout_min=s.timeout_min, nodes=s.nodes, gpus_per_node=s.gpus_per_node or None,
                             tasks_per_node=s.tasks_per_node, cpus_per_task=s.cpus_per_task, mem_gb=s.mem_gb or None,
                             slurm_array_parallelism=s.array_parallelism, slurm_setup=list(s.setup), **extra)
    else:
        ex.update_parameters(timeout_min=24 * 60)
    return ex


def _collect(job, run: Run, results_dir: Path, profile: str) -> Outcome:
    """Wait for a job; copy its stdout/stderr into the run directory's logs/ (the submitit folder keeps the originals)."""
    try:
        job.result()
        outcome = Outcome(run.name, "done", str(job.paths.stdout))
    except Exception as e:  # FailedJobError carries the remote traceback
        outcome = Outcome(run.name, "failed", str(job.paths.stderr), f"{type(e).__name__}: {str(e).strip()[-2000:]}")
    logs = run_dir(results_dir, profile, run.name) / "logs"
    for src in (job.paths.stdout, job.paths.stderr):
        if Path(src).exists():
            logs.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, logs / Path(src).name)
    return outcome


def launch(runs: list[Run], p: Profile, results_dir: Path, cluster: str = "auto", dry_run: bool = False,
           poll_s: float = 1.0, rebuild: tuple[str, ...] = ()) -> list[Outcome]:
    """Execute every run that is not done, in dependency order; returns one Outcome per pending run."""
    results_dir = Path(results_dir).resolve()
    cluster = resolve_cluster(cluster)
    print(f"cluster: {cluster}", flush=True)
    todo = pending(runs, results_dir, p.name, rebuild)
    plan = waves(todo)
    if dry_run:
        for i, wave in enumerate(plan):
            print(f"wave {i} ({cluster}, {len(wave)} runs): " + ", ".join(f"{r.name}[{r.kind}]" for r in wave))
        return [Outcome(r.name, "planned") for wave in plan for r in wave]
    folder = results_dir / p.name / "submitit" / "%j"
    executor = make_executor(cluster, folder, p)
    args = (str(results_dir), p.name, p.runtime)
    outcomes: dict[str, Outcome] = {}
    for wave in plan:
        ready = []
        for r in wave:
            bad = [d for d in r.deps if outcomes.get(d) and outcomes[d].status != "done"]
            if bad:
                outcomes[r.name] = Outcome(r.name, "blocked", error=f"dependency {bad[0]} did not finish")
            else:
                ready.append(r)
        if cluster == "slurm":
            with executor.batch():
                jobs = [executor.submit(JobRunner(), r, *args) for r in ready]
            print(f"submitted {len(jobs)} runs as job array {jobs[0].job_id.split('_')[0] if jobs else '-'}", flush=True)
            for job, r in zip(jobs, ready):
                outcomes[r.name] = _collect(job, r, results_dir, p.name)
            continue
        cap = 1 if cluster == "debug" else max(1, p.runtime.local_parallelism)
        queue, running = list(ready), []
        while queue or running:
            while queue and len(running) < cap:
                r = queue.pop(0)
                running.append((executor.submit(JobRunner(), r, *args), r))
            time.sleep(poll_s if cluster != "debug" else 0)
            for job, r in [jr for jr in running if jr[0].done()]:
                running.remove((job, r))
                outcomes[r.name] = _collect(job, r, results_dir, p.name)
                print(f"[{outcomes[r.name].status}] {r.name}", flush=True)
    return list(outcomes.values())


def summarize(outcomes: list[Outcome]) -> str:
    lines = [f"{sum(o.status == s for o in outcomes)} {s}" for s in ("done", "failed", "blocked") if any(o.status == s for o in outcomes)]
    for o in outcomes:
        if o.status in ("failed", "blocked"):
            lines.append(f"  {o.status}: {o.name}  {o.error.splitlines()[-1] if o.error else ''}  log: {o.log or '-'}")
    return "\n".join(lines) or "nothing to run: every run is done"
