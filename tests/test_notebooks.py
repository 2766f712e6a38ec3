"""The student notebooks: each executes top to bottom, and every check it prints says ``ok``.

Each notebook is copied into a temporary folder and executed there with nbclient, in a kernel
of this interpreter (``notebook_utils.execute_notebook``), with ``ASSIGNMENT_FAST_NOTEBOOKS=1``
so that training cells take their small budgets. A run fails when

- a cell raises (nbclient's CellExecutionError) or runs past the per-cell timeout;
- a check line (``name: relative error 2.2e-08 (should be below 1e-07) ok``, printed by
  ``assignment/notebook_utils.py``) ends in ``TOO LARGE`` / ``TOO SMALL``;
- fewer check lines or figures appear than the notebook is known to print, so that a check
  skipped silently (a cell that stopped printing, an ``if`` around it) fails too.

The last two tests run a notebook against a deliberately broken layer (patched in the kernel
by a cell put in front of the notebook) and expect the run to fail: once through a wrong
value (a check line says TOO LARGE), once through a layer that raises like a student's stub.

The notebooks are generated from their jupytext sources (``notebooks/<Name>.py``) by
``scripts/build_notebooks.py``; the first tests check that the stored ``.ipynb`` are exactly what
the sources give, and that what students receive names nothing they do not have.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytest.importorskip("nbclient", reason="the notebook tests need the dev extra (nbclient)")
pytest.importorskip("ipykernel", reason="the notebook tests need the dev extra (ipykernel)")

from nbclient.exceptions import CellExecutionError  # noqa: E402

from assignment import notebook_utils  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CELL_TIMEOUT = 300  # seconds per cell; the small budgets need a few seconds each

# notebook -> (check lines it prints at least, figures it shows at least). The GPU cell of
# ConvolutionalNetworks adds a check line and a figure where CuPy and a device are present.
EXPECTED = {
    "LinearClassifiers": (10, 3),
    "FullyConnectedNets": (56, 4),
    "BatchNormalization": (53, 4),
    "Dropout": (30, 1),
    "ConvolutionalNetworks": (47, 4),
    "NetworkProgression": (15, 4),
}


def load_builder():
    spec = importlib.util.spec_from_file_location("build_notebooks", ROOT / "scripts" / "build_notebooks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_notebook(name, tmp_path, prelude=None):
    """Execute a temporary copy of ``<name>.ipynb`` with the small budgets; returns the executed notebook."""
    copy = tmp_path / f"{name}.ipynb"
    shutil.copyfile(ROOT / f"{name}.ipynb", copy)
    if prelude is not None:
        nb = nbformat.read(copy, as_version=4)
        nb.cells.insert(0, nbformat.v4.new_code_cell(prelude))
        nbformat.write(nb, copy)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    # One BLAS thread unless asked otherwise: the notebooks' matrices are small, and OpenBLAS's
    # spinning worker threads slow them down many times over on a busy 2-core machine.
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "1")
    env = {"ASSIGNMENT_FAST_NOTEBOOKS": "1", "PYTHONPATH": pythonpath, "OPENBLAS_NUM_THREADS": blas_threads}
    return notebook_utils.execute_notebook(copy, cwd=tmp_path, timeout=CELL_TIMEOUT, env=env)


def judge(name, nb):
    """Fail on a check line that is not ok, or on fewer check lines or figures than expected."""
    checks = notebook_utils.parse_check_lines(notebook_utils.notebook_text(nb))
    bad = [c["line"] for c in checks if not c["ok"]]
    assert not bad, f"{name}: checks failed:\n" + "\n".join(bad)
    min_checks, min_figures = EXPECTED[name]
    assert len(checks) >= min_checks, f"{name}: {len(checks)} check lines, expected at least {min_checks}"
    figures = notebook_utils.notebook_figures(nb)
    assert len(figures) >= min_figures, f"{name}: {len(figures)} figures, expected at least {min_figures}"
    assert all(png.startswith(b"\x89PNG") for png in figures)
    return checks


def test_notebooks_are_stored_clean_and_match_their_sources():
    builder = load_builder()
    assert set(builder.NOTEBOOKS) == set(EXPECTED)
    assert {p.stem for p in (ROOT / "notebooks").glob("*.py")} == set(EXPECTED), "a source without its notebook"
    for name in builder.NOTEBOOKS:
        text = (ROOT / f"{name}.ipynb").read_text()
        nb = nbformat.reads(text, as_version=4)
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{name}: stored with outputs"
        assert text == builder.render(builder.build(name)), (
            f"{name}.ipynb differs from notebooks/{name}.py: run python scripts/build_notebooks.py"
        )


def test_build_script_check_passes_on_the_stored_notebooks():
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_notebooks_have_real_magics_and_no_jupytext_metadata():
    builder = load_builder()
    for name in EXPECTED:
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        assert dict(nb.metadata) == builder.METADATA, f"{name}: notebook metadata {dict(nb.metadata)}"
        assert all(cell.metadata == {} for cell in nb.cells), f"{name}: a cell carries metadata"
        code = [line for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()]
        assert "%load_ext autoreload" in code and "%autoreload 2" in code, f"{name}: the setup magics are missing"
        # The percent sources comment magics out ("# %load_ext ..."); jupytext must restore them.
        assert not [line for line in code if re.match(r"#\s*%", line)], f"{name}: a magic stayed commented out"


# What students lack: the release ships the top-level notebooks without these folders and commands.
NOT_FOR_STUDENTS = re.compile(
    r"(?<![\w./-])(notebooks|scripts|docs|benchmarks)/|make notebooks\b|grader (release|grade)\b"
    r"|BENCHMARKS\.md|build_notebooks|jupytext|generated from",
    re.IGNORECASE,
)


def test_notebooks_name_nothing_students_do_not_have():
    for name in EXPECTED:
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        found = [(i, m.group(0)) for i, c in enumerate(nb.cells) for m in NOT_FOR_STUDENTS.finditer(c.source)]
        assert not found, f"{name}: cells name what students do not have: {found}"


def test_execute_writes_a_scratch_copy_and_leaves_the_tracked_notebooks(tmp_path, monkeypatch):
    builder = load_builder()
    ran = []

    def fake_execute(path, cwd=None, timeout=None, env=None):  # stands in for nbclient: no kernel
        ran.append(Path(path))
        nb = nbformat.read(path, as_version=4)
        last_code = [cell for cell in nb.cells if cell.cell_type == "code"][-1]
        last_code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="x: relative error 0 ok\n")]
        return nb

    monkeypatch.setattr(notebook_utils, "execute_notebook", fake_execute)
    before = {name: (ROOT / f"{name}.ipynb").read_bytes() for name in EXPECTED}
    assert builder.main(["--execute", "--into", str(tmp_path), "Dropout"]) == 0
    assert ran == [tmp_path / "Dropout.ipynb"]
    assert '"output_type"' in (tmp_path / "Dropout.ipynb").read_text()
    assert {name: (ROOT / f"{name}.ipynb").read_bytes() for name in EXPECTED} == before
    with pytest.raises(SystemExit):
        builder.main(["--execute", "--into", str(ROOT)])


def test_notebooks_mark_solutions_and_answer_every_inline_question():
    for name in EXPECTED:
        nb = nbformat.read(ROOT / f"{name}.ipynb", as_version=4)
        cells = nb.cells
        for i, cell in enumerate(cells):
            if cell.cell_type == "markdown" and cell.source.startswith("**Inline Question"):
                follower = cells[i + 1]
                assert follower.cell_type == "markdown" and follower.source.startswith("**Your answer:**"), (name, i)
                assert "### BEGIN SOLUTION" in follower.source and "### END SOLUTION" in follower.source
        sources = [c.source for c in cells if c.cell_type == "code"]
        assert sum(s.count("### BEGIN SOLUTION") for s in sources) == sum(s.count("### END SOLUTION") for s in sources)


def test_check_lines_parse():
    line = "conv_forward_naive out: relative error 2.21e-08 (should be below 1e-07) ok"
    (c,) = notebook_utils.parse_check_lines(line)
    assert (c["name"], c["what"], c["value"], c["bound"], c["ok"]) == (
        "conv_forward_naive out", "relative error", 2.21e-08, 1e-07, True
    )
    (c,) = notebook_utils.parse_check_lines("five-layer net: training accuracy 0.800 (should be at least 1) TOO SMALL")
    assert not c["ok"] and c["relation"] == "at least"
    assert notebook_utils.parse_check_lines("Initial loss: 2.3\n(Epoch 1 / 5) train acc: 0.8") == []


def test_check_printers_say_too_large_for_nan_and_wrong_shapes(capsys):
    import numpy as np

    assert notebook_utils.check_rel_error("x", np.ones(3), np.ones(3), 1e-12) == 0.0
    assert notebook_utils.check_rel_error("y", np.ones(3), np.ones(4), 1e-12) == float("inf")
    assert not notebook_utils.check_below("z", "relative error", float("nan"), 1.0)
    verdicts = [c["verdict"] for c in notebook_utils.parse_check_lines(capsys.readouterr().out)]
    assert verdicts == ["ok", "TOO LARGE", "TOO LARGE"]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_notebook_runs_and_every_check_passes(name, tmp_path):
    nb = run_notebook(name, tmp_path)
    judge(name, nb)
    if name == "FullyConnectedNets":
        # The Solver's progress bar (tqdm) shows in the cells that train.
        stderr = "".join(
            out.get("text", "") for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if out.get("name") == "stderr"
        )
        assert "train:" in stderr and "it/s" in stderr
    assert not (ROOT / f"{name}.ipynb").read_text().count('"output_type"'), "the repository copy got outputs"


BREAK_SVM_LOSS = """
import assignment.layers as _layers

_svm_loss = _layers.svm_loss

def svm_loss(x, y):  # off by 1%: a plausible student bug
    loss, dx = _svm_loss(x, y)
    return 1.01 * loss, dx

_layers.svm_loss = svm_loss
"""

STUB_SOFTMAX_LOSS = """
import assignment.layers as _layers

def softmax_loss(x, y):
    raise NotImplementedError("softmax_loss: not implemented yet (a TODO of the assignment)")

_layers.softmax_loss = softmax_loss
"""


def test_a_wrong_layer_fails_its_check_line(tmp_path):
    nb = run_notebook("LinearClassifiers", tmp_path, prelude=BREAK_SVM_LOSS)
    wrong = r"svm_loss loss vs CS231n's 8\.99960274909623: relative error \S+ \(should be below 1e-10\) TOO LARGE"
    with pytest.raises(AssertionError, match=wrong):
        judge("LinearClassifiers", nb)


def test_a_layer_that_raises_fails_the_run(tmp_path):
    with pytest.raises(CellExecutionError, match="softmax_loss: not implemented yet"):
        run_notebook("LinearClassifiers", tmp_path, prelude=STUB_SOFTMAX_LOSS)
