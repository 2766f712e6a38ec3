"""Hostile submissions: each attack earns exactly what its honest twin earns, in every mode.

One command-line batch per isolation mode (so an attack that killed the grader would show as a
failed command, not as a dead test run), four modes, none of them skipped on Linux:

- ``bwrap``: bubblewrap + Landlock + seccomp + uid drop (``--sandbox bwrap``, the dev interpreter);
- ``nonamespace``: the grader runs under ``grader_fixtures/nonamespace.py``, a seccomp filter that
  makes namespaces fail as Docker's default profile does; bubblewrap fails, and ``--sandbox auto``
  must pick container mode (Landlock + seccomp) with the uid drop (an interpreter the drop uid can
  read: a venv of ``/usr/bin/python3.11``);
- ``nouiddrop``: the same, with an interpreter the drop uid cannot read (that venv inside a 0700
  directory, as with a Python under ``/root``): container mode, the worker runs as root;
- ``nolandlock``: the launcher also makes the Landlock syscalls answer ENOSYS, as a kernel older
  than 5.13 does: ``--sandbox auto`` must pick the seccomp mode (seccomp + the uid drop + the file
  permissions it proves before grading), and nothing a worker wrote into /tmp and the like may
  outlive its run.

Each batch grades the honest *partial* submission (the solution with the stub optim.py), every
hostile submission (the partial one plus an attack in optim.py, see
tests/grader_fixtures/hostile.py), the crash pairs (the solution with its first optim function
replaced by a crash, and by an honest NotImplementedError; ``softmax_loss`` killing its process, which
``LinearClassifier.loss`` reaches in its softmax cases only, and its twin), a submission without layers.py next
to one with the released stub layers.py, and, last, the full solution. The command must exit 0,
and no process started by a submission may outlive it.
"""

import functools
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from grader_fixtures import REPO, SOLUTION, grader_python, released, workdir
from grader_fixtures.hostile import (
    ATTACKS,
    CRASH_FUNCTION,
    CRASHES,
    SHARED_CRASHES,
    make_crash,
    make_hostile,
    make_partial,
    make_shared_crash,
)

MODES = ("bwrap", "nonamespace", "nouiddrop", "nolandlock")
LAUNCHER = Path(__file__).resolve().parent / "grader_fixtures" / "nonamespace.py"

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's sandbox is Linux-only")


def grader_command(mode):
    """(argv prefix running `python -m grader`, environment) for one mode."""
    env = dict(os.environ)
    if mode == "bwrap":
        assert shutil.which("bwrap"), "bubblewrap is needed for the bwrap batch (apt-get install bubblewrap)"
        return [sys.executable, "-m", "grader"], env, ["--sandbox", "bwrap"]
    python = grader_python(readable=(mode != "nouiddrop"))
    # Without Landlock the solution checkout must be out of the drop uid's reach: the release's own grader
    # (the autograder's copy), as on Gradescope; the seccomp mode refuses to grade from the checkout.
    env["PYTHONPATH"] = str(released().autograder if mode == "nolandlock" else REPO)
    launcher = [sys.executable, str(LAUNCHER), *(["--no-landlock"] if mode == "nolandlock" else [])]
    return [*launcher, str(python), "-m", "grader"], env, ["--sandbox", "auto"]


def _worker_uid_files():
    """Entries of /tmp and the like owned by a worker uid (61000-61999): what a run left behind."""
    found = []
    for d in ("/tmp", "/var/tmp", "/dev/shm", "/run/lock"):
        try:
            entries = list(os.scandir(d))
        except OSError:
            continue
        for entry in entries:
            try:
                if 61000 <= entry.stat(follow_symlinks=False).st_uid < 62000:
                    found.append(entry.path)
            except OSError:
                continue
    return found


class Listener:
    """A TCP server on the host's loopback that records every connection."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.hits = []
        self.stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                continue
            self.hits.append(addr)
            conn.close()

    def close(self):
        self.stop = True
        self.thread.join(2)
        self.sock.close()


def _marker_processes(marker):
    """Processes carrying ``marker`` in their command line or environment."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            for what in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{pid}/{what}", "rb") as f:
                        if marker.encode() in f.read():
                            found.append(int(pid))
                            break
                except OSError:
                    pass
    return found


def _copy_solution(dest, replace=None):
    ctx = released()
    for rel in ctx.student_modules:
        (dest / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTION / rel, dest / "assignment" / rel)
    for rel, source in (replace or {}).items():
        if source is None:
            (dest / "assignment" / rel).unlink()
        else:
            shutil.copyfile(source, dest / "assignment" / rel)
    return dest


@functools.cache
def batch(mode):
    ctx = released()
    base = workdir() / f"hostile-{mode}"
    if base.exists():
        shutil.rmtree(base)
    subs = base / "subs"
    stub_optim = ctx.student / "assignment" / "optim.py"
    results = base / "results"
    marker = f"grader-daemon-{uuid.uuid4().hex}"
    listener = Listener()
    paths = [make_partial(SOLUTION, ctx.student_modules, stub_optim, subs / "partial")]
    for attack in ATTACKS:
        paths.append(make_hostile(SOLUTION, ctx.student_modules, stub_optim, subs / f"hostile_{attack}", attack,
                                  REFERENCE=ctx.autograder / "reference" / "optim.npz", RESULTS=results,
                                  PORT=listener.port, MARKER=marker, SUBMISSIONS=subs,
                                  SCOPE=workdir() if mode == "nolandlock" else "/"))
    for crash in CRASHES:
        paths.append(make_crash(SOLUTION, ctx.student_modules, subs / crash, crash))
    for crash in SHARED_CRASHES:
        paths.append(make_shared_crash(SOLUTION, ctx.student_modules, subs / crash, crash))
    paths.append(_copy_solution(subs / "no_layers", {"layers.py": None}))
    paths.append(_copy_solution(subs / "stub_layers", {"layers.py": ctx.student / "assignment" / "layers.py"}))
    paths.append(_copy_solution(subs / "zz_solution"))
    if mode == "nolandlock":
        # Without Landlock or a mount namespace only permissions keep one student's files from another's
        # worker: the submissions must be their owner's alone (as run_autograder makes /autograder/submission),
        # and the grader proves it before grading (test_grader_modes: a readable one stops it).
        subs.chmod(0o700)
    prefix, env, sandbox_args = grader_command(mode)
    cmd = [*prefix, "grade", "--autograder", str(ctx.autograder), "--out", str(results), "-j", "2", *sandbox_args,
           "--case-timeout", "4", "--group-timeout", "40", "--memory-mb", "768", *map(str, paths)]
    start = time.monotonic()
    cwd = released().autograder if mode == "nolandlock" else REPO  # `python -m` imports from its cwd first
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=str(cwd))
    seconds = time.monotonic() - start
    left = _marker_processes(marker)  # the grader has exited: anything of a submission's still alive outlived it
    time.sleep(1.0)  # a daemon that survived would rewrite results.json meanwhile
    for pid in left:  # do not leave them behind even when the test fails
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    listener.close()
    leftovers = _worker_uid_files()
    return {"proc": proc, "results": results, "hits": list(listener.hits), "daemons": left, "seconds": seconds,
            "leftovers": leftovers,
            "summary": json.loads((results / "summary.json").read_text()) if (results / "summary.json").exists()
            else None}


def _score(b, stem):
    return json.loads((b["results"] / stem / "results.json").read_text())["score"]


def _report(b, stem):
    return json.loads((b["results"] / stem / "report.json").read_text())


EXPECTED_ISOLATION = {
    "bwrap": ("isolation: full", "bubblewrap", "Landlock ABI", "seccomp", "uid 61000+slot"),
    "nonamespace": ("isolation: container mode", "Landlock ABI", "seccomp", "uid 61000+slot", "bubblewrap fails here"),
    "nouiddrop": ("isolation: container mode", "Landlock ABI", "seccomp", "NO uid drop", "bubblewrap fails here"),
    "nolandlock": ("isolation: seccomp mode (no Landlock): seccomp + uid 61000+slot + file permissions (proved for 2",
                   "Landlock is not available", "bubblewrap fails here"),
}


@pytest.mark.parametrize("mode", MODES)
def test_the_batch_finishes_in_the_expected_mode_and_the_honest_scores_hold(mode):
    b = batch(mode)
    assert b["proc"].returncode == 0, b["proc"].stdout[-3000:] + b["proc"].stderr[-3000:]
    # The uid block is claimed at start (61000 unless another grader on this host holds it): any block reads the same.
    first = re.sub(r"uid 6\d{4}\+slot", "uid 61000+slot", b["proc"].stdout.splitlines()[0])
    for needle in EXPECTED_ISOLATION[mode]:
        assert needle in first, (needle, first)
    ctx = released()
    total = sum(c.points for c in ctx.cases)
    optim = sum(c.points for c in ctx.cases if c.module == "optim.py")
    assert _score(b, "partial") == total - optim
    assert _score(b, "zz_solution") == total
    assert b["daemons"] == [], "processes of submissions outlived the grader"
    assert b["leftovers"] == [], "files of the worker uids outlived their runs"
    student = json.loads((b["results"] / "partial" / "results.json").read_text())
    assert "Your code ran in the grader's sandbox." in student["output"]
    assert "isolation" not in json.dumps(student["extra_data"])


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("mode", MODES)
def test_attack_leaves_the_honest_score(mode, attack):
    b = batch(mode)
    stem = f"hostile_{attack}"
    assert _score(b, stem) == _score(b, "partial"), (attack, _report(b, stem)["cases"])
    report = _report(b, stem)
    optim_cases = [c for c in report["cases"] if c["group"] == "optim"]
    assert optim_cases and not any(c["passed"] for c in optim_cases)
    reasons = " | ".join(c["reason"] for c in optim_cases)
    check = EXPECTED_REASON.get(attack)
    if check:
        assert check(reasons), reasons
    extra = EXTRA_CHECKS.get(attack)
    if extra:
        extra(b, report)


@pytest.mark.parametrize("crash", sorted(set(CRASHES) - {"crash_twin"}))
@pytest.mark.parametrize("mode", MODES)
def test_a_crash_costs_only_its_own_function(mode, crash):
    b = batch(mode)
    twin = _score(b, "crash_twin")
    ctx = released()
    lost = sum(c.points for c in ctx.cases if c.target.endswith("." + CRASH_FUNCTION))
    assert twin == sum(c.points for c in ctx.cases) - lost
    assert _score(b, crash) == twin, _report(b, crash)["cases"]
    cases = {c["name"]: c for c in _report(b, crash)["cases"]}
    mine = [c for c in cases.values() if c["target"].endswith("." + CRASH_FUNCTION)]
    assert mine and all(not c["passed"] and c["reason"] for c in mine)


@pytest.mark.parametrize("crash", sorted(set(SHARED_CRASHES) - {"softmax_twin"}))
@pytest.mark.parametrize("mode", MODES)
def test_a_crash_costs_only_the_cases_that_crash(mode, crash):
    # softmax_loss kills its process: LinearClassifier.loss's SVM cases never call it and must still pass.
    b = batch(mode)
    assert _score(b, crash) == _score(b, "softmax_twin"), _report(b, crash)["cases"]
    cases = {c["name"]: c for c in _report(b, crash)["cases"]}
    svm = [c for c in cases.values() if c["name"].startswith("LinearSVM.loss.")]
    assert svm and all(c["passed"] for c in svm), svm


@pytest.mark.parametrize("mode", MODES)
def test_a_missing_module_earns_what_the_stub_earns(mode):
    b = batch(mode)
    assert _score(b, "no_layers") == _score(b, "stub_layers")
    assert "layers.py" in _report(b, "no_layers")["missing"]


def _results_intact(b, report):
    res = json.loads((b["results"] / "hostile_write_results_json" / "results.json").read_text())
    assert res["score"] == _score(b, "partial") and all(t["name"] != "pwned" for t in res["tests"])
    assert "pwned" not in (b["results"] / "grades.csv").read_text()
    # Landlock (and bwrap, and the dropped uid) kept the worker out of the results directory entirely.
    assert not (b["results"] / "hostile_write_results_json" / "grades.csv").exists()
    assert not (b["results"] / "results.json").exists()


def _no_results_rewritten(b, report):
    assert b["daemons"] == []
    for path in b["results"].glob("*/results.json"):
        assert "pwned" not in path.read_text(), path


def _no_connection(b, report):
    assert b["hits"] == []


def _output_capped(b, report):
    runs = report["runs"]["optim"]
    assert max(r["output_bytes"] for r in runs) >= 100 << 20
    assert all(len(r["output"]) < 80_000 for r in runs)
    assert "bytes of output not kept" in runs[0]["output"]


def _nothing_unpickled(b, report):
    assert not os.path.exists("/tmp/pwned-by-pickle")


EXPECTED_REASON = {
    "exit_early_sys": lambda r: "SystemExit" in r,
    "exit_early_os": lambda r: "exited early" in r,
    "infinite_loop": lambda r: "timeout" in r,
    "fork_bomb": lambda r: "timeout" in r or "killed" in r,
    "memory_bomb": lambda r: "memory" in r.lower(),
    "nan_inf": lambda r: "NaN" in r and "inf" in r,
    "pickled_outputs": lambda r: "pickled" in r or "outputs rejected" in r,
    "zip_bomb": lambda r: "outputs rejected" in r or "members" in r,
    "lying_objects": lambda r: "not a numpy array" in r or "wrong" in r,
    "fifo_files": lambda r: "not a regular file" in r,
    "disk_fill": lambda r: "wrote too much" in r or "timeout" in r,
}

EXTRA_CHECKS = {
    "write_results_json": _results_intact,
    "socket": _no_connection,
    "daemon": _no_results_rewritten,
    "sleep_children": _no_results_rewritten,
    "output_flood": _output_capped,
    "pickled_outputs": _nothing_unpickled,
}


def test_every_attack_of_the_issues_is_covered():
    issue = {"write_results_json", "exit_early_sys", "exit_early_os", "monkeypatch", "lying_objects", "read_reference",
             "socket", "fork_bomb", "memory_bomb", "infinite_loop", "output_flood", "nan_inf", "pickled_outputs",
             "zip_bomb", "daemon", "kill_parent", "kill_grader", "sleep_children", "proc_snoop"}
    assert issue <= set(ATTACKS)
    assert {"crash_exit", "crash_segfault", "crash_kill_self", "crash_hang"} <= set(CRASHES)
