"""The CPU twins' own contract, beyond the operation table's checks (tests/ops/test_table.py).

The table-driven test runs every row of ``assignment.registry`` (naive, Cython, its numpy fallback,
CuPy) against torch, the naive layer and numerical gradients. The tests here are particular to the
fast CPU twins (the rows of ``registry.TWINS``): memory layouts, dtype promotion, the ValueError
messages, NaN, the GPU dispatch, the CS231n notebook's fast-vs-naive cells, run on both sets of CPU
twins, the compiled Cython ones and the pure-numpy fallback (``twins`` fixture); the Cython-only tests
of its threads, chunks, Winograd and SIMD kernels close the file. The ``cython`` ones skip where
ASSIGNMENT_FAST_LAYERS=numpy blocks the extension (``make test-fallback``) or no compiler built it.
"""

import platform
import sys
import types

import fast_backends
import numpy as np
import pytest
from fast_backends import BACKENDS

from assignment import layers
from assignment.gradient_check import rel_error
from assignment.registry import CONV, MAX_POOL, TWINS

DTYPES = (np.float32, np.float64)
@pytest.fixture(params=BACKENDS)
def twins(request):
    """The module of one set of CPU twins: the compiled Cython ones, then the numpy fallback."""
    return fast_backends.twins(request.param)


def _run(twin, impl, arrays, param, dout):
    """Forward then backward with one implementation; numpy in, numpy out."""
    if impl in BACKENDS:
        fast_backends.twins(impl)  # skips where the compiled twins are not in use
    if impl == "gpu":
        cupy = fast_backends.cupy_device()
        out, cache = twin.run_forward("gpu", [cupy.asarray(a) for a in arrays], param)
        grads = twin.grads(twin.backward("gpu")(cupy.asarray(dout), cache))
        return cupy.asnumpy(out), tuple(cupy.asnumpy(g) for g in grads)
    out, cache = twin.run_forward(impl, arrays, param)
    return out, twin.grads(twin.backward(impl)(dout, cache))


def _assert_close(got, want, tol, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.name)
def test_cpu_twin_takes_noncontiguous_and_readonly_inputs(twin, backend):
    case = twin.cases[0]
    arrays, dout = case.draw(np.float64)
    # Fortran-ordered, read-only copies: same values, other memory layouts.
    odd = []
    for a in arrays:
        f = np.asfortranarray(a)
        f.flags.writeable = False
        odd.append(f)
    dout_ro = dout.copy()
    dout_ro.flags.writeable = False
    out, grads = _run(twin, backend, odd, case.param, dout_ro)
    want_out, want_grads = _run(twin, "naive", arrays, case.param, dout)
    _assert_close(out, want_out, 1e-12, "out")
    for got, want in zip(grads, want_grads, strict=True):
        _assert_close(got, want, 1e-12, "grad")


def test_conv_mixed_dtypes_follow_numpy_promotion(twins):
    case = CONV.cases[2]
    (x, w, b), dout = case.draw(np.float64)
    x32 = x.astype(np.float32)
    out, cache = twins.conv_forward_fast(x32, w, b, case.param)
    naive_out, naive_cache = layers.conv_forward_naive(x32, w, b, case.param)
    assert out.dtype == naive_out.dtype == np.float64
    dx, dw, db = twins.conv_backward_fast(dout, cache)
    ndx, ndw, ndb = layers.conv_backward_naive(dout, naive_cache)
    assert (dx.dtype, dw.dtype, db.dtype) == (ndx.dtype, ndw.dtype, ndb.dtype)
    _assert_close(dw, ndw, 1e-10, "dw")


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunk_bytes", [1, 1 << 30])
def test_conv_same_result_for_any_thread_count_and_chunking(threads, chunk_bytes, monkeypatch):
    from threadpoolctl import threadpool_limits

    cython = fast_backends.cython()
    case = CONV.cases[-1]  # N=7: uneven split over threads, several chunks per thread
    arrays, dout = case.draw(np.float64)
    want_out, want_grads = _run(CONV, "naive", arrays, case.param, dout)
    monkeypatch.setattr(cython, "_CHUNK_BYTES", chunk_bytes)
    with threadpool_limits(limits=threads, user_api="openmp"):
        assert cython.num_threads() == threads
        out, grads = _run(CONV, "cython", arrays, case.param, dout)
    _assert_close(out, want_out, 1e-12, "out")
    for got, want in zip(grads, want_grads, strict=True):
        _assert_close(got, want, 1e-12, "grad")


def test_blas_thread_limit_is_restored(twins):
    from threadpoolctl import threadpool_info

    before = [(i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    case = CONV.bench_cases[2]
    arrays, dout = case.draw(np.float32)
    out, cache = twins.conv_forward_fast(*arrays, case.param)
    twins.conv_backward_fast(dout, cache)
    after = [(i["filepath"], i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]
    assert after == before


BAD_CONV = [
    ("stride-does-not-tile", (2, 3, 7, 7), (4, 3, 3, 2), (4,), {"stride": 2, "pad": 0}),
    ("channels-mismatch", (2, 3, 7, 7), (4, 2, 3, 3), (4,), {"stride": 1, "pad": 1}),
    ("bias-shape", (2, 3, 7, 7), (4, 3, 3, 3), (3,), {"stride": 1, "pad": 1}),
    ("filter-too-large", (2, 3, 3, 3), (4, 3, 5, 5), (4,), {"stride": 1, "pad": 0}),
    ("x-not-4d", (3, 7, 7), (4, 3, 3, 3), (4,), {"stride": 1, "pad": 1}),
    ("missing-pad", (2, 3, 7, 7), (4, 3, 3, 3), (4,), {"stride": 1}),
    ("stride-zero", (2, 3, 7, 7), (4, 3, 3, 3), (4,), {"stride": 0, "pad": 1}),
    ("negative-pad", (2, 3, 7, 7), (4, 3, 3, 3), (4,), {"stride": 1, "pad": -1}),
]


def _message(fn, *args):
    with pytest.raises(ValueError) as info:
        fn(*args)
    return str(info.value)


@pytest.mark.parametrize(("label", "xs", "ws", "bs", "param"), BAD_CONV, ids=[c[0] for c in BAD_CONV])
def test_conv_bad_input_raises_the_naive_error(label, xs, ws, bs, param, twins):
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s) for s in (xs, ws, bs))
    want = _message(layers.conv_forward_naive, x, w, b, param)
    assert _message(twins.conv_forward_fast, x, w, b, param) == want


def test_conv_rejects_integer_and_non_arrays_like_naive(twins):
    x = np.ones((2, 3, 5, 5), dtype=np.int64)
    w, b = np.ones((2, 3, 3, 3)), np.ones(2)
    param = {"stride": 1, "pad": 1}
    for args in ((x, w, b, param), (x.tolist(), w, b, param), (x.astype(float), w, b, "stride=1")):
        assert _message(twins.conv_forward_fast, *args) == _message(layers.conv_forward_naive, *args)


def test_conv_backward_rejects_wrong_dout_shape(twins):
    case = CONV.cases[0]
    arrays, dout = case.draw(np.float64)
    _, cache = twins.conv_forward_fast(*arrays, case.param)
    with pytest.raises(ValueError, match="dout"):
        twins.conv_backward_fast(dout[:, :-1], cache)


BAD_POOL = [
    ("stride-does-not-tile", (2, 3, 7, 7), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    ("window-too-large", (2, 3, 3, 3), {"pool_height": 4, "pool_width": 2, "stride": 1}),
    ("x-not-4d", (3, 8, 8), {"pool_height": 2, "pool_width": 2, "stride": 2}),
    ("missing-stride", (2, 3, 8, 8), {"pool_height": 2, "pool_width": 2}),
    ("zero-height", (2, 3, 8, 8), {"pool_height": 0, "pool_width": 2, "stride": 2}),
]


@pytest.mark.parametrize(("label", "xs", "param"), BAD_POOL, ids=[c[0] for c in BAD_POOL])
def test_pool_bad_input_raises_the_naive_error(label, xs, param, twins):
    x = np.random.default_rng(0).standard_normal(xs)
    want = _message(layers.max_pool_forward_naive, x, param)
    assert _message(twins.max_pool_forward_fast, x, param) == want


def test_pool_backward_rejects_wrong_dout_shape(twins):
    case = MAX_POOL.cases[0]
    arrays, dout = case.draw(np.float64)
    _, cache = twins.max_pool_forward_fast(*arrays, case.param)
    with pytest.raises(ValueError, match="dout"):
        twins.max_pool_backward_fast(dout[..., :-1], cache)


def test_pool_nan_routes_like_argmax(twins):
    x = np.array([[[[1.0, np.nan, 3.0, 0.0], [2.0, 5.0, np.nan, np.nan]]]])
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    dout = np.array([[[[10.0, 20.0]]]])
    out, cache = twins.max_pool_forward_fast(x, param)
    assert np.isnan(out).all()
    dx = twins.max_pool_backward_fast(dout, cache)
    want = np.zeros_like(x)
    want[0, 0, 0, 1] = 10.0
    want[0, 0, 1, 2] = 20.0
    np.testing.assert_array_equal(dx, want)


def _cpu_has_avx2():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(
    not (sys.platform.startswith("linux") and platform.machine() == "x86_64" and _cpu_has_avx2()),
    reason="the AVX2 kernels exist only on x86-64 CPUs with AVX2 (checked on Linux)",
)
def test_simd_kernels_are_on_where_the_cpu_has_avx2():
    cython = fast_backends.cython()
    before = cython._set_simd(True)
    try:
        assert before is True  # on from import
        assert cython._set_simd(True) is True
    finally:
        cython._set_simd(before)


@pytest.mark.parametrize("width", [2, 6, 8, 10, 14, 16, 18, 24, 26, 30, 34])
def test_pool_2x2_simd_and_scalar_kernels_agree_bitwise(width):
    """The AVX2 float32 kernels (8- and 4-wide steps, scalar tail) against the scalar ones and the
    naive layer: ties, NaN in every window slot, -inf, planes of every width class."""
    rng = np.random.default_rng(width)
    x = rng.standard_normal((3, 5, 6, width)).astype(np.float32)
    x[rng.random(x.shape) < 0.1] = np.nan
    x[rng.random(x.shape) < 0.15] = 0.5
    x[rng.random(x.shape) < 0.05] = -np.inf
    dout = rng.standard_normal((3, 5, 3, width // 2)).astype(np.float32)
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    cython = fast_backends.cython()
    results = []
    before = cython._set_simd(True)
    try:
        for simd in (True, False):
            cython._set_simd(simd)
            out, cache = cython.max_pool_forward_fast(x, param)
            results.append((out, cache[2], cython.max_pool_backward_fast(dout, cache)))
    finally:
        cython._set_simd(before)
    (out_v, arg_v, dx_v), (out_s, arg_s, dx_s) = results
    np.testing.assert_array_equal(out_v, out_s)
    np.testing.assert_array_equal(arg_v, arg_s)
    np.testing.assert_array_equal(dx_v, dx_s)
    out_n, cache_n = layers.max_pool_forward_naive(x, param)
    np.testing.assert_array_equal(out_v, out_n)
    np.testing.assert_array_equal(dx_v, layers.max_pool_backward_naive(dout, cache_n))


class _FakeCupyArray:
    """Stands in for a CuPy array: only its module name matters to the dispatchers."""

    __module__ = "cupy._core.core"


def _dispatch_rows():
    """(fast name, GPU name, argument count) of every CPU twin in the table."""
    rows = []
    for op in TWINS:
        forward, backward = op.function_names
        nargs = len(op.array_names) + (op.cases[0].params is not None)
        rows += [(f"{forward}_fast", f"{forward}_gpu", nargs), (f"{backward}_fast", f"{backward}_gpu", 2)]
    return rows


@pytest.mark.parametrize(("fast_name", "gpu_name", "nargs"), _dispatch_rows())
def test_cupy_arrays_dispatch_to_gpu_layers(fast_name, gpu_name, nargs, monkeypatch, twins):
    calls = []
    stub = types.ModuleType("assignment.gpu_layers")
    setattr(stub, gpu_name, lambda *args: calls.append(args) or "gpu result")
    monkeypatch.setitem(sys.modules, "assignment.gpu_layers", stub)
    import assignment

    monkeypatch.setattr(assignment, "gpu_layers", stub, raising=False)
    args = (_FakeCupyArray(),) + (None,) * (nargs - 1)
    assert getattr(twins, fast_name)(*args) == "gpu result"
    assert calls == [args]


def test_importing_fast_layers_does_not_import_cupy():
    import subprocess

    code = "import sys, assignment.fast_layers, assignment.registry; print('cupy' in sys.modules)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"


# ---------------------------------------------------------------------------------------------
# The CS231n notebook's fast-vs-naive cells (np.random.seed(231) stream, reproduced locally)
# ---------------------------------------------------------------------------------------------


def test_cs231n_cell17_conv_fast_matches_naive(twins):
    rs = np.random.RandomState(231)
    x = rs.randn(100, 3, 31, 31)
    w = rs.randn(25, 3, 3, 3)
    b = rs.randn(25)
    dout = rs.randn(100, 25, 16, 16)
    conv_param = {"stride": 2, "pad": 1}
    out_naive, cache_naive = layers.conv_forward_naive(x, w, b, conv_param)
    out_fast, cache_fast = twins.conv_forward_fast(x, w, b, conv_param)
    dx_naive, dw_naive, db_naive = layers.conv_backward_naive(dout, cache_naive)
    dx_fast, dw_fast, db_fast = twins.conv_backward_fast(dout, cache_fast)
    # The notebook: "the relative errors should be around e-9 or less".
    assert rel_error(out_naive, out_fast) < 1e-9
    assert rel_error(dx_naive, dx_fast) < 1e-9
    assert rel_error(dw_naive, dw_fast) < 1e-9
    assert rel_error(db_naive, db_fast) < 1e-9


def test_cs231n_cell18_pool_fast_matches_naive(twins):
    rs = np.random.RandomState(231)
    x = rs.randn(100, 3, 32, 32)
    dout = rs.randn(100, 3, 16, 16)
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    out_naive, cache_naive = layers.max_pool_forward_naive(x, pool_param)
    out_fast, cache_fast = twins.max_pool_forward_fast(x, pool_param)
    dx_naive = layers.max_pool_backward_naive(dout, cache_naive)
    dx_fast = twins.max_pool_backward_fast(dout, cache_fast)
    # The notebook: "the relative errors should be close to 0.0".
    assert rel_error(out_naive, out_fast) == 0.0
    assert rel_error(dx_naive, dx_fast) == 0.0


def test_relu_nan_and_inf_follow_the_naive_rules(twins):
    x = np.array([[np.nan, -np.inf, np.inf, -1.0, 0.0, 2.0]] * 8000, dtype=np.float32)  # threaded size
    dout = np.array([[1.0, np.nan, np.inf, np.inf, 3.0, -2.0]] * 8000, dtype=np.float32)
    out, cache = twins.relu_forward_fast(x)
    want_out, want_cache = layers.relu_forward(x)
    np.testing.assert_array_equal(out, want_out)
    with np.errstate(invalid="ignore"):  # inf * 0 in the naive product
        want_dx = layers.relu_backward(dout, want_cache)
    np.testing.assert_array_equal(twins.relu_backward_fast(dout, cache), want_dx)


@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.name)
def test_blas_hold_is_released_after_every_twin(twin):
    """Each parallel section of the Cython twins that holds BLAS to one thread lets go of it (the hold is counted)."""
    from threadpoolctl import threadpool_limits

    cython = fast_backends.cython()
    case = twin.bench_cases[-1]
    arrays, dout = case.draw(np.float32)
    with threadpool_limits(limits=2):
        out, cache = twin.run_forward("cython", arrays, case.param)
        twin.backward("cython")(dout, cache)
    assert cython._blas_depth == 0


@pytest.mark.parametrize("index", [3, 4], ids=["conv4-winograd", "conv5-im2col"])
def test_conv_backward_is_bitwise_repeatable_with_threads(index, twins):
    """The Cython threads take chunks dynamically; dw and db are still summed in one fixed order
    (and the numpy twins, whose BLAS runs on two threads, are repeatable too)."""
    from threadpoolctl import threadpool_limits

    case = CONV.bench_cases[index]  # DeepConvNet's conv4 / conv5 at batch 100: many chunks per thread
    arrays, dout = case.draw(np.float32)
    runs = []
    with threadpool_limits(limits=2):
        for _ in range(3):
            out, cache = twins.conv_forward_fast(*arrays, case.param)
            runs.append((out, *twins.conv_backward_fast(dout, cache)))
    for other in runs[1:]:
        for a, b in zip(runs[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("twin", TWINS, ids=lambda t: t.name)
def test_fast_backward_takes_the_naive_cache(twin, backend):
    """A model may mix tables: each fast backward accepts its naive forward's cache."""
    fast_backends.twins(backend)
    for case in twin.cases[:3]:
        arrays, dout = case.draw(np.float64)
        _, cache = twin.run_forward("naive", arrays, case.param)
        got = twin.grads(twin.backward(backend)(dout, cache))
        want = twin.grads(twin.backward("naive")(dout, cache))
        for g, w in zip(got, want, strict=True):
            _assert_close(g, w, 1e-12, f"{twin.name} {case.label}")


# ----------------------------------------------------------------------------------------------
# The Cython convolution's two algorithms: im2col + BLAS and Winograd F(2x2, 3x3)
# ----------------------------------------------------------------------------------------------

WINOGRAD_SHAPES = [
    # (N, C, H, W), F, pad: odd and even outputs, a 1x1 output, pad 0..3, few channels
    ((2, 3, 5, 7), 4, 1),
    ((1, 4, 6, 6), 5, 0),
    ((3, 2, 8, 5), 3, 2),
    ((1, 1, 3, 3), 1, 0),
    ((2, 3, 4, 9), 2, 3),
    ((2, 16, 7, 7), 16, 1),
    ((3, 8, 9, 4), 8, 2),
    # channel counts and widths that mix the transposes' 4x4 blocks with their edges
    ((2, 6, 10, 11), 7, 1),
    ((1, 18, 6, 9), 13, 0),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("x_shape", "F", "pad"), WINOGRAD_SHAPES, ids=[str(s) for s in WINOGRAD_SHAPES])
def test_winograd_and_im2col_agree_with_naive(x_shape, F, pad, dtype):
    cython = fast_backends.cython()
    rng = np.random.default_rng(hash((x_shape, F, pad)) % 2**32)
    x = rng.standard_normal(x_shape).astype(dtype)
    w = rng.standard_normal((F, x_shape[1], 3, 3)).astype(dtype)
    b = rng.standard_normal(F).astype(dtype)
    param = {"stride": 1, "pad": pad}
    x0, w0 = x.copy(), w.copy()
    want, cache = layers.conv_forward_naive(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), param)
    dout = rng.standard_normal(want.shape)
    want_grads = layers.conv_backward_naive(dout, cache)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for forward, backward in (
        (cython.conv_forward_winograd, cython.conv_backward_winograd),
        (cython.conv_forward_im2col, cython.conv_backward_im2col),
    ):
        out, fcache = forward(x, w, b, param)
        assert out.dtype == dtype
        _assert_close(out, want, tol, f"{forward.__name__} out")
        grads = backward(dout.astype(dtype), fcache)
        for name, got, expect in zip(("dx", "dw", "db"), grads, want_grads, strict=True):
            assert got.dtype == dtype, name
            _assert_close(got, expect, tol, f"{backward.__name__} {name}")
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(w, w0)


def test_conv_cpu_picks_winograd_where_it_measured_faster():
    """docs/fast_layers.md: Winograd for 3x3 stride 1 with C >= 16 and F <= C, im2col elsewhere."""
    cython = fast_backends.cython()
    deep = {case.label.split()[1]: case for case in CONV.bench_cases if case.label.startswith("DeepConvNet")}
    picked = {name: cython._use_winograd(c.shapes[1][1], c.shapes[1][0], 3, 3, 1) for name, c in deep.items()}
    assert picked == {"conv1": False, "conv2": True, "conv3": False, "conv4": True, "conv5": False, "conv6": True}
    assert not cython._use_winograd(32, 32, 3, 3, 2)
    assert not cython._use_winograd(32, 32, 5, 5, 1)


@pytest.mark.parametrize(("w_shape", "stride"), [((4, 3, 5, 5), 1), ((4, 3, 3, 3), 2), ((4, 3, 3, 2), 1)])
def test_winograd_rejects_what_it_cannot_compute(w_shape, stride):
    cython = fast_backends.cython()
    x = np.zeros((1, 3, 9, 9))
    with pytest.raises(ValueError, match="Winograd convolution takes 3x3 filters with stride 1"):
        cython.conv_forward_winograd(x, np.zeros(w_shape), np.zeros(4), {"stride": stride, "pad": 1})


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("chunk_bytes", [1, 1 << 30])
def test_winograd_same_result_for_any_thread_count_and_chunking(threads, chunk_bytes, monkeypatch):
    from threadpoolctl import threadpool_limits

    cython = fast_backends.cython()
    rng = np.random.default_rng(7)
    x = rng.standard_normal((7, 16, 9, 8))
    w = rng.standard_normal((16, 16, 3, 3))
    b = rng.standard_normal(16)
    param = {"stride": 1, "pad": 1}
    want, cache = layers.conv_forward_naive(x, w, b, param)
    dout = rng.standard_normal(want.shape)
    want_grads = layers.conv_backward_naive(dout, cache)
    monkeypatch.setattr(cython, "_WINO_CHUNK_BYTES", chunk_bytes)
    monkeypatch.setattr(cython, "_WINO_BWD_CHUNK_BYTES", chunk_bytes)
    with threadpool_limits(limits=threads, user_api="openmp"):
        out, fcache = cython.conv_forward_winograd(x, w, b, param)
        grads = cython.conv_backward_winograd(dout, fcache)
    _assert_close(out, want, 1e-12, "out")
    for got, expect in zip(grads, want_grads, strict=True):
        _assert_close(got, expect, 1e-12, "grad")


# Output widths and heights for every path of the AVX2 Winograd transforms: fewer than 8 tiles in a tile
# row (masked), exactly 4 (two tile rows per step, with an even and an odd number of tile rows, odd
# output heights and widths), exactly 8, and more than 8 (the last step moved back over done tiles);
# pads 0 to 3.
WINOGRAD_SIMD_SHAPES = [
    ((2, 3, 5, 5), 2, 0),  # 3x3 out: 2x2 tiles
    ((1, 2, 6, 9), 3, 1),  # 6x9 out: 3x5 tiles
    ((2, 5, 8, 8), 4, 1),  # 8x8 out: 4x4 tiles, paired rows
    ((1, 3, 9, 8), 2, 1),  # 9x8 out: 5x4 tiles, one unpaired tile row
    ((2, 3, 7, 7), 3, 1),  # 7x7 out: 4x4 tiles, last output row and column dropped
    ((1, 2, 3, 4), 2, 3),  # 7x8 out from a tiny image: mostly padding
    ((1, 2, 12, 12), 2, 1),  # 6 tiles a row
    ((1, 3, 14, 16), 2, 1),  # 8 tiles a row
    ((1, 3, 17, 19), 2, 1),  # 9x10 tiles, odd width
    ((2, 4, 28, 28), 3, 1),  # 14 tiles a row (DeepConvNet's conv2 width)
    ((1, 2, 33, 37), 3, 2),  # 19 tiles a row, odd
]


@pytest.mark.parametrize(("x_shape", "F", "pad"), WINOGRAD_SIMD_SHAPES, ids=[str(s) for s in WINOGRAD_SIMD_SHAPES])
@pytest.mark.parametrize("relu", [False, True], ids=["conv", "conv_relu"])
def test_winograd_simd_and_cython_transforms_agree_bitwise(x_shape, F, pad, relu):
    """The AVX2 float32 transforms against the Cython ones (same operations in the same order, so the
    same bits) and against the naive layer; with the fused ReLU, its mask and db go through them too."""
    cython = fast_backends.cython()
    rng = np.random.default_rng(hash((x_shape, F, pad)) % 2**32)
    x = rng.standard_normal(x_shape).astype(np.float32)
    x[rng.random(x.shape) < 0.05] = 0
    w = rng.standard_normal((F, x_shape[1], 3, 3)).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    param = {"stride": 1, "pad": pad}
    want, cache = layers.conv_forward_naive(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), param)
    dout = rng.standard_normal(want.shape).astype(np.float32)
    runs = []
    before = cython._set_simd(True)
    try:
        for simd in (True, False):
            cython._set_simd(simd)
            out, fcache = cython._conv_forward_winograd(x, w, b, param, relu)
            grads = cython._conv_backward_winograd(dout, fcache, out if relu else None)
            runs.append((out, *grads))
    finally:
        cython._set_simd(before)
    for name, v, s in zip(("out", "dx", "dw", "db"), *runs, strict=True):
        np.testing.assert_array_equal(v, s, err_msg=name)
    if relu:
        want = np.maximum(want, 0)
        dout = dout * (want > 0)
    _assert_close(runs[0][0], want, 2e-5, "out vs naive")
    want_grads = layers.conv_backward_naive(dout.astype(np.float64), cache)
    for name, got, expect in zip(("dx", "dw", "db"), runs[0][1:], want_grads, strict=True):
        _assert_close(got, expect, 2e-5, f"{name} vs naive")


@pytest.mark.parametrize("bad", [None, (1, 2, 3), ((1, 2), np.zeros(3))], ids=["none", "triple", "short-conv-cache"])
def test_conv_relu_backward_rejects_a_cache_it_cannot_read(bad, twins):
    dout = np.zeros((1, 1, 2, 2))
    with pytest.raises(ValueError, match=r"cache must be the \(\(x, w, b, conv_param\), relu_cache\)"):
        twins.conv_relu_backward_fast(dout, bad)
