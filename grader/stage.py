"""The ``assignment`` package a worker imports: the student's modules on top of the grader's given ones.

A stage is a directory holding one package, ``assignment/``:

- the student-owned modules (those with solution regions in the instructor's tree:
  ``layers.py``, ``optim.py``, ``classifiers/*.py``) copied from the submission, and only those;
- every other module (``checks.py``, ``gradient_check.py``, ``layer_utils.py``, ``registry.py``,
  ``solver.py``, ...) from the grader's own copy, whatever the submission holds, so that a
  student cannot, say, patch ``checks.py``;
- stand-ins for the fast twins: ``fast_layers.py``, its numpy fallback ``_fast_numpy.py`` and
  ``gpu_layers.py``, whose every function raises, so that the naive layers cannot hand their work
  to ``conv_forward_fast`` or to the array-API GPU twins (which also run on numpy arrays);
- minimal ``__init__.py`` files, so that one broken student module does not break the import of
  the others (the real ``classifiers/__init__.py`` imports ``linear.py``).
"""

import os
import shutil
from pathlib import Path

PACKAGE = "assignment"

_STANDIN = '''"""Stand-in for assignment.{module} inside the grader: every function raises.

The graded functions are the naive ones; their fast twins are not available while grading.
"""


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)

    def unavailable(*args, **kwargs):
        raise RuntimeError(
            f"assignment.{module}.{{name}} is not available while grading: write the naive version with numpy"
        )

    unavailable.__name__ = name
    return unavailable
'''

STANDINS = {
    "fast_layers.py": _STANDIN.format(module="fast_layers"),
    "_fast_numpy.py": _STANDIN.format(module="_fast_numpy"),
    "gpu_layers.py": _STANDIN.format(module="gpu_layers"),
    "__init__.py": '"""The assignment package, as the grader stages it."""\n',
    "classifiers/__init__.py": '"""Models, as the grader stages them (import each module directly)."""\n',
}

# Given modules that are never staged: the stand-ins above replace them.
REPLACED = tuple(STANDINS)


def given_modules(package_dir, student_modules):
    """Relative paths of the ``.py`` files of ``package_dir`` that are neither student-owned nor replaced."""
    package_dir = Path(package_dir)
    out = []
    for path in sorted(package_dir.rglob("*.py")):
        rel = path.relative_to(package_dir).as_posix()
        if "__pycache__" in rel or rel in student_modules or rel in REPLACED:
            continue
        out.append(rel)
    return out


def _write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)
    os.chmod(path, 0o644)


_MISSING = '''"""Placeholder for a student module that the submission does not have."""

raise ImportError("{rel} was not found in the submission")
'''


def build_stage(dest, given_dir, given, student_sources, missing=()):
    """Write a stage into ``dest``.

    - given_dir: a directory holding the grader's copy of the package (``given_dir/<rel>``)
    - given: the relative paths to take from it
    - student_sources: {relative path: bytes} of the submission's student-owned modules
    - missing: student-owned modules the submission lacks; each becomes a module whose import
      raises ImportError, so that nothing else (an editable install of the solution, say) can
      stand in for it
    """
    dest = Path(dest)
    pkg = dest / PACKAGE
    pkg.mkdir(parents=True, exist_ok=True)
    os.chmod(dest, 0o755)
    os.chmod(pkg, 0o755)
    for rel in given:
        _write(pkg / rel, (Path(given_dir) / rel).read_bytes())
    for rel, text in STANDINS.items():
        _write(pkg / rel, text)
    for rel in missing:
        _write(pkg / rel, _MISSING.format(rel=rel))
    for rel, data in student_sources.items():
        _write(pkg / rel, data)
    return dest


def copy_given(src_package, dest_package, given):
    """Copy the given modules of a package (the autograder's ``given/`` directory)."""
    for rel in given:
        target = Path(dest_package) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(src_package) / rel, target)
