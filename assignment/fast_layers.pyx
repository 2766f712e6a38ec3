# cython: language_level=3
"""Fast CPU twins of the naive layers (Cython). Filled in by the fast-layers work."""

cimport cython
import numpy as np

ctypedef fused real:
    float
    double


@cython.boundscheck(False)
@cython.wraparound(False)
def relu_forward_cpu(real[:, ::1] x):
    """ReLU on a 2-D C-contiguous array; returns a new array of x's dtype."""
    cdef Py_ssize_t i, j
    out_arr = np.empty_like(np.asarray(x))
    cdef real[:, ::1] out = out_arr
    with nogil:
        for i in range(x.shape[0]):
            for j in range(x.shape[1]):
                out[i, j] = x[i, j] if x[i, j] > 0 else 0
    return out_arr
