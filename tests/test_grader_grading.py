"""`python -m grader grade`: the solution scores 100%, the stubs 0, every mutant loses a hidden case.

Also the command-line contract (arguments, exit status, files) and the formats written:
Gradescope's results.json, grades.csv, cases.jsonl.
"""

import csv
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from grader_fixtures import SOLUTION, fast_limits, released, workdir
from grader_fixtures.mutants import MUTANTS, make_submission

from grader import markers
from grader.grade import grade

TEST_KEYS = {"name", "score", "max_score", "status", "visibility", "output"}
TOP_KEYS = {"score", "execution_time", "output", "stdout_visibility", "extra_data", "tests"}


def _quiet(*args):
    pass


@functools.cache
def forms():
    """The solution and the stubs, in every form a submission may take, graded in one CLI batch."""
    ctx = released()
    base = workdir() / "forms"
    if base.exists():
        shutil.rmtree(base)
    subs = base / "subs"
    subs.mkdir(parents=True)
    solution = subs / "solution"
    for rel in ctx.student_modules:
        (solution / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTION / rel, solution / "assignment" / rel)
    flat_zip = subs / "flat.zip"
    with zipfile.ZipFile(flat_zip, "w") as zf:
        for rel in ctx.student_modules:
            zf.write(SOLUTION / rel, Path(rel).name)
    nested_zip = subs / "release-tree.zip"
    with zipfile.ZipFile(nested_zip, "w") as zf:
        for path in ctx.student.rglob("*.py"):
            if path.name != "layers.py":
                zf.write(path, "student/" + path.relative_to(ctx.student).as_posix())
        zf.write(SOLUTION / "layers.py", "student/assignment/layers.py")
    partial = subs / "layers-only"
    (partial / "assignment").mkdir(parents=True)
    shutil.copyfile(SOLUTION / "layers.py", partial / "assignment" / "layers.py")
    results = base / "results"
    cmd = [sys.executable, "-m", "grader", "grade", "--autograder", str(ctx.autograder), "--out", str(results),
           "-j", "2", str(solution), str(ctx.student), str(flat_zip), str(nested_zip), str(partial)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    return proc, results


def _results(results, stem):
    return json.loads((results / stem / "results.json").read_text())


def test_cli_exit_status_and_files():
    proc, results = forms()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for stem in ("solution", "student", "flat", "release-tree", "layers-only"):
        assert (results / stem / "results.json").exists() and (results / stem / "report.json").exists()
    assert (results / "grades.csv").exists() and (results / "cases.jsonl").exists()
    assert "graded 5 submission(s)" in proc.stdout


def test_solution_scores_full_marks_and_stubs_zero():
    _, results = forms()
    ctx = released()
    total = sum(c.points for c in ctx.cases)
    solution = _results(results, "solution")
    assert solution["score"] == total and all(t["status"] == "passed" for t in solution["tests"])
    assert _results(results, "flat")["score"] == total
    stubs = _results(results, "student")
    assert stubs["score"] == 0 and all(t["status"] == "failed" for t in stubs["tests"])
    todo = re.compile(r"not implemented: [\w.]+ \(assignment/[\w/]+\.py, line \d+\)")
    assert all(todo.search(t["output"]) for t in stubs["tests"])


def test_partial_submissions_keep_what_they_earn():
    _, results = forms()
    ctx = released()
    layer_points = sum(c.points for c in ctx.cases if c.module == "layers.py")
    for stem in ("release-tree", "layers-only"):
        res = _results(results, stem)
        assert res["score"] == layer_points, stem
    missing = json.loads((results / "layers-only" / "report.json").read_text())["missing"]
    assert "optim.py" in missing
    assert "optim.py not found in the submission" in json.dumps(_results(results, "layers-only"))


def test_results_json_follows_gradescope_spec():
    _, results = forms()
    ctx = released()
    for stem in ("solution", "student"):
        res = _results(results, stem)
        assert set(res) == TOP_KEYS
        assert isinstance(res["score"], float) and isinstance(res["execution_time"], int)
        assert len(res["tests"]) == len(ctx.cases)
        for test in res["tests"]:
            assert set(test) == TEST_KEYS
            assert test["status"] in ("passed", "failed")
            assert test["visibility"] in ("hidden", "after_due_date", "after_published", "visible")
            assert 0 <= test["score"] <= test["max_score"]
        assert res["score"] == sum(t["score"] for t in res["tests"])
        assert "sandbox" in res["output"]


def test_hidden_feedback_never_shows_inputs_or_expected_values():
    _, results = forms()
    stubs = _results(results, "student")
    hidden = [t for t in stubs["tests"] if t["name"].startswith("[hidden]")]
    assert hidden
    for t in hidden:
        assert "Hint:" in t["output"] and "Traceback" not in t["output"] and "index" not in t["output"]
    public = [t for t in stubs["tests"] if t["name"].startswith("[public]")]
    assert all("Output of the failing call:" in t["output"] and "layers.py" in t["output"] for t in public[:10])


def test_gradebook_and_class_statistics():
    _, results = forms()
    ctx = released()
    with open(results / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"solution", "student", "flat", "release-tree", "layers-only"}
    assert float(rows["solution"]["percent"]) == 100.0 and float(rows["student"]["score"]) == 0
    assert all(f"case:{c.name}" in rows["solution"] for c in ctx.cases)
    lines = [json.loads(line) for line in (results / "cases.jsonl").read_text().splitlines()]
    assert len(lines) == 5 * len(ctx.cases)
    first = next(r for r in lines if r["case"] == "affine_forward.p1" and r["submission"] == "solution")
    # 5 submissions: solution, flat, release-tree and layers-only pass affine_forward.p1; the stubs do not
    assert first["class"]["n"] == 5 and first["class"]["pass_rate"] == pytest.approx(0.8)
    assert first["class"]["top_reasons"] == {"not implemented": 1}


# ----------------------------------------------------------------------------------------------
# mutants
# ----------------------------------------------------------------------------------------------


def test_mutants_are_single_changes_inside_solution_regions():
    assert len(MUTANTS) >= 30
    for name, (_, module, old, new) in MUTANTS.items():
        text = (SOLUTION / module).read_text()
        assert text.count(old) == 1, name
        start = text.index(old)
        lines = text.splitlines()
        old_lines, new_lines = old.splitlines(), new.splitlines()
        head = 0  # context lines shared at the start and the end are not changes
        while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
            head += 1
        tail = 0
        while (tail < min(len(old_lines), len(new_lines)) - head
               and old_lines[len(old_lines) - 1 - tail] == new_lines[len(new_lines) - 1 - tail]):
            tail += 1
        first = text[:start].count("\n") + head
        last = text[:start].count("\n") + len(old_lines) - 1 - tail
        inside = set()
        for region in markers.find_regions(lines):
            inside.update(range(region.begin + 1, region.end))
        assert set(range(first, last + 1)) <= inside, f"{name} changes lines outside a solution region"
        assert old != new


@functools.cache
def mutant_batch():
    ctx = released()
    base = workdir() / "mutants"
    if base.exists():
        shutil.rmtree(base)
    paths = [make_submission(SOLUTION, ctx.student_modules, base / "subs" / name, name) for name in MUTANTS]
    solution = base / "subs" / "zz_solution"
    for rel in ctx.student_modules:
        (solution / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTION / rel, solution / "assignment" / rel)
    paths.append(solution)
    results = grade(ctx.autograder, base / "results", paths, jobs=2, limits=fast_limits(), echo=_quiet)
    return {r["stem"]: r for r in results}


@pytest.mark.parametrize("name", sorted(MUTANTS))
def test_every_mutant_loses_points_on_a_hidden_case(name):
    batch = mutant_batch()
    assert batch["zz_solution"]["score"] == batch["zz_solution"]["max_score"]
    result = batch[name]
    lost = [case.name for case, res in result["cases"] if case.hidden and not res.passed]
    assert lost, f"mutant {name} ({MUTANTS[name][0]}) passes every hidden case"
    assert result["score"] < result["max_score"]


def test_autograder_zip_grades_on_its_own(tmp_path):
    """Unzipped alone (as Gradescope does into /autograder/source), with neither the repository's
    grader nor the assignment package importable, it grades the solution to full marks."""
    ctx = released()
    source = tmp_path / "source"
    with zipfile.ZipFile(ctx.autograder / "autograder.zip") as zf:
        zf.extractall(source)
    solution = tmp_path / "submission"
    for rel in ctx.student_modules:
        (solution / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SOLUTION / rel, solution / "assignment" / rel)
    boot = (
        "import importlib.util, runpy, sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]\n"
        "sys.path_hooks[:] = [h for h in sys.path_hooks if 'editable' not in repr(h).lower()]\n"
        "sys.path_importer_cache.clear()\n"
        f"sys.path.insert(0, {str(source)!r})\n"
        "assert importlib.util.find_spec('assignment') is None, 'assignment must not be importable here'\n"
        "import grader\n"
        f"assert grader.__file__.startswith({str(source)!r}), grader.__file__\n"
        f"sys.argv = ['grader', 'grade', '--autograder', {str(source)!r}, '--out', {str(tmp_path / 'results')!r},"
        f" {str(solution)!r}]\n"
        "runpy.run_module('grader', run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", boot], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "results" / "submission" / "results.json").read_text())
    assert result["score"] == sum(c.points for c in ctx.cases)


def test_a_submission_path_that_does_not_exist_stops_the_batch(tmp_path):
    ctx = released()
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--autograder", str(ctx.autograder), "--out",
                           str(tmp_path / "r"), str(tmp_path / "nope")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "no such submission" in proc.stderr
    assert not (tmp_path / "r").exists()


def test_run_autograder_in_gradescope_layout(tmp_path):
    """Gradescope's /autograder, mounted over a temporary directory (bubblewrap, as root): the
    zip unpacked into source/, the submission, a venv; run_autograder writes results/results.json."""
    if shutil.which("bwrap") is None or os.geteuid() != 0:
        pytest.skip("needs bwrap and root to mount a directory over /autograder")
    ctx = released()
    root = tmp_path / "autograder"
    with zipfile.ZipFile(ctx.autograder / "autograder.zip") as zf:
        zf.extractall(root / "source")
    for name in ("run_autograder", "setup.sh"):
        (root / "source" / name).chmod(0o755)
    shutil.copyfile(root / "source" / "run_autograder", root / "run_autograder")
    (root / "run_autograder").chmod(0o755)
    for rel in ctx.student_modules:  # a flat upload, as students often make
        (root / "submission").mkdir(exist_ok=True)
        shutil.copyfile(SOLUTION / rel, root / "submission" / Path(rel).name)
    (root / "results").mkdir()
    (root / "venv").symlink_to(Path(sys.prefix))
    proc = subprocess.run(["bwrap", "--dev-bind", "/", "/", "--bind", str(root), "/autograder", "--cap-add", "ALL",
                           "--chdir", "/autograder", "--", "/autograder/run_autograder"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads((root / "results" / "results.json").read_text())
    assert result["score"] == sum(c.points for c in ctx.cases), proc.stdout[-2000:]
    assert {t["status"] for t in result["tests"]} == {"passed"}
    assert "Your code ran in the grader's sandbox." in result["output"], result["output"]
    instructor = json.loads((root / "results" / "grader" / "submission" / "report.json").read_text())
    assert instructor["isolation"].startswith("isolation: full: bubblewrap"), instructor["isolation"]
