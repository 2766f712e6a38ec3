"""Where arrays live: host (numpy) or GPU (CuPy). CuPy is imported only when asked for."""

import numpy as np

INSTALL_HINT = (
    "CuPy is not installed: install the gpu extra, e.g. `pip install -e '.[gpu]'` "
    "(CuPy wheels for CUDA 12: cupy-cuda12x), on a machine with an NVIDIA GPU"
)


def is_cupy(a):
    """True when ``a`` is a CuPy array (decided without importing CuPy)."""
    return type(a).__module__.split(".")[0] == "cupy"


def array_module(*arrays):
    """cupy when any argument is a CuPy array, else numpy."""
    if any(is_cupy(a) for a in arrays):
        import cupy

        return cupy
    return np


def to_host(a):
    """A numpy array of ``a``'s values: copied from the GPU for a CuPy array, as it is otherwise."""
    return a.get() if is_cupy(a) else np.asarray(a)


def require_cupy():
    """Import CuPy and check that a CUDA device is present; a clear RuntimeError otherwise."""
    try:
        import cupy
    except ImportError as e:
        raise RuntimeError(INSTALL_HINT) from e
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # CUDA driver missing or broken
        raise RuntimeError(f"CuPy is installed but no CUDA device can be used: {e}") from e
    if count < 1:
        raise RuntimeError("CuPy is installed but no CUDA device is present")
    return cupy
