"""Starting the worker isolated: bubblewrap when it works here, rlimits always.

Strongest first:

``bwrap`` (Debian's ``bubblewrap``): the worker sees a filesystem made only of read-only
``/usr`` (and the ``/lib*`` links), the Python installation and its site-packages (read-only),
``/grader/worker.py``, the stage ``/stage`` (read-only), ``/io`` with the inputs (read-only),
``/io/out`` (the only writable host directory), a private ``/tmp`` and its own ``/proc`` and
``/dev``. The grader's data (reference values, cases, other submissions, results) is not in
its mount namespace at all. It has no network (own network namespace: only a downed
loopback), its own pid, ipc and uts namespaces, a new session, and dies with the grader.

- As root, bwrap runs without a user namespace (``--unshare-all`` would add one that maps
  the sandbox's root onto the host's root, with every capability inside it, and the kernel
  does not apply RLIMIT_NPROC to a uid that is root outside). It unshares every other
  namespace, keeps only CAP_SETUID and CAP_SETGID, and the worker's first act, before numpy
  or any student code, is to become uid ``WORKER_UID_BASE + slot`` (a uid of its own per
  parallel slot, no groups): a real unprivileged uid, so RLIMIT_NPROC binds and nothing the
  worker does can signal the grader.
- As another user, bwrap runs with ``--unshare-all`` (it needs the user namespace) and the
  worker keeps the grader's uid.

``rlimits`` (no usable bwrap: "degraded isolation", said in every report): the worker runs
as a plain subprocess in a new session, with the same rlimits, in its own network namespace
when the grader is root and can make one, as uid ``WORKER_UID_BASE + slot`` when the grader
is root and that uid can run the interpreter (checked by a probe), and dies with the grader
(PR_SET_PDEATHSIG). It can see the filesystem as that uid can: the release makes the
reference values readable by their owner only.

Always: RLIMIT_CPU, RLIMIT_AS, RLIMIT_NPROC, RLIMIT_FSIZE (and no core files), set in
``preexec_fn``; a wall clock per case and per group kept by the parent, which kills the whole
process group (and, with a dropped uid, every process left with that uid); stdout and stderr
through a pipe the parent drains, keeping the first and last ``log_bytes``.
"""

import ctypes
import ctypes.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

WORKER_PATH = Path(__file__).with_name("worker.py")
WORKER_UID_BASE = int(os.environ.get("GRADER_WORKER_UID_BASE", "61000"))
DEGRADED = "degraded isolation"


@dataclass
class Limits:
    case_timeout: float = 20.0   # wall seconds one case may take
    group_timeout: float = 180.0  # wall seconds all runs of one group may take
    memory_mb: int = 1024         # RLIMIT_AS
    nproc: int = 32               # RLIMIT_NPROC (processes of the worker's uid)
    fsize_mb: int = 64            # RLIMIT_FSIZE
    log_bytes: int = 16 * 1024    # kept from the start and from the end of the worker's output
    max_runs: int = 4             # worker runs per group (a run that dies is restarted after the culprit)


@dataclass
class Isolation:
    mode: str              # "bwrap" or "rlimits"
    uid_drop: bool         # the worker runs as WORKER_UID_BASE + slot
    network: bool          # the worker has no network
    reason: str = ""       # why bwrap is not used (degraded mode only)

    @property
    def degraded(self):
        return self.mode != "bwrap"

    def describe(self):
        if not self.degraded:
            who = "a dropped uid per slot" if self.uid_drop else "the grader's uid (not root, no uid to drop to)"
            return ("isolation: bubblewrap (no network, own pid/ipc/uts namespaces, minimal read-only view), "
                    f"{who}, rlimits")
        parts = [f"{DEGRADED}: {self.reason}", "rlimits and a new session only"]
        if self.uid_drop:
            parts.append("dropped uid")
        else:
            parts.append("worker runs as ROOT, the grader's uid" if is_root() else "worker runs as the grader's uid")
        parts.append("no network" if self.network else "network NOT isolated")
        return "; ".join(parts)


def _python_binds():
    """Directories the interpreter and numpy need, outside /usr."""
    import numpy

    paths = {os.path.realpath(sys.base_prefix), os.path.abspath(sys.prefix), os.path.realpath(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
             os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))}
    keep = []
    for p in sorted(paths, key=len):
        if p in ("/", "") or p == "/usr" or p.startswith("/usr/"):
            continue
        if any(p == k or p.startswith(k + "/") for k in keep):
            continue
        keep.append(p)
    return keep


def numpy_site():
    import numpy

    return os.path.dirname(os.path.dirname(os.path.abspath(numpy.__file__)))


def _parents_args(path, made):
    args = []
    parts = Path(path).parts
    for i in range(2, len(parts)):
        parent = str(Path(*parts[:i]))
        if parent not in made:
            made.add(parent)
            args += ["--perms", "0755", "--dir", parent]
    return args


def _system_args():
    args = ["--ro-bind", "/usr", "/usr"]
    for d in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(d):
            args += ["--symlink", os.readlink(d), d]
        elif os.path.isdir(d):
            args += ["--ro-bind", d, d]
    if os.path.exists("/etc/ld.so.cache"):
        args += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


TMPFS_BYTES = 64 << 20  # the sandbox's private /tmp (RAM): bounded, or a worker could fill memory with files


def limits_tmp_bytes():
    return TMPFS_BYTES


SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
    "HOME": "/tmp",
    "LANG": "C.UTF-8",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def is_root():
    return os.geteuid() == 0


def slot_uid(slot):
    return WORKER_UID_BASE + slot


def worker_argv(iso, slot, stage, run_dir, probe=False):
    """The command line of one worker run (bwrap or plain), with paths as the worker sees them."""
    drop = ["--drop-uid", str(slot_uid(slot))] if iso.uid_drop else []
    if probe:
        drop.append("--probe")
    py = [sys.executable, "-I", "-B"]
    if iso.mode != "bwrap":
        return py + [str(WORKER_PATH), "--stage", str(stage), "--io", str(run_dir), "--out",
                     str(Path(run_dir) / "out"), "--syspath", numpy_site(), *drop]
    args = ["bwrap"]
    if is_root():
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all"]
    args += ["--die-with-parent", "--new-session"]
    args += _system_args()
    made = set()
    for path in _python_binds():
        args += _parents_args(path, made) + ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", "/grader", "--ro-bind", str(WORKER_PATH), "/grader/worker.py",
             "--ro-bind", str(stage), "/stage",
             "--ro-bind", str(run_dir), "/io",
             "--bind", str(Path(run_dir) / "out"), "/io/out",
             "--size", str(limits_tmp_bytes()), "--perms", "01777", "--tmpfs", "/tmp",
             "--proc", "/proc", "--dev", "/dev",
             "--chdir", "/tmp", "--clearenv"]
    for key, value in SANDBOX_ENV.items():
        args += ["--setenv", key, value]
    args += ["--", *py, "/grader/worker.py", "--stage", "/stage", "--io", "/io", "--out", "/io/out",
             "--syspath", numpy_site(), *drop]
    return args


_libc = None
PR_SET_PDEATHSIG = 1
CLONE_NEWNET = 0x40000000


def _get_libc():
    global _libc
    if _libc is None:
        name = ctypes.util.find_library("c") or "libc.so.6"
        _libc = ctypes.CDLL(name, use_errno=True)
    return _libc


def _user_process_count():
    uid = os.getuid()
    n = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    n += 1
            except OSError:
                pass
    return n


def make_preexec(iso, limits, cpu_seconds):
    """The function run in the child between fork and exec: rlimits, death signal, network."""
    libc = _get_libc()
    nproc = limits.nproc
    if not iso.uid_drop and not is_root():  # RLIMIT_NPROC counts all of the user's processes
        nproc = _user_process_count() + limits.nproc
    unshare_net = iso.mode != "bwrap" and iso.network and is_root()
    memory = limits.memory_mb << 20
    fsize = limits.fsize_mb << 20
    cpu = max(1, int(cpu_seconds))

    def preexec():
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 2))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if unshare_net:
            libc.unshare(CLONE_NEWNET)

    return preexec


def start(iso, limits, slot, stage, run_dir, cpu_seconds, probe=False):
    """Start one worker run; returns the Popen (stdout+stderr on one pipe, its own session)."""
    argv = worker_argv(iso, slot, stage, run_dir, probe)
    env = dict(SANDBOX_ENV)
    if iso.mode != "bwrap":  # no private /tmp: temporary files go where the parent watches and removes them
        env["HOME"] = env["TMPDIR"] = str(Path(run_dir) / "out")
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, cwd=str(Path(run_dir) / "out"), start_new_session=True,
        preexec_fn=make_preexec(iso, limits, cpu_seconds), close_fds=True,
    )


def kill_uid(uid, rounds=20):
    """SIGKILL every process whose real or effective uid is ``uid`` (root only); returns how many."""
    if not is_root() or uid == 0:
        return 0
    killed = 0
    for _ in range(rounds):
        found = 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            ids = [int(v) for v in line.split()[1:3]]
                            break
                    else:
                        continue
            except OSError:
                continue
            if uid in ids:
                found += 1
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass
        killed += found
        if not found:
            break
        time.sleep(0.01)
    return killed


def kill_run(iso, slot, proc):
    """Kill what is left of a run: its process group, and every process of its uid."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if iso.uid_drop:
        kill_uid(slot_uid(slot))


def prepare_out_dir(iso, slot, out_dir):
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if iso.uid_drop:
        os.chown(out_dir, slot_uid(slot), slot_uid(slot))
        os.chmod(out_dir, 0o700)


# ----------------------------------------------------------------------------------------------
# Choosing the isolation
# ----------------------------------------------------------------------------------------------


def _probe(iso, limits):
    """Run the worker on an empty plan under ``iso``; None when it worked, else what went wrong."""
    from grader.stage import build_stage

    root = Path(tempfile.mkdtemp(prefix="grader-probe-"))
    try:
        os.chmod(root, 0o755)
        stage = build_stage(root / "stage", root, [], {})
        run_dir = root / "run"
        run_dir.mkdir()
        os.chmod(run_dir, 0o755)
        (run_dir / "plan.json").write_text(json.dumps({"cases": []}))
        import numpy as np

        np.savez(run_dir / "inputs.npz", probe=np.zeros(3))
        for p in (run_dir / "plan.json", run_dir / "inputs.npz"):
            os.chmod(p, 0o644)
        prepare_out_dir(iso, 0, run_dir / "out")
        proc = start(iso, limits, 0, stage, run_dir, cpu_seconds=60, probe=True)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            kill_run(iso, 0, proc)
            proc.communicate()
            return "the probe timed out"
        finally:
            kill_run(iso, 0, proc)
        if proc.returncode != 0 or not (run_dir / "out" / "outputs.npz").exists():
            text = out.decode(errors="replace").strip().splitlines()
            return f"exit status {proc.returncode}: {' | '.join(text[-3:])[:300]}"
        return None
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _can_unshare_net():
    if not is_root():
        return False
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        rc = _get_libc().unshare(CLONE_NEWNET)
        os._exit(0 if rc == 0 else 1)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


_detected = {}


def detect(requested="auto", limits=None):
    """The isolation to use: "bwrap" if asked or available and working, else "rlimits" (degraded).

    ``requested``: "auto", "bwrap" (an error if it does not work) or "rlimits" (force the
    degraded path, e.g. to test it). Also read from the environment variable GRADER_SANDBOX.
    """
    requested = os.environ.get("GRADER_SANDBOX", requested) if requested == "auto" else requested
    if requested not in ("auto", "bwrap", "rlimits"):
        raise ValueError(f"sandbox must be 'auto', 'bwrap' or 'rlimits', got {requested!r}")
    if requested in _detected:
        return _detected[requested]
    limits = limits or Limits()
    reason = "forced with --sandbox rlimits" if requested == "rlimits" else ""
    if requested != "rlimits":
        if shutil.which("bwrap") is None:
            reason = "bwrap is not installed (Debian package bubblewrap)"
        else:
            iso = Isolation("bwrap", uid_drop=is_root(), network=True)
            why = _probe(iso, limits)
            if why is None:
                _detected[requested] = iso
                return iso
            reason = f"bwrap does not work here ({why})"
        if requested == "bwrap":
            raise RuntimeError(f"--sandbox bwrap: {reason}")
    network = _can_unshare_net()
    iso = Isolation("rlimits", uid_drop=False, network=network, reason=reason)
    if is_root():
        dropped = Isolation("rlimits", uid_drop=True, network=network, reason=reason)
        why = _probe(dropped, limits)
        if why is None:
            iso = dropped
        else:
            iso.reason = f"{reason}; uid {slot_uid(0)} cannot use the interpreter, so it is not dropped ({why})"
    _detected[requested] = iso
    return iso
