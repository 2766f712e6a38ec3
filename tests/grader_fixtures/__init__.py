"""Shared, built-once fixtures of the grader's tests (tests/test_grader*.py).

``released()`` makes one release of this checkout (with a fixed hidden secret) in a temporary
directory per test session; the grader's test modules share it (a plain cache: pytest
fixtures defined in a helper module would be rebuilt per importing module). Likewise
``installed_student()`` installs one copy of its student tree (editable, with the Cython build)
into a fresh venv, once per session.
"""

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HIDDEN_SEED = "grader-tests-v1"
SOLUTION = REPO / "assignment"


@functools.cache
def workdir():
    path = Path(tempfile.mkdtemp(prefix="grader-tests-"))
    path.chmod(0o755)
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.cache
def released():
    from grader.release import release

    return release(workdir() / "release", root=REPO, hidden_seed=HIDDEN_SEED, echo=lambda *a: None)


def fast_limits(**overrides):
    """Small timeouts: the hostile suite's loops and bombs are cut after a few seconds."""
    from grader.sandbox import Limits

    values = {"case_timeout": 4.0, "group_timeout": 60.0, "memory_mb": 768}
    values.update(overrides)
    return Limits(**values)



def student_copy(name):
    """A fresh copy of the released student tree under the session's work directory."""
    dest = workdir() / name
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(released().student, dest)
    return dest


def shim():
    """A directory exposing the build requirements installed in this venv (and nothing else)."""
    import numpy

    site = Path(numpy.__file__).resolve().parents[1]
    path = workdir() / "shim"
    path.mkdir(exist_ok=True)
    for pattern in ("numpy", "numpy.libs", "numpy-*.dist-info", "Cython", "cython.py", "cython-*.dist-info",
                    "setuptools", "setuptools-*.dist-info", "_distutils_hack", "pkg_resources", "wheel",
                    "wheel-*.dist-info", "tqdm", "tqdm-*.dist-info", "threadpoolctl.py", "threadpoolctl-*.dist-info"):
        for target in site.glob(pattern):
            if not (path / target.name).exists():
                (path / target.name).symlink_to(target)
    return path


@functools.cache
def installed_student():
    """(tree, python, env): a copy of the student tree installed with ``pip install -e`` (the Cython
    extension built in place) into a fresh venv whose only other packages are the build requirements
    (``env`` puts them on PYTHONPATH). Raises AssertionError with pip's output if the install fails."""
    tree = student_copy("install-tree")
    venv = workdir() / "student-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    env = dict(os.environ, PYTHONPATH=str(shim()))
    env.pop("PYTHONHOME", None)
    install = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-build-isolation",
                              "--no-deps", "--no-index", "-q", "-e", str(tree)],
                             env=env, capture_output=True, text=True, timeout=900)
    if install.returncode != 0:
        raise AssertionError("pip install -e of the student tree failed:\n"
                             + install.stdout[-3000:] + install.stderr[-3000:])
    return tree, python, env


SYSTEM_PYTHON = "/usr/bin/python3.11"


@functools.cache
def grader_python(readable):
    """A venv of the system's Python with numpy and pyseccomp copied in; inside a 0700 directory unless ``readable``."""
    import numpy

    assert os.path.exists(SYSTEM_PYTHON), f"{SYSTEM_PYTHON} is needed (apt-get install python3.11)"
    parent = workdir() / ("pythons" if readable else "private")
    parent.mkdir(exist_ok=True)
    parent.chmod(0o755 if readable else 0o700)
    venv = parent / "venv"
    subprocess.run([SYSTEM_PYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = next((venv / "lib").glob("python3*/site-packages"))
    source = Path(numpy.__file__).resolve().parents[1]
    import pyseccomp

    for name in ("numpy", "numpy.libs"):
        if (source / name).exists():
            shutil.copytree(source / name, site / name, symlinks=True)
    shutil.copyfile(pyseccomp.__file__, site / "pyseccomp.py")
    return venv / "bin" / "python"
