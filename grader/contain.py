"""Containment a grading worker applies to itself right before it imports student code.

The worker calls ``apply(read, write)`` after it has imported everything it needs (numpy, this
module, pyseccomp) and dropped its uid, so the only code that ever runs under these rules is the
student's. Nothing here needs namespaces or root, which is why this is the layer a Docker or
Gradescope container still gets when bubblewrap cannot run there. The rules cannot be lifted
again, and every child (there are none: see seccomp) would inherit them.

Two layers, each stopping what the other cannot see:

- **Landlock** (an LSM, ``landlock_*`` syscalls) works on objects rather than syscalls: the
  filesystem is reduced to read and execute under the ``read`` paths and full access under the
  ``write`` paths, so a submission cannot read another student's files, the reference outputs,
  ``/proc/<grader>/environ`` or any secret, nor plant files anywhere else. From ABI 4 it denies
  every TCP bind and connect; from ABI 6 it scopes signals and abstract UNIX sockets to the
  sandbox, so nothing outside (the grader, other workers) can be signalled or connected to.
- **seccomp-bpf** works on syscalls and their integer arguments: no new process (fork, vfork,
  a clone without CLONE_THREAD, clone3), no signal to any other process, no socket but AF_UNIX,
  and none of the kernel's administrative or introspective interfaces (ptrace, mount,
  namespaces, bpf, io_uring, keyrings, raising rlimits, ...). The denials return an errno
  rather than killing the process, so a submission that tries one gets an ordinary
  ``PermissionError`` and the worker still reports the case.

Why ctypes for one and pyseccomp for the other: Landlock is three syscalls and three small
structs, and no Python binding supports ABI 4 (network) and ABI 6 (scopes), so it is written
here directly. A seccomp filter is a BPF program that must check the architecture, the x32
syscall range and 64-bit arguments split into 32-bit halves; libseccomp (through pyseccomp, a
ctypes binding to the system's libseccomp2) generates that correctly, and a hand-written BPF
program is exactly where a subtle hole would hide.

Known limits, for whoever relies on this:

- File descriptors already open when ``apply`` runs stay usable: Landlock checks at open().
- Before ABI 8 (``LANDLOCK_RESTRICT_SELF_TSYNC``) Landlock restricts only the calling thread
  and its future threads; threads that already exist (an OpenBLAS pool started by
  ``import numpy``) are not covered. ``apply_landlock`` reports how many there were; the worker
  avoids them by starting numpy with one BLAS thread. The seccomp filter covers every thread.
- Before the Landlock right that controls it (``LANDLOCK_ACCESS_FS_RESOLVE_UNIX``, newer than
  ABI 7) a pathname UNIX socket anywhere can still be connected to; seccomp allows AF_UNIX so
  that Python's own socketpair users keep working.
- A readable binary can still be executed with execve(); it replaces the worker in place and
  stays under every rule here.

The module is loaded by path, standalone, next to the worker: it imports the standard library
only, and pyseccomp lazily inside functions. It imports nothing from the ``grader`` package.
"""

import ctypes
import errno
import json
import os
import platform
import select
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import warnings

__all__ = [
    "ContainError",
    "landlock_abi",
    "seccomp_available",
    "landlock_missing",
    "landlock_masks",
    "set_no_new_privs",
    "set_child_subreaper",
    "apply_landlock",
    "apply_seccomp",
    "seccomp_rules",
    "apply",
    "probe",
]


class ContainError(Exception):
    """Containment could not be applied; the message says what and why."""


# --- Landlock constants (include/uapi/linux/landlock.h) -----------------------------------------

# Syscall numbers: the same on every architecture that has them (x86_64, aarch64, ...).
_SYS_LANDLOCK_CREATE_RULESET = 444
_SYS_LANDLOCK_ADD_RULE = 445
_SYS_LANDLOCK_RESTRICT_SELF = 446

_LANDLOCK_CREATE_RULESET_VERSION = 1 << 0
_LANDLOCK_RULE_PATH_BENEATH = 1
_LANDLOCK_RESTRICT_SELF_TSYNC = 1 << 3  # ABI 8: enforce on every thread of the process

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5

NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4

SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_ABI1 = (1 << 13) - 1  # EXECUTE .. MAKE_SYM
# The only rights the kernel accepts on a rule whose path is not a directory.
_FS_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
# What the ``read`` paths get: open for reading, list, execute (the interpreter loads .so files).
_FS_READ_RIGHTS = FS_EXECUTE | FS_READ_FILE | FS_READ_DIR

# What each ABI adds that we use, in order: (abi, text for landlock_missing).
_FEATURES = (
    (1, "filesystem rules (ABI 1)"),
    (2, "cross-directory rename and link control (ABI 2)"),
    (3, "truncate (ABI 3)"),
    (4, "TCP rules (ABI 4)"),
    (5, "device ioctl (ABI 5)"),
    (6, "signal and abstract-socket scopes (ABI 6)"),
)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64),
                ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)): 12 bytes, no trailing padding
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


assert ctypes.sizeof(_PathBeneathAttr) == 12


# --- prctl / syscall through libc ----------------------------------------------------------------

_PR_SET_CHILD_SUBREAPER = 36
_PR_SET_NO_NEW_PRIVS = 38

_libc_handle = None


def _libc():
    """The C library already in this process (no file is opened, so it works after Landlock too)."""
    global _libc_handle
    if _libc_handle is None:
        _libc_handle = ctypes.CDLL(None, use_errno=True)
    return _libc_handle


def _syscall(nr, *args):
    """``syscall(nr, *args)`` with every argument passed as a full machine word; returns (result, errno)."""
    libc = _libc()
    fn = libc.syscall
    fn.restype = ctypes.c_long
    words = [ctypes.c_long(nr)]
    for a in args:
        if a is None:
            words.append(ctypes.c_void_p(None))
        elif isinstance(a, int):
            words.append(ctypes.c_long(a))
        else:  # a ctypes pointer / byref()
            words.append(a)
    ctypes.set_errno(0)
    res = fn(*words)
    return res, (ctypes.get_errno() if res < 0 else 0)


def _prctl(option, arg2=0, arg3=0, arg4=0, arg5=0):
    fn = _libc().prctl
    fn.restype = ctypes.c_int
    ctypes.set_errno(0)
    res = fn(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), ctypes.c_ulong(arg4),
             ctypes.c_ulong(arg5))
    return res, (ctypes.get_errno() if res < 0 else 0)


def _errtext(err):
    return f"{errno.errorcode.get(err, err)}: {os.strerror(err)}"


def _is_linux():
    return sys.platform.startswith("linux")


# --- capability probes ---------------------------------------------------------------------------

def landlock_abi() -> int:
    """The Landlock ABI version the running kernel offers; 0 without Landlock (not built, or off at boot)."""
    if not _is_linux():
        return 0
    try:
        res, _err = _syscall(_SYS_LANDLOCK_CREATE_RULESET, None, 0, _LANDLOCK_CREATE_RULESET_VERSION)
    except (OSError, AttributeError):
        return 0
    # ENOSYS: not built in; EOPNOTSUPP: built but not in the boot's lsm= list. Either way: none.
    return int(res) if res > 0 else 0


def _import_pyseccomp():
    """pyseccomp, imported now (its import runs ldconfig to find libseccomp: do it before containment)."""
    import pyseccomp

    return pyseccomp


def seccomp_available() -> str | None:
    """None when pyseccomp imports and libseccomp loads; else one line saying what is missing and how to get it."""
    if not _is_linux():
        return "seccomp needs Linux"
    try:
        _import_pyseccomp()
    except ImportError as e:
        if e.name == "pyseccomp":
            return "pyseccomp is not installed (pip install pyseccomp)"
        return f"pyseccomp could not be imported ({e}): import it before dropping privileges"
    except (RuntimeError, OSError) as e:  # pyseccomp raises RuntimeError when find_library("seccomp") fails
        return f"libseccomp2 is missing (apt-get install libseccomp2): {e}"
    return None


def landlock_missing(abi: int) -> list[str]:
    """What the Landlock ABI ``abi`` lacks of what ``apply_landlock`` uses, oldest first; [] at ABI >= 6."""
    return [text for need, text in _FEATURES if abi < need]


def landlock_masks(abi: int) -> tuple[int, int, int]:
    """(handled_access_fs, handled_access_net, scoped) for ABI ``abi``: every right that ABI knows, no newer one.

    The kernel rejects a ruleset that names a right it does not know (EINVAL), and a right we do
    not handle is simply allowed, so the masks are exactly "all that this ABI can deny".
    """
    if abi < 1:
        return 0, 0, 0
    fs = _FS_ABI1
    if abi >= 2:
        fs |= FS_REFER
    if abi >= 3:
        fs |= FS_TRUNCATE
    if abi >= 5:
        fs |= FS_IOCTL_DEV
    net = NET_BIND_TCP | NET_CONNECT_TCP if abi >= 4 else 0
    scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL if abi >= 6 else 0
    return fs, net, scoped


def _ruleset_attr_size(abi):
    """How much of ``struct landlock_ruleset_attr`` the ABI knows: the kernel rejects non-zero unknown tails."""
    if abi >= 6:
        return 24
    if abi >= 4:
        return 16
    return 8


# --- process attributes --------------------------------------------------------------------------

def set_no_new_privs() -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): execve can never grant privileges again (setuid bits, file caps).

    Landlock and seccomp both require it from an unprivileged process; it is inherited and permanent.
    """
    if not _is_linux():
        raise ContainError("no_new_privs needs Linux")
    res, err = _prctl(_PR_SET_NO_NEW_PRIVS, 1)
    if res != 0:
        raise ContainError(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {_errtext(err)}")


def set_child_subreaper() -> bool:
    """prctl(PR_SET_CHILD_SUBREAPER): orphans of this process's descendants are re-parented to it, not init.

    The grader sets it so it can find and kill whatever a run leaves behind. True when it worked.
    """
    if not _is_linux():
        return False
    try:
        res, _err = _prctl(_PR_SET_CHILD_SUBREAPER, 1)
    except (OSError, AttributeError):
        return False
    return res == 0


def _thread_count():
    """Threads in this process (native ones too, which ``threading`` does not know); None if /proc is absent."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return None


# --- Landlock ------------------------------------------------------------------------------------

def _add_path_rule(ruleset_fd, path, rights, handled_fs, skipped):
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        skipped.append(path)
        return
    except OSError as e:
        raise ContainError(f"Landlock: cannot open {path!r}: {e.strerror}") from e
    try:
        allowed = rights & handled_fs
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            allowed &= _FS_FILE_RIGHTS
        attr = _PathBeneathAttr(allowed, fd)
        res, err = _syscall(_SYS_LANDLOCK_ADD_RULE, ruleset_fd, _LANDLOCK_RULE_PATH_BENEATH, ctypes.byref(attr), 0)
        if res != 0:
            raise ContainError(f"landlock_add_rule({path!r}, {allowed:#x}) failed: {_errtext(err)}")
    finally:
        os.close(fd)


def apply_landlock(read: list[str], write: list[str], *, abi: int | None = None) -> dict:
    """Restrict this process, its future threads and children to the given paths (and, by ABI, no TCP, scopes).

    ``read``: read, list and execute beneath each path (a file: that file, file rights only).
    ``write``: every right the ABI knows beneath each path (read, write, create, remove, rename,
    truncate, device ioctl, ...). Nothing else on the filesystem. Paths that do not exist are
    skipped and listed. ABI >= 4: no TCP bind or connect at all. ABI >= 6: no signal to, and no
    abstract UNIX socket connect towards, any process outside this sandbox.

    ``abi`` pins the rights to those of an older ABI than the kernel's (tests use it to check
    the masking); default: the kernel's. Sets no_new_privs itself.

    Returns ``{"abi", "missing", "skipped", "unrestricted_threads"}``; the last is how many
    threads already existed besides the caller and stay outside the domain (0 from ABI 8, which
    restricts them all; None when /proc could not tell). Raises ContainError when the kernel has
    no Landlock or a syscall fails.
    """
    kernel = landlock_abi()
    if kernel < 1:
        raise ContainError("Landlock is not available: the kernel lacks it or it is not enabled at boot "
                           "(Linux 5.13+, with landlock in the lsm= list)")
    use = kernel if abi is None else abi
    if not 1 <= use <= kernel:
        raise ContainError(f"Landlock ABI {use} asked for, but the kernel offers 1 to {kernel}")
    handled_fs, handled_net, scoped = landlock_masks(use)
    set_no_new_privs()
    threads = _thread_count()

    attr = _RulesetAttr(handled_fs, handled_net, scoped)
    ruleset_fd, err = _syscall(_SYS_LANDLOCK_CREATE_RULESET, ctypes.byref(attr), _ruleset_attr_size(use), 0)
    if ruleset_fd < 0:
        raise ContainError(f"landlock_create_ruleset (ABI {use}) failed: {_errtext(err)}")
    skipped = []
    try:
        for path in read:
            _add_path_rule(ruleset_fd, path, _FS_READ_RIGHTS, handled_fs, skipped)
        for path in write:
            _add_path_rule(ruleset_fd, path, handled_fs, handled_fs, skipped)
        flags = _LANDLOCK_RESTRICT_SELF_TSYNC if use >= 8 else 0
        res, err = _syscall(_SYS_LANDLOCK_RESTRICT_SELF, ruleset_fd, flags)
        if res != 0:
            raise ContainError(f"landlock_restrict_self failed: {_errtext(err)}")
    finally:
        os.close(ruleset_fd)
    if use >= 8:
        unrestricted = 0
    else:
        unrestricted = None if threads is None else threads - 1
    return {"abi": use, "missing": landlock_missing(use), "skipped": skipped, "unrestricted_threads": unrestricted}


# --- seccomp -------------------------------------------------------------------------------------

_CLONE_THREAD = 0x00010000
# Namespace flags: a clone(CLONE_THREAD | CLONE_NEWNET ...) is still refused.
_CLONE_NAMESPACES = (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000)

# Denied outright (EPERM): the kernel's administrative, tracing and introspection interfaces.
_DENY_EPERM = (
    "fork", "vfork",
    "pidfd_send_signal", "pidfd_open", "pidfd_getfd",
    "ptrace", "process_vm_readv", "process_vm_writev",
    "unshare", "setns",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsmount", "fspick",
    "mount_setattr",
    "bpf", "perf_event_open",
    "keyctl", "add_key", "request_key",
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    "userfaultfd", "open_by_handle_at", "name_to_handle_at",
    "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot",
    "swapon", "swapoff",
    "setrlimit", "setpriority", "ioprio_set",
    "kcmp", "fanotify_init", "acct",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "iopl", "ioperm", "quotactl", "syslog", "vhangup", "personality",
)

# Signals: the first argument names the target process (tkill: the thread id, which is the pid for
# the main thread); anything but this process is refused.
_SIGNAL_CALLS = ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo")


def _clone_flags_arg():
    """Index of clone's flags argument: 0 everywhere but s390, which swaps the first two."""
    return 1 if platform.machine().startswith("s390") else 0


def seccomp_rules(pid: int) -> list[tuple[str, str, list[tuple[int, str, int, int]]]]:
    """The filter as data: ``(syscall, errno name, [(arg, op, datum_a, datum_b), ...])``, one rule per entry.

    A syscall is denied when any of its rules matches (the argument tests of one rule all hold).
    ``pid`` is the process allowed as a signal target. Kept separate from ``apply_seccomp`` so the
    table can be read and tested without loading it.
    """
    rules = []
    flags = _clone_flags_arg()
    # A new process: fork, vfork, clone without CLONE_THREAD (threads still start), clone3 (its
    # flags are in memory, out of the filter's reach; ENOSYS makes glibc fall back to clone).
    rules.append(("clone", "EPERM", [(flags, "MASKED_EQ", _CLONE_THREAD, 0)]))
    for bit in _CLONE_NAMESPACES:
        rules.append(("clone", "EPERM", [(flags, "MASKED_EQ", bit, bit)]))
    rules.append(("clone3", "ENOSYS", []))
    for name in _SIGNAL_CALLS:
        rules.append((name, "EPERM", [(0, "NE", pid, 0)]))
    # No network: sockets of any family but AF_UNIX (Landlock scopes the abstract ones).
    for name in ("socket", "socketpair"):
        rules.append((name, "EPERM", [(0, "NE", socket.AF_UNIX, 0)]))
    # prlimit64 may read limits (new-limit pointer NULL) but not set them.
    rules.append(("prlimit64", "EPERM", [(2, "NE", 0, 0)]))
    for name in _DENY_EPERM:
        rules.append((name, "EPERM", []))
    return rules


def apply_seccomp() -> dict:
    """Load the seccomp filter of ``seccomp_rules(os.getpid())`` on every thread of this process.

    Default action ALLOW; each rule answers with its errno. libseccomp sets no_new_privs itself;
    TSYNC puts the filter on threads that already exist too. Syscalls this architecture lacks (fork
    on aarch64, iopl off x86) are skipped. A syscall from another ABI (i386 int 0x80, x32) kills
    the process. Returns ``{"seccomp": True, "denied": [names filtered]}``; raises ContainError
    when pyseccomp is missing or the filter cannot be built or loaded.
    """
    why = seccomp_available()
    if why:
        raise ContainError(why)
    ps = _import_pyseccomp()
    ops = {"NE": ps.NE, "EQ": ps.EQ, "MASKED_EQ": ps.MASKED_EQ}
    try:
        filt = ps.SyscallFilter(ps.ALLOW)
        filt.set_attr(ps.Attr.CTL_TSYNC, 1)
        try:
            filt.set_attr(ps.Attr.ACT_BADARCH, ps.KILL_PROCESS)
        except OSError:
            pass  # old kernel or libseccomp: the default (kill the thread) stays
        denied = []
        for name, err, args in seccomp_rules(os.getpid()):
            nr = ps.resolve_syscall(ps.Arch.NATIVE, name)
            if nr < 0:  # not a syscall of this architecture
                continue
            filt.add_rule(ps.ERRNO(getattr(errno, err)), nr,
                          *(ps.Arg(i, ops[op], a, b) for i, op, a, b in args))
            if name not in denied:
                denied.append(name)
        filt.load()
    except OSError as e:
        raise ContainError(f"seccomp filter could not be loaded: {e}") from e
    return {"seccomp": True, "denied": denied}


def apply(read: list[str], write: list[str], *, landlock: bool = True) -> dict:
    """Both layers, in order: no_new_privs, Landlock, seccomp. The merged reports of the two.

    pyseccomp is imported first, while the process may still read its files and run ldconfig,
    and nothing is applied when it is missing. ``landlock=False`` applies no_new_privs and
    seccomp only (``read`` and ``write`` are then unused): the grader's seccomp mode, for kernels
    without Landlock, where the uid drop and file permissions the grader proved keep the files.
    """
    why = seccomp_available()
    if why:
        raise ContainError(why)
    set_no_new_privs()
    report = apply_landlock(read, write) if landlock else {"abi": 0, "missing": [], "skipped": [],
                                                            "unrestricted_threads": None}
    report.update(apply_seccomp())
    return report


# --- probe ---------------------------------------------------------------------------------------

_PROBE_TIMEOUT = 5.0


def _probe_read_paths():
    paths = [sys.base_prefix]
    for p in sys.path:
        if p and os.path.isdir(p) and p not in paths:
            paths.append(p)
    return paths + ["/usr", "/lib", "/lib64", "/etc/ld.so.cache"]


def _probe_child(write_dir, outside_dir, parent, landlock=True):
    """The checks, run in the forked child after ``apply``; returns the list of problems."""
    problems = []
    try:
        apply(read=_probe_read_paths(), write=[write_dir], landlock=landlock)
    except ContainError as e:
        return [f"containment failed: {e}"]

    ran = []
    t = threading.Thread(target=ran.append, args=(True,))
    try:
        t.start()
        t.join(_PROBE_TIMEOUT)
    except RuntimeError as e:
        problems.append(f"a thread could not start: {e}")
    else:
        if not ran:
            problems.append("a thread did not run")

    try:
        pid = os.fork()
    except OSError:
        pass
    else:
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        problems.append("os.fork() worked")

    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    except OSError:
        pass
    else:
        s.close()
        problems.append("socket(AF_INET) worked")

    if landlock:  # without Landlock, files are the uid drop's and the permissions' (proved by the grader)
        try:
            with open(os.path.join(outside_dir, "x"), "w") as f:
                f.write("x")
        except OSError:
            pass
        else:
            problems.append("a file could be written outside the write directory")

    try:
        with open(os.path.join(write_dir, "x"), "w") as f:
            f.write("x")
    except OSError as e:
        problems.append(f"a file could not be written in the write directory: {e}")

    try:
        os.kill(parent, 0)
    except OSError:
        pass
    else:
        problems.append("kill(parent, 0) worked")
    return problems


def _probe_run(result, landlock=True):
    base = tempfile.mkdtemp(prefix="contain-probe-")
    try:
        write_dir = os.path.join(base, "w")
        outside_dir = os.path.join(base, "o")
        os.mkdir(write_dir)
        os.mkdir(outside_dir)
        parent = os.getpid()
        rfd, wfd = os.pipe()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
                pid = os.fork()
        except OSError as e:
            os.close(rfd)
            os.close(wfd)
            result["problems"].append(f"fork failed: {e}")
            return
        if pid == 0:  # the child: never returns
            code = 0
            try:
                os.close(rfd)
                problems = _probe_child(write_dir, outside_dir, parent, landlock)
                os.write(wfd, json.dumps({"problems": problems}).encode())
            except BaseException:  # noqa: B036 - the child must reach _exit whatever happens
                code = 1
            finally:
                os._exit(code)
        os.close(wfd)
        data = b""
        deadline = time.monotonic() + _PROBE_TIMEOUT
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([rfd], [], [], left)[0]:
                    result["problems"].append(f"the probe child did not answer within {_PROBE_TIMEOUT:g} s")
                    os.kill(pid, signal.SIGKILL)
                    break
                chunk = os.read(rfd, 65536)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(rfd)
            os.waitpid(pid, 0)
        if data:
            try:
                result["problems"].extend(json.loads(data)["problems"])
            except (ValueError, KeyError, TypeError):
                result["problems"].append("the probe child answered garbage")
        elif not result["problems"]:
            result["problems"].append("the probe child died without answering")
        if landlock and os.path.exists(os.path.join(outside_dir, "x")):
            result["problems"].append("a file appeared outside the write directory")
    finally:
        shutil.rmtree(base, ignore_errors=True)


def probe(landlock: bool = True) -> dict:
    """Whether containment works here, checked in a forked child. Never raises.

    ``landlock=False`` checks seccomp alone (what the grader's seccomp mode applies): the same
    checks but the one that writes outside the temp directory, which only Landlock stops.

    Returns ``{"landlock_abi", "landlock_missing", "seccomp" (None or why it is missing),
    "works", "problems"}``. The child applies ``apply`` with the interpreter's directories
    readable and a fresh temp directory writable, then checks that a thread starts, fork fails,
    socket(AF_INET) fails, a file outside the temp directory cannot be written but one inside
    can, and kill(parent, 0) fails. It answers through a pipe as JSON.
    """
    result = {"landlock_abi": 0, "landlock_missing": [], "seccomp": None, "works": False, "problems": []}
    try:
        abi = landlock_abi()
        result["landlock_abi"] = abi
        result["landlock_missing"] = landlock_missing(abi)
        result["seccomp"] = seccomp_available()
        if not _is_linux():
            result["problems"].append("containment needs Linux")
        else:
            _probe_run(result, landlock)
    except Exception as e:  # noqa: BLE001 - probe reports, never raises
        result["problems"].append(f"probe failed: {type(e).__name__}: {e}")
    result["works"] = not result["problems"]
    return result
