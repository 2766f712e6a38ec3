"""Shared fixtures and helpers for the test suite.

- ``rng``: a fresh ``np.random.default_rng`` with a fixed seed for every test, so tests are
  reproducible and independent of the order they run in. (The global numpy RNG is banned by
  ruff's NPY002.)
- ``oracles``: the PyTorch reference module ``oracles`` of the instructor's tests (session-scoped,
  so it also serves hypothesis tests); a test asking for it is skipped when torch is not installed.
  Modules that need it in every test may instead call ``pytest.importorskip("torch")`` at
  their top and then ``import oracles``.
- ``snapshot`` / ``assert_unchanged``: copy a set of inputs before a call and check afterwards
  that the call did not modify them (forwards never mutate inputs; backwards never mutate dout).
- ``assert_close``: compare a result with a reference at a tolerance that depends on the dtype.
"""

import importlib

import numpy as np
import pytest

SEED = 231


def pytest_report_header(config):
    # Shows which copy of the package is under test (the mutation check of the layers relies on it).
    # Imported here, not at module level, so that a broken layers.py fails only its own tests.
    try:
        layers = importlib.import_module("assignment.layers")
    except Exception as exc:  # noqa: BLE001 - reported, not swallowed
        return f"assignment.layers: not importable ({type(exc).__name__}: {exc})"
    return f"assignment.layers: {layers.__file__}"


@pytest.fixture
def rng():
    return np.random.default_rng(SEED)


@pytest.fixture(scope="session")
def oracles():
    pytest.importorskip("torch")
    import oracles as module

    return module


# Tolerances for comparisons with an independent reference computed at the same dtype.
TOLERANCE = {
    np.dtype(np.float64): 1e-10,
    np.dtype(np.float32): 1e-4,
}


def assert_close(got, want, dtype=None, what="", tol=None):
    """``got`` matches ``want`` elementwise within ``tol * (|want| + max|want|)``.

    The absolute part is scaled by the largest magnitude in ``want`` so that float32
    cancellation in small entries (e.g. batch-norm dx) is judged relative to the array.
    """
    want = np.asarray(want)
    got = np.asarray(got)
    if tol is None:
        tol = TOLERANCE[np.dtype(dtype if dtype is not None else want.dtype)]
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def snapshot(*arrays):
    return [np.array(a, copy=True) for a in arrays]


def assert_unchanged(before, arrays, names=None):
    for i, (old, new) in enumerate(zip(before, arrays, strict=True)):
        name = names[i] if names else f"argument {i}"
        assert old.dtype == np.asarray(new).dtype, f"{name} changed dtype"
        np.testing.assert_array_equal(np.asarray(new), old, err_msg=f"{name} was modified")
