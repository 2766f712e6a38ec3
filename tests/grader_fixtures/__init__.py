"""Shared, built-once fixtures of the grader's tests (tests/test_grader*.py).

``released()`` makes one release of this checkout (with a fixed hidden secret) in a temporary
directory per test session; the grader's test modules share it (a plain cache: pytest
fixtures defined in a helper module would be rebuilt per importing module).
"""

import atexit
import functools
import shutil
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

