"""The grader's modes, as an instructor meets them: detected, reported, failing closed.

- where neither bubblewrap nor Landlock + seccomp can be applied (here: namespaces blocked and the
  Landlock syscalls answering ENOSYS, as on a kernel older than 5.13), ``grade`` refuses with one
  line naming what is missing and exits 2; ``--allow-unsafe`` grades and every report says so;
- ``--sandbox bwrap`` where bwrap cannot work ends in one line, not a traceback;
- ``grader doctor`` says which layers work and which mode ``grade`` would use;
- a student's results.json never carries an instructor path or the isolation's details;
- the small things: regrading into the same ``--out`` keeps the earlier rows, ``-j 0`` is
  refused, unreadable and truncated zips are named, a module's syntax error is reported once per
  submission, ``check --tree`` without ``assignment/`` is an error.
"""

import csv
import functools
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest
from grader_fixtures import REPO, SOLUTION, released, workdir
from test_grader_hostile import LAUNCHER, grader_python

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's sandbox is Linux-only")


def _solution(dest, edits=None):
    ctx = released()
    for rel in ctx.student_modules:
        target = dest / "assignment" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((SOLUTION / rel).read_bytes())
    for rel, text in (edits or {}).items():
        (dest / "assignment" / rel).write_text(text)
    return dest


def _cli(*args, launcher=(), env=None, python=None):
    python = str(python or sys.executable)
    cmd = [*(([sys.executable, str(LAUNCHER), *launcher]) if launcher else []), python, "-m", "grader", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(REPO),
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), **(env or {})})


@functools.cache
def one_solution():
    return _solution(workdir() / "modes" / "solution")


def test_grade_refuses_where_nothing_contains_code_and_says_what_is_missing(tmp_path):
    ctx = released()
    out = tmp_path / "results"
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(one_solution()),
                launcher=["--no-landlock"], python=grader_python(readable=True))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "cannot contain student code here" in lines[0] and "Landlock is not available" in lines[0]
    assert "bubblewrap fails here" in lines[0] and "--allow-unsafe" in lines[0]
    assert not out.exists() or not any(out.iterdir())


def test_allow_unsafe_grades_and_every_report_says_so(tmp_path):
    ctx = released()
    out = tmp_path / "results"
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), "--allow-unsafe",
                str(one_solution()), launcher=["--no-landlock"], python=grader_python(readable=True))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("UNSAFE isolation") and "WARNING: graded with UNSAFE isolation" in proc.stdout
    res = json.loads((out / "solution" / "results.json").read_text())
    assert res["score"] == sum(c.points for c in ctx.cases)
    assert "without the grader's sandbox" in res["output"]
    assert json.loads((out / "summary.json").read_text())["unsafe_isolation"] is True
    assert "UNSAFE" in json.loads((out / "solution" / "report.json").read_text())["isolation"]
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert rows[0]["isolation"] == "unsafe"


def test_bwrap_works_with_a_venv_under_tmp(tmp_path):
    """bwrap's private /tmp is mounted first, so an interpreter under /tmp stays visible in the sandbox."""
    ctx = released()
    python = grader_python(readable=True)
    assert str(python).startswith(tempfile.gettempdir())
    out = tmp_path / "r"
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), "--sandbox", "bwrap",
                str(one_solution()), python=python)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("isolation: full: bubblewrap")
    assert json.loads((out / "solution" / "results.json").read_text())["score"] == sum(c.points for c in ctx.cases)


def test_a_mode_that_cannot_start_is_one_line(tmp_path):
    proc = _cli("grade", "--autograder", str(released().autograder), "--out", str(tmp_path / "r"), "--sandbox",
                "bwrap", str(one_solution()), launcher=["--"], python=grader_python(readable=True))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --sandbox bwrap: bubblewrap fails here"), proc.stderr
    assert "--security-opt" in lines[0]  # the fix, not only the cause


def test_doctor_names_each_layer_and_the_mode():
    proc = _cli("doctor", launcher=["--"], python=grader_python(readable=True))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    text = proc.stdout
    for needle in ("Landlock: ABI", "seccomp + Landlock self-test: works", "bubblewrap: NO (bubblewrap fails here",
                   "child subreaper: works", "uid drop: works", "`grade` would use: isolation: container mode"):
        assert needle in text, (needle, text)
    proc = _cli("doctor", launcher=["--no-landlock"], python=grader_python(readable=True))
    assert proc.returncode == 2 and "`grade` would refuse: cannot contain student code here" in proc.stdout


def test_student_results_never_show_instructor_paths(tmp_path):
    ctx = released()
    layers = (SOLUTION / "layers.py").read_text()
    broken = _solution(tmp_path / "subs" / "broken", {"layers.py": layers + (
        "\n\nimport os, sys\n"
        "def relu_forward(x):\n    return _oops(x)\n\ndef _oops(x):\n    raise RuntimeError('deep ' + __file__)\n"
        "def svm_loss(x, y):\n    print('cwd', os.getcwd(), 'argv', sys.argv, 'path', sys.path, "
        "'file', __file__, flush=True)\n    os._exit(3)\n")})
    out = tmp_path / "results"
    from grader.__main__ import main

    assert main(["grade", "--autograder", str(ctx.autograder), "--out", str(out), str(broken)]) == 0
    text = (out / "broken" / "results.json").read_text()
    res = json.loads(text)
    relu = next(t for t in res["tests"] if t["name"].startswith("[public] relu_forward"))
    assert "RuntimeError: deep assignment/layers.py" in relu["output"]
    assert 'File "assignment/layers.py"' in relu["output"] and "_oops" in relu["output"]
    crashed = next(t for t in res["tests"] if t["name"].startswith("[public] svm_loss"))
    assert "exited early" in crashed["output"] and "cwd" in crashed["output"]  # its printed paths, scrubbed
    for secret in (str(REPO), str(workdir()), "/grader/", " /stage", "/stage/", "/io/", "grader-work-", "ROOT", "uid 6",
                   "Landlock", "bubblewrap", sys.prefix, sys.base_prefix, os.path.realpath(sys.base_prefix)):
        assert secret not in text, secret


def test_regrading_into_the_same_out_keeps_the_earlier_rows(tmp_path):
    ctx = released()
    out = tmp_path / "results"
    first = _solution(tmp_path / "subs" / "alice")
    second = _solution(tmp_path / "subs" / "bob", {"optim.py": (ctx.student / "assignment" / "optim.py").read_text()})
    assert _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(first)).returncode == 0
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(second))
    assert proc.returncode == 0, proc.stderr
    assert "kept 1 submission(s)" in proc.stdout and "cover all 2" in proc.stdout
    rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open())}
    total = sum(c.points for c in ctx.cases)
    assert set(rows) == {"alice", "bob"} and float(rows["alice"]["score"]) == total
    assert float(rows["bob"]["score"]) < total
    summary = json.loads((out / "summary.json").read_text())
    assert {s["stem"] for s in summary["submissions"]} == {"alice", "bob"}
    assert {json.loads(line)["submission"] for line in (out / "cases.jsonl").read_text().splitlines()} == {"alice",
                                                                                                         "bob"}
    # Regrading alice replaces her row, and keeps bob's.
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(first))
    rows = list(csv.DictReader((out / "grades.csv").open()))
    assert sorted(r["submission"] for r in rows) == ["alice", "bob"]


def test_jobs_zero_is_refused(tmp_path):
    proc = _cli("grade", "--autograder", str(released().autograder), "--out", str(tmp_path / "r"), "-j", "0",
                str(one_solution()))
    assert proc.returncode == 2 and "must be at least 1" in proc.stderr


def test_unreadable_and_truncated_zips_are_named(tmp_path):
    ctx = released()
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for rel in ctx.student_modules:
            zf.write(SOLUTION / rel, f"assignment/{rel}")
    data = good.read_bytes()
    (tmp_path / "truncated.zip").write_bytes(data[: len(data) // 2])
    (tmp_path / "garbage.zip").write_bytes(b"this is not a zip file at all" * 10)
    out = tmp_path / "results"
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(tmp_path / "truncated.zip"),
                str(tmp_path / "garbage.zip"), str(good))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split(":")[0]: line for line in proc.stdout.splitlines()}
    assert "truncated zip" in lines["truncated"] and "unreadable zip" in lines["garbage"]
    rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert rows["truncated"]["error"].startswith("truncated zip") and rows["garbage"]["error"].startswith(
        "unreadable zip")
    assert float(rows["good"]["score"]) == sum(c.points for c in ctx.cases)


def test_a_syntax_error_is_reported_once_per_submission(tmp_path):
    ctx = released()
    sub = _solution(tmp_path / "subs" / "typo", {"optim.py": (SOLUTION / "optim.py").read_text() + "\ndef broken(:\n"})
    out = tmp_path / "results"
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(sub))
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("typo:"))
    assert line.count("SyntaxError") == 1 and "optim.py" in line
    row = next(csv.DictReader((out / "grades.csv").open()))
    assert row["error"].count("SyntaxError") == 1 and row["error"].startswith("optim.py: SyntaxError")
    res = json.loads((out / "typo" / "results.json").read_text())
    assert "assignment/optim.py could not be imported: SyntaxError" in res["output"]


def test_check_tree_without_assignment_is_an_error(tmp_path):
    (tmp_path / "empty").mkdir()
    proc = subprocess.run([sys.executable, "-m", "grader", "check", "--tree", str(tmp_path / "empty")],
                          capture_output=True, text=True, timeout=120, cwd=str(REPO))
    assert proc.returncode == 2 and "has no assignment/ folder" in proc.stderr, proc.stdout + proc.stderr


def test_the_editable_install_of_the_solution_is_never_importable_in_the_worker(tmp_path):
    """This venv installs the checkout editable, as the README does: its finder must not reach the worker."""
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    assert list(site.glob("__editable__*assignment*")) or list(site.glob("*.egg-link")) or \
        any("assignment" in p.read_text() for p in site.glob("*.pth")), "the dev venv should install editable"
    ctx = released()
    out = tmp_path / "results"
    subs = tmp_path / "subs"
    no_layers = _solution(subs / "no_layers")
    (no_layers / "assignment" / "layers.py").unlink()
    stub = _solution(subs / "stub_layers", {"layers.py": (ctx.student / "assignment" / "layers.py").read_text()})
    from grader.__main__ import main

    for mode in ("bwrap", "container"):
        assert main(["grade", "--autograder", str(ctx.autograder), "--out", str(out / mode), "--sandbox", mode,
                     str(no_layers), str(stub)]) == 0
        scores = {stem: json.loads((out / mode / stem / "results.json").read_text())["score"]
                  for stem in ("no_layers", "stub_layers")}
        assert scores["no_layers"] == scores["stub_layers"], (mode, scores)
