"""The two sets of fast CPU twins behind ``assignment.fast_layers``, for tests that run on each.

- ``BACKENDS``: ``("cython", "numpy")``, the compiled twins and the pure-numpy fallback.
- ``twins(backend)``: that backend's module (``assignment._fast_cython`` / ``assignment._fast_numpy``).
  Where the compiled twins are not in use (``ASSIGNMENT_FAST_LAYERS=numpy``, or a tree installed
  without a C compiler) a test asking for them is skipped with the reason; tests/test_fast_backend.py
  checks that the normal run has them.
- ``cython()``: ``twins("cython")``, for tests of the compiled twins' internals (threads, chunks,
  Winograd, SIMD kernels).
- ``cupy_device()``: CuPy, for tests of the GPU twins on a device; skips without CuPy or a CUDA device.
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


def cupy_device():
    """The cupy module where CuPy and a CUDA device are both there; skips the calling test otherwise."""
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as exc:  # noqa: BLE001 - any CUDA runtime failure means: no usable GPU
        pytest.skip(f"no usable CUDA device ({type(exc).__name__}: {exc})")
    return cupy
