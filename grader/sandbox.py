"""Starting the worker contained: which layers work here, and the command line of one run.

Layers, each stopping what the others miss (``docs/grading.md`` has the table):

- **bubblewrap** (``bwrap``, Debian's ``bubblewrap``), where namespaces can be made: the worker
  sees a filesystem made only of read-only ``/usr`` (and the ``/lib*`` links), the Python
  installation and the site-packages it needs (read-only), ``/grader`` (the worker's two
  files), the stage ``/stage`` (read-only), ``/io`` with the inputs (read-only), ``/io/out`` (the
  only writable host directory), a private ``/tmp`` and its own ``/proc`` and ``/dev``. It has
  no network, its own pid, ipc and uts namespaces, a new session, and dies with the grader. As
  root, bwrap makes no user namespace (one would map the sandbox's root onto the host's root)
  and keeps only CAP_SETUID/CAP_SETGID for the uid drop; as another user it needs one.
- **Landlock + seccomp** (``grader/contain.py``), applied by the worker to itself after it
  has loaded its own modules and dropped its uid, right before it imports student code, in
  every mode that has them (under bwrap too, as a second wall). They need neither namespaces
  nor root, so they are what a Docker or Gradescope container gets.
- **the uid drop**: a grader running as root runs each worker as uid ``WORKER_UID_BASE + slot``
  (no groups), when that uid can use the interpreter (a probe checks it).
- always: rlimits set in ``preexec_fn``, the parent's wall clocks, output caps, and the parent
  as child subreaper killing whatever a run leaves behind (``grader/runner.py``).

Modes (``detect``): ``bwrap`` (bubblewrap + Landlock + seccomp + uid drop), ``container``
(Landlock + seccomp, the uid drop where it can), and ``unsafe`` (rlimits only), which is used
only with ``--allow-unsafe``. Where neither bwrap nor Landlock + seccomp can be applied,
``detect`` raises ``Unavailable`` with one line naming what is missing and how to get it.
A bwrap that is installed but fails is never dropped in silence: the fallback names the cause
and the fix.
"""

import ctypes
import ctypes.util
import importlib.util
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

GRADER_DIR = Path(__file__).resolve().parent
WORKER_FILES = ("worker.py", "contain.py")
WORKER_PATH = GRADER_DIR / "worker.py"
WORKER_UID_BASE = int(os.environ.get("GRADER_WORKER_UID_BASE", "61000"))
MODES = ("bwrap", "container", "unsafe")
BWRAP_WORKER_DIR = "/grader"


class Unavailable(RuntimeError):
    """No isolation that contains student code can be applied (or the one asked for cannot)."""


@dataclass
class Limits:
    case_timeout: float = 20.0   # wall seconds one case may take
    group_timeout: float = 180.0  # wall seconds all runs of one group may take
    memory_mb: int = 1024         # RLIMIT_AS
    nproc: int = 32               # RLIMIT_NPROC (processes of the worker's uid)
    fsize_mb: int = 64            # RLIMIT_FSIZE
    log_bytes: int = 16 * 1024    # kept from the start and from the end of the worker's output


@dataclass
class Isolation:
    mode: str                  # "bwrap", "container" or "unsafe"
    uid_drop: bool             # the worker runs as WORKER_UID_BASE + slot
    network: bool = False      # the worker has its own network namespace (bwrap, or unshare as root)
    contain: bool = False      # the worker applies Landlock + seccomp to itself
    landlock_abi: int = 0
    landlock_missing: tuple = ()
    notes: list = field(default_factory=list)  # why a stronger layer is not used, each with its fix

    @property
    def unsafe(self):
        return self.mode == "unsafe"

    def layers(self):
        out = []
        if self.mode == "bwrap":
            out.append("bubblewrap (own mount, pid, ipc, uts and network namespaces)")
        if self.contain:
            missing = f", lacking {', '.join(self.landlock_missing)}" if self.landlock_missing else ""
            out.append(f"Landlock ABI {self.landlock_abi}{missing}")
            out.append("seccomp")
        if self.uid_drop:
            out.append(f"uid {WORKER_UID_BASE}+slot")
        elif is_root():
            out.append("NO uid drop (the worker runs as root)")
        if self.mode != "bwrap" and self.network:
            out.append("own network namespace")
        out.append("rlimits, clocks, subreaper")
        return out

    def describe(self):
        """The instructor's line: every layer, and why a stronger one is not used."""
        head = {"bwrap": "isolation: full", "container": "isolation: container mode",
                "unsafe": "UNSAFE isolation (--allow-unsafe): student code is NOT contained"}[self.mode]
        text = f"{head}: {' + '.join(self.layers())}"
        if self.notes:
            text += " [" + "; ".join(self.notes) + "]"
        return text

    def student_line(self):
        """The one neutral line a student's results carry (no path, no layer, no uid)."""
        if self.unsafe:
            return "Your code was graded without the grader's sandbox (the instructor chose to)."
        return "Your code ran in the grader's sandbox."


# ----------------------------------------------------------------------------------------------
# Paths
# ----------------------------------------------------------------------------------------------


def _site_of(module):
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return None
    origin = os.path.abspath(spec.origin)
    if os.path.basename(origin) == "__init__.py":
        origin = os.path.dirname(origin)
    return os.path.dirname(origin)


def numpy_site():
    return _site_of("numpy")


def worker_syspath():
    """The directories the worker adds to its ``sys.path`` before containment: numpy's and pyseccomp's."""
    paths = [numpy_site()]
    seccomp_site = _site_of("pyseccomp")
    if seccomp_site and seccomp_site not in paths:
        paths.append(seccomp_site)
    return paths


def _python_binds():
    """Directories the interpreter, numpy and pyseccomp need, outside /usr."""
    paths = {os.path.realpath(sys.base_prefix), os.path.abspath(sys.prefix), os.path.realpath(sys.prefix),
             os.path.dirname(os.path.dirname(os.path.realpath(sys.executable))),
             *worker_syspath()}
    keep = []
    for p in sorted(paths, key=len):
        if p in ("/", "") or p == "/usr" or p.startswith("/usr/"):
            continue
        if any(p == k or p.startswith(k + "/") for k in keep):
            continue
        keep.append(p)
    return keep


def install_worker(dest):
    """Copy the worker's files into ``dest`` (readable by a dropped uid, wherever the grader lives)."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    for name in WORKER_FILES:
        target = dest / name
        shutil.copyfile(GRADER_DIR / name, target)
        os.chmod(target, 0o644)
    return dest


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
        args += ["--perms", "0755", "--dir", "/etc", "--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    return args


TMPFS_BYTES = 64 << 20  # the sandbox's private /tmp (RAM): bounded, or a worker could fill memory with files

SANDBOX_ENV = {
    "PATH": "/usr/bin:/bin",
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


def worker_argv(iso, slot, stage, run_dir, worker_dir, probe=False):
    """The command line of one worker run (bwrap or plain), with paths as the worker sees them."""
    extra = ["--drop-uid", str(slot_uid(slot))] if iso.uid_drop else []
    if iso.contain:
        extra.append("--contain")
    if probe:
        extra.append("--probe")
    for path in worker_syspath():
        extra += ["--syspath", path]
    # -I: no environment, no user site, no script directory; -S: no site-packages and no .pth files,
    # so that no editable finder of the grader's checkout is ever active in the worker.
    py = [sys.executable, "-I", "-S", "-B"]
    if iso.mode != "bwrap":
        return py + [str(Path(worker_dir) / "worker.py"), "--stage", str(stage), "--io", str(run_dir), "--out",
                     str(Path(run_dir) / "out"), *extra]
    args = ["bwrap"]
    if is_root():
        args += ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
                 "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
    else:
        args += ["--unshare-all"]
    args += ["--die-with-parent", "--new-session"]
    # The private /tmp first: what is bound below it afterwards (a venv under /tmp) stays visible.
    args += ["--size", str(TMPFS_BYTES), "--perms", "01777", "--tmpfs", "/tmp"]
    args += _system_args()
    made = {"/tmp"}
    for path in _python_binds():
        args += _parents_args(path, made) + ["--ro-bind", path, path]
    args += ["--perms", "0755", "--dir", BWRAP_WORKER_DIR, "--ro-bind", str(worker_dir), BWRAP_WORKER_DIR,
             "--ro-bind", str(stage), "/stage",
             "--ro-bind", str(run_dir), "/io",
             "--bind", str(Path(run_dir) / "out"), "/io/out",
             "--proc", "/proc", "--dev", "/dev",
             "--chdir", "/io/out", "--clearenv"]
    for key, value in worker_env("/io/out").items():
        args += ["--setenv", key, value]
    args += ["--", *py, f"{BWRAP_WORKER_DIR}/worker.py", "--stage", "/stage", "--io", "/io", "--out", "/io/out",
             *extra]
    return args


def worker_env(out_dir):
    """The worker's whole environment: temporary files go to its output directory, the only place it may write."""
    return dict(SANDBOX_ENV, HOME=str(out_dir), TMPDIR=str(out_dir))


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
    unshare_net = iso.mode != "bwrap" and iso.network
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


def start(iso, limits, slot, stage, run_dir, cpu_seconds, worker_dir, probe=False):
    """Start one worker run; returns the Popen (stdout+stderr on one pipe, its own session)."""
    argv = worker_argv(iso, slot, stage, run_dir, worker_dir, probe)
    out_dir = Path(run_dir) / "out"
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=worker_env(out_dir), cwd=str(out_dir), start_new_session=True,
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
# The subreaper: whatever escapes a run's process group comes back to the grader, which kills it
# ----------------------------------------------------------------------------------------------


def _ppids(zombies=None):
    """{pid: parent pid} of every process visible in /proc; the pids of zombies are added to ``zombies``."""
    out = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (macOS: the student's self-check): nothing to sweep
        return out
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        try:
            fields = stat[stat.rindex(b")") + 2:].split()
            out[int(entry)] = int(fields[1])
        except (ValueError, IndexError):
            continue
        if zombies is not None and fields[0] == b"Z":
            zombies.add(int(entry))
    return out


def descendants(root, ppids=None):
    ppids = _ppids() if ppids is None else ppids
    children = {}
    for pid, parent in ppids.items():
        children.setdefault(parent, []).append(pid)
    out, stack = set(), [root]
    while stack:
        for child in children.get(stack.pop(), ()):
            if child not in out:
                out.add(child)
                stack.append(child)
    return out


class Reaper:
    """The grader as child subreaper (``PR_SET_CHILD_SUBREAPER``).

    ``sweep(keep)`` kills every descendant of the grader that is not under a pid of ``keep`` (the
    runs still going) and was not there when the reaper started, and reaps those that were its
    own children. Returns how many it killed.
    """

    def __init__(self):
        from grader import contain

        self.active = contain.set_child_subreaper()
        self.before = descendants(os.getpid())

    def sweep(self, keep=(), rounds=50):
        killed = set()
        me = os.getpid()
        for _ in range(rounds):
            zombies = set()
            ppids = _ppids(zombies)
            spared = set(self.before)
            for pid in keep:
                spared.add(pid)
                spared |= descendants(pid, ppids)
            strays = [pid for pid in descendants(me, ppids) if pid not in spared]
            if not strays:
                break
            for pid in strays:
                if pid in zombies:  # already dead (bwrap's inner process, reparented here): only reaped
                    continue
                try:
                    with open(f"/proc/{pid}/comm", "rb") as f:
                        ours = f.read().strip() == b"bwrap"  # bubblewrap's own init, still exiting: not counted
                except OSError:
                    ours = True
                try:
                    os.kill(pid, signal.SIGKILL)
                    if not ours:
                        killed.add(pid)
                except OSError:
                    pass
            for pid in strays:
                if ppids.get(pid) == me:
                    try:
                        os.waitpid(pid, os.WNOHANG)
                    except ChildProcessError:
                        pass
            time.sleep(0.005)
        return len(killed)


# ----------------------------------------------------------------------------------------------
# Choosing the isolation
# ----------------------------------------------------------------------------------------------

BWRAP_FIXES = (
    ("No permissions to create new namespace", "user namespaces are blocked here (a container's seccomp profile "
     "or sysctl); run the container with --security-opt seccomp=unconfined, or set kernel.unprivileged_userns_clone=1"
     " / user.max_user_namespaces > 0"),
    ("Operation not permitted", "namespaces are not permitted here (a container?); run it with "
     "--security-opt seccomp=unconfined --cap-add SYS_ADMIN"),
    ("Can't find source path", "a path the worker needs is missing or unreadable; run `python -m grader doctor`"),
)


def _bwrap_fix(why):
    for needle, fix in BWRAP_FIXES:
        if needle in why:
            return fix
    return "run `python -m grader doctor` for the details"


def _probe(iso, limits):
    """Run the worker on an empty plan under ``iso``; None when it worked, else what went wrong."""
    from grader.stage import build_stage

    root = Path(tempfile.mkdtemp(prefix="grader-probe-"))
    try:
        os.chmod(root, 0o755)
        stage = build_stage(root / "stage", root, [], {})
        worker_dir = install_worker(root / "worker")
        run_dir = root / "run"
        run_dir.mkdir()
        os.chmod(run_dir, 0o755)
        (run_dir / "plan.json").write_text(json.dumps({"cases": []}))
        import numpy as np

        np.savez(run_dir / "inputs.npz", probe=np.zeros(3))
        for p in (run_dir / "plan.json", run_dir / "inputs.npz"):
            os.chmod(p, 0o644)
        prepare_out_dir(iso, 0, run_dir / "out")
        proc = start(iso, limits, 0, stage, run_dir, cpu_seconds=60, worker_dir=worker_dir, probe=True)
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


def containment_status():
    """(abi, missing, problem): Landlock's ABI, what it lacks, why Landlock + seccomp cannot work (None: they can)."""
    if not sys.platform.startswith("linux"):
        return 0, (), f"Landlock and seccomp are Linux-only (this is {sys.platform}); grade on Linux 5.13 or newer"
    from grader import contain

    abi = contain.landlock_abi()
    missing = tuple(contain.landlock_missing(abi)) if abi else ()
    if abi < 1:
        return 0, (), ("Landlock is not available in this kernel (Linux 5.13+ with lsm=landlock; "
                       "check /sys/kernel/security/lsm)")
    why = contain.seccomp_available()
    if why:
        return abi, missing, why
    result = contain.probe()
    if not result.get("works"):
        return abi, missing, "Landlock + seccomp failed their self-test: " + "; ".join(result.get("problems", []))
    return abi, missing, None


def bwrap_status(limits, contain_ok, abi, missing):
    """(iso, None) when bubblewrap works here, else (None, why with its fix)."""
    if shutil.which("bwrap") is None:
        return None, "bubblewrap is not installed (apt-get install bubblewrap)"
    iso = Isolation("bwrap", uid_drop=is_root(), network=True, contain=contain_ok, landlock_abi=abi,
                    landlock_missing=missing)
    why = _probe(iso, limits)
    if why is None:
        return iso, None
    return None, f"bubblewrap fails here ({why}): {_bwrap_fix(why)}"


_detected = {}


def detect(requested="auto", limits=None, allow_unsafe=False):
    """The isolation to use.

    ``requested``: "auto" (bwrap, else container mode, else refuse), "bwrap", "container" (an
    error where it cannot work) or "unsafe" (rlimits only: needs ``allow_unsafe``). Also read from
    the environment variable GRADER_SANDBOX. With ``allow_unsafe``, "auto" ends in "unsafe" where
    nothing contains code, instead of raising ``Unavailable``.
    """
    requested = os.environ.get("GRADER_SANDBOX", requested) if requested == "auto" else requested
    if requested not in ("auto", *MODES):
        raise ValueError(f"sandbox must be one of auto, {', '.join(MODES)}; got {requested!r}")
    key = (requested, bool(allow_unsafe), sys.executable)
    if key in _detected:
        return _detected[key]
    limits = limits or Limits()
    abi, missing, contain_problem = containment_status()
    contain_ok = contain_problem is None
    notes = []
    iso = None
    if requested in ("auto", "bwrap"):
        iso, why = bwrap_status(limits, contain_ok, abi, missing)
        if iso is None:
            if requested == "bwrap":
                raise Unavailable(f"--sandbox bwrap: {why}")
            notes.append(why)
        elif not contain_ok:
            iso.notes.append(f"Landlock + seccomp not applied: {contain_problem}")
    if iso is None and requested in ("auto", "container"):
        if contain_ok:
            network = _can_unshare_net()
            iso = Isolation("container", uid_drop=is_root(), network=network, contain=True, landlock_abi=abi,
                            landlock_missing=missing, notes=notes)
            why = _probe(iso, limits) if iso.uid_drop else "not root"
            if why is not None:
                if iso.uid_drop:
                    notes.append(f"no uid drop: uid {slot_uid(0)} cannot use the interpreter ({why}); install "
                                 f"Python and its packages where other users can read them (e.g. under /usr or /opt)")
                iso.uid_drop = False
                why = _probe(iso, limits)
                if why is not None:
                    raise Unavailable(f"container mode (Landlock + seccomp) fails here: {why}")
        elif requested == "container":
            raise Unavailable(f"--sandbox container: {contain_problem}")
        else:
            notes.append(contain_problem)
    if iso is None:
        if not allow_unsafe:
            if requested == "unsafe":
                raise Unavailable("--sandbox unsafe runs student code uncontained; add --allow-unsafe to mean it")
            raise Unavailable("cannot contain student code here: " + "; ".join(notes)
                              + " (or grade anyway with --allow-unsafe, and every report says so)")
        iso = Isolation("unsafe", uid_drop=False, network=False, notes=notes)
    _detected[key] = iso
    return iso


def doctor(limits=None, echo=print):
    """``python -m grader doctor``: each layer, whether it works here and why not, and the mode ``grade`` would use."""
    limits = limits or Limits()
    echo(f"python: {sys.executable} (running as uid {os.geteuid()})")
    abi, missing, contain_problem = containment_status()
    ok = "works" if contain_problem is None else "NO"
    echo(f"Landlock: {'ABI ' + str(abi) if abi else 'absent'}"
         + (f" (lacks {', '.join(missing)})" if missing else ""))
    echo(f"seccomp + Landlock self-test: {ok}" + (f" ({contain_problem})" if contain_problem else ""))
    iso, why = bwrap_status(limits, contain_problem is None, abi, missing)
    echo(f"bubblewrap: {'works' if iso else 'NO'}" + (f" ({why})" if why else ""))
    try:
        from grader import contain

        reaper = contain.set_child_subreaper()
    except Exception as exc:  # noqa: BLE001 - doctor reports, never crashes
        reaper = f"NO ({exc})"
    echo(f"child subreaper: {'works' if reaper is True else 'NO' if reaper is False else reaper}")
    if is_root():
        probe_iso = Isolation("container", uid_drop=True, contain=contain_problem is None)
        drop_why = _probe(probe_iso, limits)
        echo(f"uid drop: {'works' if drop_why is None else 'NO (' + drop_why + ')'}")
    else:
        echo("uid drop: not needed (the grader does not run as root)")
    try:
        chosen = detect("auto", limits)
        echo(f"`grade` would use: {chosen.describe()}")
        return 0
    except Unavailable as exc:
        echo(f"`grade` would refuse: {exc}")
        return 2
