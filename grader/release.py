"""``python -m grader release OUT``: the solution checkout -> ``OUT/student/`` and ``OUT/autograder/``.

The release is an ordered list of small steps (``STEPS``), each reading the context the
previous ones filled in:

1. scan: the files to release (``ALLOWLIST`` below, nothing else) and the student-owned
   modules (every ``assignment/**.py`` with a solution region);
2. student: ``OUT/student/`` with every solution region replaced by a TODO and a
   ``raise NotImplementedError("<qualname>: ...")``, every twin region (a working equivalent of
   student code in a given file, see ``grader/markers.py``) by its replacement statement, and
   every notebook's outputs cleared;
3. self-check: ``OUT/student/grader/``, the student's ``python -m grader check`` (no cases of
   the hidden catalog, only the public cases' records, inputs and expected values), and
   ``OUT/student/tests/test_public_cases.py`` (the public cases as pytest tests);
4. cases: every case of ``grader/cases.py`` with its seed (hidden seeds from a fresh secret,
   or ``--hidden-seed``) and its inputs;
5. reference: the solution run on every case (``grader/reference.py``);
6. autograder: ``OUT/autograder/`` (the grader package, the given modules, the cases, inputs
   and reference values readable by their owner only, ``setup.sh``, ``run_autograder``);
7. zip: ``OUT/autograder/autograder.zip`` in Gradescope's layout;
8. leaks: no line of a solution or twin region appears anywhere under ``OUT/student/`` (see
   :func:`forbidden_lines` and :func:`find_leaks`); the release fails if one does.

Released to students (``ALLOWLIST``): the ``assignment/`` package's sources (``*.py``, ``*.pyx``,
``*.pxd``, and the Cython includes and C headers the extension builds from, ``fast/*.pxi`` and
``fast/*.h``) and its data files (``assignment/data/*.npz|md|txt|json``), but no build product
(``*.so``, ``*.c``, ``*.html``, ``__pycache__``); the top-level notebooks; ``pyproject.toml``,
``setup.py``, ``Makefile``, ``README.md``; the public tests (``public_tests``: marked ``public``). Never ``docs/``,
the instructor's ``grader/``, ``scripts/``, ``benchmarks/`` or ``.git``.
"""

import fnmatch
import json
import os
import re
import secrets
import shutil
import stat
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from grader import cases as cases_module
from grader import markers, reference
from grader.stage import copy_given, given_modules

TOP_LEVEL = ("setup.py",)
# The student tree's own top-level files (grader/student_tree/, written by step_student_files):
# its README (the work in order, the commands, Colab, what to hand in), Makefile (test, check,
# notebook, submit) and pyproject (no PyTorch, no instructor tools; JupyterLab and pytest).
STUDENT_FILES = {"README.md": "README.md", "Makefile": "Makefile", "pyproject.toml": "pyproject.toml",
                 "gitignore": ".gitignore"}
PACKAGE = "assignment"
PACKAGE_PATTERNS = ("*.py", "*.pyx", "*.pxd", "fast/*.pxi", "fast/*.h", "data/*.npz", "data/*.md", "data/*.txt",
                    "data/*.json")
# Sources that may hold solution or twin regions (a .pxi is Cython included into the .pyx).
CODE_SUFFIXES = (".py", ".pyx", ".pxd", ".pxi")
PACKAGE_EXCLUDE = ("*.so", "*.c", "*.html", "*.pyc", "__pycache__/*", "*/__pycache__/*", "*.egg-info/*")
# Student-facing tests are the test modules marked ``pytestmark = pytest.mark.public`` (the CS231n
# notebook values, the torch-free layer contract, the numerical-gradient helpers, the ValueError
# contract), their conftest, and the public grading cases as tests (generated). The torch-oracle,
# table and hypothesis suites stay instructor-side.
PUBLIC_MARK = re.compile(r"^pytestmark = pytest\.mark\.public\b", re.MULTILINE)
TEST_SUPPORT = ("tests/conftest.py",)


def public_tests(root):
    """The public test files of ``root``: the conftest and every ``tests/test_*.py`` marked public."""
    tests = Path(root) / "tests"
    marked = [f"tests/{p.name}" for p in sorted(tests.glob("test_*.py")) if PUBLIC_MARK.search(p.read_text())]
    return [t for t in TEST_SUPPORT if (Path(root) / t).is_file()] + marked
NEVER = ("docs", "grader", "scripts", "benchmarks", ".git")

# Modules of grader/ shipped in the student tree for `python -m grader check` (no catalog of
# cases, no release, no grading of a class).
STUDENT_GRADER = ("submit.py", "caserecord.py", "compare.py", "npzsafe.py", "worker.py", "contain.py", "stage.py",
                  "sandbox.py", "runner.py", "check.py")
GRADER_DIR = Path(__file__).resolve().parent
STUDENT_TREE = GRADER_DIR / "student_tree"
STUDENT_MAIN = "grader_main.py"  # the student's python -m grader: check and submit only


@dataclass
class Context:
    root: Path
    out: Path
    hidden_secret: str
    submit_to: str = ""                                  # where students upload (the student README says it)
    files: list = field(default_factory=list)            # released paths, relative to root
    student_modules: list = field(default_factory=list)  # relative to assignment/
    given: list = field(default_factory=list)            # relative to assignment/
    removed: dict = field(default_factory=dict)          # released path -> [(qualname, region lines)]
    twins: dict = field(default_factory=dict)            # released path -> [(qualname, twin region lines)]
    cases: list = field(default_factory=list)
    inputs: dict = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    log: list = field(default_factory=list)

    @property
    def student(self):
        return self.out / "student"

    @property
    def autograder(self):
        return self.out / "autograder"


# ----------------------------------------------------------------------------------------------
# 1. scan
# ----------------------------------------------------------------------------------------------


def _matches(rel, pattern):
    """A pattern with a slash matches the path at that depth; one without, the file name at any depth."""
    if "/" in pattern:
        return rel.count("/") == pattern.count("/") and fnmatch.fnmatch(rel, pattern)
    return fnmatch.fnmatch(rel.rsplit("/", 1)[-1], pattern)


def released_files(root):
    """The allowlisted files of the solution checkout, as sorted relative posix paths."""
    root = Path(root)
    out = [name for name in TOP_LEVEL if (root / name).is_file()]
    out += sorted(p.name for p in root.glob("*.ipynb") if p.is_file())
    pkg = root / PACKAGE
    for path in sorted(pkg.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        rel = path.relative_to(pkg).as_posix()
        if any(fnmatch.fnmatch(rel, pat) for pat in PACKAGE_EXCLUDE):
            continue
        if any(_matches(rel, pat) for pat in PACKAGE_PATTERNS):
            out.append(f"{PACKAGE}/{rel}")
    out += public_tests(root)
    for rel in out:
        if rel.split("/")[0] in NEVER:
            raise AssertionError(f"{rel} must never be released")
    return out


def step_scan(ctx):
    ctx.files = released_files(ctx.root)
    pkg = ctx.root / PACKAGE
    ctx.student_modules = sorted(
        p.relative_to(pkg).as_posix() for p in pkg.rglob("*.py")
        if "__pycache__" not in p.parts and markers.has_regions(p.read_text())
    )
    if not ctx.student_modules:
        raise RuntimeError(f"no solution regions under {pkg}: is {ctx.root} the instructor's checkout?")
    ctx.given = given_modules(pkg, ctx.student_modules)
    ctx.log.append(f"student-owned modules: {', '.join(ctx.student_modules)}")


# ----------------------------------------------------------------------------------------------
# 2. the student tree
# ----------------------------------------------------------------------------------------------


def strip_file(rel, data):
    """(released bytes, removed solution regions) of one allowlisted file.

    Solution regions become stubs, twin regions their replacement statements; a released
    ``.py`` must still compile.
    """
    if rel.endswith(".ipynb"):
        text, removed = markers.strip_notebook(data.decode("utf-8"), name=rel)
        return text.encode("utf-8"), removed
    if rel.endswith(CODE_SUFFIXES):
        text = data.decode("utf-8")
        if markers.has_regions(text) or markers.has_twins(text):
            stripped, removed = markers.strip_code(text, where=rel)
            if rel.endswith(".py"):
                compile(stripped, rel, "exec")
            return stripped.encode("utf-8"), removed
    return data, []


def step_student(ctx):
    for rel in ctx.files:
        data = (ctx.root / rel).read_bytes()
        released, removed = strip_file(rel, data)
        if removed:
            ctx.removed[rel] = removed
        if rel.endswith(CODE_SUFFIXES) and markers.has_twins(data.decode("utf-8")):
            ctx.twins[rel] = markers.twin_regions_removed(data.decode("utf-8"), where=rel)
        target = ctx.student / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(released)
    n = sum(len(v) for v in ctx.removed.values())
    t = sum(len(v) for v in ctx.twins.values())
    ctx.log.append(f"student tree: {len(ctx.files)} files, {n} solution regions stubbed, "
                   f"{t} twin regions replaced ({', '.join(sorted(ctx.twins)) or 'none'})")


def work_table(removed):
    """The student README's table: each notebook, in the order of the work, with the functions it checks.

    ``removed`` is the release's {released path: [(qualname, region)]}; every stubbed function of
    a module must belong to a notebook (``cases.NOTEBOOK_OF``).
    """
    rows = {nb: {} for nb in cases_module.NOTEBOOKS}
    cells = {nb: 0 for nb in cases_module.NOTEBOOKS}
    for rel, regions in removed.items():
        if rel.endswith(".ipynb"):
            cells[rel] = len(regions)
            continue
        for qualname, _ in regions:
            notebook = cases_module.NOTEBOOK_OF.get(qualname)
            if notebook is None:
                raise RuntimeError(f"{rel}: {qualname} has no notebook in grader/cases.py NOTEBOOK_OF")
            names = rows[notebook].setdefault(rel, [])
            if qualname not in names:
                names.append(qualname)
    lines = ["| step | notebook | what you write |", "| --- | --- | --- |"]
    first = ("assignment/layers.py", "assignment/optim.py")  # the layers, then the update rules, then the models
    for step, notebook in enumerate(cases_module.NOTEBOOKS, start=1):
        files = sorted(rows[notebook], key=lambda rel: (first.index(rel) if rel in first else len(first), rel))
        parts = ["; ".join(f"{', '.join(f'`{q}`' for q in rows[notebook][rel])} in `{rel}`" for rel in files)]
        if cells.get(notebook):
            parts.append(f"{cells[notebook]} cells of the notebook (code and inline questions)")
        lines.append(f"| {step} | `{notebook}` | {'; '.join(p for p in parts if p)} |")
    return "\n".join(lines)


def step_student_files(ctx):
    for source, name in STUDENT_FILES.items():
        text = (STUDENT_TREE / source).read_text()
        if name == "README.md":
            text = text.replace("<!-- WORK -->", work_table(ctx.removed))
            where = ctx.submit_to or "on Gradescope, unless your course says otherwise"
            text = text.replace("<!-- SUBMIT_TO -->", where)
        (ctx.student / name).write_text(text)
    ctx.log.append(f"student files: {', '.join(STUDENT_FILES.values())}")


# ----------------------------------------------------------------------------------------------
# 3. the student's self-check
# ----------------------------------------------------------------------------------------------

STUDENT_INIT = '''"""The student's self-check: ``python -m grader check`` runs the public grading cases.

The instructor's grader runs these and hidden cases (other seeds, other shapes) in a sandbox.
"""
'''

PUBLIC_TEST = '''"""The grader's public cases as tests: the same inputs, expected values and comparator.

``python -m grader check`` runs them too and prints a summary. The grader also runs hidden
cases with other inputs and shapes; they are not here, and passing these does not
guarantee passing those.
"""

import pytest

from grader import check

_RESULTS = {}


def _result(name):
    if not _RESULTS:
        _RESULTS.update(check.run_public())
    return _RESULTS[name]


@pytest.mark.parametrize("name", check.public_case_names())
def test_public_case(name):
    case, result = _result(name)
    if not result.passed:
        pytest.fail(f"{result.reason}\\n{check.explain(case, result)}", pytrace=False)
'''


def step_student_grader(ctx):
    target = ctx.student / "grader"
    target.mkdir(parents=True, exist_ok=True)
    (target / "__init__.py").write_text(STUDENT_INIT)
    for name in STUDENT_GRADER:
        shutil.copyfile(GRADER_DIR / name, target / name)
    shutil.copyfile(STUDENT_TREE / STUDENT_MAIN, target / "__main__.py")
    (ctx.student / "tests").mkdir(exist_ok=True)
    (ctx.student / "tests" / "test_public_cases.py").write_text(PUBLIC_TEST)


def write_public_data(ctx):
    """The public cases' records, inputs and expected values (after the reference step)."""
    import numpy as np

    public = [c for c in ctx.cases if not c.hidden]
    target = ctx.student / "grader"
    (target / "public_cases.json").write_text(json.dumps(
        {"student_modules": ctx.student_modules,
         "grade_max_score": sum(c.points for c in ctx.cases),  # the grade's scale: public and hidden points
         "notebooks": {c.name: cases_module.notebook_of(c.name) for c in public},
         "notebook_order": list(cases_module.NOTEBOOKS),
         "submit_to": ctx.submit_to,
         "cases": [c.to_json() for c in public]}, indent=1) + "\n")
    np.savez_compressed(target / "public_inputs.npz",
                        **{f"{c.name}:{k}": v for c in public for k, v in ctx.inputs[c.name].items()})
    np.savez_compressed(target / "public_expected.npz",
                        **{f"{c.name}:{k}": v for c in public for k, v in ctx.reference[c.name].items()})


# ----------------------------------------------------------------------------------------------
# 4-5. cases, inputs, reference values
# ----------------------------------------------------------------------------------------------


def step_cases(ctx):
    ctx.cases = cases_module.all_cases(ctx.hidden_secret)
    ctx.inputs = {c.name: cases_module.make_inputs(c) for c in ctx.cases}
    hidden = sum(c.hidden for c in ctx.cases)
    ctx.log.append(f"cases: {len(ctx.cases)} ({hidden} hidden), {sum(c.points for c in ctx.cases):g} points")


def step_reference(ctx):
    ctx.reference = reference.compute(ctx.root / PACKAGE, ctx.student_modules, ctx.given,
                                      cases_module.groups_of(ctx.cases), ctx.inputs)
    write_public_data(ctx)


# ----------------------------------------------------------------------------------------------
# 6-7. the autograder
# ----------------------------------------------------------------------------------------------

SETUP_SH = """#!/usr/bin/env bash
# Gradescope: install what the autograder needs (runs once, as root, when the image is built).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# bubblewrap where the container allows namespaces; libseccomp2 + pyseccomp for the seccomp layer,
# which with Landlock contains the workers where it does not (Gradescope's Docker containers).
apt-get install -y -qq python3 python3-venv python3-pip bubblewrap libseccomp2
python3 -m venv /autograder/venv
/autograder/venv/bin/python -m pip install --quiet --upgrade pip
/autograder/venv/bin/python -m pip install --quiet "numpy>=2" "pyseccomp>=0.1.2"
# Which layers work in this image, and the mode `grade` will use (shown in the image build's log).
cd /autograder/source && /autograder/venv/bin/python -m grader doctor || true
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope: grade /autograder/submission into /autograder/results/results.json.
set -u
cd /autograder/source
# The grader's data is readable by root only, and nothing it writes to is writable by others: a
# worker under its own uid can neither open the references nor plant results, with or without
# bubblewrap. On a kernel without Landlock these permissions are the file wall, and `grade` proves
# them (as each worker uid) before it runs any student code.
chmod -R go-w /autograder/source
chmod -R go-rwx /autograder/source/inputs /autograder/source/reference /autograder/source/cases.json
chmod -R go-rwx /autograder/submission  # the grader stages its own copy; no worker reads the upload
mkdir -p /autograder/results
chmod 0755 /autograder/results
PY=/autograder/venv/bin/python
# A worker's memory (its address space) stays 256 MiB under the container's limit (Gradescope's
# 768 MiB by default), so that a submission that exhausts it gets a MemoryError for its own cases
# instead of the kernel's OOM killer, which kills without saying why and might pick the grader.
MEM=1024
for f in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
    if [ -r "$f" ]; then
        limit=$(cat "$f")
        case "$limit" in
            ''|*[!0-9]*) ;;
            *) cap=$(( limit / 1048576 - 256 )); if [ "$cap" -lt "$MEM" ]; then MEM=$cap; fi ;;
        esac
        break
    fi
done
if [ "$MEM" -lt 256 ]; then MEM=256; fi
# Five case groups of at most 100 s each stay under Gradescope's default 10-minute limit, so a
# submission that hangs everywhere still gets per-test results instead of Gradescope's bare 0.
"$PY" -m grader grade --autograder /autograder/source --out /autograder/results/grader -j 1 \\
    --case-timeout 15 --group-timeout 100 --memory-mb "$MEM" /autograder/submission
if [ -f /autograder/results/grader/submission/results.json ]; then
    cp /autograder/results/grader/submission/results.json /autograder/results/results.json
else
    # No results: the grader refused (it could not contain student code here: its one line above,
    # for the staff) or failed. The student gets one neutral line.
    cat > /autograder/results/results.json <<'EOF'
{"score": 0, "output": "The autograder could not grade this submission; please tell the course staff.", "tests": []}
EOF
fi
"""


def step_autograder(ctx):
    ag = ctx.autograder
    (ag / "grader").mkdir(parents=True, exist_ok=True)
    for path in sorted(GRADER_DIR.glob("*.py")):
        shutil.copyfile(path, ag / "grader" / path.name)
    copy_given(ctx.root / PACKAGE, ag / "given" / PACKAGE, ctx.given)
    manifest = {
        "format": 1,
        "student_modules": ctx.student_modules,
        "given_modules": ctx.given,
        "groups": {g: list(m) for g, m in cases_module.GROUPS.items()},
        "python": sys.version.split()[0],
    }
    (ag / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    (ag / "cases.json").write_text(json.dumps([c.to_json() for c in ctx.cases], indent=1) + "\n")
    os.chmod(ag / "cases.json", 0o600)
    for group, cases in cases_module.groups_of(ctx.cases).items():
        reference.write_group_files(ag, group, cases, ctx.inputs, ctx.reference)
    for name, text in (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER)):
        (ag / name).write_text(text)
        os.chmod(ag / name, 0o755)


def step_zip(ctx):
    ag = ctx.autograder
    with zipfile.ZipFile(ag / "autograder.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ag.rglob("*")):
            if not path.is_file() or path.name == "autograder.zip" or "__pycache__" in path.parts:
                continue
            rel = path.relative_to(ag).as_posix()
            info = zipfile.ZipInfo(rel, date_time=(2020, 1, 1, 0, 0, 0))
            mode = 0o755 if rel in ("setup.sh", "run_autograder") else 0o644
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())
    os.chmod(ag / "autograder.zip", 0o600)  # it holds the reference values: its owner's only


def step_prairielearn(ctx):
    """OUT/prairielearn/: the course's server files, the question and its grading image (docs/prairielearn.md)."""
    from grader import prairielearn

    ctx.log.append(prairielearn.write_course(ctx.out / "prairielearn", ctx.autograder, ctx.student_modules))


def step_slurm(ctx):
    """OUT/slurm/: grade.sbatch (an array job of shards, then a dependent merge job) and its README."""
    from grader import slurm

    ctx.log.append(slurm.write_slurm(ctx.out / "slurm", ctx.autograder))


# ----------------------------------------------------------------------------------------------
# 8. the leak check
# ----------------------------------------------------------------------------------------------


def scan_regions(root, rel):
    """([(where, kind, body lines)], {normalized lines outside every region}) of one released source.

    A notebook is read cell by cell (it holds solution regions only); a source (``CODE_SUFFIXES``)
    as a whole; any other text file has no region, only lines outside.
    """
    path = Path(root) / rel
    regions, outside = [], set()
    if rel.endswith(".ipynb"):
        nb = json.loads(path.read_text())
        for index, cell in enumerate(nb.get("cells", [])):
            src = cell.get("source", "")
            src_lines = ("".join(src) if isinstance(src, list) else src).splitlines()
            where = f"{rel} cell {index}"
            found = markers.find_regions(src_lines, where)
            if markers.find_twin_regions(src_lines, where):
                raise markers.MarkerError(f"{where}: a twin region in a notebook cell")
            regions += [(where, markers.SOLUTION, r.body(src_lines)) for r in found]
            outside.update(_outside(src_lines, found))
        return regions, outside
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        return regions, outside
    lines = text.splitlines()
    found = markers.find_all_regions(lines, rel) if rel.endswith(CODE_SUFFIXES) else []
    regions = [(rel, r.kind, r.body(lines)) for r in found]
    return regions, _outside(lines, found)


def _outside(lines, regions):
    inside = set()
    for r in regions:
        inside.update(range(r.begin, r.end + 1))
    return {markers.normalize_line(x) for i, x in enumerate(lines) if i not in inside}


def region_lines(root, files=None, kinds=(markers.SOLUTION, markers.TWIN)):
    """[(normalized line, where, kind, excused)] of every line of every region of ``kinds`` in ``files``
    (default: the released sources other than the tests), in file order.

    ``excused`` is None for a forbidden line, else why it may appear in the student tree:

    - ``"trivial"`` (:func:`markers.is_trivial_line`) or ``"plumbing"``
      (:func:`markers.is_plumbing_line`): it computes nothing;
    - ``"scaffolding"``: it also occurs outside every region of a file that holds solution
      regions (a student module or a notebook): the code students receive around their TODOs,
      such as the argument checks of ``layers.py``;
    - ``"kept in <file>"``: it also occurs outside every region of the region's own file (a
      twin file's given code, e.g. a check the convolution twins share).
    """
    if files is None:
        files = [f for f in released_files(root) if not f.startswith("tests/")]
    scanned = {rel: scan_regions(root, rel) for rel in files}
    scaffolding = set()
    for regions, outside in scanned.values():
        if any(kind == markers.SOLUTION for _, kind, _ in regions):
            scaffolding |= outside
    out = []
    for rel, (regions, outside) in scanned.items():
        for where, kind, body in regions:
            if kind not in kinds:
                continue
            for line in body:
                norm = markers.normalize_line(line)
                if markers.is_trivial_line(norm):
                    excused = "trivial"
                elif markers.is_plumbing_line(norm):
                    excused = "plumbing"
                elif norm in scaffolding:
                    excused = "scaffolding"
                elif norm in outside:
                    excused = f"kept in {rel}"
                else:
                    excused = None
                out.append((norm, where, kind, excused))
    return out


def forbidden_lines(root):
    """{normalized line: where it comes from} of the lines that must not appear in the student tree.

    Every line of every solution region and of every twin region of the released sources (the
    package, the notebooks, the top-level files; the tests hold no region) is forbidden unless,
    normalized, it is trivial (blank, only brackets and punctuation, or a bare ``else:``,
    ``pass``, ``return``...), plumbing (it computes nothing: an unpacking of a name or a shape,
    an ``if`` on a flag, a ``for`` header over a name, a ``return`` of names), scaffolding (it
    also occurs outside every region of a student module or notebook: students get it around
    their TODOs) or kept code of its own file (outside every region of that file). A line that
    occurs only in the given code of some OTHER file is not excused: that given code would be a
    working equivalent of the region, which is what this check exists to catch (mark it as a
    twin region).
    """
    forbidden = {}
    lines = region_lines(root)
    for wanted in (markers.SOLUTION, markers.TWIN):  # a line in both kinds is reported with its solution region
        for norm, where, kind, excused in lines:
            if excused is None and kind == wanted:
                forbidden.setdefault(norm, where)
    return forbidden


def find_leaks(root, student_dir):
    """[(path under student_dir, line number, line, where it comes from)] of forbidden lines found.

    Every file under ``student_dir`` is read: notebooks cell by cell (sources and text
    outputs), other files as UTF-8 text line by line; a file that is not UTF-8 text (the
    public cases' ``.npz`` arrays, the package's data) cannot hold a line and is listed by
    :func:`binary_files`.
    """
    forbidden = forbidden_lines(root)
    leaks = []
    for path in sorted(Path(student_dir).rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(student_dir).as_posix()
        if path.suffix == ".ipynb":
            lines = markers.notebook_lines(path.read_text())
        else:
            try:
                lines = path.read_bytes().decode("utf-8").splitlines()
            except UnicodeDecodeError:
                continue
        for i, line in enumerate(lines, start=1):
            norm = markers.normalize_line(line)
            if norm in forbidden:
                leaks.append((rel, i, line, forbidden[norm]))
    return leaks


def binary_files(student_dir):
    out = []
    for path in sorted(Path(student_dir).rglob("*")):
        if path.is_file() and path.suffix != ".ipynb":
            try:
                path.read_bytes().decode("utf-8")
            except UnicodeDecodeError:
                out.append(path.relative_to(student_dir).as_posix())
    return out


def step_leaks(ctx):
    leaks = find_leaks(ctx.root, ctx.student)
    if leaks:
        shown = "\n".join(f"  {p}:{n}: {line.strip()}  (from {w})" for p, n, line, w in leaks[:20])
        raise RuntimeError(f"{len(leaks)} solution or twin line(s) leaked into {ctx.student}:\n{shown}")
    ctx.log.append(f"leak check: {len(forbidden_lines(ctx.root))} solution and twin lines, none under {ctx.student}")


STEPS = (
    ("scan the solution", step_scan),
    ("write the student tree", step_student),
    ("write the student's README, Makefile and pyproject", step_student_files),
    ("write the student's self-check", step_student_grader),
    ("draw the cases and their inputs", step_cases),
    ("compute the reference values", step_reference),
    ("write the autograder", step_autograder),
    ("zip the autograder for Gradescope", step_zip),
    ("write the PrairieLearn question, server files and image", step_prairielearn),
    ("write the Slurm array job", step_slurm),
    ("check that no solution line leaked", step_leaks),
)


# What a release writes into OUT (a new release replaces each).
OUTPUTS = ("student", "autograder", "prairielearn", "slurm")


def _prepare_out(out):
    out = Path(out)
    if out.exists():
        extra = [p.name for p in out.iterdir() if p.name not in OUTPUTS]
        if extra:
            raise FileExistsError(f"{out} holds other things ({', '.join(sorted(extra)[:5])}); "
                                  f"release into an empty or new directory")
        for sub in OUTPUTS:
            if (out / sub).exists():
                shutil.rmtree(out / sub)
    out.mkdir(parents=True, exist_ok=True)
    return out


def release(out, root=None, hidden_seed=None, submit_to="", echo=print):
    """Run every step; returns the context (paths, cases, log)."""
    root = Path(root or Path.cwd()).resolve()
    if not (root / PACKAGE).is_dir():
        raise FileNotFoundError(f"{root} has no {PACKAGE}/ package: run release from the solution checkout")
    secret = str(hidden_seed) if hidden_seed is not None else secrets.token_hex(16)
    ctx = Context(root=root, out=_prepare_out(out).resolve(), hidden_secret=secret, submit_to=submit_to)
    for title, step in STEPS:
        before = len(ctx.log)
        step(ctx)
        said = "; ".join(ctx.log[before:])
        echo(f"release: {title}" + (f" ({said})" if said else ""))
    echo(f"release: student tree in {ctx.student}; autograder in {ctx.autograder} "
         f"(upload {ctx.autograder / 'autograder.zip'} to Gradescope)")
    return ctx
