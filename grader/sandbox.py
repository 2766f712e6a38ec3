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
  (no groups), when that uid can use the interpreter (a probe checks it). The uids are a block
  that this grader claimed under a lock (``grader/uidblock.py``): no other grader on the host
  uses them, so no grader's sweep of its uids kills another's workers.
- always: rlimits set in ``preexec_fn``, the parent's wall clocks, output caps, and the parent
  as child subreaper killing whatever a run leaves behind (``grader/runner.py``).

Modes (``detect``), strongest first: ``bwrap`` (bubblewrap + Landlock + seccomp + uid drop),
``container`` (Landlock + seccomp, the uid drop where it can), ``seccomp`` (a kernel without
Landlock, older than 5.13: seccomp + the uid drop + file permissions that ``prove_permissions``
checks as the worker uids before any student code runs + the subreaper), and ``unsafe``
(rlimits only), which is used only with ``--allow-unsafe``. Where none of the first three can
be applied (no namespaces, and either no seccomp or no uid drop), ``detect`` raises
``Unavailable`` with one line naming what is missing and how to get it. A bwrap that is
installed but fails is never dropped in silence: the fallback names the cause and the fix.
"""

import ctypes
import ctypes.util
import importlib.util
import json
import os
import resource
import shutil
import signal
import stat
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
MODES = ("bwrap", "container", "seccomp", "unsafe")
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
    mode: str                  # "bwrap", "container", "seccomp" or "unsafe"
    uid_drop: bool             # the worker runs as WORKER_UID_BASE + slot
    network: bool = False      # the worker has its own network namespace (bwrap, or unshare as root)
    contain: bool = False      # the worker applies seccomp (and Landlock, when ``landlock``) to itself
    landlock_abi: int = 0
    landlock_missing: tuple = ()
    notes: list = field(default_factory=list)  # why a stronger layer is not used, each with its fix
    landlock: bool = True      # with ``contain``: Landlock too (False: seccomp alone, the kernel lacks Landlock)
    proof: str = ""            # seccomp mode: what prove_permissions checked, once it did

    @property
    def unsafe(self):
        return self.mode == "unsafe"

    def layers(self):
        out = []
        if self.mode == "bwrap":
            out.append("bubblewrap (own mount, pid, ipc, uts and network namespaces)")
        if self.contain:
            if self.landlock:
                missing = f", lacking {', '.join(self.landlock_missing)}" if self.landlock_missing else ""
                out.append(f"Landlock ABI {self.landlock_abi}{missing}")
            out.append("seccomp")
        if self.uid_drop:
            out.append(f"uid {WORKER_UID_BASE}+slot")
        elif is_root():
            out.append("NO uid drop (the worker runs as root)")
        if self.mode == "seccomp":
            out.append(f"file permissions ({self.proof or 'to be proved before grading'})")
        if self.mode != "bwrap" and self.network:
            out.append("own network namespace")
        out.append("rlimits, clocks, subreaper")
        return out

    def describe(self):
        """The instructor's line: every layer, and why a stronger one is not used."""
        head = {"bwrap": "isolation: full", "container": "isolation: container mode",
                "seccomp": "isolation: seccomp mode (no Landlock)",
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
    """The worker uid of ``slot``, in this grader's own block of uids.

    The block is claimed under a lock on first use (``grader/uidblock.py``: the first free block at
    or above GRADER_WORKER_UID_BASE, never one another grader on this host holds), and from then
    on ``WORKER_UID_BASE`` is its first uid. Raises ``Unavailable`` (one line) when no block is free.
    """
    global WORKER_UID_BASE
    from grader import uidblock  # imported here: the student tree's self-check never drops uids

    block = uidblock.current()
    WORKER_UID_BASE = block.base
    if not 0 <= slot < block.size:
        raise Unavailable(f"worker slot {slot} is outside this grader's block of {block.size} uids "
                          f"({block.base}-{block.last}): grade with -j {block.size} or fewer")
    return block.base + slot


def worker_argv(iso, slot, stage, run_dir, worker_dir, probe=False):
    """The command line of one worker run (bwrap or plain), with paths as the worker sees them."""
    extra = ["--drop-uid", str(slot_uid(slot))] if iso.uid_drop else []
    if iso.contain:
        extra.append("--contain")
        if not iso.landlock:
            extra.append("--seccomp-only")
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


PRIVATE_STAGE = "stage"  # seccomp mode: the run's own copy of the stage, inside its run directory


def private_run(iso, slot, stage, run_dir):
    """Seccomp mode: the run directory becomes its uid's alone; returns the stage the worker imports.

    Without Landlock or a mount namespace, a worker could read another run's stage (another
    student's code) by a path seen in ``/proc/<pid>/cmdline``. So each run gets its own copy of the
    stage inside its run directory, and that directory is root's, mode 0710, group the run's uid:
    only that uid may enter it (not list it), nothing in it is writable but its output directory.
    """
    if iso.mode != "seccomp" or not iso.uid_drop:
        return stage
    uid = slot_uid(slot)
    private = Path(run_dir) / PRIVATE_STAGE
    shutil.copytree(stage, private, symlinks=True)
    os.chown(run_dir, 0, uid)
    os.chmod(run_dir, 0o710)
    return private


def start(iso, limits, slot, stage, run_dir, cpu_seconds, worker_dir, probe=False):
    """Start one worker run; returns the Popen (stdout+stderr on one pipe, its own session)."""
    stage = private_run(iso, slot, stage, run_dir)
    argv = worker_argv(iso, slot, stage, run_dir, worker_dir, probe)
    out_dir = Path(run_dir) / "out"
    return subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=worker_env(out_dir), cwd=str(out_dir), start_new_session=True,
        preexec_fn=make_preexec(iso, limits, cpu_seconds), close_fds=True,
    )


def _uids_and_depth(pid):
    """(real and effective uid, pid-namespace depth from its NSpid line or None) of ``pid``; None if gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    ids, depth = None, None
    for line in text.splitlines():
        if line.startswith("Uid:"):
            ids = [int(v) for v in line.split()[1:3]]
        elif line.startswith("NSpid:"):
            depth = len(line.split()) - 1
    return None if ids is None else (ids, depth)


def kill_uid(uid, rounds=20):
    """SIGKILL every process of this grader's whose real or effective uid is ``uid`` (root only); returns how many.

    Its processes are those in its own pid namespace and its descendants (bubblewrap's namespaces). A
    process deeper in a pid namespace that is not its descendant belongs to a container on this host,
    whose own grader uses the same worker uids (its uid block is claimed in its own /run/lock): it is
    never touched.
    """
    if not is_root() or uid == 0:
        return 0
    mine = _uids_and_depth("self")
    depth = mine[1] if mine else None
    killed = 0
    for _ in range(rounds):
        found = 0
        ours = None
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            info = _uids_and_depth(entry)
            if info is None or uid not in info[0]:
                continue
            if depth is not None and info[1] is not None and info[1] > depth:
                ours = descendants(os.getpid()) if ours is None else ours
                if int(entry) not in ours:
                    continue
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
    """Kill what is left of a run: its process group, every process of its uid, and (seccomp mode) its files
    in the world-writable places."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if iso.uid_drop:
        kill_uid(slot_uid(slot))
        remove_shared(iso, slot)  # seccomp mode: what it left in /tmp and the like


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
    # bubblewrap brings up the sandbox's loopback itself, which needs CAP_NET_ADMIN in a container.
    ("RTM_NEWADDR", "bubblewrap cannot bring up the sandbox's loopback without CAP_NET_ADMIN; run the container "
     "with --security-opt seccomp=unconfined --cap-add SYS_ADMIN --cap-add NET_ADMIN"),
    ("Operation not permitted", "namespaces are not permitted here (a container?); run it with "
     "--security-opt seccomp=unconfined --cap-add SYS_ADMIN --cap-add NET_ADMIN (NET_ADMIN: bubblewrap brings "
     "up the sandbox's loopback)"),
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


def seccomp_status():
    """None when seccomp alone (the seccomp mode's wall) works here, else why, with the fix."""
    if not sys.platform.startswith("linux"):
        return f"seccomp is Linux-only (this is {sys.platform})"
    from grader import contain

    why = contain.seccomp_available()
    if why:
        return why
    result = contain.probe(landlock=False)
    if not result.get("works"):
        return "seccomp failed its self-test: " + "; ".join(result.get("problems", []))
    return None


def _closed_dir(path, uid):
    """The first directory on the way to ``path`` that ``uid`` (no groups) cannot enter, or None."""
    path = Path(os.path.abspath(path))
    for parent in [*reversed(path.parents), path]:
        try:
            st = os.stat(parent)
        except OSError:
            return None
        if not stat.S_ISDIR(st.st_mode):
            break
        if st.st_uid == uid:
            allowed = st.st_mode & stat.S_IXUSR
        elif st.st_gid == uid:
            allowed = st.st_mode & stat.S_IXGRP
        else:
            allowed = st.st_mode & stat.S_IXOTH
        if not allowed:
            return parent, stat.S_IMODE(st.st_mode)
    return None


def uid_drop_problem(why):
    """``why`` (a probe's failure as a dropped uid) with its cause and fix, when they can be found."""
    uid = slot_uid(0)
    for target in (os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix), *worker_syspath()):
        closed = _closed_dir(target, uid)
        if closed:
            where, mode = closed
            return (f"uid {uid} cannot read the interpreter or its packages ({target}), which live in a {mode:04o} "
                    f"directory ({where}): install Python and its packages under /usr or /opt, or a directory "
                    f"others may enter [{why}]")
    return f"uid {uid} cannot use the interpreter ({why}); install Python and its packages where other users " \
           f"can read them (e.g. under /usr or /opt)"


def bwrap_status(limits, contain_ok, abi, missing, seccomp_ok=False):
    """(iso, None) when bubblewrap works here, else (None, why with its fix).

    Under bubblewrap the worker also applies Landlock + seccomp where they work, seccomp alone
    where only Landlock is missing.
    """
    if shutil.which("bwrap") is None:
        return None, "bubblewrap is not installed (apt-get install bubblewrap)"
    iso = Isolation("bwrap", uid_drop=is_root(), network=True, contain=contain_ok or seccomp_ok, landlock_abi=abi,
                    landlock_missing=missing, landlock=contain_ok)
    why = _probe(iso, limits)
    if why is None:
        return iso, None
    return None, f"bubblewrap fails here ({why}): {_bwrap_fix(why)}"


def seccomp_mode_status(limits, seccomp_problem):
    """(iso, None) when the seccomp mode can run here (seccomp works, root, the uid drop works), else (None, why)."""
    if seccomp_problem:
        return None, f"seccomp mode needs seccomp: {seccomp_problem}"
    if not is_root():
        return None, ("seccomp mode needs the uid drop, so the grader must run as root (as in a Gradescope or "
                      "PrairieLearn container)")
    iso = Isolation("seccomp", uid_drop=True, network=_can_unshare_net(), contain=True, landlock=False)
    why = _probe(iso, limits)
    if why is not None:
        return None, f"seccomp mode needs the uid drop: {uid_drop_problem(why)}"
    return iso, None


_detected = {}


def detect(requested="auto", limits=None, allow_unsafe=False):
    """The isolation to use.

    ``requested``: "auto" (bwrap, else container mode, else seccomp mode, else refuse), "bwrap",
    "container", "seccomp" (an error where it cannot work) or "unsafe" (rlimits only: needs
    ``allow_unsafe``). Also read from the environment variable GRADER_SANDBOX. With
    ``allow_unsafe``, "auto" ends in "unsafe" where nothing contains code, instead of raising
    ``Unavailable``. A seccomp-mode isolation still needs ``prove_permissions`` before grading.
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
    seccomp_problem = None if contain_ok else seccomp_status()
    notes = []
    iso = None
    if requested in ("auto", "bwrap"):
        iso, why = bwrap_status(limits, contain_ok, abi, missing, seccomp_problem is None)
        if iso is None:
            if requested == "bwrap":
                raise Unavailable(f"--sandbox bwrap: {why}")
            notes.append(why)
        elif not contain_ok:
            iso.notes.append(f"Landlock not applied: {contain_problem}" if seccomp_problem is None else
                             f"Landlock + seccomp not applied: {contain_problem}; {seccomp_problem}")
    if iso is None and requested in ("auto", "container"):
        if contain_ok:
            network = _can_unshare_net()
            iso = Isolation("container", uid_drop=is_root(), network=network, contain=True, landlock_abi=abi,
                            landlock_missing=missing, notes=notes)
            why = _probe(iso, limits) if iso.uid_drop else "not root"
            if why is not None:
                if iso.uid_drop:
                    notes.append(f"no uid drop: {uid_drop_problem(why)}")
                iso.uid_drop = False
                why = _probe(iso, limits)
                if why is not None:
                    raise Unavailable(f"container mode (Landlock + seccomp) fails here: {why}")
        elif requested == "container":
            raise Unavailable(f"--sandbox container: {contain_problem}")
        else:
            notes.append(contain_problem)
    if iso is None and requested in ("auto", "seccomp"):
        iso, why = seccomp_mode_status(limits, seccomp_problem)
        if iso is None:
            if requested == "seccomp":
                raise Unavailable(f"--sandbox seccomp: {why}")
            notes.append(why)
        else:
            iso.notes = notes
    if iso is None:
        if not allow_unsafe:
            if requested == "unsafe":
                raise Unavailable("--sandbox unsafe runs student code uncontained; add --allow-unsafe to mean it")
            raise Unavailable("cannot contain student code here: " + "; ".join(notes)
                              + " (or grade anyway with --allow-unsafe, and every report says so)")
        iso = Isolation("unsafe", uid_drop=False, network=False, notes=notes)
    _detected[key] = iso
    return iso


# ----------------------------------------------------------------------------------------------
# The seccomp mode's file wall: permissions, proved as the worker uids before any student code runs
# ----------------------------------------------------------------------------------------------

# What a worker may read of an autograder directory (code and the given modules, nothing secret);
# every other file there (cases, inputs, reference values, a zip of them) must be unreadable.
AUTOGRADER_PUBLIC = ("grader/", "given/", "manifest.json", "setup.sh", "run_autograder")
# World-writable places a dropped uid can write without Landlock: what it leaves there is counted
# against its disk budget while it runs and removed when it ends.
SHARED_WRITABLE = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")


def _walk(root):
    """(directories, files) under ``root``, ``root`` included; symlinks are not followed."""
    dirs, files = [], []
    root = Path(root)
    if root.is_file():
        return dirs, [str(root)]
    stack = [root]
    while stack:
        d = stack.pop()
        dirs.append(str(d))
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file(follow_symlinks=False):
                files.append(entry.path)
    return dirs, files


def _try_as(uid, secret_files, dirs, files):
    """In a child that became ``uid`` (no groups): every secret file it could read, every place it could write."""
    breaches = []
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)
    for path in secret_files:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        os.close(fd)
        breaches.append({"uid": uid, "kind": "read", "path": path})
    for d in dirs:
        probe = os.path.join(d, f".grader-permission-probe-{uid}")
        try:
            fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except OSError:
            continue
        os.close(fd)
        os.unlink(probe)
        breaches.append({"uid": uid, "kind": "create files in", "path": d})
    for path in files:
        try:  # no O_TRUNC, nothing written: a file that opens is left as it was
            fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            continue
        os.close(fd)
        breaches.append({"uid": uid, "kind": "write", "path": path})
    return breaches


def solution_dirs(autograder_dir):
    """Packages of the solution this grader process could hand a worker: the ``assignment/`` beside the grader's
    own package when it runs from the solution checkout (an autograder directory has none), and whatever
    ``import assignment`` finds here (an editable install of the checkout)."""
    found = []
    beside = GRADER_DIR.parent / "assignment"
    if beside.is_dir():
        found.append(beside)
    try:
        spec = importlib.util.find_spec("assignment")
    except (ImportError, ValueError):
        spec = None
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.append(Path(location))
    ag = Path(autograder_dir).resolve()
    out = []
    for d in found:
        d = d.resolve()
        if d not in out and ag not in d.parents:
            out.append(d)
    return out


def prove_permissions(uids, autograder_dir, writable_roots, secret_files=()):
    """Prove, as each worker uid, that the seccomp mode's file wall holds; returns what was checked.

    Each uid (in a forked child, with no supplementary groups) tries to open every file of
    ``autograder_dir`` but its code and given modules (``AUTOGRADER_PUBLIC``), and every source of
    the solution this process could reach (``solution_dirs``), and ``secret_files`` (the
    submissions' own files: each is another student's work), for reading, and to
    create a file in, or open for writing, every directory and file under ``writable_roots``
    (the results, the stages, the autograder itself). Every try must fail. Raises ``Unavailable``
    naming the first path that a try got through, with the fix.
    """
    autograder_dir = Path(autograder_dir)
    _, ag_files = _walk(autograder_dir)
    secret = []
    for path in ag_files:
        rel = Path(path).relative_to(autograder_dir).as_posix()
        if not any(rel == p or (p.endswith("/") and rel.startswith(p)) for p in AUTOGRADER_PUBLIC):
            secret.append(path)
    for d in solution_dirs(autograder_dir):
        secret += _walk(d)[1]
    secret += [str(p) for p in secret_files]
    dirs, files = [], []
    for root in writable_roots:
        d, f = _walk(root)
        dirs += d
        files += f
    breaches = []
    for uid in uids:
        rfd, wfd = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - child
            code = 0
            try:
                os.close(rfd)
                os.write(wfd, json.dumps(_try_as(uid, secret, dirs, files)[:20]).encode())
            except BaseException as exc:  # noqa: B036 - the child must reach _exit whatever happens
                code = 1
                try:
                    os.write(wfd, f"{type(exc).__name__}: {exc}".encode()[:500])
                except OSError:
                    pass
            finally:
                os._exit(code)
        os.close(wfd)
        data = b""
        while chunk := os.read(rfd, 1 << 16):
            data += chunk
        os.close(rfd)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        if code != 0 or not data:
            why = data.decode(errors="replace") if code == 1 else f"exit status {code}"
            raise Unavailable(f"seccomp mode: the permission proof could not run as uid {uid} ({why})")
        breaches += json.loads(data)
        if breaches:
            break
    if breaches:
        first = breaches[0]
        fix = f"chmod go-rwx {first['path']}" if first["kind"] == "read" else f"chmod go-w {first['path']}"
        if first["path"] in {str(p) for p in secret_files}:
            fix = (f"keep the submissions readable by their owner only (chmod -R go-rwx on them, as run_autograder "
                   f"does: a worker must not read another student's work), or {fix}")
        elif any(Path(first["path"]).is_relative_to(d) for d in solution_dirs(autograder_dir)):
            fix = (f"grade with the release's own grader (PYTHONPATH={Path(autograder_dir).resolve()}, or from "
                   f"Gradescope's or PrairieLearn's image), not from the solution checkout, or {fix}")
        raise Unavailable(f"seccomp mode: the file permissions do not hold: uid {first['uid']} can {first['kind']} "
                          f"{first['path']}" + (f" (and {len(breaches) - 1} more)" if len(breaches) > 1 else "")
                          + f"; fix: {fix} (the grader's data readable by its owner only, its directories "
                            f"writable by their owner only, as run_autograder sets them)")
    return (f"proved for {len(uids)} uid(s): {len(secret)} secret files unreadable, {len(dirs)} directories and "
            f"{len(files)} files unwritable")


def _owned_entries(uid):
    """Top-level entries of the world-writable places (``SHARED_WRITABLE``) that ``uid`` owns."""
    found = []
    for d in SHARED_WRITABLE:
        try:
            with os.scandir(d) as it:
                for entry in it:
                    try:
                        if entry.stat(follow_symlinks=False).st_uid == uid:
                            found.append(entry)
                    except OSError:
                        continue
        except OSError:
            continue
    return found


def shared_within(iso, slot, budget_bytes):
    """Whether what the run's uid wrote into world-writable places stays within ``budget_bytes`` (seccomp mode)."""
    if iso.mode != "seccomp" or not iso.uid_drop:
        return True
    size = 0
    for entry in _owned_entries(slot_uid(slot)):
        if entry.is_dir(follow_symlinks=False):
            _, files = _walk(entry.path)
        else:
            files = [entry.path]
        for path in files:
            try:
                size += os.lstat(path).st_blocks * 512
            except OSError:
                continue
            if size > budget_bytes:
                return False
    return True


def remove_shared(iso, slot):
    """Remove what the run's uid left in world-writable places (seccomp mode; its processes are dead)."""
    if iso.mode != "seccomp" or not iso.uid_drop:
        return 0
    removed = 0
    for entry in _owned_entries(slot_uid(slot)):
        try:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed += 1
        except OSError:
            continue
    return removed


# ----------------------------------------------------------------------------------------------
# doctor
# ----------------------------------------------------------------------------------------------


def doctor(limits=None, echo=print):
    """``python -m grader doctor``: each layer, whether it works here and why not, and the mode ``grade`` would use.

    Each line says which mode it concerns, so that none contradicts the mode line at the end.
    """
    limits = limits or Limits()
    echo(f"python: {sys.executable} (running as uid {os.geteuid()})")
    abi, missing, contain_problem = containment_status()
    seccomp_problem = None if contain_problem is None else seccomp_status()
    echo(f"Landlock: {'ABI ' + str(abi) if abi else 'absent'}"
         + (f" (lacks {', '.join(missing)})" if missing else ""))
    echo("Landlock + seccomp self-test (container mode): "
         + ("works" if contain_problem is None else f"NO ({contain_problem})"))
    if contain_problem is not None:
        echo("seccomp alone (seccomp mode, for kernels without Landlock): "
             + ("works" if seccomp_problem is None else f"NO ({seccomp_problem})"))
    iso, why = bwrap_status(limits, contain_problem is None, abi, missing, seccomp_problem is None)
    echo(f"bubblewrap (full mode): {'works' if iso else 'NO'}" + (f" ({why})" if why else ""))
    try:
        from grader import contain

        reaper = contain.set_child_subreaper()
    except Exception as exc:  # noqa: BLE001 - doctor reports, never crashes
        reaper = f"NO ({exc})"
    echo(f"child subreaper: {'works' if reaper is True else 'NO' if reaper is False else reaper}")
    if is_root():
        if iso is not None:
            echo(f"uid drop under bubblewrap (full mode): works (uid {slot_uid(0)}; bubblewrap mounts the "
                 f"interpreter where that uid can read it)")
        plain = Isolation("container" if contain_problem is None else "seccomp", uid_drop=True,
                          contain=contain_problem is None or seccomp_problem is None, landlock=contain_problem is None)
        drop_why = _probe(plain, limits)
        echo("uid drop without bubblewrap (container and seccomp modes): "
             + ("works" if drop_why is None else f"NO ({uid_drop_problem(drop_why)})"))
    else:
        echo("uid drop: not possible (the grader does not run as root); container mode runs the worker as this "
             "user, and seccomp mode needs root")
    try:
        chosen = detect("auto", limits)
        echo(f"`grade` would use: {chosen.describe()}")
        if chosen.mode == "seccomp":
            echo("  (before grading, `grade` proves as each worker uid that the grader's data cannot be read and "
                 "the results and stages cannot be written; it stops, naming the path, if one can)")
        return 0
    except Unavailable as exc:
        echo(f"`grade` would refuse: {exc}")
        return 2
