"""What a student does, end to end, in a released tree with a fresh venv and no PyTorch.

One release; then, in its student tree, the student's own commands:

1. ``make test`` on the stubs: it creates ``.venv`` (no torch, no linter in it), runs the public
   tests, and every failure names the function whose TODO raised;
2. the solution pasted in: ``make test`` and ``make check`` pass;
3. ``make submit`` writes ``submission.zip``, and the instructor's grader scores it at 100%;
4. the same tree installed where no C compiler works (``CC=/bin/false``): it installs, the fast
   layers are the numpy fallback, and the twin tests pass on it.

These install from the package registries, as a student's machine does (a few minutes).
"""

import csv
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from grader_fixtures import REPO, SOLUTION
from grader_fixtures.hostile import copy_solution

BASE_PYTHON = getattr(sys, "_base_executable", None) or sys.executable


def student_env():
    """The environment of a student's shell: no venv of ours, no PYTHONPATH, no ASSIGNMENT_FAST_LAYERS (CI's
    second run sets it to block the compiled fast layers; a student's machine decides that by its compiler)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "ASSIGNMENT_FAST_LAYERS")}
    ours = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != ours)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def make(tree, target, timeout=900, **extra_env):
    env = dict(student_env(), **extra_env)
    return subprocess.run(["make", "-C", str(tree), target, f"PYTHON={BASE_PYTHON}"], env=env, capture_output=True,
                          text=True, timeout=timeout)


def stub_names(tree, modules):
    names = set()
    for rel in modules:
        names |= set(re.findall(r'raise NotImplementedError\("([\w.]+): not implemented yet',
                                (tree / "assignment" / rel).read_text()))
    return names


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    from grader.release import release as do_release

    out = tmp_path_factory.mktemp("student-flow")
    return do_release(out / "release", root=REPO, hidden_seed="student-flow", submit_to="Gradescope, 'Assignment 2'",
                      echo=lambda *a: None)


@pytest.fixture(scope="module")
def solved(release):
    """The student tree after `make test` on its stubs, then with the solution pasted in."""
    tree = release.student
    stubs = make(tree, "test")
    output = stubs.stdout + stubs.stderr
    assert stubs.returncode != 0, output[-3000:]
    failed = [line for line in stubs.stdout.splitlines() if line.startswith("FAILED ")]
    # Each failure's report (between pytest's "____ test_name ____" headers) names a stubbed function.
    reports = re.split(r"\n_{3,} (\S+) _{3,}\n", stubs.stdout.split("short test summary info")[0])[1:]
    assert len(failed) > 50 and len(reports) == 2 * len(failed), output[-3000:]
    names = stub_names(tree, release.student_modules)
    for test, report in zip(reports[::2], reports[1::2], strict=True):
        named = set(re.findall(r"not implemented: ([\w.]+)|NotImplementedError: ([\w.]+): not implemented", report))
        assert {a or b for a, b in named} & names, f"{test}:\n{report[-1500:]}"
    venv_python = tree / ".venv" / "bin" / "python"
    absent = subprocess.run([str(venv_python), "-c", "import importlib.util as u; "
                             "print([m for m in ('torch', 'ruff', 'hypothesis') if u.find_spec(m)])"],
                            capture_output=True, text=True, env=student_env())
    assert absent.stdout.strip() == "[]", absent.stdout + absent.stderr
    copy_solution(SOLUTION, release.student_modules, tree)
    return tree, stubs


def test_make_test_on_the_stubs_names_the_functions_to_write(solved):
    _, stubs = solved
    assert "fast layers: cython" in stubs.stdout
    assert "not implemented: affine_forward (assignment/layers.py, line " in stubs.stdout
    assert "Editable installation" not in stubs.stdout + stubs.stderr  # no setuptools warning box


def test_the_finished_tree_passes_test_check_and_its_submission_scores_100(solved, release, tmp_path):
    tree, _ = solved
    tests = make(tree, "test")
    assert tests.returncode == 0 and " passed" in tests.stdout and "failed" not in tests.stdout, tests.stdout[-3000:]
    check = make(tree, "check")
    n = len(release.cases) - sum(c.hidden for c in release.cases)
    assert check.returncode == 0 and f"Public cases: {n} of {n} pass" in check.stdout, check.stdout[-3000:]
    submit = make(tree, "submit")
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    assert "Upload submission.zip to Gradescope, 'Assignment 2'." in submit.stdout
    zipped = tree / "submission.zip"
    with zipfile.ZipFile(zipped) as zf:
        names = set(zf.namelist())
    notebooks = {p.name for p in REPO.glob("*.ipynb")}
    assert names == {f"assignment/{m}" for m in release.student_modules} | notebooks
    results = tmp_path / "results"
    grade = subprocess.run([sys.executable, "-m", "grader", "grade", "--autograder", str(release.autograder),
                            "--out", str(results), str(zipped)], cwd=REPO, capture_output=True, text=True,
                           timeout=900)
    assert grade.returncode == 0, grade.stderr[-3000:]
    with open(results / "grades.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert float(row["percent"]) == 100.0, row


def test_without_a_compiler_it_installs_and_the_numpy_twins_pass(solved, tmp_path):
    tree, _ = solved
    copy = tmp_path / "no-compiler"
    shutil.copytree(tree, copy, ignore=shutil.ignore_patterns(".venv", "build", "*.so", "*.c", "*.egg-info"))
    env = dict(student_env(), CC="/bin/false", CXX="/bin/false")
    venv = tmp_path / "venv"
    subprocess.run([BASE_PYTHON, "-m", "venv", str(venv)], check=True, env=env)
    python = str(venv / "bin" / "python")
    install = subprocess.run([python, "-m", "pip", "install", "-q", "-e", f"{copy}[test]"], env=env,
                             capture_output=True, text=True, timeout=900)
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert not list((copy / "assignment").glob("*.so")), "no compiler, so no extension"
    backend = subprocess.run([python, "-c", "from assignment import fast_layers; print(fast_layers.BACKEND)"],
                             cwd=copy, env=env, capture_output=True, text=True)
    assert backend.stdout.strip() == "numpy", backend.stdout + backend.stderr
    assert "numpy" in backend.stderr  # the one warning: why, and how to get the compiled twins
    twins = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO),
                            str(REPO / "tests" / "test_twins.py")], cwd=copy, env=env, capture_output=True,
                           text=True, timeout=900)
    assert twins.returncode == 0 and " passed" in twins.stdout, twins.stdout[-3000:]
