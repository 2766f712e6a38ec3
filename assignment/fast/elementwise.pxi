# ReLU: included by assignment/fast_layers.pyx (part of the extension assignment._fast_cython).
#
# relu_forward_cpu / relu_backward_cpu, threaded elementwise kernels, and the two ReLU kernels that
# the fused convolution + ReLU applies to each chunk (im2col.pxi, winograd.pxi).
#
# All of it is twin regions (the release's markers): the student release keeps
# relu_forward_cpu and relu_backward_cpu calling the student's own layers.relu_forward and
# layers.relu_backward, and keeps only the signatures of _relu_inplace and _relu_mask (its fused
# twins call layers.relu_* instead and never reach them), so it holds no second copy of the answer.

### BEGIN TWIN
cdef void _relu_fwd(const real* x, real* out, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    cdef real v
    for i in range(lo, hi):
        v = x[i]
        out[i] = 0 if v <= 0 else v          # NaN stays NaN, as np.maximum(x, 0)


cdef void _relu_bwd(const real* dout, const real* x, real* dx, Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(lo, hi):
        dx[i] = dout[i] * (1 if x[i] > 0 else 0)   # a product, as dout * (x > 0): NaN * 0 is NaN


def _relu_fwd_kernel(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[::1] x, real[::1] out):
    if hi <= lo:
        return
    with nogil:
        _relu_fwd(&x[0], &out[0], lo, hi)


def _relu_bwd_kernel(Py_ssize_t lo, Py_ssize_t hi, int tid, const real[::1] dout, const real[::1] x,
                     real[::1] dx):
    if hi <= lo:
        return
    with nogil:
        _relu_bwd(&dout[0], &x[0], &dx[0], lo, hi)


### END TWIN


def relu_forward_cpu(x):
    """ReLU forward on the CPU, max(0, x); the contract of layers.relu_forward.

    Inputs:
    - x: input, of any shape

    Returns a tuple of:
    - out: of x's shape and dtype
    - cache: x
    """
    _require_array("x", x)
    ### BEGIN TWIN: return layers.relu_forward(x)
    if x.dtype not in (np.float32, np.float64):
        return np.maximum(x, 0), x
    xc = np.ascontiguousarray(x)
    out = np.empty(x.shape, dtype=x.dtype)
    _run_ranges(_relu_fwd_kernel, x.size, _elementwise_threads(x.size), (xc.reshape(-1), out.reshape(-1)),
                blas=False)
    return out, x
    ### END TWIN


def relu_backward_cpu(dout, cache):
    """ReLU backward on the CPU; the contract of layers.relu_backward.

    Inputs:
    - dout: upstream derivative, of x's shape
    - cache: x, the input of relu_forward

    Returns:
    - dx: of x's shape and dtype
    """
    x = cache
    _require_array("dout", dout)
    require_shape("dout", dout, x.shape, "the shape of relu_forward's input")
    ### BEGIN TWIN: return layers.relu_backward(dout, cache)
    if x.dtype not in (np.float32, np.float64):
        return (dout * (x > 0)).astype(x.dtype, copy=False)
    xc = np.ascontiguousarray(x)
    dc = np.ascontiguousarray(dout, dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype)
    _run_ranges(_relu_bwd_kernel, x.size, _elementwise_threads(x.size),
                (dc.reshape(-1), xc.reshape(-1), dx.reshape(-1)), blas=False)
    return dx
    ### END TWIN


# The ReLU kernels of the fused conv_relu twins (the student release keeps their signatures only).
cdef void _relu_inplace(real* a, Py_ssize_t n) noexcept nogil:
    """a = max(a, 0) elementwise, as np.maximum(a, 0) (NaN stays NaN)."""
    ### BEGIN TWIN: pass
    cdef Py_ssize_t i
    cdef real v
    for i in range(n):
        v = a[i]
        a[i] = 0 if v <= 0 else v
    ### END TWIN


cdef void _relu_mask(const real* dout, const real* y, real* out, Py_ssize_t n) noexcept nogil:
    """out = dout * (y > 0), a product (NaN in dout stays NaN); y is the ReLU's input or its output."""
    ### BEGIN TWIN: pass
    cdef Py_ssize_t i
    for i in range(n):
        out[i] = dout[i] * (1 if y[i] > 0 else 0)
    ### END TWIN
