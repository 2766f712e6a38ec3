"""The two sets of fast CPU twins behind ``assignment.fast_layers``, for tests that run on each.

- ``BACKENDS``: ``("cython", "numpy")``, the compiled twins and the pure-numpy fallback.
- ``twins(backend)``: that backend's module (``assignment._fast_cython`` / ``assignment._fast_numpy``).
  Where the compiled twins are not in use (``ASSIGNMENT_FAST_LAYERS=numpy``, or a tree installed
  without a C compiler) a test asking for them is skipped with the reason; tests/test_fast_backend.py
  checks that the normal run has them.
- ``cython()``: ``twins("cython")``, for tests of the compiled twins' internals (threads, chunks,
  Winograd, SIMD kernels).
"""

import pytest

from assignment import fast_layers

BACKENDS = ("cython", "numpy")


def twins(backend):
    """The module of ``backend``'s twins; skips the calling test where the compiled ones are not in use."""
    if backend == "cython" and fast_layers.CYTHON is None:
        pytest.skip(f"the compiled fast layers are not in use: {fast_layers.REASON}")
    return fast_layers.twins(backend)


def cython():
    return twins("cython")
