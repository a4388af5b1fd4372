"""A private, single-node SLURM cluster for tests (Debian Slurm 22.05 + munge 0.5).

Everything lives under one ``workdir``: munge key/socket/pid/log/seed, slurm.conf, gres.conf, state, spool, logs,
pid files, the job-completion log and a ``bin/sacct`` stand-in.  The daemons (munged, slurmctld, slurmd) run in the
foreground as children of this process on free, non-default ports, so they cannot collide with another cluster on
the same host, and ``stop()`` ends exactly the processes that belong to this instance.

Typical use::

    with SlurmCluster(tmp_path / "slurm") as cluster:
        subprocess.run(["sbatch", "--wrap", "true"], env={**os.environ, **cluster.env}, check=True)

See /work/shared/notes/slurm-single-node.md for why each setting is there.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import typing as tp
from pathlib import Path

#: Daemons and the client commands the harness needs.
REQUIRED_PROGRAMS = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "squeue", "scontrol", "scancel", "sbatch")

# Job credential lifetime.  Slurm holds a requeued job back until ``now + cred_expire + 1`` (default 120 s, hence
# the ~134 s restart delay in the notes); the documented minimum is 5 s, and the job scripts here start instantly.
CRED_EXPIRE_S = 5


def missing_programs() -> list[str]:
    """Names from REQUIRED_PROGRAMS that are not on PATH (nor in /usr/sbin, /sbin)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    return [p for p in REQUIRED_PROGRAMS if shutil.which(p, path=path) is None]


def _which(program: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    found = shutil.which(program, path=path)
    if found is None:
        raise FileNotFoundError(f"{program} is not installed (apt-get install slurmctld slurmd slurm-client munge)")
    return found


def _free_ports(count: int) -> list[int]:
    """Ports the kernel reports free right now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _read_proc(pid: int, name: str) -> bytes:
    try:
        return Path(f"/proc/{pid}/{name}").read_bytes()
    except OSError:
        return b""


def _with_subtrees(roots: set[int], parents: dict[int, int]) -> set[int]:
    """``roots`` and every process below them, given each pid's parent (chains longer than 64 are not followed)."""
    found = set(roots)
    for pid in parents:
        chain, p = [], pid
        while p > 1 and p not in found and p not in chain and len(chain) < 64:
            chain.append(p)
            p = parents.get(p, 0)
        if p in found:
            found.update(chain)
    return found


def _pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# The sacct stand-in.  submitit 1.5.4 (SlurmInfoWatcher._make_command) runs
#     sacct -o JobID,State,NodeList --parsable2 -j <id> [-j <id> ...]
# with the *main* ids (array ids without "_<task>") and expects a "JobID|State|NodeList" header, then one row per job
# or array task ("123", "123_4", or "123_[5-7%2]" for still-pending array tasks).  Rows come from the controller
# (squeue --states=all, which keeps finished jobs for MinJobAge) and, for jobs it has already purged, from the
# jobcomp/filetxt log (last record wins, so a requeued-then-completed job reads COMPLETED).
_SACCT_TEMPLATE = r'''#!{python}
"""sacct stand-in for a SLURM cluster without slurmdbd (written by tests/slurm/cluster.py)."""
import os
import re
import subprocess
import sys

SLURM_CONF = {conf!r}
JOBCOMP_LOG = {jobcomp!r}
SQUEUE = {squeue!r}
FIELDS = {{  # sacct field (lower case) -> squeue format code
    "jobid": "%i", "jobidraw": "%A", "jobname": "%j", "state": "%T", "nodelist": "%N", "partition": "%P",
    "user": "%u", "start": "%S", "end": "%e", "timelimit": "%l", "elapsed": "%M", "reason": "%r",
}}
SEP = "\x1f"


def parse_args(argv):
    fields, ids, parsable, header = ["JobID", "JobName", "Partition", "State", "ExitCode"], [], None, True
    it = iter(argv)
    for arg in it:
        value = None
        if "=" in arg and arg.startswith("--"):
            arg, value = arg.split("=", 1)
        elif len(arg) > 2 and arg[:2] in ("-o", "-j") and not arg.startswith("--"):
            arg, value = arg[:2], arg[2:]
        if arg in ("-o", "--format"):
            fields = [f.split("%")[0] for f in (value if value is not None else next(it)).split(",") if f]
        elif arg in ("-j", "--jobs"):
            ids += [j for j in (value if value is not None else next(it)).split(",") if j]
        elif arg in ("-p", "--parsable"):
            parsable = "|"
        elif arg in ("-P", "--parsable2"):
            parsable = ""
        elif arg in ("-n", "--noheader"):
            header = False
        # anything else (-X, --allocations, -a, -S, -E, -u, ...) is accepted and ignored
    return fields, ids, parsable, header


def squeue_rows():
    env = dict(os.environ, SLURM_CONF=os.environ.get("SLURM_CONF", SLURM_CONF))
    codes = ["%A", "%F", "%K"] + list(FIELDS.values())
    out = subprocess.run(
        [SQUEUE, "--states=all", "--array", "--noheader", "--format=" + SEP.join(codes)],
        env=env, capture_output=True, text=True, timeout=60,
    )
    if out.returncode != 0:
        sys.stderr.write(out.stderr)
        sys.exit(out.returncode)
    rows = []
    for line in out.stdout.splitlines():
        values = line.split(SEP)
        if len(values) != len(codes):
            continue
        raw, array_job, _task, *rest = values
        row = dict(zip(FIELDS, rest))
        row["_keys"] = {{raw, array_job, row["jobid"].split("_")[0]}}
        rows.append(row)
    return rows


def jobcomp_rows():
    last = {{}}
    try:
        with open(JOBCOMP_LOG) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        rec = dict(re.findall(r"(\w+)=(\S*)", line))
        if "JobId" not in rec:
            continue
        raw = rec["JobId"]
        array_job, task = rec.get("ArrayJobId", ""), rec.get("ArrayTaskId", "")
        if array_job and array_job not in ("0", raw) or (task and task not in ("4294967294", "N/A", "")):
            jobid = f"{{array_job or raw}}_{{task}}"
        else:
            jobid = raw
        last[raw] = {{
            "jobid": jobid, "jobidraw": raw, "jobname": rec.get("Name", ""), "state": rec.get("JobState", ""),
            "nodelist": rec.get("NodeList", "").replace("(null)", ""), "partition": rec.get("Partition", ""),
            "user": rec.get("UserId", "").split("(")[0], "start": rec.get("StartTime", ""),
            "end": rec.get("EndTime", ""), "timelimit": rec.get("TimeLimit", ""), "elapsed": "", "reason": "",
            "exitcode": rec.get("ExitCode", ""), "derivedexitcode": rec.get("DerivedExitCode", ""),
            "_keys": {{raw, array_job, jobid.split("_")[0]}} - {{""}},
        }}
    return list(last.values())


def main(argv):
    fields, ids, parsable, header = parse_args(argv)
    wanted = {{j.split(".")[0] for j in ids if "_" not in j}}  # a job, or a whole array
    tasks = {{j.split(".")[0] for j in ids if "_" in j}}  # one array task: "123_4"
    live = squeue_rows()
    done = jobcomp_rows()
    exit_codes = {{r["jobidraw"]: r for r in done}}
    seen = {{r["jobidraw"] for r in live}}
    rows = live + [r for r in done if r["jobidraw"] not in seen]

    def selected(row):
        if not ids:
            return True
        if row["jobid"] in tasks:
            return True
        return bool(row["_keys"] & wanted)

    rows = [r for r in rows if selected(r)]
    rows.sort(key=lambda r: (int(r["jobidraw"]) if r["jobidraw"].isdigit() else 0))
    lines = []
    if header:
        lines.append(fields)
    for row in rows:
        values = []
        for name in fields:
            key = name.lower()
            if key in ("exitcode", "derivedexitcode"):
                value = row.get(key) or exit_codes.get(row["jobidraw"], {{}}).get(key, "")
            else:
                value = row.get(key, "")
            values.append("" if value in ("N/A", "(null)") and key == "nodelist" else value)
        lines.append(values)
    sep = "|" if parsable is not None else " "
    for values in lines:
        sys.stdout.write(sep.join(values) + (parsable or "") + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


def write_sacct_standin(path: Path, conf: Path, jobcomp_log: Path, squeue: str = "squeue") -> Path:
    """Write the ``sacct`` stand-in script to ``path`` (executable) and return it."""
    path = Path(path)
    path.write_text(
        _SACCT_TEMPLATE.format(
            python=sys.executable,
            conf=str(conf),
            jobcomp=str(jobcomp_log),
            squeue=str(squeue),
        )
    )
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


class SlurmCluster:
    """A private single-node SLURM cluster rooted at ``workdir`` (needs root).

    Public API:
      * ``SlurmCluster(workdir, cpus=None)``: ``cpus`` caps the node's CPUs (default: all, from ``slurmd -C``).
      * ``start()`` / ``stop()`` (idempotent; ``stop`` is safe on a partially started cluster) and ``with`` support.
      * ``env``: variables a client needs (SLURM_CONF, PATH with the ``sacct`` stand-in first); ``environ()`` is
        ``os.environ`` updated with them, for ``subprocess.run(..., env=cluster.environ())``.
      * ``run(*cmd)``: run a command with that environment (``check=True``, text output).
      * ``wait_idle(timeout)``: wait until the node is idle (no job running on it).
      * ``wait_no_jobs(timeout)``: wait until no job is pending/running/completing.
      * ``logs()``: tail of the daemons' logs (for failure messages).
      * attributes: ``workdir``, ``conf_path``, ``bin_dir``, ``jobcomp_log``, ``hostname``, ``partition``,
        ``cpus``, ``real_memory``, ``ctld_port``, ``slurmd_port``, ``munge_socket``.
    """

    partition = "debug"

    def __init__(self, workdir: Path, cpus: int | None = None) -> None:
        self.workdir = Path(workdir).resolve()
        self.requested_cpus = cpus
        self.hostname = socket.gethostname().split(".")[0]
        w = self.workdir
        self.conf_path = w / "etc" / "slurm.conf"
        self.gres_path = w / "etc" / "gres.conf"
        self.bin_dir = w / "bin"
        self.munge_dir = w / "munge"
        self.munge_key = self.munge_dir / "munge.key"
        self.munge_socket_dir = w / "munge" / "run"
        self.munge_socket = self.munge_socket_dir / "munge.socket"
        self.munge_pid = self.munge_dir / "munged.pid"
        self.munge_seed = self.munge_dir / "munged.seed"
        self.munge_log = w / "log" / "munged.log"
        self.state_dir = w / "state"
        self.spool_dir = w / "spool"
        self.log_dir = w / "log"
        self.run_dir = w / "run"
        self.jobcomp_log = w / "log" / "jobcomp.log"
        self.ctld_log = w / "log" / "slurmctld.log"
        self.slurmd_log = w / "log" / "slurmd.log"
        self.cpus: int | None = None
        self.real_memory: int | None = None
        self.ctld_port: int | None = None
        self.slurmd_port: int | None = None
        self._procs: dict[str, subprocess.Popen] = {}
        self._started = False
        self._atexit_registered = False

    # ------------------------------------------------------------------ environment
    @property
    def env(self) -> dict[str, str]:
        """Environment variables a client (sbatch, submitit, a shell script) needs for this cluster."""
        path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
        parts = [p for p in path.split(os.pathsep) if p and p != str(self.bin_dir)]
        return {
            "SLURM_CONF": str(self.conf_path),
            "PATH": os.pathsep.join([str(self.bin_dir), *parts]),
        }

    def environ(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not (k.startswith("SLURM_") or k.startswith("SBATCH_"))}
        env.update(self.env)
        return env

    def run(self, *cmd: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(list(cmd), env=self.environ(), capture_output=True, text=True, check=check, timeout=timeout)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> SlurmCluster:
        self.start()
        return self

    def __exit__(self, *exc: tp.Any) -> None:
        self.stop()

    def start(self, timeout: float = 60) -> SlurmCluster:
        if self._started:
            return self
        if os.geteuid() != 0:
            raise PermissionError("a private SLURM cluster needs root (slurmd runs jobs as their user)")
        if not self._atexit_registered:
            atexit.register(self.stop)
            self._atexit_registered = True
        for attempt in range(3):
            self._started = True
            try:
                self._prepare()
                self._start_munge(timeout)
                self._start_slurm(timeout)
                return self
            except Exception as exc:
                logs = self.logs()
                self.stop()
                if "Address already in use" in logs and attempt < 2:
                    # the free ports were taken between choosing and binding them: retry with new ones
                    self.log_dir.rename(self.log_dir.with_name(f"log.failed{attempt}"))
                    continue
                raise RuntimeError(f"SLURM cluster failed to start in {self.workdir}: {exc}\n{logs}") from exc
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def _prepare(self) -> None:
        for d in (
            self.workdir,
            self.conf_path.parent,
            self.bin_dir,
            self.state_dir,
            self.spool_dir,
            self.log_dir,
            self.run_dir,
            self.munge_dir,
            self.munge_socket_dir,
        ):
            d.mkdir(parents=True, exist_ok=True)
        (self.spool_dir / f"slurmd.{self.hostname}").mkdir(exist_ok=True)
        os.chmod(self.munge_dir, 0o755)
        # munged wants execute-for-all on every directory above its socket; the munge dirs get 0755 here, and
        # "--force" (see _start_munge) turns the same complaint about a private parent (pytest's 0700
        # /tmp/pytest-of-root) into a warning.
        os.chmod(self.munge_socket_dir, 0o755)
        if len(str(self.munge_socket).encode()) > 100:
            raise ValueError(f"workdir path too long for a unix socket: {self.munge_socket}")

        hw = self._hardware()
        cpus = int(hw["CPUs"])
        if self.requested_cpus is not None:
            cpus = max(1, min(cpus, int(self.requested_cpus)))
            topology = f"CPUs={cpus} Sockets=1 CoresPerSocket={cpus} ThreadsPerCore=1"
        else:
            topology = " ".join(
                f"{k}={hw[k]}" for k in ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore") if k in hw
            )
        self.cpus = cpus
        self.real_memory = int(hw["RealMemory"])
        def_mem = max(100, min(2048, self.real_memory // (2 * cpus)))
        self.ctld_port, self.slurmd_port = _free_ports(2)
        auth_info = f"socket={self.munge_socket},cred_expire={CRED_EXPIRE_S}"

        conf = f"""\
# Private single-node test cluster written by tests/slurm/cluster.py -- workdir {self.workdir}
ClusterName=testcluster
SlurmctldHost={self.hostname}(127.0.0.1)
SlurmctldPort={self.ctld_port}
SlurmdPort={self.slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo={auth_info}
StateSaveLocation={self.state_dir}
SlurmdSpoolDir={self.spool_dir}/slurmd.%n
SlurmctldPidFile={self.run_dir}/slurmctld.pid
SlurmdPidFile={self.run_dir}/slurmd.%n.pid
SlurmctldLogFile={self.ctld_log}
SlurmdLogFile={self.slurmd_log}
SlurmctldDebug=info
SlurmdDebug=info
TmpFS={self.workdir}/tmp
MailProg=/bin/true
SwitchType=switch/none
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/affinity
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={self.jobcomp_log}
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_interval=1
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={def_mem}
GresTypes=gpu
ReturnToService=2
JobRequeue=1
KillWait=5
MinJobAge=300
InactiveLimit=0
Waittime=0
SlurmdParameters=config_overrides
NodeName={self.hostname} NodeAddr=127.0.0.1 {topology} RealMemory={self.real_memory} Gres=gpu:1 State=UNKNOWN
PartitionName={self.partition} Nodes={self.hostname} Default=YES MaxTime=UNLIMITED State=UP OverSubscribe=NO
"""
        (self.workdir / "tmp").mkdir(exist_ok=True)
        self.jobcomp_log.write_text("")  # "-c" below starts with no jobs and job ids from 1 again
        self.conf_path.write_text(conf)
        self.gres_path.write_text(f"NodeName={self.hostname} Name=gpu File=/dev/null\n")

        write_sacct_standin(self.bin_dir / "sacct", self.conf_path, self.jobcomp_log, _which("squeue"))

    def _hardware(self) -> dict[str, str]:
        out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, check=True, timeout=30).stdout
        first = out.splitlines()[0]
        return dict(re.findall(r"(\w+)=(\S+)", first))

    def _daemon_env(self) -> dict[str, str]:
        env = self.environ()
        env["SLURM_CONF"] = str(self.conf_path)
        return env

    def _spawn(self, name: str, cmd: list[str], log: Path) -> subprocess.Popen:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._daemon_env(),
                cwd=self.workdir,
                start_new_session=True,
            )
        self._procs[name] = proc
        return proc

    def _start_munge(self, timeout: float) -> None:
        if not self.munge_key.exists():
            subprocess.run(
                [_which("mungekey"), "--create", f"--keyfile={self.munge_key}"], check=True, capture_output=True, timeout=60
            )
        os.chmod(self.munge_key, 0o600)
        self._spawn(
            "munged",
            [
                _which("munged"),
                "--foreground",
                "--force",
                f"--socket={self.munge_socket}",
                f"--pid-file={self.munge_pid}",
                f"--seed-file={self.munge_seed}",
                f"--log-file={self.munge_log}",
                f"--key-file={self.munge_key}",
            ],
            self.log_dir / "munged.out",
        )
        self._wait(lambda: self.munge_socket.exists(), timeout, "munged socket")

    def _start_slurm(self, timeout: float) -> None:
        self._spawn("slurmctld", [_which("slurmctld"), "-D", "-c", "-f", str(self.conf_path)], self.log_dir / "slurmctld.out")
        self._wait(lambda: self._port_taken() or self._ping(), timeout, "slurmctld to answer")
        self._spawn("slurmd", [_which("slurmd"), "-D", "-f", str(self.conf_path)], self.log_dir / "slurmd.out")
        self._wait(lambda: self._port_taken() or self.node_state() == "idle", timeout, "the node to be idle", poll=0.1)

    def _ping(self) -> bool:
        try:
            return "UP" in self.run("scontrol", "ping", check=False, timeout=2).stdout
        except subprocess.TimeoutExpired:
            return False

    def _port_taken(self) -> bool:
        """Raise at once if a daemon could not bind its port (it would retry for a while before giving up)."""
        for log in (self.ctld_log, self.slurmd_log):
            try:
                if "Address already in use" in log.read_text(errors="replace"):
                    raise OSError(f"Address already in use (see {log})")
            except FileNotFoundError:
                pass
        return False

    def _wait(self, predicate: tp.Callable[[], bool], timeout: float, what: str, poll: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{name} exited with code {proc.returncode} while waiting for {what}")
            if predicate():
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(poll)

    def node_state(self) -> str:
        out = self.run("sinfo", "--noheader", "--Node", "--format=%T", check=False, timeout=10)
        return out.stdout.strip().lower()

    def wait_idle(self, timeout: float = 60) -> None:
        """Wait until the node is registered and idle (nothing running on it)."""
        self._wait(lambda: self.node_state() == "idle", timeout, "the node to be idle", poll=0.2)

    def wait_no_jobs(self, timeout: float = 60) -> None:
        """Wait until no job is pending, running, configuring, completing or requeued."""

        def empty() -> bool:
            out = self.run(
                "squeue", "--noheader", "--format=%i", "--states=PD,R,CF,CG,RQ,RS,RH,RF,S,ST,SI,SO", check=False, timeout=10
            )
            return out.returncode == 0 and not out.stdout.strip()

        self._wait(empty, timeout, "the queue to drain", poll=0.2)

    def logs(self, lines: int = 40) -> str:
        chunks = []
        for path in sorted(self.log_dir.glob("*")) if self.log_dir.exists() else []:
            try:
                text = path.read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            if text:
                chunks.append(f"==> {path} <==\n" + "\n".join(text))
        return "\n".join(chunks)

    # ------------------------------------------------------------------ shutdown
    def _ours(self, pid: int) -> bool:
        """True if ``pid`` is a live process of this instance (its command line or environment names our workdir)."""
        if not _pid_alive(pid):
            return False
        marker = str(self.workdir).encode()
        if marker in _read_proc(pid, "cmdline"):
            return True
        return f"SLURM_CONF={self.conf_path}".encode() in _read_proc(pid, "environ").split(b"\0")

    def _descendants(self, spare: tp.Collection[int] = ()) -> list[int]:
        """Live processes of this instance: those naming our workdir/SLURM_CONF (daemons, slurmstepd, jobs
        submitted with our environment) and every process below them (jobs submitted with --export=NONE),
        except the processes in ``spare`` and those below them."""
        parents: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    continue
        ancestors, pid = set(), os.getpid()
        while pid > 1 and pid not in ancestors:
            ancestors.add(pid)
            pid = parents.get(pid, 0)
        found = _with_subtrees({pid for pid in parents if pid not in ancestors and self._ours(pid)}, parents)
        spared = _with_subtrees(set(spare), parents)
        return sorted(p for p in found - ancestors - spared if _pid_alive(p))

    def _signal(self, pid: int, sig: int, checked: bool = False) -> None:
        if checked or self._ours(pid):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass

    def _terminate(self, name: str, timeout: float) -> None:
        proc = self._procs.get(name)
        if proc is None:
            return
        if proc.poll() is None:
            self._signal(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(proc.pid, signal.SIGKILL)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    pass
        self._procs.pop(name, None)

    def stop(self) -> None:
        """Kill all jobs, then stop the daemons this instance started; leaves no process of this instance behind.

        Safe to call twice, before ``start()``, or after a failed/partial start.  Only processes whose command line
        or environment names this instance's workdir/config (and processes below them) are signalled.
        """
        if not self._started and not self._procs:
            return
        try:
            munged = self._procs.get("munged")
            first_pid = munged.pid if munged is not None else None
            if all(name in self._procs and self._procs[name].poll() is None for name in ("slurmctld", "slurmd")):
                try:  # tearing down: SIGKILL every step and batch script rather than wait for KillWait
                    ids = self.run("squeue", "--noheader", "--format=%A", check=False, timeout=10).stdout.split()
                    if ids:
                        self.run("scancel", "--full", "--signal=KILL", *ids, check=False, timeout=20)
                        self.run("scancel", *ids, check=False, timeout=20)
                        self.wait_no_jobs(timeout=1)  # usually drains at once; if not, the kill below does it
                except Exception:
                    pass
            self._kill_jobs()  # slurmstepd and job processes; slurmd then exits at once
            self._terminate("slurmd", 5)
            self._terminate("slurmctld", 10)
            self._terminate("munged", 5)
            self._kill_jobs()
            if first_pid is not None:
                self._wait_stepd_zombies(first_pid, timeout=3)
        finally:
            self._started = False

    def _kill_jobs(self, timeout: float = 5) -> None:
        # spare the daemons still running and their helpers (slurmctld's slurmscriptd: killing it makes
        # slurmctld hang on SIGTERM); slurmstepd are not slurmd's children (double fork), so they are not spared
        daemons = {proc.pid for proc in self._procs.values() if proc.poll() is None}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leftovers = self._descendants(spare=daemons)
            if not leftovers:
                return
            for pid in leftovers:
                self._signal(pid, signal.SIGKILL, checked=True)
            time.sleep(0.05)

    @staticmethod
    def _wait_stepd_zombies(first_pid: int, timeout: float) -> None:
        """Give init a moment to reap exited slurmstepd (slurmd double-forks them, so init is their parent).

        Zombies carry no command line or environment, so this only waits (never signals) for zombie
        ``slurmstepd`` processes younger than our munged; it is cosmetic, for a clean ``ps`` after the run.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            zombies = []
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit() or int(entry.name) <= first_pid:
                    continue
                try:
                    comm, rest = (entry / "stat").read_text().split("(", 1)[1].rsplit(")", 1)
                except (OSError, ValueError, IndexError):
                    continue
                if comm == "slurmstepd" and rest.split()[0] == "Z":
                    zombies.append(int(entry.name))
            if not zombies:
                return
            time.sleep(0.1)

    def __repr__(self) -> str:
        state = "running" if self._procs else "stopped"
        return f"SlurmCluster({str(self.workdir)!r}, cpus={self.cpus}, {state})"
