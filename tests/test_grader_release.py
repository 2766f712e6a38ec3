"""`python -m grader release`: the student tree, its self-check, the autograder, and the leak check."""

import json
import re
import shutil
import stat
import subprocess
import sys
import zipfile

import pytest
from grader_fixtures import REPO, SOLUTION, installed_student, released, student_copy, workdir

from grader import markers
from grader.release import (
    NEVER,
    STUDENT_FILES,
    STUDENT_GRADER,
    binary_files,
    find_leaks,
    forbidden_lines,
    public_tests,
    released_files,
)


def test_student_tree_holds_the_allowlist_and_nothing_else():
    ctx = released()
    found = sorted(p.relative_to(ctx.student).as_posix() for p in ctx.student.rglob("*") if p.is_file())
    generated = {f"grader/{n}" for n in STUDENT_GRADER} | {"grader/__init__.py", "grader/__main__.py",
                                                          "grader/public_cases.json", "grader/public_inputs.npz",
                                                          "grader/public_expected.npz", "tests/test_public_cases.py"}
    generated |= set(STUDENT_FILES.values())
    assert set(found) == set(released_files(REPO)) | generated
    assert not any(f.split("/")[0] in NEVER and not f.startswith("grader/") for f in found)
    assert not any(f.endswith((".so", ".c", ".html", ".pyc")) for f in found)
    assert "assignment/fast_layers.pyx" in found
    public = public_tests(REPO)
    assert {"tests/conftest.py", "tests/test_cs231n_values.py", "tests/test_layers_contract.py",
            "tests/test_gradient_check.py", "tests/test_layer_errors.py"} == set(public)  # chosen by their marker
    assert set(public) <= set(found)
    assert not any(f.startswith("tests/ops/") or f == "tests/test_layers_torch.py" for f in found)
    assert not (ctx.student / "grader" / "cases.py").exists()  # the hidden catalog stays instructor-side
    assert not (ctx.student / "grader" / "release.py").exists()


def test_no_solution_line_appears_under_the_student_tree():
    ctx = released()
    forbidden = forbidden_lines(REPO)
    assert len(forbidden) > 90  # every region of every student module (and notebook) contributes
    assert find_leaks(REPO, ctx.student) == []
    # Independently of find_leaks: every text file, every line, normalized the same way.
    for path in ctx.student.rglob("*"):
        if not path.is_file() or path.relative_to(ctx.student).as_posix() in binary_files(ctx.student):
            continue
        text = path.read_text()
        lines = markers.notebook_lines(text) if path.suffix == ".ipynb" else text.splitlines()
        for n, line in enumerate(lines, 1):
            assert markers.normalize_line(line) not in forbidden, f"{path}:{n}: {line}"


def test_the_leak_check_finds_a_planted_line(tmp_path):
    ctx = released()
    planted = next(line for line, where in sorted(forbidden_lines(REPO).items()) if where == "assignment/layers.py")
    copy = tmp_path / "student"
    shutil.copytree(ctx.student, copy)
    layers = copy / "assignment" / "layers.py"
    layers.write_text(layers.read_text() + f"\n# a student pasted:\n        {planted}\n")
    leaks = find_leaks(REPO, copy)
    assert [(p, line.strip()) for p, _, line, _ in leaks] == [("assignment/layers.py", planted)]


def test_binary_files_are_only_arrays():
    ctx = released()
    binaries = binary_files(ctx.student)
    assert binaries, "the public cases ship as .npz"
    assert all(b.endswith(".npz") for b in binaries), binaries


def test_stubs_compile_and_name_their_function():
    ctx = released()
    for rel in ctx.student_modules:
        text = (ctx.student / "assignment" / rel).read_text()
        compile(text, rel, "exec")
        assert not markers.has_regions(text)
        solution_names = [name for name, _ in markers.strip_code((SOLUTION / rel).read_text(), where=rel)[1]]
        for name in solution_names:
            assert f'raise NotImplementedError("{name}: ' in text, (rel, name)


def test_notebooks_keep_every_other_cell_and_lose_their_outputs():
    ctx = released()
    notebooks = [f for f in ctx.files if f.endswith(".ipynb")]
    if not notebooks:
        pytest.skip("no top-level notebooks in this checkout yet")
    for rel in notebooks:
        original = json.loads((REPO / rel).read_text())
        student = json.loads((ctx.student / rel).read_text())
        assert len(original["cells"]) == len(student["cells"]), rel
        for i, (a, b) in enumerate(zip(original["cells"], student["cells"], strict=True)):
            src_a = "".join(a["source"]) if isinstance(a["source"], list) else a["source"]
            src_b = "".join(b["source"]) if isinstance(b["source"], list) else b["source"]
            if b["cell_type"] == "code":
                assert b["outputs"] == [] and b["execution_count"] is None, (rel, i)
                compile(markers._mask_magics(src_b), f"{rel} cell {i}", "exec")
            if markers.has_regions(src_a):
                assert "NotImplementedError" in src_b or "TODO" in src_b, (rel, i)
            else:
                assert src_a == src_b, f"{rel} cell {i} changed"


def test_autograder_directory_and_zip():
    ctx = released()
    ag = ctx.autograder
    given = ag / "given" / "assignment"
    for rel in ctx.student_modules:
        assert not (given / rel).exists(), f"the solution's {rel} must not be in the autograder's given modules"
    for sub in ("inputs", "reference"):
        assert stat.S_IMODE((ag / sub).stat().st_mode) == 0o700
        for f in (ag / sub).iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
    with zipfile.ZipFile(ag / "autograder.zip") as zf:
        names = set(zf.namelist())
        assert {"setup.sh", "run_autograder", "manifest.json", "cases.json", "grader/worker.py",
                "grader/__main__.py", "given/assignment/checks.py"} <= names
        assert all(not n.startswith("/") and ".." not in n for n in names)
        for name in ("setup.sh", "run_autograder"):
            mode = zf.getinfo(name).external_attr >> 16
            assert mode & 0o111, name
        run = zf.read("run_autograder").decode()
        assert "/autograder/results/results.json" in run and "grade --autograder /autograder/source" in run
    manifest = json.loads((ag / "manifest.json").read_text())
    assert manifest["student_modules"] == ctx.student_modules


def test_release_refuses_a_directory_with_other_things(tmp_path):
    from grader.release import release

    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        release(tmp_path, root=REPO, hidden_seed=1, echo=lambda *a: None)
    assert (tmp_path / "precious.txt").exists()


def test_check_in_the_student_tree_fails_stubs_and_passes_the_solution():
    tree = student_copy("check-tree")
    cmd = [sys.executable, "-m", "grader", "check"]
    stubs = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=300)
    assert stubs.returncode == 1, stubs.stderr
    assert "Public cases: 0 of" in stubs.stdout and "hidden cases" in stubs.stdout
    assert "not implemented: affine_forward (assignment/layers.py, line " in stubs.stdout
    for rel in released().student_modules:
        shutil.copyfile(SOLUTION / rel, tree / "assignment" / rel)
    solved = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=300)
    assert solved.returncode == 0, solved.stdout + solved.stderr
    n = len(json.loads((tree / "grader" / "public_cases.json").read_text())["cases"])
    assert f"Public cases: {n} of {n} pass" in solved.stdout
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "tests/test_public_cases.py"], cwd=tree, capture_output=True, text=True, timeout=300)
    assert tests.returncode == 0 and f"{n} passed" in tests.stdout, tests.stdout[-2000:]
    instructor_only = subprocess.run([sys.executable, "-m", "grader", "grade", "--autograder", "x", "--out", "y", "z"],
                                     cwd=tree, capture_output=True, text=True, timeout=60)
    assert instructor_only.returncode == 2 and "invalid choice: 'grade'" in instructor_only.stderr


def test_student_tree_installs_with_the_cython_build_and_imports():
    tree, python, env = installed_student()
    assert list((tree / "assignment").glob("_fast_cython*.so")), "the Cython extension was built in place"
    env = {k: v for k, v in env.items() if k != "ASSIGNMENT_FAST_LAYERS"}  # the compiled twins, even in CI's numpy run
    code = ("import assignment, assignment.layers, assignment.optim, assignment.fast_layers, assignment.solver, "
            "assignment.layer_utils, assignment.gradient_check, assignment.classifiers.fc_net, "
            "assignment.classifiers.cnn, assignment.classifiers.linear\n"
            "import numpy as np\n"
            "assert assignment.__file__.startswith(%r), assignment.__file__\n"
            "assert assignment.fast_layers.BACKEND == 'cython', assignment.fast_layers.REASON\n"
            "try:\n    assignment.layers.affine_forward(np.ones((2, 3)), np.ones((3, 4)), np.ones(4))\n"
            "except NotImplementedError as e:\n    print('stub:', e)\n") % str(tree)
    run = subprocess.run([str(python), "-c", code], env=env, cwd=workdir(), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "stub: affine_forward: not implemented yet" in run.stdout


# What a student reads must not send them to something only the instructor has.
INSTRUCTOR_ONLY = re.compile(r"\b(docs|benchmarks|scripts|notebooks)/|BENCHMARKS\.md|\bgrader (release|grade|doctor)\b"
                             r"|\bmake (demo|bench|notebooks|lint)\b|\.\[dev\]|student_tree")
# The grader's plumbing, copied byte for byte from the instructor's grader/ so that the self-check
# runs the grader's own code: its instructor-facing messages (bwrap fixes, `grader doctor`) are
# never printed by `check` or `submit`, which run in the unsafe mode without detection.
VERBATIM_PLUMBING = {f"grader/{n}" for n in ("sandbox.py", "runner.py", "worker.py", "contain.py", "stage.py",
                                             "compare.py", "caserecord.py", "npzsafe.py")}


def test_no_student_file_names_an_instructor_command_folder_or_file():
    ctx = released()
    found = []
    for path in sorted(ctx.student.rglob("*")):
        rel = path.relative_to(ctx.student).as_posix()
        if not path.is_file() or rel in VERBATIM_PLUMBING or rel in binary_files(ctx.student):
            continue
        text = path.read_text()
        lines = markers.notebook_lines(text) if path.suffix == ".ipynb" else text.splitlines()
        found += [f"{rel}:{n}: {line.strip()}" for n, line in enumerate(lines, 1) if INSTRUCTOR_ONLY.search(line)]
        for named in re.findall(r"\b((?:assignment|tests|grader)/[\w/]+\.(?:py|pyx|ipynb|json|npz|md))", text):
            if not (ctx.student / named).exists():
                found.append(f"{rel}: names {named}, which the student tree does not have")
    assert found == []
    for rel in VERBATIM_PLUMBING:
        assert (ctx.student / rel).read_bytes() == (REPO / rel).read_bytes(), rel


def test_each_public_case_points_to_a_notebook_that_checks_its_function():
    from grader import cases

    for case in cases.public_cases():
        notebook = cases.notebook_of(case.name)
        function = case.target.split(" ")[0].rsplit(".", 1)[-1]
        owner = case.name.split(".")[0]  # a model case: its class (TwoLayerNet, FullyConnectedNet, ...)
        text = (REPO / notebook).read_text()
        assert function in text and owner in text, (case.name, notebook)
    ctx = released()
    meta = json.loads((ctx.student / "grader" / "public_cases.json").read_text())
    assert meta["notebook_order"] == list(cases.NOTEBOOKS)
    assert meta["grade_max_score"] == sum(c.points for c in ctx.cases)


def test_the_student_readme_lists_every_stubbed_function_under_its_notebook():
    ctx = released()
    readme = (ctx.student / "README.md").read_text()
    assert "<!--" not in readme
    rows = [line for line in readme.splitlines() if line.startswith("| ") and ".ipynb`" in line]
    assert [re.search(r"`(\w+\.ipynb)`", r).group(1) for r in rows] == [
        "LinearClassifiers.ipynb", "FullyConnectedNets.ipynb", "BatchNormalization.ipynb", "Dropout.ipynb",
        "ConvolutionalNetworks.ipynb", "NetworkProgression.ipynb"]
    for rel in ctx.student_modules:
        stubs = re.findall(r'raise NotImplementedError\("([\w.]+): ', (ctx.student / "assignment" / rel).read_text())
        for name in stubs:
            assert any(f"`{name}`" in r and f"`assignment/{rel}`" in r for r in rows), (rel, name)


def test_check_names_the_layer_stub_a_model_case_ran_into_and_the_students_own_file():
    tree = student_copy("check-model-on-stub")
    for rel in ("classifiers/base.py", "classifiers/fc_net.py"):  # the models done, the layers still stubs
        shutil.copyfile(SOLUTION / rel, tree / "assignment" / rel)
    run = subprocess.run([sys.executable, "-m", "grader", "check", "-v"], cwd=tree, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1, run.stderr
    line = next(x for x in run.stdout.splitlines() if x.strip().startswith("FAIL TwoLayerNet.loss.p1"))
    assert "not implemented: affine_forward (assignment/layers.py, line " in line
    assert f'File "{tree / "assignment" / "layers.py"}", line ' in run.stdout  # clickable, in the student's tree
    total = sum(c.points for c in released().cases)
    public = sum(c.points for c in released().cases if not c.hidden)
    assert f"0 of their {public:g} points. The grade is out of {total:g} points" in run.stdout
    assert "  FullyConnectedNets.ipynb: affine_forward.p1, affine_backward.p1," in run.stdout
    todo = run.stdout.split("Not implemented yet (the TODOs these cases ran into):\n")[1]
    assert todo.startswith("  assignment/layers.py: affine_forward, ")
    assert "TwoLayerNet.loss" not in todo  # implemented: the stub it ran into is named instead
