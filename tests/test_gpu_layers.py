"""The GPU twins: CuPy import rules, and the twins' math checked against the naive layers.

gpu_layers is written against the array API, so the same functions run on numpy arrays here
(every machine) and on CuPy arrays on a GPU (tests marked ``gpu``, skipped without one).
"""

import copy
import subprocess
import sys
import warnings

import numpy as np
import pytest

from assignment import devices, gpu_layers, gradient_check, layers

# The twins' values, gradients, dtypes and argument errors, op by op against torch, the naive layers and
# numerical gradients, on numpy arrays ("gpu-host") and on a device ("gpu"): tests/ops/test_table.py,
# from the rows of assignment.registry. What follows is particular to the GPU twins.

TOL = {np.float64: 1e-10, np.float32: 2e-4}


def test_twins_raise_the_naive_errors():
    x = np.zeros((1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"_param\['stride'\] = 2 does not tile"):
        gpu_layers.conv_forward_gpu(x, np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 2, "pad": 0})
    with pytest.raises(ValueError, match=r"_param\['stride'\] = 2 does not tile"):
        gpu_layers.max_pool_forward_gpu(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match="labels"):
        gpu_layers.softmax_loss_gpu(np.zeros((2, 3)), np.array([0, 3]))


def test_importing_the_package_never_imports_cupy():
    code = ("import sys; import assignment.gpu_layers, assignment.registry, assignment.solver, "
            "assignment.classifiers.cnn, assignment.classifiers.fc_net; "
            "assert 'cupy' not in sys.modules, 'cupy was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_asking_for_the_gpu_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[gpu\]'"):
        devices.require_cupy()


# ---------------------------------------------------------------------------------------------
# Sigmoid, tanh, average pooling and the kinds of dropout, on numpy arrays (the host path),
# against the plain numpy references below (float64 math, loops for the pooling)
# ---------------------------------------------------------------------------------------------

DTYPES = [np.float64, np.float32]
# (x shape, PH, PW, stride): overlapping windows (stride < window), non-square windows and
# inputs, stride 1, windows that tile exactly, 1x1 windows that skip pixels, N = 1, C = 1.
AVG_POOL_GRID = [((2, 3, 8, 8), 2, 2, 2), ((2, 2, 7, 9), 3, 3, 2), ((1, 1, 5, 6), 2, 3, 1),
                 ((2, 2, 9, 9), 3, 3, 3), ((1, 2, 7, 7), 1, 1, 3), ((3, 1, 6, 5), 4, 1, 1), ((1, 3, 9, 5), 3, 5, 2)]


def ref_sigmoid(x):
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(over="ignore", under="ignore"):
        return 1 / (1 + np.exp(-x))


def ref_avg_pool(x, ph, pw, s):
    N, C, H, W = x.shape
    out = np.zeros((N, C, 1 + (H - ph) // s, 1 + (W - pw) // s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s : i * s + ph, j * s : j * s + pw].astype(np.float64).mean(axis=(2, 3))
    return out


def ref_avg_pool_backward(dout, x_shape, ph, pw, s):
    dx = np.zeros(x_shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s : i * s + ph, j * s : j * s + pw] += dout[:, :, i, j][:, :, None, None] / (ph * pw)
    return dx


def check(got, want, dtype):
    assert got.dtype == dtype and got.shape == want.shape, (got.dtype, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=TOL[dtype], atol=TOL[dtype])


def run_pair(forward, backward, args, dout):
    """(out, cache, dx) of forward(*args) and backward(dout, cache), checking that neither call
    modifies its arguments (dicts included) nor dout."""
    before = copy.deepcopy(args), dout.copy()
    out, cache = forward(*args)
    dx = backward(dout, cache)
    for old, new in zip(before[0], args, strict=True):
        if isinstance(old, np.ndarray):
            assert new.dtype == old.dtype
            np.testing.assert_array_equal(new, old, err_msg="a forward modified its input")
        else:
            assert new == old, "a forward modified its param dict"
    np.testing.assert_array_equal(dout, before[1], err_msg="a backward modified dout")
    return out, cache, dx


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_twin_matches_the_reference(dtype, rng):
    x = (rng.standard_normal((4, 5, 3)) * 8).astype(dtype)
    x[0, 0, :3] = [0.0, -30.0, 30.0]
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache, dx = run_pair(gpu_layers.sigmoid_forward_gpu, gpu_layers.sigmoid_backward_gpu, (x,), dout)
    s = ref_sigmoid(x)
    check(out, s, dtype)
    assert cache is out or np.array_equal(cache, out)  # the cache is the output
    check(dx, dout * s * (1 - s), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tanh_twin_matches_the_reference(dtype, rng):
    x = (rng.standard_normal((6, 7)) * 3).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    out, cache, dx = run_pair(gpu_layers.tanh_forward_gpu, gpu_layers.tanh_backward_gpu, (x,), dout)
    t = np.tanh(x.astype(np.float64))
    check(out, t, dtype)
    assert np.array_equal(cache, out)
    check(dx, dout * (1 - t**2), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_tanh_twins_at_1000_neither_overflow_nor_warn(dtype):
    x = np.array([[-1000.0, -100.0, -1.0, 0.0], [1.0, 100.0, 1000.0, -0.0]], dtype=dtype)
    dout = np.ones_like(x)
    with warnings.catch_warnings(), np.errstate(all="raise"):
        warnings.simplefilter("error")
        s, s_cache = gpu_layers.sigmoid_forward_gpu(x)
        ds = gpu_layers.sigmoid_backward_gpu(dout, s_cache)
        t, t_cache = gpu_layers.tanh_forward_gpu(x)
        dt = gpu_layers.tanh_backward_gpu(dout, t_cache)
    for a in (s, ds, t, dt):
        assert a.dtype == dtype and np.isfinite(a).all()
    assert (s[0, 0], s[1, 2], s[0, 3], s[1, 3]) == (0.0, 1.0, 0.5, 0.5)
    assert (ds[0, 0], ds[1, 2], ds[0, 3]) == (0.0, 0.0, 0.25)
    assert (t[0, 0], t[1, 2], dt[0, 0], dt[1, 2]) == (-1.0, 1.0, 0.0, 0.0)
    np.testing.assert_allclose(s, ref_sigmoid(x), rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, ph, pw, s", AVG_POOL_GRID, ids=lambda v: str(v).replace(" ", ""))
def test_avg_pool_twin_matches_the_reference(shape, ph, pw, s, dtype, rng):
    x = rng.standard_normal(shape).astype(dtype)
    pool_param = {"pool_height": ph, "pool_width": pw, "stride": s}
    H_out, W_out = 1 + (shape[2] - ph) // s, 1 + (shape[3] - pw) // s
    dout = rng.standard_normal((shape[0], shape[1], H_out, W_out)).astype(dtype)
    out, cache, dx = run_pair(gpu_layers.avg_pool_forward_gpu, gpu_layers.avg_pool_backward_gpu,
                              (x, pool_param), dout)
    check(out, ref_avg_pool(x, ph, pw, s), dtype)
    check(dx, ref_avg_pool_backward(dout, shape, ph, pw, s), dtype)
    assert cache[0] is x and cache[1] is pool_param  # the naive layer's cache, (x, pool_param)
    # The backward reads a cache made by hand in the naive layout, and a non-contiguous x.
    x_t = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not x_t.flags.c_contiguous
    check(gpu_layers.avg_pool_forward_gpu(x_t, pool_param)[0], ref_avg_pool(x, ph, pw, s), dtype)
    dx_t = gpu_layers.avg_pool_backward_gpu(dout, (x_t, dict(pool_param)))
    check(dx_t, ref_avg_pool_backward(dout, shape, ph, pw, s), dtype)


def test_avg_pool_twin_backward_matches_a_numerical_gradient(rng):
    x = rng.standard_normal((2, 2, 7, 6))
    pool_param = {"pool_height": 3, "pool_width": 2, "stride": 2}  # overlapping rows, non-square
    out, cache = gpu_layers.avg_pool_forward_gpu(x, pool_param)
    dout = rng.standard_normal(out.shape)
    num = gradient_check.eval_numerical_gradient_array(
        lambda t: gpu_layers.avg_pool_forward_gpu(t, pool_param)[0], x.copy(), dout)
    assert gradient_check.rel_error(gpu_layers.avg_pool_backward_gpu(dout, cache), num) < 1e-8


def test_avg_pool_twin_rejects_bad_geometry():
    x = np.zeros((1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"pool_param\['stride'\] = 2 does not tile"):
        gpu_layers.avg_pool_forward_gpu(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match="'pool_width'"):
        gpu_layers.avg_pool_forward_gpu(x, {"pool_height": 2, "stride": 1})
    _, cache = gpu_layers.avg_pool_forward_gpu(x, {"pool_height": 3, "pool_width": 3, "stride": 2})
    with pytest.raises(ValueError, match=r"dout must have shape \(1, 1, 2, 2\).*got shape \(1, 1, 3, 3\)"):
        gpu_layers.avg_pool_backward_gpu(np.zeros((1, 1, 3, 3)), cache)


def ref_keep(seed, shape, p):
    return np.random.default_rng(seed).random(shape) < p


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [None, "inverted", "vanilla"])
def test_dropout_twin_kinds_in_train_mode(kind, dtype, rng):
    x = (rng.standard_normal((30, 40)) + 2).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    p = 0.7
    param = {"mode": "train", "p": p, "seed": 5} | ({} if kind is None else {"kind": kind})
    out, (cache_param, mask), dx = run_pair(gpu_layers.dropout_forward_gpu, gpu_layers.dropout_backward_gpu,
                                            (x, param), dout)
    keep = ref_keep(5, x.shape, p)  # the same draws as numpy's default_rng(seed): the host is the device here
    want_mask = keep.astype(np.float64) if kind == "vanilla" else keep / p
    assert cache_param is param and mask.dtype == dtype and out.dtype == dtype and dx.dtype == dtype
    check(mask, want_mask, dtype)
    if kind == "vanilla":
        assert set(np.unique(mask)) <= {0.0, 1.0}  # 0 or 1, never scaled
    check(out, x * want_mask, dtype)
    check(dx, dout * want_mask, dtype)
    # The generator in dropout_param["rng"] gives the same mask as its seed.
    rng_param = dict(param, rng=np.random.default_rng(5))
    del rng_param["seed"]
    np.testing.assert_array_equal(gpu_layers.dropout_forward_gpu(x, rng_param)[1][1], mask)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", [None, "inverted", "vanilla"])
def test_dropout_twin_kinds_in_test_mode(kind, dtype, rng):
    x = rng.standard_normal((5, 6)).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    p = 0.3
    param = {"mode": "test", "p": p, "seed": 1} | ({} if kind is None else {"kind": kind})
    out, (_, mask), dx = run_pair(gpu_layers.dropout_forward_gpu, gpu_layers.dropout_backward_gpu, (x, param), dout)
    assert mask is None and out.dtype == dtype and dx.dtype == dtype
    scale = p if kind == "vanilla" else 1.0
    check(out, x.astype(np.float64) * scale, dtype)
    check(dx, dout.astype(np.float64) * scale, dtype)
    assert out is not x and dx is not dout  # copies, even for the identity
    assert not np.shares_memory(out, x) and not np.shares_memory(dx, dout)


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("kind", ["Vanilla", "standard", None, 1])
def test_dropout_twin_rejects_an_unknown_kind(kind, mode):
    with pytest.raises(ValueError, match=r"dropout_param\['kind'\] must be 'inverted' or 'vanilla', got "):
        gpu_layers.dropout_forward_gpu(np.ones((2, 3)), {"mode": mode, "p": 0.5, "kind": kind})


BAD_CALLS = [
    ("sigmoid int x", "sigmoid_forward", (np.arange(4),)),
    ("tanh int x", "tanh_forward", (np.arange(4),)),
    ("avg_pool no stride", "avg_pool_forward", (np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2})),
    ("avg_pool not a dict", "avg_pool_forward", (np.zeros((1, 1, 4, 4)), [2, 2, 2])),
    ("avg_pool 3-d x", "avg_pool_forward", (np.zeros((1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 2})),
    ("avg_pool window too big", "avg_pool_forward",
     (np.zeros((1, 1, 4, 4)), {"pool_height": 5, "pool_width": 2, "stride": 1})),
    ("avg_pool stride 0", "avg_pool_forward",
     (np.zeros((1, 1, 4, 4)), {"pool_height": 2, "pool_width": 2, "stride": 0})),
    ("dropout bad kind", "dropout_forward", (np.ones(3), {"mode": "train", "p": 0.5, "kind": "gaussian"})),
    ("dropout p 0", "dropout_forward", (np.ones(3), {"mode": "train", "p": 0.0})),
    ("dropout p True", "dropout_forward", (np.ones(3), {"mode": "train", "p": True})),
    ("dropout no p", "dropout_forward", (np.ones(3), {"mode": "train"})),
    ("dropout bad mode", "dropout_forward", (np.ones(3), {"mode": "eval", "p": 0.5})),
    ("dropout int x", "dropout_forward", (np.arange(3), {"mode": "train", "p": 0.5})),
]


@pytest.mark.parametrize("label, op, args", BAD_CALLS, ids=[c[0] for c in BAD_CALLS])
def test_new_twins_raise_the_naive_layers_errors(label, op, args):
    naive = getattr(layers, op if op in ("sigmoid_forward", "tanh_forward", "dropout_forward") else f"{op}_naive")
    with pytest.raises(ValueError) as want:
        naive(*copy.deepcopy(args))
    with pytest.raises(ValueError) as got:
        getattr(gpu_layers, f"{op}_gpu")(*copy.deepcopy(args))
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("op", ["sigmoid", "tanh"])
def test_activation_twins_check_dout(op):
    out, cache = getattr(gpu_layers, f"{op}_forward_gpu")(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3\).*got shape \(3, 2\)"):
        getattr(gpu_layers, f"{op}_backward_gpu")(np.zeros((3, 2)), cache)
    with pytest.raises(ValueError, match="dout must be a floating-point array"):
        getattr(gpu_layers, f"{op}_backward_gpu")(np.zeros((2, 3), dtype=int), cache)
    with pytest.raises(ValueError, match="x must be a numpy or CuPy array, got list"):
        getattr(gpu_layers, f"{op}_forward_gpu")([0.0, 1.0])


# ---------------------------------------------------------------------------------------------
# On a GPU (skipped where CuPy or a CUDA device is missing)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def cupy():
    try:
        return devices.require_cupy()
    except RuntimeError as e:
        pytest.skip(f"no GPU: {e}")


@pytest.mark.gpu
def test_dropout_twin_on_cupy_keeps_the_expected_fraction(cupy):
    x = cupy.ones((400, 500), dtype=cupy.float32)
    out, cache = gpu_layers.dropout_forward_gpu(x, {"mode": "train", "p": 0.3, "seed": 1})
    kept = float((out != 0).mean())
    assert abs(kept - 0.3) < 0.01 and out.dtype == cupy.float32
    assert float(out.mean()) == pytest.approx(1.0, abs=0.03)
    dx = gpu_layers.dropout_backward_gpu(x, cache)
    assert bool((dx == out).all())


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_new_twins_on_cupy_match_the_references(cupy, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((4, 50)) * 8).astype(dtype)
    x[0, :2] = [-1000, 1000]
    dout = rng.standard_normal(x.shape).astype(dtype)
    s, cache = gpu_layers.sigmoid_forward_gpu(cupy.asarray(x))
    ds = gpu_layers.sigmoid_backward_gpu(cupy.asarray(dout), cache)
    assert s.dtype == dtype and ds.dtype == dtype
    check(cupy.asnumpy(s), ref_sigmoid(x), dtype)
    check(cupy.asnumpy(ds), dout * ref_sigmoid(x) * (1 - ref_sigmoid(x)), dtype)
    t, cache = gpu_layers.tanh_forward_gpu(cupy.asarray(x))
    check(cupy.asnumpy(gpu_layers.tanh_backward_gpu(cupy.asarray(dout), cache)), dout * (1 - np.tanh(x) ** 2), dtype)
    for shape, ph, pw, st in AVG_POOL_GRID:
        xp_ = rng.standard_normal(shape).astype(dtype)
        param = {"pool_height": ph, "pool_width": pw, "stride": st}
        out, cache = gpu_layers.avg_pool_forward_gpu(cupy.asarray(xp_), param)
        check(cupy.asnumpy(out), ref_avg_pool(xp_, ph, pw, st), dtype)
        d = rng.standard_normal(out.shape).astype(dtype)
        check(cupy.asnumpy(gpu_layers.avg_pool_backward_gpu(cupy.asarray(d), cache)),
              ref_avg_pool_backward(d, shape, ph, pw, st), dtype)


@pytest.mark.gpu
def test_vanilla_dropout_twin_on_cupy(cupy):
    x = cupy.ones((400, 500), dtype=cupy.float32)
    out, cache = gpu_layers.dropout_forward_gpu(x, {"mode": "train", "p": 0.3, "seed": 1, "kind": "vanilla"})
    assert out.dtype == cupy.float32 and set(cupy.asnumpy(cupy.unique(out)).tolist()) <= {0.0, 1.0}
    assert abs(float(out.mean()) - 0.3) < 0.01
    assert bool((gpu_layers.dropout_backward_gpu(x, cache) == out).all())
    test_out, test_cache = gpu_layers.dropout_forward_gpu(x, {"mode": "test", "p": 0.3, "kind": "vanilla"})
    assert bool((test_out == cupy.float32(0.3)).all()) and test_out.dtype == cupy.float32
    assert bool((gpu_layers.dropout_backward_gpu(x, test_cache) == cupy.float32(0.3)).all())
