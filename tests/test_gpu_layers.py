"""The GPU twins: CuPy import rules, and the twins' math checked against the naive layers.

gpu_layers is written against the array API, so the same functions run on numpy arrays here
(every machine) and on CuPy arrays on a GPU (tests marked ``gpu``, skipped without one).
"""

import subprocess
import sys

import numpy as np
import pytest

from assignment import devices, gpu_layers, layers

CONV_GRID = [((2, 3, 7, 9), (4, 3, 3, 5), 2, 2), ((1, 1, 5, 5), (2, 1, 3, 3), 1, 0),
             ((3, 2, 6, 6), (5, 2, 4, 2), 2, 1), ((2, 3, 8, 8), (3, 3, 3, 3), 1, 1)]
POOL_GRID = [((2, 3, 8, 8), 2, 2, 2), ((2, 2, 7, 9), 3, 3, 2), ((1, 1, 5, 6), 2, 3, 1), ((2, 2, 9, 9), 3, 3, 3),
             ((1, 2, 7, 7), 1, 1, 3)]


def cases(rng, dtype):
    """(label, naive fwd, naive bwd, twin fwd, twin bwd, args) for every twin."""
    def r(*shape):
        return rng.standard_normal(shape).astype(dtype)

    out = []
    for xs, ws, s, p in CONV_GRID:
        out.append((f"conv{xs}{ws}s{s}p{p}", layers.conv_forward_naive, layers.conv_backward_naive,
                    gpu_layers.conv_forward_gpu, gpu_layers.conv_backward_gpu,
                    (r(*xs), r(*ws), r(ws[0]), {"stride": s, "pad": p})))
    for xs, ph, pw, s in POOL_GRID:
        x = r(*xs)
        x[0, 0, :2, :2] = 1.0                                          # a tie inside a window
        out.append((f"pool{xs}{ph}x{pw}s{s}", layers.max_pool_forward_naive, layers.max_pool_backward_naive,
                    gpu_layers.max_pool_forward_gpu, gpu_layers.max_pool_backward_gpu,
                    (x, {"pool_height": ph, "pool_width": pw, "stride": s})))
    out += [
        ("affine", layers.affine_forward, layers.affine_backward, gpu_layers.affine_forward_gpu,
         gpu_layers.affine_backward_gpu, (r(3, 2, 4), r(8, 5), r(5))),
        ("relu", layers.relu_forward, layers.relu_backward, gpu_layers.relu_forward_gpu,
         gpu_layers.relu_backward_gpu, (r(4, 6),)),
        ("batchnorm", layers.batchnorm_forward, layers.batchnorm_backward, gpu_layers.batchnorm_forward_gpu,
         gpu_layers.batchnorm_backward_gpu, (r(6, 5), r(5), r(5), {"mode": "train"})),
        ("layernorm", layers.layernorm_forward, layers.layernorm_backward, gpu_layers.layernorm_forward_gpu,
         gpu_layers.layernorm_backward_gpu, (r(6, 5), r(5), r(5), {})),
        ("spatial_batchnorm", layers.spatial_batchnorm_forward, layers.spatial_batchnorm_backward,
         gpu_layers.spatial_batchnorm_forward_gpu, gpu_layers.spatial_batchnorm_backward_gpu,
         (r(2, 3, 4, 5), r(3), r(3), {"mode": "train"})),
        ("spatial_groupnorm", layers.spatial_groupnorm_forward, layers.spatial_groupnorm_backward,
         gpu_layers.spatial_groupnorm_forward_gpu, gpu_layers.spatial_groupnorm_backward_gpu,
         (r(2, 6, 4, 5), r(1, 6, 1, 1), r(1, 6, 1, 1), 3, {})),
        ("dropout", layers.dropout_forward, layers.dropout_backward, gpu_layers.dropout_forward_gpu,
         gpu_layers.dropout_backward_gpu, (r(5, 7), {"mode": "train", "p": 0.6, "seed": 3})),
    ]
    return out


TOL = {np.float64: 1e-10, np.float32: 2e-4}


def copy_args(args, to_device=lambda a: a):
    return tuple(to_device(a.copy()) if isinstance(a, np.ndarray) else (dict(a) if isinstance(a, dict) else a)
                 for a in args)


def compare(twin_fwd, twin_bwd, naive_fwd, naive_bwd, args, dtype, to_device=lambda a: a, to_host=np.asarray):
    want, want_cache = naive_fwd(*copy_args(args))
    dout = np.random.default_rng(9).standard_normal(want.shape).astype(dtype)
    want_grads = naive_bwd(dout, want_cache)
    want_grads = want_grads if isinstance(want_grads, tuple) else (want_grads,)

    device_args = copy_args(args, to_device)
    before = [to_host(a).copy() for a in device_args if hasattr(a, "shape")]
    got, cache = twin_fwd(*device_args)
    grads = twin_bwd(to_device(dout), cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    after = [to_host(a) for a in device_args if hasattr(a, "shape")]
    for b, a in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b, err_msg="an input was mutated")

    scale = TOL[dtype]
    assert got.dtype == want.dtype
    np.testing.assert_allclose(to_host(got), want, rtol=scale, atol=scale)
    for g, w in zip(grads, want_grads, strict=True):
        assert g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(to_host(g), w, rtol=scale, atol=scale * 10)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_twins_on_numpy_arrays_agree_with_naive(dtype):
    for label, naive_fwd, naive_bwd, twin_fwd, twin_bwd, args in cases(np.random.default_rng(0), dtype):
        try:
            compare(twin_fwd, twin_bwd, naive_fwd, naive_bwd, args, dtype)
        except AssertionError as e:
            raise AssertionError(f"{label}: {e}") from None


@pytest.mark.parametrize("loss", ["softmax", "svm"])
def test_loss_twins_on_numpy_agree_with_naive(loss):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((7, 4)), rng.integers(4, size=7)
    want_loss, want_dx = getattr(layers, f"{loss}_loss")(x, y)
    got_loss, got_dx = getattr(gpu_layers, f"{loss}_loss_gpu")(x, y)
    assert got_loss == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(got_dx, want_dx, rtol=1e-12, atol=1e-15)


def test_twins_raise_the_naive_errors():
    x = np.zeros((1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"_param\['stride'\] = 2 does not tile"):
        gpu_layers.conv_forward_gpu(x, np.zeros((1, 1, 2, 2)), np.zeros(1), {"stride": 2, "pad": 0})
    with pytest.raises(ValueError, match=r"_param\['stride'\] = 2 does not tile"):
        gpu_layers.max_pool_forward_gpu(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    with pytest.raises(ValueError, match="labels"):
        gpu_layers.softmax_loss_gpu(np.zeros((2, 3)), np.array([0, 3]))


def test_importing_the_package_never_imports_cupy():
    code = ("import sys; import assignment.gpu_layers, assignment.backend, assignment.solver, "
            "assignment.classifiers.cnn, assignment.classifiers.fc_net; "
            "assert 'cupy' not in sys.modules, 'cupy was imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_asking_for_the_gpu_without_cupy_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)  # makes `import cupy` fail
    with pytest.raises(RuntimeError, match=r"pip install -e '\.\[gpu\]'"):
        devices.require_cupy()


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
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_twins_on_cupy_arrays_agree_with_naive(cupy, dtype):
    for label, naive_fwd, naive_bwd, twin_fwd, twin_bwd, args in cases(np.random.default_rng(0), dtype):
        if label == "dropout":
            continue  # the device generator draws another mask; checked below
        try:
            compare(twin_fwd, twin_bwd, naive_fwd, naive_bwd, args, dtype, cupy.asarray, cupy.asnumpy)
        except AssertionError as e:
            raise AssertionError(f"{label}: {e}") from None


@pytest.mark.gpu
def test_dropout_twin_on_cupy_keeps_the_expected_fraction(cupy):
    x = cupy.ones((400, 500), dtype=cupy.float32)
    out, cache = gpu_layers.dropout_forward_gpu(x, {"mode": "train", "p": 0.3, "seed": 1})
    kept = float((out != 0).mean())
    assert abs(kept - 0.3) < 0.01 and out.dtype == cupy.float32
    assert float(out.mean()) == pytest.approx(1.0, abs=0.03)
    dx = gpu_layers.dropout_backward_gpu(x, cache)
    assert bool((dx == out).all())
