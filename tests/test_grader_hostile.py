"""Hostile submissions: each attack leaves the honest score unchanged and the batch finishing.

One batch per isolation mode, through the command line (so an attack that killed the grader
would show as a failed command, not as a dead test run):

- ``bwrap``: bubblewrap (skipped, saying why, where it is not installed or does not work);
- ``rlimits``: the degraded path, forced with ``--sandbox rlimits``.

Each batch grades the honest *partial* submission (the solution with the stub optim.py),
every hostile submission (the partial one plus an attack in optim.py, see
tests/grader_fixtures/hostile.py) and, last, the full solution. Every hostile submission must
score exactly what the partial one scores, the solution must still get full marks, and the
command must exit 0. Attacks that only namespaces or a dropped uid can stop are skipped, with
the reason, under an isolation that has neither.
"""

import functools
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid

import pytest
from grader_fixtures import SOLUTION, released, workdir
from grader_fixtures.hostile import ATTACKS, NEEDS, make_hostile, make_partial

from grader import sandbox

MODES = ("bwrap", "rlimits")


@functools.cache
def isolation(mode):
    try:
        return sandbox.detect(mode)
    except RuntimeError as exc:
        return str(exc)


def _skip_reason(mode, attack):
    iso = isolation(mode)
    if isinstance(iso, str):
        return f"no working bubblewrap here: {iso}"
    need = NEEDS.get(attack)
    separated = iso.mode == "bwrap" or iso.uid_drop
    if need == "network" and not (iso.mode == "bwrap" or iso.network):
        return f"{iso.describe()}: the worker has the network, nothing stops a socket"
    if need == "separation" and not separated:
        return f"{iso.describe()}: the worker runs as the grader's uid and sees its files and processes"
    if need == "private_tmp" and iso.mode != "bwrap":
        return f"{iso.describe()}: the worker shares the host's /tmp, nothing bounds what it writes there"
    if need == "nproc" and not (separated or not sandbox.is_root()):
        return f"{iso.describe()}: RLIMIT_NPROC does not bind a root worker"
    return None


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
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker.encode() in f.read():
                        found.append(int(pid))
            except OSError:
                pass
    return found


@functools.cache
def batch(mode):
    iso = isolation(mode)
    if isinstance(iso, str):
        pytest.skip(f"no working bubblewrap here: {iso}")
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
    attacks = [a for a in ATTACKS if _skip_reason(mode, a) is None]
    for attack in attacks:
        paths.append(make_hostile(SOLUTION, ctx.student_modules, stub_optim, subs / f"hostile_{attack}", attack,
                                  REFERENCE=ctx.autograder / "reference" / "optim.npz", RESULTS=results,
                                  PORT=listener.port, MARKER=marker))
    solution = subs / "zz_solution"
    for rel in ctx.student_modules:
        (solution / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTION / rel, solution / "assignment" / rel)
    paths.append(solution)
    cmd = [sys.executable, "-m", "grader", "grade", "--autograder", str(ctx.autograder), "--out", str(results),
           "-j", "2", "--sandbox", mode, "--case-timeout", "4", "--group-timeout", "40", "--memory-mb", "768",
           *map(str, paths)]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    seconds = time.monotonic() - start
    time.sleep(0.5)
    daemons = _marker_processes(marker)
    for pid in daemons:  # do not leave them behind even when the test fails
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    listener.close()
    return {"proc": proc, "results": results, "hits": list(listener.hits), "daemons": daemons, "iso": iso,
            "seconds": seconds, "attacks": attacks}


def _score(b, stem):
    return json.loads((b["results"] / stem / "results.json").read_text())["score"]


def _report(b, stem):
    return json.loads((b["results"] / stem / "report.json").read_text())


@pytest.mark.parametrize("mode", MODES)
def test_the_batch_finishes_and_the_honest_scores_hold(mode):
    b = batch(mode)
    assert b["proc"].returncode == 0, b["proc"].stdout[-3000:] + b["proc"].stderr[-3000:]
    ctx = released()
    total = sum(c.points for c in ctx.cases)
    optim = sum(c.points for c in ctx.cases if c.module == "optim.py")
    assert _score(b, "partial") == total - optim
    assert _score(b, "zz_solution") == total
    if isolation(mode).degraded:
        assert "degraded isolation" in b["proc"].stdout
        assert "degraded isolation" in json.loads((b["results"] / "partial" / "results.json").read_text())["output"]


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("mode", MODES)
def test_attack_leaves_the_honest_score(mode, attack):
    why = _skip_reason(mode, attack)
    if why:
        pytest.skip(why)
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


def _results_intact(b, report):
    res = json.loads((b["results"] / "hostile_write_results_json" / "results.json").read_text())
    assert res["score"] == _score(b, "partial") and all(t["name"] != "pwned" for t in res["tests"])
    assert "pwned" not in (b["results"] / "grades.csv").read_text()
    iso = b["iso"]
    if iso.mode == "bwrap" or iso.uid_drop:  # the worker could not even reach the results directory
        assert not (b["results"] / "hostile_write_results_json" / "grades.csv").exists()
        assert not (b["results"] / "results.json").exists()


def _no_connection(b, report):
    assert b["hits"] == []


def _no_daemon(b, report):
    assert b["daemons"] == []


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
    "daemon": _no_daemon,
    "output_flood": _output_capped,
    "pickled_outputs": _nothing_unpickled,
}


def test_every_attack_of_the_issue_is_covered():
    issue = {"write_results_json", "exit_early_sys", "exit_early_os", "monkeypatch", "lying_objects", "read_reference",
             "socket", "fork_bomb", "memory_bomb", "infinite_loop", "output_flood", "nan_inf", "pickled_outputs",
             "zip_bomb", "daemon", "kill_parent"}
    assert issue <= set(ATTACKS)
