"""The grader's parts, one at a time: markers, the npz reader, the comparator, submissions, cases, stage."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from grader_fixtures import REPO, SOLUTION

from grader import cases, compare, markers, npzsafe, submission
from grader.caserecord import Case
from grader.stage import STANDINS, build_stage, given_modules

# ----------------------------------------------------------------------------------------------
# markers
# ----------------------------------------------------------------------------------------------

CODE = '''import numpy as np


class Model:
    def loss(self, x):
        y = x + 1
        ### BEGIN SOLUTION
        z = y * 2
        if z.any():
            z = z - 1
        ### END SOLUTION
        return z


def helper(a):
    """Doc mentions ``### BEGIN SOLUTION`` in prose, which is not a marker."""
    ### BEGIN SOLUTION
    return a**2
    ### END SOLUTION
'''


def test_strip_code_replaces_regions_with_named_stubs():
    text, removed = markers.strip_code(CODE, where="m.py")
    assert [name for name, _ in removed] == ["Model.loss", "helper"]
    assert "z = y * 2" not in text and "return a**2" not in text
    assert '        raise NotImplementedError("Model.loss: not implemented yet (a TODO of the assignment)")' in text
    assert '    raise NotImplementedError("helper: not implemented yet (a TODO of the assignment)")' in text
    assert "        # TODO: write this part of Model.loss (see its docstring)." in text
    compile(text, "m.py", "exec")
    namespace = {}
    exec(compile(text, "m.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="^helper: "):
        namespace["helper"](3)


@pytest.mark.parametrize("bad, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "never closed"),
    ("x = 1\n### END SOLUTION\n", "without a BEGIN"),
    ("### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION\n", "inside the region"),
    ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n### END SOLUTION\n", "indented unlike"),
])
def test_malformed_regions_raise(bad, message):
    with pytest.raises(markers.MarkerError, match=message):
        markers.find_regions(bad.splitlines())


def _notebook(cells):
    return json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def test_strip_notebook_stubs_solution_cells_and_clears_outputs():
    nb = _notebook([
        {"cell_type": "markdown", "metadata": {}, "source": ["# Title\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 3, "source": ["%matplotlib inline\n", "x = 1\n"],
         "outputs": [{"output_type": "stream", "name": "stdout", "text": ["secret output\n"]}]},
        {"cell_type": "code", "metadata": {}, "execution_count": 4, "outputs": [],
         "source": ["def f(a):\n", "    ### BEGIN SOLUTION\n", "    return a * 42\n", "    ### END SOLUTION\n"]},
        {"cell_type": "code", "metadata": {}, "execution_count": 5, "outputs": [],
         "source": "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION\n"},
    ])
    text, removed = markers.strip_notebook(nb, name="N.ipynb")
    out = json.loads(text)
    cells = out["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in code)
    assert "".join(cells[1]["source"]) == "%matplotlib inline\nx = 1\n"  # non-student cells unchanged
    assert 'raise NotImplementedError("f: not implemented' in "".join(cells[2]["source"])
    assert 'raise NotImplementedError("N.ipynb cell 3: not implemented' in "".join(cells[3]["source"])
    assert [n for n, _ in removed] == ["f", "N.ipynb cell 3"]
    assert "42" not in "".join("".join(c["source"]) for c in cells)


def test_line_normalization_and_trivial_lines():
    assert markers.normalize_line("   out  =\tx @ w   + b  ") == "out = x @ w + b"
    for trivial in ("", ")", "],", "):", "else:", "try:", "pass", "return"):
        assert markers.is_trivial_line(trivial)
    for real in ("return out", "x = 1", "else: x", "dx /= N"):
        assert not markers.is_trivial_line(real)


# ----------------------------------------------------------------------------------------------
# the untrusted npz reader
# ----------------------------------------------------------------------------------------------

BUDGETS = {"a": npzsafe.Budget("f", 1 << 12), "b": npzsafe.Budget("f", 1 << 12), "__error__": npzsafe.Budget("U", 4096)}


def test_load_npz_reads_expected_keys_only(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, a=np.arange(4.0), b=np.ones((2, 2)), other=np.zeros(3), __error__=np.array("boom"))
    arrays, problems, whole = npzsafe.load_npz(path, BUDGETS)
    assert whole is None and problems == {}
    assert set(arrays) == {"a", "b", "__error__"}
    assert str(arrays["__error__"][()]) == "boom"
    assert arrays["b"].shape == (2, 2)


def test_load_npz_refuses_pickles_without_unpickling(tmp_path):
    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    arr = np.empty(1, dtype=object)
    arr[0] = Boom()
    path = tmp_path / "o.npz"
    np.savez(path, a=arr, b=np.ones(2))
    arrays, problems, whole = npzsafe.load_npz(path, BUDGETS)
    assert "pickled" in problems["a"] and "b" in arrays
    assert not (tmp_path / "pwned").exists()


def test_load_npz_refuses_oversized_and_lying_members(tmp_path):
    path = tmp_path / "o.npz"
    np.savez(path, a=np.zeros(1 << 16), b=np.zeros(3, dtype=np.complex128))
    arrays, problems, _ = npzsafe.load_npz(path, BUDGETS)
    assert "budget" in problems["a"] and "not allowed" in problems["b"]
    # A member whose header claims 128 bytes but that inflates to 64 MiB.
    bomb = tmp_path / "bomb.npz"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.npy", bytes(64 << 20))
    raw = bytearray(bomb.read_bytes())
    size = (64 << 20).to_bytes(4, "little")
    fake = (128).to_bytes(4, "little")
    raw = raw.replace(size, fake)  # the local and the central header
    bomb.write_bytes(bytes(raw))
    arrays, problems, whole = npzsafe.load_npz(bomb, BUDGETS)
    assert "a" not in arrays and "a" in problems


def test_load_npz_refuses_whole_files(tmp_path):
    many = tmp_path / "many.npz"
    with zipfile.ZipFile(many, "w") as zf:
        for i in range(100):
            zf.writestr(f"x{i}.npy", b"")
    assert "declares 100 members" in npzsafe.load_npz(many, BUDGETS)[2]
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip at all" * 10)
    assert "not a zip" in npzsafe.load_npz(junk, BUDGETS)[2]
    assert "no outputs" in npzsafe.load_npz(tmp_path / "absent.npz", BUDGETS)[2]
    big = tmp_path / "big.npz"
    big.write_bytes(bytes(2048))
    assert "exceeds" in npzsafe.load_npz(big, BUDGETS, max_file_bytes=1024)[2]
    link = tmp_path / "link.npz"
    link.symlink_to(many)
    assert "symbolic links" in npzsafe.load_npz(link, BUDGETS)[2]
    fifo = tmp_path / "fifo.npz"
    os.mkfifo(fifo)
    assert "regular file" in npzsafe.load_npz(fifo, BUDGETS)[2]  # and it did not block


# ----------------------------------------------------------------------------------------------
# the comparator
# ----------------------------------------------------------------------------------------------


def _case(visibility="public", tolerance=1e-7):
    return Case(name="demo.p1", target="assignment.layers.demo", group="layers", recipe="affine_forward", points=2.0,
                visibility=visibility, tolerance=tolerance, hint="Think about b.", seed=1, shape=(("x", (2, 3)),))


def test_rel_error_is_cs231n_with_a_floor():
    assert compare.rel_error(np.array([1.0]), np.array([1.0 + 1e-9])) == pytest.approx(5e-10, rel=1e-3)
    # two ~0 entries: CS231n's 1e-8 floor, and the floor raised with the largest expected value
    assert compare.rel_error(np.array([1e-12, 5.0]), np.array([0.0, 5.0])) == pytest.approx(1e-4)
    assert compare.rel_error(np.array([1e-12, 5.0]), np.array([0.0, 5.0]), floor_rel=1e-6) < 1e-6


def test_score_case_passes_fails_and_names_reasons():
    case = _case()
    want = {"out": np.array([[1.0, 2.0, 3.0]]), "after_x": np.array([4.0])}
    ok = compare.score_case(case, {"out": want["out"].copy(), "after_x": np.array([4.0])}, want)
    assert ok.passed and ok.score == 2.0
    wrong = compare.score_case(case, {"out": want["out"] + 1, "after_x": np.array([4.0])}, want)
    assert not wrong.passed and wrong.score == 0 and wrong.reason.startswith("wrong answer")
    nan = compare.score_case(case, {"out": want["out"] * np.nan, "after_x": np.array([4.0])}, want)
    assert "NaN" in nan.reason
    inf = compare.score_case(case, {"out": want["out"] + np.inf, "after_x": np.array([4.0])}, want)
    assert "inf" in inf.reason
    shape = compare.score_case(case, {"out": np.ones((3, 1)), "after_x": np.array([4.0])}, want)
    assert "shape" in shape.reason
    ints = compare.score_case(case, {"out": np.ones((1, 3), dtype=np.int64), "after_x": np.array([4.0])}, want)
    assert "dtype" in ints.reason
    mutated = compare.score_case(case, {"out": want["out"], "after_x": np.array([0.0])}, want)
    assert "modified its input 'x'" in mutated.reason
    missing = compare.score_case(case, {"after_x": np.array([4.0])}, want)
    assert "missing" in missing.reason
    raised = compare.score_case(case, {}, want, worker_error="NotImplementedError: demo\nTraceback...")
    assert raised.reason.startswith("not implemented")
    assert compare.score_case(case, {}, want, worker_error="MemoryError: \n").reason.startswith("memory")


def test_hidden_feedback_gives_bucket_and_hint_never_values():
    case = _case("hidden")
    want = {"out": np.array([[1.0, 2.0, 3.0]])}
    res = compare.score_case(case, {"out": np.array([[1.0, 2.0, 3.5]])}, want)
    text = compare.feedback(case, res)
    assert "Hidden case failed" in text and "Think about b." in text and "above 0.1" not in text
    assert "3.5" not in text and "index" not in text and "e-0" not in text.split("tolerance")[0]
    assert "Why: wrong answer (see the error bucket)" in text
    shape = compare.score_case(case, {"out": np.ones((3, 1))}, want)
    assert "(3, 1)" not in compare.feedback(case, shape)
    public = compare.feedback(_case(), compare.score_case(_case(), {"out": np.array([[1.0, 2.0, 3.5]])}, want))
    assert "largest at index (0, 2): got 3.5, expected 3" in public


# ----------------------------------------------------------------------------------------------
# submissions
# ----------------------------------------------------------------------------------------------

MODULES = ["layers.py", "optim.py", "classifiers/fc_net.py"]


def test_submission_layouts(tmp_path):
    tree = tmp_path / "tree"
    (tree / "deep" / "assignment" / "classifiers").mkdir(parents=True)
    (tree / "deep" / "assignment" / "layers.py").write_text("L = 1\n")
    (tree / "deep" / "assignment" / "classifiers" / "fc_net.py").write_text("F = 1\n")
    (tree / "optim.py").write_text("O = 1\n")
    (tree / ".hidden").mkdir()
    (tree / ".hidden" / "layers.py").write_text("WRONG\n")
    sub = submission.load(tree, MODULES, "s")
    assert sub.files == {"layers.py": b"L = 1\n", "optim.py": b"O = 1\n", "classifiers/fc_net.py": b"F = 1\n"}
    assert sub.found_at["layers.py"] == "deep/assignment/layers.py" and not sub.missing
    flat = tmp_path / "flat.zip"
    with zipfile.ZipFile(flat, "w") as zf:
        zf.writestr("layers.py", "L = 2\n")
        zf.writestr("fc_net.py", "F = 2\n")
        zf.writestr("__MACOSX/optim.py", "WRONG\n")
        zf.writestr("../../etc/optim.py", "WRONG\n")
    sub = submission.load(flat, MODULES, "flat")
    assert sub.files == {"layers.py": b"L = 2\n", "classifiers/fc_net.py": b"F = 2\n"}
    assert sub.missing == ["optim.py"]


def test_submission_refuses_links_and_big_files(tmp_path):
    secret = tmp_path / "reference.npz"
    secret.write_text("SECRET")
    tree = tmp_path / "sub"
    (tree / "assignment").mkdir(parents=True)
    (tree / "assignment" / "layers.py").symlink_to(secret)
    (tree / "assignment" / "optim.py").write_text("#" * (submission.MAX_FILE_BYTES + 10))
    sub = submission.load(tree, MODULES, "s")
    assert "layers.py" in sub.missing and "optim.py" in sub.missing and not sub.files
    z = tmp_path / "links.zip"
    with zipfile.ZipFile(z, "w") as zf:
        info = zipfile.ZipInfo("assignment/layers.py")
        info.external_attr = (0o120777) << 16  # a symlink
        zf.writestr(info, str(secret))
    assert submission.load(z, MODULES, "z").missing == MODULES
    assert submission.load(tmp_path / "nothing", MODULES, "n").error


def test_stems_are_safe_and_unique(tmp_path):
    taken = set()
    (tmp_path / "a b!.zip").write_bytes(b"")
    assert submission.make_stem(tmp_path / "a b!.zip", taken) == "a_b"
    assert submission.make_stem(tmp_path / "x" / "a b!", taken) == "a_b-2"
    assert submission.make_stem(tmp_path / "...", taken) == "submission"


# ----------------------------------------------------------------------------------------------
# cases and stage
# ----------------------------------------------------------------------------------------------


def _student_functions():
    """(module, qualname) of every solution region in the student-owned modules."""
    found = set()
    for path in SOLUTION.rglob("*.py"):
        text = path.read_text()
        if markers.has_regions(text):
            rel = path.relative_to(SOLUTION).as_posix()
            found.update((rel, name) for name, _ in markers.strip_code(text, where=rel)[1])
    return found


def test_every_student_function_has_a_public_and_a_hidden_case():
    catalog = cases.all_cases("any")
    functions = _student_functions()
    assert len(functions) >= 30
    for rel, name in functions:
        graded = [c for c in catalog if name in c.target and (c.module == rel or name == "Model._add_l2")]
        assert {c.visibility for c in graded} == {"public", "hidden"}, (rel, name)
    targets = {}
    for c in catalog:
        targets.setdefault(c.target.split(" ")[0], set()).add(c.visibility)
    assert all(v == {"public", "hidden"} for v in targets.values())


def test_hidden_cases_draw_new_seeds_and_shapes():
    a, b = cases.all_cases("one"), cases.all_cases("two")
    for x, y in zip(a, b, strict=True):
        assert (x.seed == y.seed) == (x.visibility == "public"), x.name
    public = {(c.target.split(" ")[0], c.shape) for c in a if not c.hidden}
    assert not any((c.target.split(" ")[0], c.shape) in public for c in a if c.hidden)
    case = next(c for c in a if c.name == "conv_forward_naive.h1")
    first, again = cases.make_inputs(case), cases.make_inputs(case)
    assert all(np.array_equal(first[k], again[k]) for k in first)
    assert Case.from_json(json.loads(json.dumps(case.to_json()))) == case


def test_stage_keeps_given_modules_and_stubs_out_fast_twins(tmp_path):
    student = ["layers.py"]
    given = given_modules(SOLUTION, student)
    assert "checks.py" in given and "layers.py" not in given and "fast_layers.py" not in given
    assert "_fast_numpy.py" not in given  # the fallback twins would grade as the student's conv
    fake_layers = b"from assignment.fast_layers import conv_forward_fast\nVALUE = 7\n"
    stage = build_stage(tmp_path / "stage", SOLUTION, given, {"layers.py": fake_layers})
    assert (stage / "assignment" / "checks.py").read_bytes() == (SOLUTION / "checks.py").read_bytes()
    for rel, text in STANDINS.items():
        assert (stage / "assignment" / rel).read_text() == text
    code = ("import assignment.layers as L, assignment.gpu_layers as G\n"
            "try:\n    L.conv_forward_fast(1)\nexcept RuntimeError as e:\n    print('fast:', e)\n"
            "try:\n    G.conv_forward_gpu(1)\nexcept RuntimeError as e:\n    print('gpu:', e)\n"
            "import assignment._fast_numpy as P\n"
            "try:\n    P.conv_forward_cpu(1)\nexcept RuntimeError as e:\n    print('numpy:', e)\n")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(stage)!r})\n{code}"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert "fast: assignment.fast_layers.conv_forward_fast is not available while grading" in out.stdout, out.stderr
    assert "gpu: assignment.gpu_layers.conv_forward_gpu is not available while grading" in out.stdout
    assert "numpy: assignment._fast_numpy.conv_forward_cpu is not available while grading" in out.stdout


def test_stage_ignores_submitted_given_modules(tmp_path):
    sub = tmp_path / "sub" / "assignment"
    sub.mkdir(parents=True)
    (sub / "checks.py").write_text("def require_shape(*a, **k):\n    pass\n")
    (sub / "layers.py").write_text((SOLUTION / "layers.py").read_text())
    loaded = submission.load(tmp_path / "sub", ["layers.py"], "s")
    assert set(loaded.files) == {"layers.py"}
    stage = build_stage(tmp_path / "stage", SOLUTION, given_modules(SOLUTION, ["layers.py"]), loaded.files)
    assert (stage / "assignment" / "checks.py").read_bytes() == (SOLUTION / "checks.py").read_bytes()


def test_repo_paths():
    assert (REPO / "grader" / "worker.py").exists()
    assert Path(compare.__file__).parent == REPO / "grader"


def test_parent_reads_worker_files_without_blocking_or_following_links(tmp_path):
    from grader.runner import out_dir_within, read_small
    from grader.sandbox import Limits

    (tmp_path / "progress").write_bytes(b"      3\n" + b"9" * 1000)
    assert read_small(tmp_path / "progress", 32) == b"      3\n" + b"9" * 24
    os.mkfifo(tmp_path / "fifo")
    assert read_small(tmp_path / "fifo", 32) == b""
    (tmp_path / "link").symlink_to("/etc/passwd")
    assert read_small(tmp_path / "link", 32) == b""
    out = tmp_path / "out"
    out.mkdir()
    (out / "outputs.npz").write_bytes(b"x" * 1000)
    assert out_dir_within(out, Limits())
    for i in range(200):
        (out / f"f{i}").write_bytes(b"")
    assert not out_dir_within(out, Limits())


def test_gradescope_visibility_of_hidden_cases():
    from grader import report
    from grader.compare import CaseResult

    pub, hid = _case("public"), _case("hidden")
    results = [(pub, CaseResult(pub.name, True, 2.0, 2.0, "")), (hid, CaseResult(hid.name, False, 0.0, 2.0, "x"))]
    sub = {"cases": results,
           "score": 2.0, "max_score": 4.0, "passed": 1, "seconds": 1.2, "stem": "s", "missing": [], "error": "",
           "notes": [], "student_line": "Your code was graded without the grader's sandbox (the instructor chose to).",
           "isolation": "UNSAFE isolation (--allow-unsafe): rlimits only [at /root/instructor/path]"}
    res = report.gradescope_results(sub, hidden_visibility="after_due_date")
    assert [t["visibility"] for t in res["tests"]] == ["visible", "after_due_date"]
    assert "without the grader's sandbox" in res["output"]
    assert "/root" not in json.dumps(res) and "UNSAFE" not in json.dumps(res)  # the instructor's line stays theirs
