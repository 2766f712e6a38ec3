"""grader/contain.py: Landlock + seccomp, checked by what a contained process can and cannot do.

Each containment test runs a fresh ``python -I`` child that loads contain.py by path (as the
worker does: standalone, no ``grader`` package, no PYTHONPATH), applies containment with a
fresh ``write`` directory and a ``read`` list of the interpreter's directories, ``/usr`` and
``/lib*``, then tries operations and prints a JSON verdict. Every denial is paired with an
allowed operation of the same kind (a file in the read directory, a file in the write
directory, a signal to itself, an AF_UNIX socket), so a child that simply fails at everything
does not pass. Where a denial would reach the test process (a TCP listener, an abstract UNIX
listener, a signal handler, a sleeping victim process), the test checks on its own side that
nothing arrived.

Nothing is skipped on Linux: a kernel without Landlock or a machine without libseccomp makes
these tests fail, since containment is then missing. Only non-Linux platforms are skipped.
"""

import ast
import errno
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Landlock and seccomp are Linux-only")

CONTAIN_PATH = Path(__file__).resolve().parents[1] / "grader" / "contain.py"
SECRET = "the reference outputs"


def _load_contain():
    spec = importlib.util.spec_from_file_location("contain_under_test", CONTAIN_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contain = _load_contain()

# The child's prelude: load contain.py by path, run the setup, apply the layers asked for, run
# the body, print {"report", "verdict"}. ``attempt`` turns a call into a JSON-able outcome.
PRELUDE = r'''
import ctypes, importlib.util, json, os, signal, socket, sys, threading, time
spec = importlib.util.spec_from_file_location("contain", CFG_CONTAIN)
contain = importlib.util.module_from_spec(spec)
spec.loader.exec_module(contain)
CFG = json.loads(sys.argv[1])
W, RO, OUTSIDE, PARENT, ARGS = CFG["write"], CFG["ro"], CFG["outside"], CFG["parent"], CFG["args"]
LIBC = ctypes.CDLL(None, use_errno=True)
LIBC.syscall.restype = ctypes.c_long
V = {}

def attempt(fn, *a, **k):
    try:
        value = fn(*a, **k)
    except BaseException as e:
        return {"ok": False, "type": type(e).__name__, "errno": getattr(e, "errno", None), "msg": str(e)}
    return {"ok": True, "value": value if isinstance(value, (int, float, str, bool, type(None))) else repr(value)}

def raw_syscall(nr, *args):
    """(result, errno) of a raw syscall; a child created by a fork-like call leaves at once."""
    ctypes.set_errno(0)
    res = LIBC.syscall(ctypes.c_long(nr), *[a if not isinstance(a, int) else ctypes.c_long(a) for a in args])
    err = ctypes.get_errno()
    if res == 0 and ARGS.get("fork_like"):
        os._exit(0)
    return [res, err if res < 0 else 0]

def read_text(path):
    with open(path) as f:
        return f.read()

def write_text(path, text="x"):
    with open(path, "w") as f:
        f.write(text)
    return True

READ = [sys.base_prefix, sys.prefix] + [p for p in sys.path if p and os.path.isdir(p)]
READ += ["/usr", "/lib", "/lib64", "/etc/ld.so.cache", RO] + CFG["read_extra"]
'''

APPLY = r'''
layers = CFG["layers"]
if layers == "all":
    REPORT = contain.apply(read=READ, write=[W])
elif layers == "landlock":
    REPORT = contain.apply_landlock(READ, [W], abi=CFG["abi"])
elif layers == "seccomp":
    REPORT = contain.apply_seccomp()
else:
    REPORT = {}
'''

EPILOGUE = r'''
print(json.dumps({"report": REPORT, "verdict": V}), flush=True)
'''


@pytest.fixture
def box():
    """A run_contained(body, ...) bound to a fresh tree: w/ (write), ro/ (read, holds readable.txt),
    outside/ (neither; holds secret.txt). The tree is open to every uid (directories 0o777 where
    a write is tried), so the file permissions never stand in for Landlock, also after a uid drop."""
    base = Path(tempfile.mkdtemp(prefix="contain-test-"))
    base.chmod(0o755)
    write = base / "w"
    ro = base / "ro"
    outside = base / "outside"
    for d in (write, ro, outside):
        d.mkdir()
        d.chmod(0o777)
    (ro / "readable.txt").write_text("readable")
    (outside / "secret.txt").write_text(SECRET)

    def run_contained(body, *, setup="", layers="all", abi=None, read_extra=(), args=None, expect_rc=0):
        """Run ``setup`` (before containment), apply ``layers`` ("all": ``apply``; "landlock":
        ``apply_landlock`` at ``abi``; "seccomp"; "none"), run ``body``; return {"report", "verdict"}.
        ``args`` reaches the child as ARGS; ``expect_rc`` is the exit status it must have."""
        cfg = {"write": str(write), "ro": str(ro), "outside": str(outside), "parent": os.getpid(),
               "layers": layers, "abi": abi, "read_extra": [str(p) for p in read_extra], "args": args or {}}
        script = "\n".join([PRELUDE.replace("CFG_CONTAIN", repr(str(CONTAIN_PATH))), textwrap.dedent(setup), APPLY,
                            textwrap.dedent(body), EPILOGUE])
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
        proc = subprocess.run([sys.executable, "-I", "-c", script, json.dumps(cfg)], capture_output=True,
                              text=True, timeout=60, env=env, start_new_session=True, cwd=base)
        assert proc.returncode == expect_rc, f"child exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        if expect_rc != 0:
            return None
        return json.loads(proc.stdout.strip().splitlines()[-1])

    run_contained.base, run_contained.write, run_contained.ro, run_contained.outside = base, write, ro, outside
    yield run_contained
    shutil.rmtree(base, ignore_errors=True)


def denied(outcome, *errnos, kind=None):
    """The call failed with one of ``errnos`` (and exception ``kind`` when given)."""
    assert not outcome["ok"], f"expected a denial, got {outcome}"
    if errnos:
        assert outcome["errno"] in errnos, outcome
    if kind:
        assert outcome["type"] == kind, outcome
    return True


def allowed(outcome):
    assert outcome["ok"], f"expected it to work, got {outcome}"
    return True


# --- the module itself -----------------------------------------------------------------------

def test_contain_imports_only_the_standard_library():
    # The worker loads contain.py alone, beside worker.py: any import of the grader package (or a
    # third-party module at import time) would fail there.
    tree = ast.parse(CONTAIN_PATH.read_text())
    top_level = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level += [a.name.split(".")[0] for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import"
            top_level.append(node.module.split(".")[0])
    assert top_level, "no imports found: the check would be empty"
    assert [m for m in top_level if m not in sys.stdlib_module_names] == []
    every = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = {a.name for n in every if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in every if isinstance(n, ast.ImportFrom)}
    assert not any(n == "grader" or n.startswith("grader.") for n in names)


@pytest.mark.parametrize("abi, fs, net, scoped, size", [
    (0, 0, 0, 0, 8),
    (1, 0x1FFF, 0, 0, 8),
    (2, 0x3FFF, 0, 0, 8),
    (3, 0x7FFF, 0, 0, 8),
    (4, 0x7FFF, 0x3, 0, 16),
    (5, 0xFFFF, 0x3, 0, 16),
    (6, 0xFFFF, 0x3, 0x3, 24),
    (7, 0xFFFF, 0x3, 0x3, 24),
    (8, 0xFFFF, 0x3, 0x3, 24),
])
def test_landlock_masks_follow_the_abi(abi, fs, net, scoped, size):
    assert contain.landlock_masks(abi) == (fs, net, scoped)
    assert contain._ruleset_attr_size(abi) == size


def test_landlock_missing_names_each_absent_feature():
    assert contain.landlock_missing(7) == []
    assert contain.landlock_missing(6) == []
    assert contain.landlock_missing(5) == ["signal and abstract-socket scopes (ABI 6)"]
    assert contain.landlock_missing(3) == ["TCP rules (ABI 4)", "device ioctl (ABI 5)",
                                           "signal and abstract-socket scopes (ABI 6)"]
    assert contain.landlock_missing(2)[0] == "truncate (ABI 3)"
    assert len(contain.landlock_missing(0)) == 6


def test_this_machine_has_both_layers():
    # Not a skip: without them every other test here would be meaningless, so say it plainly.
    assert contain.landlock_abi() >= 6, "Landlock ABI 6+ is needed for network and scope rules"
    assert contain.seccomp_available() is None


def test_seccomp_rules_cover_the_documented_denials():
    rules = contain.seccomp_rules(1234)
    by_name = {}
    for name, err, args in rules:
        by_name.setdefault(name, []).append((err, args))
    for name in ("fork", "vfork", "ptrace", "unshare", "mount", "bpf", "io_uring_setup", "setrlimit",
                 "pidfd_open", "pidfd_send_signal", "process_vm_readv", "personality", "kexec_load"):
        assert by_name[name] == [("EPERM", [])], name
    assert by_name["clone3"] == [("ENOSYS", [])]
    assert ("EPERM", [(0, "MASKED_EQ", 0x10000, 0)]) in by_name["clone"]
    for name in ("kill", "tkill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        assert by_name[name] == [("EPERM", [(0, "NE", 1234, 0)])], name
    assert by_name["socket"] == [("EPERM", [(0, "NE", socket.AF_UNIX, 0)])]
    assert by_name["prlimit64"] == [("EPERM", [(2, "NE", 0, 0)])]


def test_probe_works_here_and_is_fast():
    start = time.monotonic()
    result = contain.probe()
    took = time.monotonic() - start
    assert result["problems"] == []
    assert result["works"] is True
    assert result["landlock_abi"] == contain.landlock_abi() >= 6
    assert result["landlock_missing"] == [] and result["seccomp"] is None
    assert took < 1.0, f"probe took {took:.2f} s"


def test_probe_names_each_check_that_fails(monkeypatch):
    # With containment replaced by a no-op, every check in the probe's child must report.
    monkeypatch.setattr(contain, "apply", lambda read, write, landlock=True: {})
    result = contain.probe()
    assert result["works"] is False
    assert sorted(result["problems"]) == sorted([
        "os.fork() worked",
        "socket(AF_INET) worked",
        "a file could be written outside the write directory",
        "kill(parent, 0) worked",
        "a file appeared outside the write directory",
    ])
    # Seccomp alone (the grader's seccomp mode) is not asked to stop files: that is the permissions' job.
    result = contain.probe(landlock=False)
    assert sorted(result["problems"]) == sorted(["os.fork() worked", "socket(AF_INET) worked",
                                                 "kill(parent, 0) worked"])


def test_seccomp_alone_stops_processes_signals_and_sockets_but_not_files(box):
    """``apply(landlock=False)``: what the seccomp mode's worker applies. The files stay open to the uid's
    permissions, which is why the grader proves them before grading in that mode."""
    assert contain.probe(landlock=False)["works"] is True
    out = box("""
        contain.apply(read=[], write=[], landlock=False)
        def fork():
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
        V["fork"] = attempt(fork)
        V["kill"] = attempt(os.kill, CFG["parent"], 0)
        V["inet"] = attempt(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        V["secret"] = attempt(read_text, os.path.join(CFG["outside"], "secret.txt"))
        V["write_outside"] = attempt(write_text, os.path.join(CFG["outside"], "planted.txt"))
    """, layers="none")
    v = out["verdict"]
    denied(v["fork"], errno.EPERM)
    denied(v["kill"], errno.EPERM)
    denied(v["inet"], errno.EPERM)
    allowed(v["secret"])
    allowed(v["write_outside"])


# --- processes and threads -------------------------------------------------------------------

def test_threads_still_start_and_join(box):
    out = box("""
        results = []
        def work(i):
            results.append(sum(range(i * 1000)))
        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        V["ran"] = len(results)
    """)
    assert out["report"]["seccomp"] is True and out["report"]["abi"] >= 6
    assert out["verdict"]["ran"] == 4


def test_no_new_process(box):
    out = box("""
        def fork():
            pid = os.fork()
            if pid == 0:
                os._exit(0)
            os.waitpid(pid, 0)
            return pid
        def popen():
            import subprocess
            return subprocess.Popen(["true"]).wait()
        def spawn():
            pid = os.posix_spawn("/bin/true", ["true"], {})
            return os.waitpid(pid, 0)[1]
        V["fork"] = attempt(fork)
        V["popen"] = attempt(popen)
        V["posix_spawn"] = attempt(spawn)
        V["system"] = attempt(os.system, "true")
    """)
    v = out["verdict"]
    denied(v["fork"], errno.EPERM, kind="PermissionError")
    denied(v["popen"], errno.EPERM)
    denied(v["posix_spawn"], errno.EPERM)
    assert v["system"]["ok"] and v["system"]["value"] != 0  # os.system reports the failed fork as -1


def test_clone3_answers_enosys(box):
    # A zeroed clone_args (88 bytes) is a plain fork: it must not happen, and glibc needs ENOSYS
    # (not EPERM) to fall back to clone for threads.
    out = box("""
        args = ctypes.create_string_buffer(88)
        V["clone3"] = raw_syscall(435, args, 88)
    """, args={"fork_like": True})
    assert out["verdict"]["clone3"] == [-1, errno.ENOSYS]


@pytest.mark.skipif(platform.machine() != "x86_64", reason="the x32 syscall range exists on x86_64 only")
def test_x32_syscalls_kill_the_process(box):
    # fork through the x32 range (0x40000000 | 57) would slip past a filter that only knows the
    # native numbers; libseccomp treats it as a foreign ABI and the process is killed.
    box("""
        V["x32_fork"] = raw_syscall(0x40000000 | 57)
    """, args={"fork_like": True}, expect_rc=-signal.SIGSYS)


# --- signals ---------------------------------------------------------------------------------

def test_signals_reach_only_this_process(box):
    out = box("""
        V["parent"] = attempt(os.kill, PARENT, 0)
        V["init"] = attempt(os.kill, 1, 0)
        V["group"] = attempt(os.kill, 0, 0)
        V["everyone"] = attempt(os.kill, -1, 0)
        V["self"] = attempt(os.kill, os.getpid(), 0)
        V["main_thread"] = attempt(signal.pthread_kill, threading.main_thread().ident, 0)
        got = []
        signal.signal(signal.SIGUSR1, lambda *a: got.append(1))
        t = threading.Thread(target=lambda: signal.pthread_kill(threading.main_thread().ident, signal.SIGUSR1))
        t.start(); t.join()
        time.sleep(0.05)
        V["from_thread"] = len(got)
    """)
    v = out["verdict"]
    for key in ("parent", "init", "group", "everyone"):
        denied(v[key], errno.EPERM, kind="PermissionError")
    allowed(v["self"])
    allowed(v["main_thread"])
    assert v["from_thread"] == 1


def test_the_parent_and_other_processes_survive(box):
    got = []
    previous = signal.signal(signal.SIGUSR1, lambda *a: got.append(a[0]))
    victim = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        out = box("""
            V["usr1_parent"] = attempt(os.kill, PARENT, signal.SIGUSR1)
            V["kill_victim"] = attempt(os.kill, ARGS["victim"], signal.SIGKILL)
            V["killpg_victim"] = attempt(os.killpg, ARGS["victim"], signal.SIGKILL)
            V["pidfd"] = attempt(os.pidfd_open, ARGS["victim"])
        """, args={"victim": victim.pid})
        time.sleep(0.1)
        v = out["verdict"]
        for key in ("usr1_parent", "kill_victim", "killpg_victim", "pidfd"):
            denied(v[key], errno.EPERM)
        assert got == []
        assert victim.poll() is None, "the victim was killed from inside the sandbox"
    finally:
        signal.signal(signal.SIGUSR1, previous)
        victim.kill()
        victim.wait()


# --- network ---------------------------------------------------------------------------------

def test_only_unix_sockets(box):
    out = box("""
        V["inet"] = attempt(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
        V["inet_udp"] = attempt(socket.socket, socket.AF_INET, socket.SOCK_DGRAM)
        V["inet6"] = attempt(socket.socket, socket.AF_INET6, socket.SOCK_STREAM)
        V["netlink"] = attempt(socket.socket, socket.AF_NETLINK, socket.SOCK_RAW)
        V["unix"] = attempt(lambda: socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close())
        V["unix_pair"] = attempt(lambda: [s.close() for s in socket.socketpair()])
    """)
    v = out["verdict"]
    for key in ("inet", "inet_udp", "inet6", "netlink"):
        denied(v[key], errno.EPERM, kind="PermissionError")
    allowed(v["unix"])
    allowed(v["unix_pair"])


@pytest.fixture
def tcp_listener():
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    srv.setblocking(False)
    yield srv
    srv.close()


def _accepted(srv):
    """How many connections reached ``srv`` (non-blocking)."""
    n = 0
    while True:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


CONNECT_TCP = textwrap.dedent("""
    def connect_tcp():
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.settimeout(2)
        s.connect(("127.0.0.1", ARGS["port"]))
        s.sendall(b"leak")
        s.close()
        return True
    V["tcp"] = attempt(connect_tcp)
""")


def test_tcp_connect_to_a_local_listener_never_arrives(box, tcp_listener):
    out = box(CONNECT_TCP, args={"port": tcp_listener.getsockname()[1]})
    denied(out["verdict"]["tcp"], errno.EPERM)
    time.sleep(0.05)
    assert _accepted(tcp_listener) == 0


@pytest.fixture
def abstract_listener():
    name = "\0contain-test-" + uuid.uuid4().hex
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(name)
    srv.listen(8)
    srv.setblocking(False)
    yield name, srv
    srv.close()


CONNECT_ABSTRACT = textwrap.dedent("""
    def connect_abstract(name):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(name)
        s.close()
        return True
    V["outside"] = attempt(connect_abstract, ARGS["abstract"])
    own = "\\0contain-own-" + str(os.getpid())
    mine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    mine.bind(own)
    mine.listen(1)
    V["own"] = attempt(connect_abstract, own)
""")


def test_abstract_unix_socket_outside_the_sandbox_is_refused(box, abstract_listener):
    name, srv = abstract_listener
    out = box(CONNECT_ABSTRACT, args={"abstract": name})
    denied(out["verdict"]["outside"], errno.EPERM)
    allowed(out["verdict"]["own"])  # the scope is the sandbox, not AF_UNIX as a whole
    assert _accepted(srv) == 0


@pytest.mark.parametrize("abi", [3, 5, None])
def test_landlock_alone_handles_what_its_abi_knows(box, tcp_listener, abstract_listener, abi):
    # Landlock only (no seccomp, so socket() itself works), at the kernel's ABI and pinned to older
    # ones: TCP is refused from ABI 4, abstract sockets and signals from ABI 6, the filesystem always.
    name, srv = abstract_listener
    out = box(CONNECT_TCP + CONNECT_ABSTRACT + textwrap.dedent("""
        V["signal_parent"] = attempt(os.kill, PARENT, 0)
        V["write_outside"] = attempt(write_text, os.path.join(OUTSIDE, "landlock-only"))
        V["write_inside"] = attempt(write_text, os.path.join(W, "landlock-only"))
    """), layers="landlock", abi=abi, args={"port": tcp_listener.getsockname()[1], "abstract": name})
    effective = abi or contain.landlock_abi()
    report, v = out["report"], out["verdict"]
    assert report["abi"] == effective
    assert report["missing"] == contain.landlock_missing(effective)
    denied(v["write_outside"], errno.EACCES)
    allowed(v["write_inside"])
    allowed(v["own"])
    time.sleep(0.05)
    if effective >= 4:
        denied(v["tcp"], errno.EACCES)
        assert _accepted(tcp_listener) == 0
    else:
        allowed(v["tcp"])
        assert _accepted(tcp_listener) == 1
    if effective >= 6:
        denied(v["outside"], errno.EPERM)
        denied(v["signal_parent"], errno.EPERM)
        assert _accepted(srv) == 0
    else:
        allowed(v["outside"])
        allowed(v["signal_parent"])
        assert _accepted(srv) == 1


def test_landlock_refuses_an_abi_newer_than_the_kernel(box):
    out = box("""
        try:
            contain.apply_landlock(READ, [W], abi=contain.landlock_abi() + 1)
            V["raised"] = None
        except contain.ContainError as e:
            V["raised"] = str(e)
        V["write_outside"] = attempt(write_text, os.path.join(OUTSIDE, "still-free"))
    """, layers="none")
    assert "asked for" in out["verdict"]["raised"]
    allowed(out["verdict"]["write_outside"])  # nothing was applied


# --- filesystem ------------------------------------------------------------------------------

def test_reads_only_beneath_the_read_paths(box):
    out = box("""
        V["readable"] = attempt(read_text, os.path.join(RO, "readable.txt"))
        V["list_ro"] = attempt(lambda: sorted(os.listdir(RO)))
        V["stdlib"] = attempt(lambda: __import__("decimal").Decimal("1.5") * 2)
        V["secret"] = attempt(read_text, os.path.join(OUTSIDE, "secret.txt"))
        V["list_outside"] = attempt(os.listdir, OUTSIDE)
        V["environ"] = attempt(read_text, f"/proc/{PARENT}/environ")
        V["cmdline"] = attempt(read_text, f"/proc/{PARENT}/cmdline")
        V["passwd"] = attempt(read_text, "/etc/passwd")
    """)
    v = out["verdict"]
    assert v["readable"] == {"ok": True, "value": "readable"}
    assert v["list_ro"]["ok"] and "readable.txt" in v["list_ro"]["value"]
    allowed(v["stdlib"])
    for key in ("secret", "list_outside", "environ", "cmdline", "passwd"):
        denied(v[key], errno.EACCES, kind="PermissionError")


def test_a_file_rule_covers_that_file_only(box):
    single = box.outside / "single.txt"
    single.write_text("one file")
    out = box("""
        V["single"] = attempt(read_text, os.path.join(OUTSIDE, "single.txt"))
        V["sibling"] = attempt(read_text, os.path.join(OUTSIDE, "secret.txt"))
        V["overwrite"] = attempt(write_text, os.path.join(OUTSIDE, "single.txt"))
    """, read_extra=[single])
    v = out["verdict"]
    assert v["single"] == {"ok": True, "value": "one file"}
    denied(v["sibling"], errno.EACCES)
    denied(v["overwrite"], errno.EACCES)
    assert single.read_text() == "one file"


def test_writes_only_beneath_the_write_path(box):
    tmp_name = f"/tmp/contain-test-{uuid.uuid4().hex}"
    try:
        out = box("""
            def churn():
                sub = os.path.join(W, "sub")
                os.mkdir(sub)
                write_text(os.path.join(sub, "a"), "first")
                os.rename(os.path.join(sub, "a"), os.path.join(W, "b"))     # across directories (REFER)
                with open(os.path.join(W, "b"), "r+") as f:
                    f.truncate(0)
                write_text(os.path.join(W, "b"), "second")                 # O_TRUNC
                os.symlink("b", os.path.join(W, "link"))
                os.mkfifo(os.path.join(W, "fifo"))
                os.unlink(os.path.join(W, "link"))
                os.unlink(os.path.join(W, "fifo"))
                os.rmdir(sub)
                kept = read_text(os.path.join(W, "b"))
                os.unlink(os.path.join(W, "b"))
                return kept
            V["inside"] = attempt(churn)
            V["outside"] = attempt(write_text, os.path.join(OUTSIDE, "planted"))
            V["overwrite_secret"] = attempt(write_text, os.path.join(OUTSIDE, "secret.txt"))
            V["delete_secret"] = attempt(os.unlink, os.path.join(OUTSIDE, "secret.txt"))
            V["read_dir"] = attempt(write_text, os.path.join(RO, "planted"))
            V["tmp"] = attempt(write_text, ARGS["tmp"])
            V["mkdir_tmp"] = attempt(os.mkdir, ARGS["tmp"] + ".d")
            V["left"] = sorted(os.listdir(W))
        """, args={"tmp": tmp_name})
        v = out["verdict"]
        assert v["inside"] == {"ok": True, "value": "second"}
        assert v["left"] == []
        for key in ("outside", "overwrite_secret", "delete_secret", "read_dir", "tmp", "mkdir_tmp"):
            denied(v[key], errno.EACCES, kind="PermissionError")
        assert not (box.outside / "planted").exists() and not (box.ro / "planted").exists()
        assert (box.outside / "secret.txt").read_text() == SECRET
        assert not os.path.exists(tmp_name) and not os.path.exists(tmp_name + ".d")
    finally:
        for leftover in (tmp_name, tmp_name + ".d"):
            if os.path.isdir(leftover):
                os.rmdir(leftover)
            elif os.path.exists(leftover):
                os.unlink(leftover)


def test_paths_that_do_not_exist_are_skipped(box):
    missing = box.base / "no-such-dir"
    out = box("""
        V["readable"] = attempt(read_text, os.path.join(RO, "readable.txt"))
    """, read_extra=[missing])
    assert out["report"]["skipped"] == [str(missing)]
    allowed(out["verdict"]["readable"])


# --- administrative syscalls -------------------------------------------------------------------

def test_admin_syscalls_are_refused(box):
    victim = subprocess.Popen(["sleep", "30"], start_new_session=True)
    try:
        out = box("""
            import resource
            PTRACE_ATTACH, CLONE_NEWUSER, CLONE_NEWNS = 16, 0x10000000, 0x00020000
            def ptrace_attach():
                ctypes.set_errno(0)
                res = LIBC.ptrace(ctypes.c_long(PTRACE_ATTACH), ctypes.c_long(ARGS["victim"]), None, None)
                if res != 0:
                    raise OSError(ctypes.get_errno(), "ptrace")
                return res
            def libc_call(name, *args):
                ctypes.set_errno(0)
                if getattr(LIBC, name)(*args) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
                return 0
            target = os.path.join(W, "mnt")
            os.mkdir(target)
            V["ptrace"] = attempt(ptrace_attach)
            V["unshare_user"] = attempt(libc_call, "unshare", CLONE_NEWUSER)
            V["unshare_ns"] = attempt(libc_call, "unshare", CLONE_NEWNS)
            V["mount"] = attempt(libc_call, "mount", b"none", target.encode(), b"tmpfs", ctypes.c_ulong(0), None)
            if V["mount"]["ok"]:
                LIBC.umount2(target.encode(), 2)
            soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            V["limits_before"] = [soft, hard]
            V["raise_nofile"] = attempt(resource.setrlimit, resource.RLIMIT_NOFILE, (hard, hard))
            V["lower_cpu"] = attempt(resource.setrlimit, resource.RLIMIT_CPU, (100, 100))
            V["limits_after"] = list(resource.getrlimit(resource.RLIMIT_NOFILE))
            V["nice"] = attempt(os.setpriority, os.PRIO_PROCESS, 0, 5)
            V["chroot"] = attempt(os.chroot, W)
            ctypes.set_errno(0)
            V["traceme"] = [LIBC.ptrace(ctypes.c_long(0), ctypes.c_long(0), None, None), ctypes.get_errno()]
        """, setup="""
            import resource
            _soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(_soft, _hard, 256), _hard))
        """, args={"victim": victim.pid})
        v = out["verdict"]
        for key in ("ptrace", "unshare_user", "unshare_ns", "mount", "nice", "chroot"):
            denied(v[key], errno.EPERM)
        assert v["traceme"] == [-1, errno.EPERM]  # PTRACE_TRACEME: refused too
        # Python turns setrlimit's EPERM into ValueError("not allowed to raise maximum limit").
        assert v["limits_before"][0] < v["limits_before"][1], "the setup did not leave room to raise"
        denied(v["raise_nofile"], kind="ValueError")
        denied(v["lower_cpu"], kind="ValueError")
        assert v["limits_after"] == v["limits_before"]
        with open(f"/proc/{victim.pid}/status") as f:
            tracer = [line for line in f if line.startswith("TracerPid:")][0]
        assert tracer.split()[1] == "0"
        assert not os.path.ismount(box.write / "mnt")
    finally:
        victim.kill()
        victim.wait()


def test_seccomp_covers_threads_started_before_it(box):
    # TSYNC: a thread that already existed when the filter was loaded is filtered too.
    out = box("""
        GO.set()
        WORKER.join(10)
        V.update(FROM_THREAD)
    """, setup="""
        GO = threading.Event()
        FROM_THREAD = {}
        def early():
            GO.wait(10)
            FROM_THREAD["socket"] = attempt(socket.socket, socket.AF_INET, socket.SOCK_STREAM)
            def fork():
                pid = os.fork()
                if pid == 0:
                    os._exit(0)
                return os.waitpid(pid, 0)[0]
            FROM_THREAD["fork"] = attempt(fork)
        WORKER = threading.Thread(target=early)
        WORKER.start()
    """)
    denied(out["verdict"]["socket"], errno.EPERM)
    denied(out["verdict"]["fork"], errno.EPERM)


def test_threads_older_than_landlock_are_reported(box):
    # Landlock before ABI 8 restricts the calling thread only. apply_landlock must say how many
    # threads stay outside, and that number must be true: here the early thread still reads.
    out = box("""
        GO.set()
        WORKER.join(10)
        V.update(FROM_THREAD)
        V["main_secret"] = attempt(read_text, os.path.join(OUTSIDE, "secret.txt"))
    """, setup="""
        GO = threading.Event()
        FROM_THREAD = {}
        def early():
            GO.wait(10)
            FROM_THREAD["thread_secret"] = attempt(read_text, os.path.join(OUTSIDE, "secret.txt"))
        WORKER = threading.Thread(target=early)
        WORKER.start()
    """)
    denied(out["verdict"]["main_secret"], errno.EACCES)
    if out["report"]["abi"] >= 8:
        assert out["report"]["unrestricted_threads"] == 0
        denied(out["verdict"]["thread_secret"], errno.EACCES)
    else:
        assert out["report"]["unrestricted_threads"] == 1
        assert out["verdict"]["thread_secret"] == {"ok": True, "value": SECRET}


def test_single_threaded_apply_leaves_no_thread_outside(box):
    out = box("""
        V["threads"] = len(threading.enumerate())
    """)
    assert out["report"]["unrestricted_threads"] == 0


def test_apply_does_nothing_when_pyseccomp_is_missing(box):
    out = box("""
        V["why"] = contain.seccomp_available()
        try:
            contain.apply(READ, [W])
            V["raised"] = None
        except contain.ContainError as e:
            V["raised"] = str(e)
        V["write_outside"] = attempt(write_text, os.path.join(OUTSIDE, "free"))
        V["inet"] = attempt(lambda: socket.socket(socket.AF_INET).close())
    """, setup="""
        sys.modules["pyseccomp"] = None   # import pyseccomp now raises ImportError
    """, layers="none")
    v = out["verdict"]
    assert v["why"] == "pyseccomp is not installed (pip install pyseccomp)"
    assert v["raised"] == v["why"]
    allowed(v["write_outside"])  # Landlock was not applied half-way
    allowed(v["inet"])


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
@pytest.mark.parametrize("layers", ["all", "landlock"])
def test_an_unprivileged_process_can_contain_itself(box, layers):
    # The worker applies containment after dropping its uid: without CAP_SYS_ADMIN Landlock needs
    # no_new_privs set first (apply_landlock alone must see to it too), and only paths that uid
    # can reach can carry a rule.
    out = box("""
        V["uid"] = os.getuid()
        V["secret"] = attempt(read_text, os.path.join(OUTSIDE, "secret.txt"))
        V["outside"] = attempt(write_text, os.path.join(OUTSIDE, "planted"))
        V["inside"] = attempt(write_text, os.path.join(W, "mine"))
        V["fork"] = attempt(os.fork)
        if V["fork"]["ok"] and V["fork"]["value"] == 0:
            os._exit(0)
    """, setup="""
        assert contain.seccomp_available() is None  # imports pyseccomp (and ctypes.util) while root can
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)
        V["secret_before"] = attempt(read_text, os.path.join(OUTSIDE, "secret.txt"))
        READ[:] = [p for p in READ if os.access(p, os.R_OK)]
    """, layers=layers)
    v = out["verdict"]
    assert v["uid"] == 65534
    assert v["secret_before"] == {"ok": True, "value": SECRET}  # the file modes allow it: Landlock must not
    denied(v["secret"], errno.EACCES)
    denied(v["outside"], errno.EACCES)
    allowed(v["inside"])
    assert out["report"]["unrestricted_threads"] == 0
    if layers == "all":
        denied(v["fork"], errno.EPERM)
    else:
        allowed(v["fork"])
