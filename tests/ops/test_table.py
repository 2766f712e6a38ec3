"""The one table-driven test: every operation x implementation x dtype x case of ``assignment.registry``.

For each row of ``registry.OPS``, each implementation the row declares and each of its seeded cases,
in float32 and float64:

- the forward's output and every gradient against the PyTorch oracle (``tests/oracles.py``),
- against the naive layer (no torch needed),
- in float64, the backward against a numerical gradient of that implementation's own forward,
- the contract: outputs and gradients keep the inputs' dtypes and shapes, no input array is
  modified, nor the parameter dict (except the running statistics a batch norm keeps there),
- the same ``ValueError`` for a ``dout`` of the wrong shape and for integer inputs.

Implementations: ``naive``; ``cython`` and ``numpy`` (the two sets of CPU twins; ``cython`` skips
where ``ASSIGNMENT_FAST_LAYERS=numpy`` blocks the extension, and ``make test-fallback`` runs that way);
``gpu-host``, the CuPy twins given numpy arrays (the very same code, run by numpy: how the GPU twins
are checked on a machine without one); ``gpu``, the CuPy twins on a CUDA device (marked ``gpu``,
skipped without CuPy and a device). What is particular to one operation lives in
``tests/ops/test_<op>.py`` and the older per-topic files.
"""

import fast_backends
import numpy as np
import pytest

from assignment import fast_layers, gpu_layers, registry

DTYPES = (np.float32, np.float64)
IMPLS = ("naive", "cython", "numpy", "gpu-host", "gpu")


def _declared(op):
    """The implementations of IMPLS that ``op`` declares (``gpu-host`` wherever ``gpu`` is)."""
    have = set(op.impls)
    return [i for i in IMPLS if i in have or (i == "gpu-host" and "gpu" in have)]


GRID = [
    pytest.param(op, case, impl, id=f"{op.name}-{case.label}-{impl}", marks=[pytest.mark.gpu] if impl == "gpu" else [])
    for op in registry.OPS for case in op.cases for impl in _declared(op)
    # a device draws its own random numbers: dropout's mask on a GPU is checked by its statistics
    # (tests/test_gpu_layers.py), its test mode here
    if not (impl == "gpu" and op.device_draws and dict(case.params)["mode"] == "train")
]


def _to_device(cupy, inputs):
    def move(v):
        return cupy.asarray(v) if isinstance(v, np.ndarray) else v

    param = None if inputs.param is None else {k: move(v) for k, v in inputs.param.items()}
    return registry.Inputs(tuple(move(a) for a in inputs.arrays), tuple(move(e) for e in inputs.extra), param,
                           move(inputs.dout))


def run(op, impl, inputs):
    """``(out, grads)`` of one implementation on ``inputs``, as numpy (the loss of a loss op as a float)."""
    if impl in fast_backends.BACKENDS:
        fast_backends.twins(impl)  # skips where the compiled twins are not in use
    if impl == "gpu":
        cupy = fast_backends.cupy_device()
        out, grads = op.call("gpu", _to_device(cupy, inputs))
        return (float(out) if op.is_loss else cupy.asnumpy(out)), tuple(cupy.asnumpy(g) for g in grads)
    return op.call("gpu" if impl == "gpu-host" else impl, inputs)


def _close(got, want, tol, what):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def checked(op, impl, case, dtype):
    """(inputs, out, grads) of one implementation on one case, after checking the contract."""
    inputs = case.inputs(dtype)
    arrays_before = [a.copy() for a in inputs.arrays]
    extra_before = [np.copy(e) for e in inputs.extra]
    dout_before = None if inputs.dout is None else inputs.dout.copy()
    out, grads = run(op, impl, inputs)
    if op.is_loss:
        assert np.ndim(out) == 0 and np.isfinite(out)
    else:
        assert out.dtype == np.dtype(dtype), f"out is {out.dtype} for {np.dtype(dtype)} inputs"
        assert out.shape == case.out_shape
    assert len(grads) == op.n_grads == len(inputs.arrays)
    for got, a in zip(grads, inputs.arrays, strict=True):
        assert got.dtype == a.dtype and got.shape == a.shape, f"a gradient is {got.dtype}{got.shape}"
    for old, new in zip(arrays_before + extra_before, [*inputs.arrays, *inputs.extra], strict=True):
        np.testing.assert_array_equal(new, old, err_msg="an input was modified")
    if dout_before is not None:
        np.testing.assert_array_equal(inputs.dout, dout_before, err_msg="dout was modified")
    if not op.stateful_param:
        fresh = case.inputs(dtype).param
        assert (inputs.param is None) == (fresh is None)
        if fresh is not None:
            assert inputs.param.keys() == fresh.keys(), "keys were added to the parameter dict"
            for k in fresh:
                np.testing.assert_array_equal(inputs.param[k], fresh[k], err_msg=f"param[{k!r}] was modified")
    return inputs, out, grads


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("op", "case", "impl"), GRID)
def test_agrees_with_torch(op, case, impl, dtype, oracles):
    inputs, out, grads = checked(op, impl, case, dtype)
    want_out, want_grads = op.run_oracle(oracles, inputs.arrays, case.inputs(dtype).param, inputs.dout,
                                         inputs.extra)
    tol = op.tol(dtype)
    _close(out, want_out, tol, f"{impl} {op.name} out vs torch")
    for k, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
        _close(got, want, tol, f"{impl} {op.name} grad {k} vs torch")


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("op", "case", "impl"), [p for p in GRID if p.values[2] != "naive"])
def test_agrees_with_naive(op, case, impl, dtype):
    inputs, out, grads = checked(op, impl, case, dtype)
    want_out, want_grads = run(op, "naive", case.inputs(dtype))
    tol = op.tol(dtype)
    _close(out, want_out, tol, f"{impl} {op.name} out vs naive")
    for k, (got, want) in enumerate(zip(grads, want_grads, strict=True)):
        _close(got, want, tol, f"{impl} {op.name} grad {k} vs naive")


PROBES = 12  # entries of each input checked numerically (sampled, seeded: the large cases have millions)


# Not on the device (gpu-host runs the same code), nor at exact ties (not differentiable there: the tie
# rule is checked against torch and the naive layer).
NUMERICAL_GRID = [p for p in GRID if p.values[2] != "gpu" and not p.values[1].ties]


@pytest.mark.parametrize(("op", "case", "impl"), NUMERICAL_GRID)
def test_backward_matches_numerical_gradient(op, case, impl):
    """float64 only (a centred difference in float32 has no digits to compare), at PROBES sampled entries."""
    inputs, out, grads = checked(op, impl, case, np.float64)
    weights = np.ones(()) if op.is_loss else inputs.dout
    rng = np.random.default_rng(0)
    h = 1e-6
    for k, a in enumerate(inputs.arrays):
        for flat in rng.choice(a.size, size=min(PROBES, a.size), replace=False):
            index = np.unravel_index(flat, a.shape)
            sides = []
            for step in (h, -h):
                again = case.inputs(np.float64)  # fresh arrays and param dict: batch norm's state must not drift
                arrays = [b.copy() for b in again.arrays]
                arrays[k][index] += step
                value = run(op, impl, registry.Inputs(tuple(arrays), again.extra, again.param, again.dout))[0]
                sides.append(np.sum(np.asarray(value) * weights))
            numerical = (sides[0] - sides[1]) / (2 * h)
            scale = max(1.0, float(np.max(np.abs(grads[k]))))
            assert abs(grads[k][index] - numerical) <= 1e-6 * scale, (
                f"{impl} {op.name} grad {k}{index}: backward {grads[k][index]:.10g}, numerical {numerical:.10g}")


# The first case of each op; the device path shares its argument checks with gpu-host.
ERROR_GRID = [p for p in GRID if p.values[1] is p.values[0].cases[0] and p.values[2] != "gpu"]


@pytest.mark.parametrize(("op", "case", "impl"), ERROR_GRID)
def test_same_value_errors(op, case, impl):
    """Integer inputs and a dout of the wrong shape: a ValueError naming the argument, in every implementation."""
    if impl in fast_backends.BACKENDS:
        fast_backends.twins(impl)
    fn_impl = "gpu" if impl == "gpu-host" else impl
    inputs = case.inputs(np.float64)
    ints = registry.Inputs((inputs.arrays[0].astype(np.int64), *inputs.arrays[1:]), inputs.extra,
                           inputs.param, inputs.dout)
    with pytest.raises(ValueError, match=r"\bx\b"):
        op.call(fn_impl, ints)
    if op.is_loss:
        bad_y = registry.Inputs(inputs.arrays, (inputs.extra[0] + (case.classes or 2),), None, None)
        with pytest.raises(ValueError, match=r"\by\b"):
            op.call(fn_impl, bad_y)
        return
    wrong = registry.Inputs(inputs.arrays, inputs.extra, case.inputs(np.float64).param,
                            np.zeros(tuple(d + 1 for d in inputs.dout.shape)))
    if op.name == "dropout" and dict(case.params)["mode"] == "test":
        return  # test mode keeps no mask to compare dout with (CS231n's contract)
    with pytest.raises(ValueError, match="dout"):
        op.call(fn_impl, wrong)


def test_every_declared_twin_resolves_and_no_twin_is_unlisted():
    """The naming rule finds every twin a row declares; no ``*_fast`` / ``*_gpu`` function lies outside the table."""
    listed_fast, listed_gpu = set(), set()
    for op in registry.OPS:
        for name in op.function_names:
            if op.fast:
                for module in (fast_layers, fast_layers.twins("numpy")):
                    assert callable(getattr(module, f"{name}_fast")), f"{module.__name__}.{name}_fast"
                if fast_layers.CYTHON is not None:
                    assert callable(getattr(fast_layers.twins("cython"), f"{name}_fast"))
                listed_fast.add(f"{name}_fast")
            else:
                assert not hasattr(fast_layers, f"{name}_fast"), (
                    f"fast_layers has {name}_fast but the {op.name} row says the naive layer serves as the fast one")
            if op.gpu:
                assert callable(getattr(gpu_layers, f"{name}_gpu")), f"gpu_layers.{name}_gpu"
                listed_gpu.add(f"{name}_gpu")
    fast_names = {n for n in dir(fast_layers) if n.endswith("_fast") and callable(getattr(fast_layers, n))}
    gpu_names = {n for n in dir(gpu_layers) if n.endswith("_gpu") and callable(getattr(gpu_layers, n))}
    assert fast_names <= listed_fast, f"fast twins outside the table: {sorted(fast_names - listed_fast)}"
    assert gpu_names <= listed_gpu, f"GPU twins outside the table: {sorted(gpu_names - listed_gpu)}"


@pytest.mark.parametrize("backend", registry.BACKENDS)
def test_get_ops_serves_every_row(backend):
    ops = registry.get_ops(backend)
    assert ops.name == backend
    for op in registry.OPS:
        for k, name in enumerate(op.function_names):
            fn = getattr(ops, name)
            impl = {"naive": "naive", "fast": "cpu", "gpu": "gpu"}[backend]
            assert fn is (op.forward(impl) if k == 0 else op.backward(impl))
            if backend == "naive" or (backend == "fast" and not op.fast):
                assert fn is (op.naive_forward, op.naive_backward)[k]
    with pytest.raises(ValueError, match="backend must be one of"):
        registry.get_ops("cpu")


def test_a_misspelled_twin_raises_instead_of_falling_back():
    """The old table fell back to the naive layer when a ``*_fast`` name was misspelled; the rule raises."""
    bogus = registry.Op(name="no_such_op", naive_forward=registry.RELU.naive_forward,
                        naive_backward=registry.RELU.naive_backward, fast=True, gpu=True, oracle="relu",
                        cases=(), n_grads=1)
    with pytest.raises(AttributeError, match="no_such_op_forward_fast"):
        bogus.forward("cpu")
    with pytest.raises(AttributeError, match="no_such_op_backward_gpu"):
        bogus.backward("gpu")
