"""Dispatch runs with submitit: SLURM job arrays, or local processes, in dependency waves.

Runs are ordered by their dependencies (pretrain -> finetune/probe) into waves; a wave starts when
the one before it has finished. On SLURM each wave goes out as one job array capped at
`slurm.array_parallelism`; locally at most `runtime.local_parallelism` jobs run at once. The data of
every pending run is checked before anything is submitted. Each run's outcome is printed as its job
ends; a failed job does not stop the others: its dependents are blocked and the summary names its
error and log. A SLURM job that left the queue without a result (cancelled or killed; without
accounting its state reads UNKNOWN forever) counts as failed after `gone_grace_s`.

Ctrl-C (SIGINT) or SIGTERM stops the running jobs with SIGTERM: each saves a checkpoint (training.train)
and stops; the launcher prints "interrupted; rerun to resume" and exits 130. Local jobs are started
ignoring SIGINT, so a Ctrl-C in the terminal reaches them only through the launcher (submitit's local
job controller would otherwise kill its job one second later, before it could checkpoint).
"""

import getpass
import shutil
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

from ..data.datasets import DatasetNotFound, check_available
from .config import ConfigError, Profile
from .estimate import describe, estimate
from .jobs import JobRunner
from .runs import Run, run_dir, run_state

CLUSTERS = ("auto", "slurm", "local", "debug")
INTERRUPTED = "interrupted; rerun to resume"


@dataclass
class Outcome:
    name: str
    status: str  # done | failed | blocked | planned
    log: str = ""
    error: str = ""

    def line(self) -> str:
        detail = f"  {self.error}" if self.error else ""
        return f"{self.status}: {self.name}{detail}" + (f"  log: {self.log}" if self.status == "failed" else "")


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
        raise ValueError(
            f"--rebuild {unknown[0]}: no such run in this profile and paper selection (see `python -m maelab status`)"
        )
    todo = {n for n, state in states.items() if state not in ("done", "weights-missing")}
    todo |= {n for n in rebuild if states[n] == "weights-missing"}  # a run with its weights present is already done
    by_name = {r.name: r for r in runs}
    while True:
        needed = {d for n in todo for d in by_name[n].deps if states.get(d) == "weights-missing"} - todo
        if not needed:
            return [r for r in runs if r.name in todo]
        todo |= needed


def check_data(runs: list[Run]) -> None:
    """Every distinct data config of `runs` exists (both splits): ConfigError with DatasetNotFound's text otherwise."""
    for cfg in dict.fromkeys(r.spec.data for r in runs):
        try:
            check_available(cfg)
        except DatasetNotFound as e:
            raise ConfigError(f"nothing submitted: {type(e).__name__}: {e}") from e


def make_executor(cluster: str, folder: Path, p: Profile):
    import submitit

    s = p.slurm
    ex = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_max_num_timeout=s.max_num_timeout)
    if cluster == "slurm":
        extra = {
            k: v
            for k, v in (
                ("slurm_account", s.account),
                ("slurm_qos", s.qos),
                ("slurm_constraint", s.constraint),
                ("slurm_partition", s.partition),
            )
            if v
        }
        ex.update_parameters(
            timeout_min=s.timeout_min,
            nodes=s.nodes,
            gpus_per_node=s.gpus_per_node or None,
            tasks_per_node=s.tasks_per_node,
            cpus_per_task=s.cpus_per_task,
            mem_gb=s.mem_gb or None,
            slurm_array_parallelism=s.array_parallelism,
            slurm_setup=list(s.setup),
            **extra,
        )
    else:
        ex.update_parameters(timeout_min=24 * 60)
    return ex


def job_error(e: BaseException) -> str:
    """One line for a job's failure: the exception the job raised (its traceback's last lines, e.g.
    `maelab.data.datasets.DatasetNotFound: ... Fix: ...`), or submitit's own message (a job without a result)."""
    from submitit.core.utils import FailedJobError

    text = str(e).strip()
    if isinstance(e, FailedJobError) and text.count("-" * 22 + "\n") >= 2:
        lines = text.split("-" * 22 + "\n")[1].rstrip().splitlines()  # the job's traceback, between two rules
        last_frame = max((i for i, line in enumerate(lines) if line.startswith(" ")), default=-1)  # frames are indented
        text = " ".join(lines[last_frame + 1 :])
    return " ".join(text.splitlines()[:2]) or type(e).__name__


def queued_slurm_jobs(timeout_s: float = 30) -> set[str] | None:
    """Ids ("123", "123_4") of this user's jobs the SLURM controller still holds; None when squeue does not answer."""
    try:
        out = subprocess.run(
            ["squeue", "-h", "-r", "-o", "%i", "-u", getpass.getuser()], capture_output=True, text=True, timeout=timeout_s
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(out.stdout.split()) if out.returncode == 0 else None


def _collect(job, run: Run, results_dir: Path, profile: str, vanished: bool = False) -> Outcome:
    """A finished job's outcome; its tasks' stdout/stderr are copied into the run directory's logs/ (the submitit
    folder keeps the originals)."""
    log = str(job.task(0).paths.stderr)
    if vanished and not job.done():
        outcome = Outcome(
            run.name,
            "failed",
            log,
            f"SLURM job {job.job_id} left the queue without a result (cancelled, "
            f"killed, or its node failed); rerun to resume from its checkpoint",
        )
    else:
        try:
            job.results()
            outcome = Outcome(run.name, "done", str(job.task(0).paths.stdout))
        except Exception as e:  # FailedJobError carries the remote traceback, UncompletedJobError a job without result
            outcome = Outcome(run.name, "failed", log, job_error(e))
    logs = run_dir(results_dir, profile, run.name) / "logs"
    for task in (job.task(i) for i in range(job.num_tasks)):
        for src in (task.paths.stdout, task.paths.stderr):
            if Path(src).exists():
                logs.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, logs / Path(src).name)
    return outcome


@contextmanager
def _signals_for_launcher():
    """SIGTERM raises KeyboardInterrupt like Ctrl-C does (main thread only: no signal reaches other threads)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def _sigint_ignored():
    """Processes started inside inherit an ignored, blocked SIGINT: a Ctrl-C reaches them only through the launcher's
    SIGTERM. The launcher blocks it too while it submits, so a Ctrl-C in that window stays pending (Linux never
    discards a blocked signal) and is delivered, as KeyboardInterrupt, once the handler is back."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


class Dispatcher:
    """Submits the runs of a wave and follows their jobs, yielding each outcome as its job ends."""

    def __init__(self, executor, cluster: str, p: Profile, results_dir: Path, poll_s: float, gone_grace_s: float):
        self.executor, self.cluster, self.p, self.results_dir = executor, cluster, p, results_dir
        self.poll_s, self.gone_grace_s = poll_s, gone_grace_s
        self.args = (str(results_dir), p.name, p.runtime)
        self.running: list[tuple[object, Run]] = []
        self.gone_since: dict[str, float] = {}  # SLURM job id -> when squeue first lacked it

    def wave(self, runs: list[Run]):
        queue = list(runs)
        if self.cluster == "slurm":
            with self.executor.batch():
                jobs = [self.executor.submit(JobRunner(), r, *self.args) for r in queue]
            print(f"submitted {len(jobs)} runs as job array {jobs[0].job_id.split('_')[0] if jobs else '-'}", flush=True)
            self.running, queue = list(zip(jobs, queue)), []
        cap = 1 if self.cluster == "debug" else max(1, self.p.runtime.local_parallelism)
        while queue or self.running:
            while queue and len(self.running) < cap:
                r = queue.pop(0)
                with _sigint_ignored():
                    self.running.append((self.executor.submit(JobRunner(), r, *self.args), r))
            time.sleep(self.poll_s if self.cluster != "debug" else 0)
            vanished = self._vanished() if self.cluster == "slurm" else set()
            for job, r in [(job, r) for job, r in self.running if job.job_id in vanished or job.done()]:
                self.running.remove((job, r))
                yield _collect(job, r, self.results_dir, self.p.name, job.job_id in vanished)

    def _vanished(self) -> set[str]:
        """Jobs squeue has lacked for gone_grace_s (time for a result file to appear on a shared filesystem)."""
        queued = queued_slurm_jobs()
        if queued is None:
            return set()
        now = time.time()
        for job, _ in self.running:
            if job.job_id in queued:
                self.gone_since.pop(job.job_id, None)
            else:
                self.gone_since.setdefault(job.job_id, now)
        return {j for j, since in self.gone_since.items() if now - since >= self.gone_grace_s}

    def stop(self, grace_s: float) -> None:
        """SIGTERM to every running job (scancel on SLURM); locally, wait up to grace_s for them to checkpoint, repeating
        the signal each second (a job still starting up ignores it until its training loop runs)."""
        if self.cluster == "slurm":
            for job, _ in self.running:
                job.cancel(check=False)
            return
        deadline = time.time() + grace_s
        while time.time() < deadline:
            alive = [job for job, _ in self.running if not job.done()]
            if not alive:
                return
            for job in alive:
                job._process.send_signal(signal.SIGTERM)  # submitit's controller forwards it to the job's task
            time.sleep(1)


def launch(
    runs: list[Run],
    p: Profile,
    results_dir: Path,
    cluster: str = "auto",
    dry_run: bool = False,
    poll_s: float = 1.0,
    rebuild: tuple[str, ...] = (),
    gone_grace_s: float = 60.0,
    stop_grace_s: float = 120.0,
) -> list[Outcome]:
    """Execute every run that is not done, in dependency order; returns one Outcome per pending run.

    ConfigError (nothing submitted) when a pending run's data is missing. After Ctrl-C or SIGTERM: stops the
    running jobs (each saves a checkpoint), prints INTERRUPTED and raises SystemExit(130).
    """
    results_dir = Path(results_dir).resolve()
    cluster = resolve_cluster(cluster)
    print(f"cluster: {cluster}", flush=True)
    todo = pending(runs, results_dir, p.name, rebuild)
    plan = waves(todo)
    if dry_run:
        for i, wave in enumerate(plan):
            print(f"wave {i} ({cluster}, {len(wave)} runs): " + ", ".join(f"{r.name}[{r.kind}]" for r in wave))
        print(describe(estimate(todo, p), p), flush=True)
        return [Outcome(r.name, "planned") for wave in plan for r in wave]
    check_data(todo)
    dispatcher = Dispatcher(
        make_executor(cluster, results_dir / p.name / "submitit" / "%j", p), cluster, p, results_dir, poll_s, gone_grace_s
    )
    outcomes: dict[str, Outcome] = {}
    with _signals_for_launcher():
        try:
            for wave in plan:
                ready = []
                for r in wave:
                    bad = [d for d in r.deps if outcomes.get(d) and outcomes[d].status != "done"]
                    if bad:
                        outcomes[r.name] = Outcome(r.name, "blocked", error=f"dependency {bad[0]} did not finish")
                    else:
                        ready.append(r)
                for outcome in dispatcher.wave(ready):
                    outcomes[outcome.name] = outcome
                    error = f"  {outcome.error}" if outcome.error else ""
                    print(f"[{outcome.status}] {outcome.name}{error}", flush=True)
        except KeyboardInterrupt:
            try:
                dispatcher.stop(stop_grace_s)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting; the jobs finish their checkpoints on their own
                pass
            print(INTERRUPTED, file=sys.stderr, flush=True)
            raise SystemExit(130) from None
    return list(outcomes.values())


def summarize(outcomes: list[Outcome]) -> str:
    counts = {s: sum(o.status == s for o in outcomes) for s in ("done", "failed", "blocked")}
    lines = [f"{n} {s}" for s, n in counts.items() if n]
    lines += [f"  {o.line()}" for o in outcomes if o.status in ("failed", "blocked")]
    return "\n".join(lines) or "nothing to run: every run is done"
