"""A real single-node SLURM for the test suite, started from Debian's ``slurm-wlm`` and ``munge``.

``SlurmCluster.start()`` writes a ``slurm.conf`` for this host (its name, the cores and memory that
``slurmd -C`` measures, one partition), creates a munge key, runs ``munged``, ``slurmctld`` and
``slurmd`` as foreground children of the test process (no systemd), and waits until ``sinfo`` shows
the node idle. ``stop()`` cancels every job, ends the daemons and any job step they left, and removes
what it wrote. If anything cannot start, ``SlurmUnavailable`` carries the exact reason (the failing
command or the daemon's log tail); the ``slurm_cluster`` fixture turns it into a skip, or into an
error when ``HIERPHASE_REQUIRE_SLURM=1`` (set by ``.ci/run``, where the test must run).

Everything lives in one private directory (munge socket and key, state, spool, logs) except one
file: Snakemake's SLURM job step strips ``SLURM_*`` variables (``SLURM_CONF`` included) before its
nested ``srun``, so ``srun`` inside a job reads the default configuration locations. The helper puts
its ``slurm.conf`` at ``/run/slurm/conf/slurm.conf``, where SLURM clients look when
``/etc/slurm/slurm.conf`` is absent (the configless cache location), and refuses to run on a host
that already has a SLURM configuration of its own.

Standalone use (for debugging): ``python tests/slurm_cluster.py`` starts the cluster, prints its
``SLURM_CONF`` and waits for Ctrl-C.
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

#: Binaries the cluster needs, with the Debian package that ships each.
REQUIRED_BINARIES = {
    "munged": "munge",
    "munge": "munge",
    "slurmctld": "slurmctld",
    "slurmd": "slurmd",
    "slurmstepd": "slurmd",
    "sbatch": "slurm-client",
    "srun": "slurm-client",
    "squeue": "slurm-client",
    "sinfo": "slurm-client",
    "scontrol": "slurm-client",
    "scancel": "slurm-client",
}
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
CLIENT_CONF = Path("/run/slurm/conf/slurm.conf")
MARKER = "# written by hierphase tests/slurm_cluster.py"
PARTITION = "hierphase"


class SlurmUnavailable(RuntimeError):
    """The cluster could not be started; the message says exactly why."""


def _which(name: str) -> str | None:
    """``name`` on PATH, or in the sbin directories a non-login shell may leave out of PATH."""
    return shutil.which(name) or shutil.which(name, path="/usr/local/sbin:/usr/sbin:/sbin")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path: Path, n: int = 25) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError as exc:
        return f"(no log at {path}: {exc})"
    return "\n".join(lines[-n:]) or f"(log {path} is empty)"


def _node_hardware() -> dict[str, int]:
    """CPUs, boards, sockets, cores, threads and RealMemory (MiB) as ``slurmd -C`` measures them."""
    out = subprocess.run([_which("slurmd"), "-C"], capture_output=True, text=True, timeout=30)
    fields = dict(re.findall(r"(\w+)=(\d+)", out.stdout))
    keys = ("CPUs", "Boards", "SocketsPerBoard", "CoresPerSocket", "ThreadsPerCore", "RealMemory")
    if out.returncode != 0 or not all(k in fields for k in keys):
        raise SlurmUnavailable(
            f"`slurmd -C` did not report this node's hardware (exit {out.returncode}): "
            f"{out.stdout.strip()} {out.stderr.strip()}"
        )
    return {k: int(fields[k]) for k in keys}


def _die_with_parent() -> None:
    """In a daemon's child process before exec: get SIGTERM when the test process dies, however
    it dies (Linux prctl PR_SET_PDEATHSIG), so no daemon outlives a killed pytest."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(pid: int, children: dict[int, list[int]]) -> list[int]:
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


class SlurmCluster:
    """One SLURM controller and one compute node on this host, in a private directory."""

    def __init__(self, partition: str = PARTITION):
        self.partition = partition
        self.root: Path | None = None
        self.conf: Path | None = None
        self.node = socket.gethostname().split(".")[0]
        self.hardware: dict[str, int] = {}
        self._procs: dict[str, subprocess.Popen] = {}
        self._wrote_client_conf = False
        self._made_dirs: list[Path] = []

    # ------------------------------------------------------------------ paths and environment
    @property
    def env(self) -> dict[str, str]:
        """Environment for SLURM client commands (``sbatch``, ``squeue``...) talking to this cluster."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        return env

    @property
    def jobcomp_log(self) -> Path:
        return self.root / "log" / "jobcomp.log"

    @property
    def slurmctld_log(self) -> Path:
        return self.root / "log" / "slurmctld.log"

    # ------------------------------------------------------------------ start
    def _preflight(self) -> None:
        if os.uname().sysname != "Linux":
            raise SlurmUnavailable(f"needs Linux, this is {os.uname().sysname}")
        if os.geteuid() != 0:
            raise SlurmUnavailable(
                "slurmd must run as root to launch jobs, and this test runs as uid "
                f"{os.geteuid()}; run the SLURM test as root (CI does)"
            )
        missing = [b for b in REQUIRED_BINARIES if _which(b) is None]
        if missing:
            pkgs = sorted({REQUIRED_BINARIES[b] for b in missing})
            raise SlurmUnavailable(
                f"missing {', '.join(missing)} (Debian packages {', '.join(pkgs)}); "
                "install them with workflow/scripts/install-slurm.sh"
            )
        if SYSTEM_CONF.exists():
            raise SlurmUnavailable(
                f"{SYSTEM_CONF} exists: this host has a SLURM of its own, and jobs' nested srun "
                "would read that configuration instead of the test cluster's"
            )
        if CLIENT_CONF.exists() or CLIENT_CONF.is_symlink():
            text = CLIENT_CONF.read_text(errors="replace") if CLIENT_CONF.is_file() else ""
            owner = re.search(MARKER + r" pid=(\d+)", text)
            if owner and not _pid_alive(int(owner.group(1))):
                CLIENT_CONF.unlink()  # left by a test process that died before its teardown
            else:
                raise SlurmUnavailable(
                    f"{CLIENT_CONF} exists and belongs to another SLURM (or a running test "
                    "session); refusing to replace it"
                )

    def _write_conf(self, ctld_port: int, d_port: int) -> str:
        hw, r = self.hardware, self.root
        mem_per_cpu = max(100, min(1000, hw["RealMemory"] // max(hw["CPUs"], 1)))
        return f"""{MARKER} pid={os.getpid()}
ClusterName=hierphase-test
SlurmctldHost={self.node}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={r}/munge-run/munge.socket
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU={mem_per_cpu}
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={r}/log/jobcomp.log
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName={self.node} NodeAddr=127.0.0.1 CPUs={hw["CPUs"]} Boards={hw["Boards"]} SocketsPerBoard={hw["SocketsPerBoard"]} CoresPerSocket={hw["CoresPerSocket"]} ThreadsPerCore={hw["ThreadsPerCore"]} RealMemory={hw["RealMemory"]} State=UNKNOWN
PartitionName={self.partition} Nodes={self.node} Default=NO MaxTime=INFINITE State=UP
"""

    def _spawn(self, name: str, argv: list[str]) -> None:
        out = open(self.root / "log" / f"{name}.stdout", "wb")
        argv = [_which(argv[0]) or argv[0], *argv[1:]]
        self._procs[name] = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=self.env, start_new_session=True, cwd=self.root / "log",
            preexec_fn=_die_with_parent,
        )
        out.close()

    def _wait(self, what: str, check, timeout: float, daemon: str, log: Path) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self._procs[daemon]
            if proc.poll() is not None:
                raise SlurmUnavailable(
                    f"{daemon} exited with status {proc.returncode} before {what}; its log:\n"
                    f"{_tail(log)}\n{_tail(self.root / 'log' / f'{daemon}.stdout')}"
                )
            if check():
                return
            time.sleep(0.3)
        raise SlurmUnavailable(f"timed out after {timeout:.0f}s waiting for {what}; {daemon} log:\n{_tail(log)}")

    def _run(self, *argv: str, timeout: float = 20) -> subprocess.CompletedProcess:
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, timeout=timeout)

    def node_state(self) -> str:
        out = self._run("sinfo", "-h", "-N", "-o", "%T", "-n", self.node)
        return out.stdout.strip() if out.returncode == 0 else f"(sinfo failed: {out.stderr.strip()})"

    def start(self) -> "SlurmCluster":
        self._preflight()
        self.hardware = _node_hardware()
        self.root = Path(tempfile.mkdtemp(prefix="hierphase-slurm-"))
        atexit.register(self.stop)
        # munged wants its socket directory world-traversable and its key private
        self.root.chmod(0o755)
        for sub, mode in (("munge", 0o700), ("munge-run", 0o755), ("state", 0o755),
                          ("spool", 0o755), ("log", 0o755), ("run", 0o755)):
            (self.root / sub).mkdir(mode=mode)
            (self.root / sub).chmod(mode)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)

        text = self._write_conf(_free_port(), _free_port())
        self.conf = self.root / "slurm.conf"
        self.conf.write_text(text)
        for parent in reversed(CLIENT_CONF.parents[:2]):  # /run/slurm, /run/slurm/conf
            if not parent.exists():
                parent.mkdir(mode=0o755)
                self._made_dirs.append(parent)
        CLIENT_CONF.write_text(text)
        self._wrote_client_conf = True

        sock = self.root / "munge-run" / "munge.socket"
        self._spawn("munged", [
            "munged", "--foreground", f"--socket={sock}", f"--key-file={key}",
            f"--log-file={self.root / 'log' / 'munged.log'}",
            f"--pid-file={self.root / 'munge-run' / 'munged.pid'}",
            f"--seed-file={self.root / 'munge' / 'munged.seed'}",
        ])
        self._wait("the munge socket", sock.exists, 20, "munged", self.root / "log" / "munged.log")
        cred = subprocess.run(["munge", "-n", "-S", str(sock)], capture_output=True, timeout=10)
        check = subprocess.run(["unmunge", "-S", str(sock)], input=cred.stdout,
                               capture_output=True, timeout=10)
        if cred.returncode or check.returncode:
            raise SlurmUnavailable(
                f"munge round trip failed: {cred.stderr.decode()} {check.stderr.decode()}")

        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._wait("slurmctld to answer `scontrol ping`",
                   lambda: "is UP" in self._run("scontrol", "ping").stdout,
                   30, "slurmctld", self.slurmctld_log)
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf), "-N", self.node])
        self._wait(f"node {self.node} to be idle in sinfo",
                   lambda: self.node_state() == "idle", 60, "slurmd", self.root / "log" / "slurmd.log")
        return self

    # ------------------------------------------------------------------ inspection
    def jobs(self) -> list[dict[str, str]]:
        """Finished jobs from the job-completion log: one dict per job (JobId, Name, JobState, ...)."""
        if not self.jobcomp_log.exists():
            return []
        rows = []
        for line in self.jobcomp_log.read_text().splitlines():
            rows.append(dict(re.findall(r"(\w+)=(\S*)", line)))
        return rows

    def queue(self) -> list[str]:
        out = self._run("squeue", "-h", "-o", "%i")
        return out.stdout.split()

    # ------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Cancel every job, end the daemons and the job steps they left, remove what was written."""
        if self.root is None:
            return
        try:
            if self._procs.get("slurmctld") and self._procs["slurmctld"].poll() is None:
                jobs = self.queue()
                if jobs:
                    self._run("scancel", *jobs)
                    deadline = time.monotonic() + 15
                    while self.queue() and time.monotonic() < deadline:
                        time.sleep(0.5)
        except (OSError, subprocess.SubprocessError):
            pass
        children = _children_map()
        for name in ("slurmd", "slurmctld", "munged"):
            proc = self._procs.get(name)
            if proc is None or proc.poll() is not None:
                continue
            kids = _descendants(proc.pid, children)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            for pid in kids:  # e.g. slurmctld's slurmscriptd
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        self._kill_stray_steps()
        if self._wrote_client_conf and CLIENT_CONF.exists():
            if CLIENT_CONF.read_text(errors="replace").startswith(f"{MARKER} pid={os.getpid()}"):
                CLIENT_CONF.unlink()
            self._wrote_client_conf = False
        for d in reversed(self._made_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        self._made_dirs = []
        if os.environ.get("HIERPHASE_KEEP_SLURM_DIR"):
            print(f"slurm_cluster: kept {self.root}")
        else:
            shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def _kill_stray_steps(self) -> None:
        """slurmstepd daemons detach from slurmd; ours hold files in our directory. Kill them and their trees."""
        ours = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if not (entry / "cmdline").read_bytes().startswith(b"slurmstepd"):
                    continue
                paths = [os.readlink(entry / "cwd")]
                paths += [os.readlink(fd) for fd in (entry / "fd").iterdir()]
            except OSError:
                continue
            if any(p.startswith(str(self.root)) for p in paths):  # e.g. its copy of slurmd.log
                ours.append(int(entry.name))
        if not ours:
            return
        children = _children_map()
        for pid in ours:
            for p in [pid, *_descendants(pid, children)]:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def __enter__(self) -> "SlurmCluster":
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


@pytest.fixture(scope="session")
def slurm_cluster():
    """A started single-node SLURM; skipped with the reason when it cannot start (unless required)."""
    cluster = SlurmCluster()
    try:
        cluster.start()
    except SlurmUnavailable as exc:
        cluster.stop()
        if os.environ.get("HIERPHASE_REQUIRE_SLURM") == "1":
            pytest.fail(f"HIERPHASE_REQUIRE_SLURM=1 but SLURM cannot start: {exc}", pytrace=False)
        pytest.skip(f"cannot start a test SLURM: {exc}")
    except BaseException:
        cluster.stop()
        raise
    # A SIGTERM (a CI timeout) unwinds like Ctrl-C, so this teardown still runs.
    previous = signal.getsignal(signal.SIGTERM)
    if previous == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    old_conf = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if old_conf is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old_conf
        if previous == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    with SlurmCluster() as c:
        print(f"SLURM up: export SLURM_CONF={c.conf}  (partition {c.partition}); Ctrl-C stops it")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
