"""The grader's modes, as an instructor meets them: detected, reported, failing closed.

- where Landlock is missing (namespaces blocked and the Landlock syscalls answering ENOSYS, as on a
  kernel older than 5.13) but seccomp and the uid drop work, ``grade`` uses its seccomp mode, and
  first proves as the worker uids that the grader's data cannot be read and the results cannot be
  written: a breach stops it with one line naming the path;
- where seccomp or the uid drop is missing too, ``grade`` refuses with one line naming what is
  missing and exits 2; ``--allow-unsafe`` grades and every report says so;
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
import re
import shutil
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


def _cli(*args, launcher=(), env=None, python=None, grader_from=REPO):
    """``python -m grader ARGS`` (its package from ``grader_from``: the checkout, or an autograder directory)."""
    python = str(python or sys.executable)
    cmd = [*(([sys.executable, str(LAUNCHER), *launcher]) if launcher else []), python, "-m", "grader", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=str(grader_from),
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(grader_from), **(env or {})})


@functools.cache
def one_solution():
    return _solution(workdir() / "modes" / "solution")


NO_LANDLOCK = ["--no-landlock"]
NOTHING = ["--no-landlock", "--no-seccomp"]


@pytest.mark.parametrize("missing", ["seccomp", "uid drop"])
def test_grade_refuses_where_nothing_contains_code_and_says_what_is_missing(tmp_path, missing):
    ctx = released()
    out = tmp_path / "results"
    # No Landlock and, either no seccomp, or an interpreter the drop uid cannot read (no uid drop).
    launcher, python = (NOTHING, grader_python(readable=True)) if missing == "seccomp" else \
        (NO_LANDLOCK, grader_python(readable=False))
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), str(one_solution()),
                launcher=launcher, python=python)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = _uids_as_61000(proc.stderr.strip()).splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "cannot contain student code here" in lines[0] and "Landlock is not available" in lines[0]
    assert "bubblewrap fails here" in lines[0] and "--allow-unsafe" in lines[0]
    if missing == "seccomp":
        assert "seccomp mode needs seccomp: seccomp failed its self-test" in lines[0], lines[0]
    else:  # the cause (a 0700 directory on the interpreter's path) and the fix
        assert "seccomp mode needs the uid drop: uid 61000 cannot read the interpreter" in lines[0], lines[0]
        assert "which live in a 0700 directory" in lines[0] and "under /usr or /opt" in lines[0], lines[0]
    assert not out.exists() or not any(out.iterdir())


def _uids_as_61000(text):
    """``text`` with the claimed worker uid block read as 61000's (another grader on this host may hold that one)."""
    return re.sub(r"\buid 6\d{4}", "uid 61000", text)


def _seccomp_grade(out, autograder, *subs, grader_from=None):
    """Grade without Landlock, with the release's own grader (the autograder's copy), as on Gradescope."""
    return _cli("grade", "--autograder", str(autograder), "--out", str(out), "-j", "2", *map(str, subs),
                launcher=NO_LANDLOCK, python=grader_python(readable=True), grader_from=grader_from or autograder)


@functools.cache
def private_solution():
    """The solution as a submission its owner alone may read (as run_autograder makes /autograder/submission)."""
    parent = workdir() / "modes-private"
    parent.mkdir()
    parent.chmod(0o700)
    return _solution(parent / "solution")


def test_without_landlock_grade_uses_the_seccomp_mode_and_proves_the_permissions_first(tmp_path):
    ctx = released()
    stub_optim = (ctx.student / "assignment" / "optim.py").read_text()
    stub = _solution(tmp_path / "subs" / "stub_optim", {"optim.py": stub_optim})  # tmp_path: a 0700 directory
    out = tmp_path / "results"
    proc = _seccomp_grade(out, ctx.autograder, private_solution(), stub)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = _uids_as_61000(proc.stdout.splitlines()[0])
    assert first.startswith("isolation: seccomp mode (no Landlock): seccomp + uid 61000+slot + file permissions "
                            "(proved for 2 uid(s): "), first
    assert "Landlock is not available" in first and "bubblewrap fails here" in first
    total = sum(c.points for c in ctx.cases)
    optim = sum(c.points for c in ctx.cases if c.module == "optim.py")
    assert json.loads((out / "solution" / "results.json").read_text())["score"] == total
    assert json.loads((out / "stub_optim" / "results.json").read_text())["score"] == total - optim
    assert "seccomp mode" in json.loads((out / "solution" / "report.json").read_text())["isolation"]
    assert next(csv.DictReader((out / "grades.csv").open()))["isolation"] == "seccomp"
    student = (out / "solution" / "results.json").read_text()
    assert "seccomp" not in student and "uid 6" not in student  # the student gets the neutral line only


def _reachable(name):
    """A fresh directory the drop uids can reach (pytest's tmp_path lies in a 0700 directory, which alone would
    keep every file below it unreadable, and so prove nothing)."""
    path = workdir() / "modes-perm" / name
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)
    for d in (path.parent, path):
        d.chmod(0o755)
    return path


def _autograder_copy(dest):
    shutil.copytree(released().autograder, dest, symlinks=True)
    return dest


def test_a_readable_reference_file_stops_the_seccomp_mode_naming_it(tmp_path):
    ag = _autograder_copy(_reachable("readable-reference") / "autograder")
    leaked = ag / "reference" / "optim.npz"
    os.chmod(ag / "reference", 0o755)
    os.chmod(leaked, 0o644)
    out = tmp_path / "results"
    proc = _seccomp_grade(out, ag, private_solution())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _uids_as_61000(proc.stderr.strip())
    assert line.startswith(f"error: seccomp mode: the file permissions do not hold: uid 61000 can read {leaked}"), line
    assert f"fix: chmod go-rwx {leaked}" in line and "\n" not in line
    assert not (out / "solution").exists()


def test_the_seccomp_mode_refuses_to_grade_from_a_readable_solution_checkout(tmp_path):
    """Without Landlock, a worker could read the checkout's solution: the proof includes it, and says what to do."""
    proc = _seccomp_grade(tmp_path / "results", released().autograder, private_solution(), grader_from=REPO)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _uids_as_61000(proc.stderr.strip())
    assert f"uid 61000 can read {SOLUTION}/" in line, line
    assert "grade with the release's own grader" in line and "not from the solution checkout" in line, line


def test_a_submission_other_workers_could_read_stops_the_seccomp_mode_naming_it(tmp_path):
    """Another student's files are secrets to every worker: a readable submission is a breach too."""
    readable = one_solution()  # under workdir(): 0755 all the way
    proc = _seccomp_grade(_reachable("readable-submission") / "results", released().autograder, readable)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _uids_as_61000(proc.stderr.strip())
    assert f"uid 61000 can read {readable}/assignment/" in line, line
    assert "keep the submissions readable by their owner only" in line, line


def test_a_writable_results_directory_stops_the_seccomp_mode_naming_it(tmp_path):
    out = _reachable("writable-results") / "results"
    out.mkdir()
    os.chmod(out, 0o777)
    proc = _seccomp_grade(out, released().autograder, private_solution())
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = _uids_as_61000(proc.stderr.strip())
    assert f"uid 61000 can create files in {out}" in line and f"fix: chmod go-w {out}" in line, line
    assert not list(out.iterdir())


def test_allow_unsafe_grades_and_every_report_says_so(tmp_path):
    ctx = released()
    out = tmp_path / "results"
    proc = _cli("grade", "--autograder", str(ctx.autograder), "--out", str(out), "--allow-unsafe",
                str(one_solution()), launcher=NOTHING, python=grader_python(readable=True))
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
    for needle in ("Landlock: ABI", "Landlock + seccomp self-test (container mode): works",
                   "bubblewrap (full mode): NO (bubblewrap fails here", "--cap-add SYS_ADMIN --cap-add NET_ADMIN",
                   "child subreaper: works", "uid drop without bubblewrap (container and seccomp modes): works",
                   "`grade` would use: isolation: container mode"):
        assert needle in text, (needle, text)
    proc = _cli("doctor", launcher=NO_LANDLOCK, python=grader_python(readable=True))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for needle in ("Landlock: absent", "seccomp alone (seccomp mode, for kernels without Landlock): works",
                   "uid drop without bubblewrap (container and seccomp modes): works",
                   "`grade` would use: isolation: seccomp mode (no Landlock)", "proves as each worker uid"):
        assert needle in proc.stdout, (needle, proc.stdout)
    proc = _cli("doctor", launcher=NOTHING, python=grader_python(readable=True))
    assert proc.returncode == 2 and "`grade` would refuse: cannot contain student code here" in proc.stdout
    assert "seccomp alone (seccomp mode, for kernels without Landlock): NO" in proc.stdout


def test_doctor_never_contradicts_its_mode_line_about_the_uid_drop():
    """A 0700 home: bubblewrap mounts the interpreter where the drop uid reads it; plain workers cannot."""
    proc = _cli("doctor", python=grader_python(readable=False))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = _uids_as_61000(proc.stdout).splitlines()
    under_bwrap = next(x for x in lines if x.startswith("uid drop under bubblewrap"))
    plain = next(x for x in lines if x.startswith("uid drop without bubblewrap"))
    mode = next(x for x in lines if x.startswith("`grade` would use"))
    assert under_bwrap.startswith("uid drop under bubblewrap (full mode): works") and "isolation: full" in mode
    assert "uid 61000+slot" in mode
    assert plain.startswith("uid drop without bubblewrap (container and seccomp modes): NO (uid 61000 cannot read "
                            "the interpreter"), plain
    assert "0700 directory" in plain and "install Python and its packages under /usr or /opt" in plain


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
