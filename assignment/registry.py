"""The one operation table: every layer and loss, its implementations, and how to check and time them.

Each row (:class:`Op`) is one operation. It names the naive pair students write (from
``assignment.layers``; conv-ReLU from ``assignment.layer_utils``), says which twins the operation
has, names its PyTorch oracle (a function in the tests' ``oracles`` module), and carries the
seeded cases the table-driven tests run, the shapes the benchmarks time and the tolerance per
dtype. Nothing else lists operations: ``get_ops`` serves the models from these rows, the
project's tests and layer benchmarks iterate them, and the grader's layer cases name their
functions through them.

One naming rule finds every twin. An op's functions are ``<name>_forward`` and
``<name>_backward`` (a loss, which returns ``(loss, dx)``, is the single function ``<name>``);
the fast twin of a function ``f`` is ``assignment.fast_layers.f_fast`` and its GPU twin
``assignment.gpu_layers.f_gpu``. A row with ``fast=False`` says that the naive layer serves as
the fast one (no twin beat it in a benchmark, or numpy already is the fast version); a row never
falls back silently: a test resolves every declared twin, and a misspelled name raises.

Implementations (``IMPLS``): ``"naive"``; ``"cython"`` and ``"numpy"``, the two sets of CPU twins
behind ``assignment.fast_layers`` (the compiled ones and the pure-numpy fallback; asking for
``"cython"`` where it is not in use raises ImportError saying why); ``"gpu"``. ``"cpu"`` means
whichever of the two CPU sets ``assignment.fast_layers`` serves (``fast_layers.BACKEND``), or the
naive layer for a row without fast twins. The GPU twins are named, not imported:
``assignment.gpu_layers`` (and CuPy) are loaded only when a ``"gpu"`` function is asked for.

Calling convention shared by every implementation (the CS231n one):
``out, cache = forward(*arrays, *extra, param)`` and ``grads = backward(dout, cache)``, where
``arrays`` are the differentiable inputs in argument order, ``extra`` the other positional
arguments (group norm's ``G``, a loss's labels ``y``) and ``param`` the op's dict
(``conv_param``, ``bn_param``; absent for affine and the activations). :meth:`Op.call` and
:meth:`Op.run_oracle` hide those differences, and :meth:`Op.grads` turns a backward's result into
a tuple with one gradient per array.
"""

import importlib
import inspect
from dataclasses import dataclass, field
from types import MappingProxyType, SimpleNamespace
from typing import Callable

import numpy as np

from assignment import fast_layers, layer_utils, layers
from assignment.checks import conv_output_shape, pool_output_shape

IMPLS = ("naive", "cython", "numpy", "gpu")
BACKENDS = ("naive", "fast", "gpu")  # what a model runs on: get_ops(backend)


@dataclass(frozen=True)
class Inputs:
    """One call's inputs: the differentiable arrays, the other positional arguments, the param dict, dout."""

    arrays: tuple
    extra: tuple
    param: dict | None
    dout: np.ndarray | None


@dataclass(frozen=True)
class Case:
    """Seeded inputs for one call.

    - label: a short name, used as the test id and the benchmark row
    - shapes: the shapes of the differentiable inputs, in argument order
    - params: the op's parameter dict, frozen as ``((key, value), ...)``; None for ops without one
    - out_shape: the forward's output shape (the shape of ``dout``); None for a loss
    - ties: draw small integers instead of normal values, so that max-pool windows tie
    - scale, offset: the first array is ``scale * normal + offset`` (huge scores, saturated units)
    - extra: positional arguments between the arrays and the param dict (group norm's G)
    - classes: for a loss, the number of classes C; labels ``y`` in [0, C) are drawn and passed
      after the arrays
    - targets: for a binary loss, draw 0/1 targets ``y`` of the first array's shape and pass them
      after the arrays
    - running: draw ``running_mean`` and ``running_var`` (of the arrays' dtype, one per channel)
      into the param dict, as a batch norm in test mode needs
    """

    label: str
    shapes: tuple
    params: tuple | None
    out_shape: tuple | None
    ties: bool = False
    scale: float = 1.0
    offset: float = 0.0
    extra: tuple = ()
    classes: int = 0
    running: bool = False
    targets: bool = False

    @property
    def param(self):
        """A fresh parameter dict without drawn statistics (callers may keep or modify it), or None."""
        return None if self.params is None else dict(self.params)

    def draw(self, dtype=np.float64, seed=231):
        """``(arrays, dout)`` of ``dtype``, the same values for every dtype and every call."""
        rng = np.random.default_rng(seed)
        arrays = []
        for k, shape in enumerate(self.shapes):
            if self.ties:
                a = rng.integers(-2, 3, size=shape).astype(np.float64)
            else:
                a = rng.standard_normal(shape)
                if k == 0:
                    a = self.scale * a + self.offset
            arrays.append(a.astype(dtype))
        dout = None if self.out_shape is None else rng.standard_normal(self.out_shape).astype(dtype)
        return tuple(arrays), dout

    def inputs(self, dtype=np.float64, seed=231):
        """Everything one call takes (:class:`Inputs`), drawn from ``seed``; a fresh param dict each time."""
        arrays, dout = self.draw(dtype, seed)
        rng = np.random.default_rng([seed, 1])
        extra = self.extra
        if self.classes:
            extra = extra + (rng.integers(0, self.classes, size=self.shapes[0][0]),)
        if self.targets:
            extra = extra + (rng.integers(0, 2, size=self.shapes[0]),)
        param = self.param
        if self.running:
            C = self.shapes[0][1]
            param["running_mean"] = rng.standard_normal(C).astype(dtype)
            param["running_var"] = (0.5 + rng.random(C)).astype(dtype)
        return Inputs(arrays, extra, param, dout)


def conv_case(label, x_shape, w_shape, stride, pad):
    out = conv_output_shape(x_shape, w_shape, (w_shape[0],), stride, pad)
    return Case(label, (tuple(x_shape), tuple(w_shape), (w_shape[0],)), (("stride", stride), ("pad", pad)), out)


def affine_case(label, x_shape, M):
    D = int(np.prod(x_shape[1:]))
    return Case(label, (tuple(x_shape), (D, M), (M,)), None, (x_shape[0], M))


def elementwise_case(label, x_shape, ties=False, scale=1.0):
    """A case for an op of one array and no parameters (ReLU, sigmoid, tanh)."""
    return Case(label, (tuple(x_shape),), None, tuple(x_shape), ties, scale)



def pool_case(label, x_shape, pool_height, pool_width, stride, ties=False):
    out = pool_output_shape(x_shape, pool_height, pool_width, stride)
    params = (("pool_height", pool_height), ("pool_width", pool_width), ("stride", stride))
    return Case(label, (tuple(x_shape),), params, out, ties)


def norm_case(label, x_shape, param_shape, running=False, G=None, **params):
    """A normalization case: x, gamma and beta (of ``param_shape``), and the op's param dict."""
    extra = () if G is None else (G,)
    shapes = (tuple(x_shape), tuple(param_shape), tuple(param_shape))
    return Case(label, shapes, tuple(params.items()), tuple(x_shape), extra=extra, running=running)


def dropout_case(label, x_shape, p, mode, kind="inverted", seed=0):
    params = (("p", p), ("mode", mode), ("kind", kind), ("seed", seed))
    return Case(label, (tuple(x_shape),), params, tuple(x_shape))


def loss_case(label, N, C, scale=1.0, offset=0.0):
    return Case(label, ((N, C),), None, None, scale=scale, offset=offset, classes=C)


def binary_loss_case(label, x_shape, scale=1.0, offset=0.0):
    """A case for a loss of scores and 0/1 targets of the same shape (sigmoid cross-entropy)."""
    return Case(label, (tuple(x_shape),), None, None, scale=scale, offset=offset, targets=True)


_TOLERANCE = MappingProxyType({np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10})
# Normalizations divide by a batch standard deviation: float32 rounding is amplified where it is small.
_NORM_TOLERANCE = MappingProxyType({np.dtype(np.float32): 5e-4, np.dtype(np.float64): 1e-9})


@dataclass(frozen=True)
class Op:
    """One operation: its naive pair, which twins it has, its oracle, cases, benchmark shapes, tolerance.

    - name: the operation ("conv", "max_pool", "softmax_loss"); its functions are named
      ``<name>_forward`` / ``<name>_backward`` (a loss: ``<name>``) in every table
    - naive_forward, naive_backward: the functions students write (naive_backward None for a loss)
    - fast: True if ``assignment.fast_layers`` has ``<function>_fast`` twins; False if the naive
      layer serves as the fast one
    - gpu: True if ``assignment.gpu_layers`` has ``<function>_gpu`` twins
    - oracle: the function name in the tests' PyTorch oracles module that computes out and grads
    - cases: the seeded grid the table-driven tests run (small shapes)
    - bench_cases: the shapes the benchmarks time
    - n_grads: how many gradients the backward returns (a loss: 1, its dx)
    - tolerance: {dtype: tol}, for ``|got - want| <= tol * (|want| + max(1, max|want|))``
    - stateful_param: the forward writes state into its param dict (batch norm's running statistics)
    - device_draws: the forward draws random numbers from the generator of the arrays' device, so on a
      GPU its values differ from numpy's (dropout's mask); its device twin is checked by its statistics
    """

    name: str
    naive_forward: Callable
    naive_backward: Callable | None
    fast: bool
    gpu: bool
    oracle: str
    cases: tuple
    n_grads: int
    bench_cases: tuple = ()
    tolerance: MappingProxyType = field(default_factory=lambda: _TOLERANCE)
    stateful_param: bool = False
    device_draws: bool = False

    @property
    def is_loss(self):
        return self.naive_backward is None

    @property
    def function_names(self):
        """The names this op has in every table: ``("conv_forward", "conv_backward")``, ``("svm_loss",)``."""
        return (self.name,) if self.is_loss else (f"{self.name}_forward", f"{self.name}_backward")

    @property
    def array_names(self):
        """The naive forward's differentiable arguments, in order: ``("x", "w", "b")`` for conv."""
        return tuple(inspect.signature(self.naive_forward).parameters)[: self.n_grads]

    @property
    def impls(self):
        """The implementations this row declares, of IMPLS."""
        return ("naive",) + (("cython", "numpy") if self.fast else ()) + (("gpu",) if self.gpu else ())

    def forward(self, impl):
        return self._resolve(impl, 0)

    def backward(self, impl):
        if self.is_loss:
            raise ValueError(f"{self.name} is a loss: its one function returns (loss, dx)")
        return self._resolve(impl, 1)

    def _resolve(self, impl, which):
        naive = (self.naive_forward, self.naive_backward)[which]
        name = self.function_names[which]
        if impl == "naive" or (impl == "cpu" and not self.fast):
            return naive
        if impl == "cpu":
            return getattr(fast_layers, f"{name}_fast")
        if impl in ("cython", "numpy"):
            if not self.fast:
                raise ValueError(f"{self.name} has no CPU twins: the naive layer serves as the fast one")
            return getattr(fast_layers.twins(impl), f"{name}_fast")
        if impl == "gpu":
            if not self.gpu:
                raise ValueError(f"{self.name} has no GPU twin")
            return getattr(importlib.import_module("assignment.gpu_layers"), f"{name}_gpu")
        raise ValueError(f"impl must be one of {IMPLS} or 'cpu', got {impl!r}")

    def call(self, impl, inputs):
        """Run ``impl``'s forward (and backward) on :class:`Inputs`: ``(out, grads)``.

        For a loss ``out`` is the loss and ``grads`` is ``(dx,)``. The arrays are passed as they
        are (numpy or CuPy); the param dict is the one in ``inputs`` (a stateful op writes to it).
        """
        fn = self.forward(impl)
        args = (*inputs.arrays, *inputs.extra) + (() if inputs.param is None else (inputs.param,))
        if self.is_loss:
            loss, dx = fn(*args)
            return loss, (dx,)
        out, cache = fn(*args)
        return out, self.grads(self.backward(impl)(inputs.dout, cache))

    def run_forward(self, impl, arrays, param):
        """``forward(*arrays, param)``, or ``forward(*arrays)`` for an op without a param dict."""
        fn = self.forward(impl)
        return fn(*arrays) if param is None else fn(*arrays, param)

    def run_oracle(self, oracles, arrays, param, dout, extra=()):
        """The oracle's ``(out, grads)`` (``oracles``, the tests' PyTorch module, is passed in: no torch here)."""
        fn = getattr(oracles, self.oracle)
        if self.is_loss:
            loss, dx = fn(*arrays, *extra)
            return loss, (dx,)
        args = (*arrays, *extra) + (() if param is None else (param,))
        return fn(*args, dout)

    def grads(self, result):
        """A backward's result as a tuple of gradients, one per array input."""
        return (result,) if self.n_grads == 1 else tuple(result)

    def tol(self, dtype):
        return self.tolerance[np.dtype(dtype)]


# DLFS DeepConvNet on Fashion-MNIST (batch 100, 1x28x28): its six 3x3 convolutions and three pools.
DEEPCONVNET_CONVS = (
    conv_case("DeepConvNet conv1 1->16 28x28 pad1", (100, 1, 28, 28), (16, 1, 3, 3), 1, 1),
    conv_case("DeepConvNet conv2 16->16 28x28 pad1", (100, 16, 28, 28), (16, 16, 3, 3), 1, 1),
    conv_case("DeepConvNet conv3 16->32 14x14 pad1", (100, 16, 14, 14), (32, 16, 3, 3), 1, 1),
    conv_case("DeepConvNet conv4 32->32 14x14 pad2", (100, 32, 14, 14), (32, 32, 3, 3), 1, 2),
    conv_case("DeepConvNet conv5 32->64 8x8 pad1", (100, 32, 8, 8), (64, 32, 3, 3), 1, 1),
    conv_case("DeepConvNet conv6 64->64 8x8 pad1", (100, 64, 8, 8), (64, 64, 3, 3), 1, 1),
)
DEEPCONVNET_POOLS = (
    pool_case("DeepConvNet pool1 2x2/2 (100,16,28,28)", (100, 16, 28, 28), 2, 2, 2),
    pool_case("DeepConvNet pool2 2x2/2 (100,32,16,16)", (100, 32, 16, 16), 2, 2, 2),
    pool_case("DeepConvNet pool3 2x2/2 (100,64,8,8)", (100, 64, 8, 8), 2, 2, 2),
)

# The pool grid, shared by max and average pooling: non-square, overlapping, whole-input windows.
_POOL_CASES = (
    pool_case("2x2-s2", (2, 3, 8, 8), 2, 2, 2),
    pool_case("2x2-s2-N1-nonsquare-x", (1, 2, 6, 10), 2, 2, 2),
    pool_case("3x3-s2-overlap", (1, 2, 7, 9), 3, 3, 2),
    pool_case("2x3-s1-overlap", (2, 1, 5, 6), 2, 3, 1),
    pool_case("3x3-s3", (2, 3, 6, 6), 3, 3, 3),
    pool_case("4x4-whole-input", (1, 1, 4, 4), 4, 4, 1),
)
_POOL_BENCH = DEEPCONVNET_POOLS + (
    pool_case("CS231n cell 18 (100,3,32,32) 2x2/2", (100, 3, 32, 32), 2, 2, 2),
    pool_case("overlapping 3x3/2 (100,16,27,27)", (100, 16, 27, 27), 3, 3, 2),
)
_ELEMENTWISE_BENCH = (
    elementwise_case("DeepConvNet relu1 (100,16,28,28)", (100, 16, 28, 28)),
    elementwise_case("DeepConvNet relu6 (100,64,8,8)", (100, 64, 8, 8)),
)

CONV = Op(
    name="conv",
    naive_forward=layers.conv_forward_naive,
    naive_backward=layers.conv_backward_naive,
    fast=True,
    gpu=True,
    oracle="conv",
    cases=(
        conv_case("nonsquare-k3x2-s2-p0", (2, 3, 7, 8), (4, 3, 3, 2), 2, 0),
        conv_case("N1-k3-s1-p2", (1, 2, 6, 6), (3, 2, 3, 3), 1, 2),
        conv_case("k3-s1-p1", (3, 3, 8, 8), (5, 3, 3, 3), 1, 1),
        conv_case("C1-nonsquare-x-k5x3-p2", (2, 1, 5, 7), (2, 1, 5, 3), 1, 2),
        conv_case("k1-s2-p0", (4, 3, 9, 9), (2, 3, 1, 1), 2, 0),
        conv_case("k4x2-s2-p1", (3, 2, 10, 8), (3, 2, 4, 2), 2, 1),
        conv_case("k1-pad2-border-rows", (2, 2, 4, 4), (2, 2, 1, 1), 1, 2),
        conv_case("s3-p2-k5", (2, 2, 10, 13), (3, 2, 5, 5), 3, 2),
        conv_case("N7-many-images", (7, 4, 12, 12), (6, 4, 3, 3), 1, 1),
        # 3x3 stride 1 with C >= 16 and F <= C: the CPU twin's Winograd path (odd and even sizes)
        conv_case("winograd-odd-nonsquare-p1", (3, 16, 7, 10), (12, 16, 3, 3), 1, 1),
        conv_case("winograd-N1-p0", (1, 16, 6, 5), (16, 16, 3, 3), 1, 0),
        conv_case("winograd-p2", (2, 24, 5, 6), (8, 24, 3, 3), 1, 2),
    ),
    bench_cases=DEEPCONVNET_CONVS + (
        conv_case("CS231n cell 17 (100,3,31,31) 25x3x3 s2 p1", (100, 3, 31, 31), (25, 3, 3, 3), 2, 1),
    ),
    n_grads=3,
)

# Convolution and ReLU as one op: the fast twin applies the ReLU (and, backward, its mask) per chunk
# inside the convolution, where the separate ops would read and write the whole activation again.
CONV_RELU = Op(
    name="conv_relu",
    naive_forward=layer_utils.conv_relu_forward,
    naive_backward=layer_utils.conv_relu_backward,
    fast=True,
    gpu=True,
    oracle="conv_relu",
    cases=(
        conv_case("im2col-k3-s1-p1", (3, 3, 8, 8), (5, 3, 3, 3), 1, 1),
        conv_case("im2col-gather-F<=C", (2, 6, 7, 9), (4, 6, 3, 3), 1, 1),
        conv_case("im2col-nonsquare-s2-p0", (2, 3, 7, 8), (4, 3, 3, 2), 2, 0),
        conv_case("im2col-N7-many-images", (7, 4, 12, 12), (6, 4, 3, 3), 1, 2),
        conv_case("winograd-odd-nonsquare-p1", (3, 16, 7, 10), (12, 16, 3, 3), 1, 1),
        conv_case("winograd-N5-p2", (5, 24, 5, 6), (8, 24, 3, 3), 1, 2),
    ),
    bench_cases=(
        conv_case("DeepConvNet conv2+ReLU 16->16 28x28 pad1", (100, 16, 28, 28), (16, 16, 3, 3), 1, 1),
        conv_case("DeepConvNet conv3+ReLU 16->32 14x14 pad1", (100, 16, 14, 14), (32, 16, 3, 3), 1, 1),
    ),
    n_grads=3,
)

MAX_POOL = Op(
    name="max_pool",
    naive_forward=layers.max_pool_forward_naive,
    naive_backward=layers.max_pool_backward_naive,
    fast=True,
    gpu=True,
    oracle="max_pool",
    cases=_POOL_CASES + (
        pool_case("2x2-s2-ties", (3, 2, 4, 6), 2, 2, 2, ties=True),
        pool_case("3x3-s1-ties-overlap", (2, 2, 5, 5), 3, 3, 1, ties=True),
    ),
    bench_cases=_POOL_BENCH,
    n_grads=1,
)

AVG_POOL = Op(
    name="avg_pool",
    naive_forward=layers.avg_pool_forward_naive,
    naive_backward=layers.avg_pool_backward_naive,
    fast=True,
    gpu=True,
    oracle="avg_pool",
    cases=_POOL_CASES,
    bench_cases=_POOL_BENCH,
    n_grads=1,
)

AFFINE = Op(
    name="affine",
    naive_forward=layers.affine_forward,
    naive_backward=layers.affine_backward,
    fast=False,  # a Cython twin lost to numpy's one GEMM in 7 of 8 benchmark rows (deleted)
    gpu=True,
    oracle="affine",
    cases=(
        affine_case("2d", (5, 7), 3),
        affine_case("N1-4d", (1, 2, 3, 4), 5),
        affine_case("threaded-rows", (64, 300), 500),  # above the serial size: rows split over threads
        affine_case("threaded-N3", (3, 4096), 1024),  # fewer rows than most splits
    ),
    bench_cases=(
        affine_case("DeepConvNet affine1 (100,64,4,4)->50", (100, 64, 4, 4), 50),
        affine_case("FC (100,3072)->1024", (100, 3072), 1024),
    ),
    n_grads=3,
)

RELU = Op(
    name="relu",
    naive_forward=layers.relu_forward,
    naive_backward=layers.relu_backward,
    fast=True,
    gpu=True,
    oracle="relu",
    cases=(
        elementwise_case("2d", (4, 5)),
        elementwise_case("4d-N1", (1, 3, 5, 7)),
        elementwise_case("threaded", (8, 16, 28, 28)),  # above the serial size
        elementwise_case("ties-at-zero", (3, 4, 5), ties=True),
    ),
    bench_cases=_ELEMENTWISE_BENCH,
    n_grads=1,
)

# Sigmoid and tanh: one numpy expression each already runs at memory speed, so the naive layer
# serves as the fast one (the layer benchmark has their rows).
_SATURATING_CASES = (
    elementwise_case("2d", (4, 5)),
    elementwise_case("4d-N1", (1, 3, 5, 7)),
    elementwise_case("saturated-x30", (6, 7), scale=30.0),
)

SIGMOID = Op(
    name="sigmoid",
    naive_forward=layers.sigmoid_forward,
    naive_backward=layers.sigmoid_backward,
    fast=False,
    gpu=True,
    oracle="sigmoid",
    cases=_SATURATING_CASES,
    bench_cases=_ELEMENTWISE_BENCH,
    n_grads=1,
)

TANH = Op(
    name="tanh",
    naive_forward=layers.tanh_forward,
    naive_backward=layers.tanh_backward,
    fast=False,
    gpu=True,
    oracle="tanh",
    cases=_SATURATING_CASES,
    bench_cases=_ELEMENTWISE_BENCH,
    n_grads=1,
)

BATCHNORM = Op(
    name="batchnorm",
    naive_forward=layers.batchnorm_forward,
    naive_backward=layers.batchnorm_backward_alt,  # the models' choice; batchnorm_backward: tests/ops
    fast=False,
    gpu=True,
    oracle="batchnorm",
    cases=(
        norm_case("train", (8, 5), (5,), mode="train"),
        norm_case("train-N2-eps", (2, 3), (3,), mode="train", eps=1e-3, momentum=0.5),
        norm_case("test-running", (4, 6), (6,), running=True, mode="test"),
    ),
    n_grads=3,
    tolerance=_NORM_TOLERANCE,
    stateful_param=True,
)

SPATIAL_BATCHNORM = Op(
    name="spatial_batchnorm",
    naive_forward=layers.spatial_batchnorm_forward,
    naive_backward=layers.spatial_batchnorm_backward,
    fast=False,
    gpu=True,
    oracle="spatial_batchnorm",
    cases=(
        norm_case("train", (2, 3, 4, 5), (3,), mode="train"),
        norm_case("test-running", (3, 2, 3, 2), (2,), running=True, mode="test"),
    ),
    n_grads=3,
    tolerance=_NORM_TOLERANCE,
    stateful_param=True,
)

LAYERNORM = Op(
    name="layernorm",
    naive_forward=layers.layernorm_forward,
    naive_backward=layers.layernorm_backward,
    fast=False,
    gpu=True,
    oracle="layernorm",
    cases=(
        norm_case("4x3", (4, 3), (3,)),
        norm_case("N1-eps", (1, 6), (6,), eps=1e-3),
    ),
    n_grads=3,
    tolerance=_NORM_TOLERANCE,
)

SPATIAL_GROUPNORM = Op(
    name="spatial_groupnorm",
    naive_forward=layers.spatial_groupnorm_forward,
    naive_backward=layers.spatial_groupnorm_backward,
    fast=False,
    gpu=True,
    oracle="spatial_groupnorm",
    cases=(
        norm_case("G2", (2, 6, 4, 5), (1, 6, 1, 1), G=2),
        norm_case("G-equals-C-eps", (2, 4, 2, 3), (1, 4, 1, 1), G=4, eps=1e-3),
        norm_case("G1-N1", (1, 3, 3, 2), (1, 3, 1, 1), G=1),
    ),
    n_grads=3,
    tolerance=_NORM_TOLERANCE,
)

DROPOUT = Op(
    name="dropout",
    naive_forward=layers.dropout_forward,
    naive_backward=layers.dropout_backward,
    fast=False,
    gpu=True,
    oracle="dropout",
    cases=(
        dropout_case("inverted-train", (6, 7), 0.6, "train"),
        dropout_case("inverted-test", (3, 4, 5), 0.3, "test"),
        dropout_case("vanilla-train", (5, 8), 0.5, "train", kind="vanilla", seed=3),
        dropout_case("vanilla-test", (2, 3, 4), 0.7, "test", kind="vanilla"),
        dropout_case("keep-all", (4, 4), 1.0, "train", seed=5),
    ),
    n_grads=1,
    device_draws=True,
)

SOFTMAX_LOSS = Op(
    name="softmax_loss",
    naive_forward=layers.softmax_loss,
    naive_backward=None,
    fast=False,
    gpu=True,
    oracle="softmax_loss",
    cases=(
        loss_case("N50-C10", 50, 10, scale=0.001),
        loss_case("N1-C3", 1, 3),
        loss_case("huge-scores", 4, 5, scale=5.0, offset=1000.0),
    ),
    n_grads=1,
)

SVM_LOSS = Op(
    name="svm_loss",
    naive_forward=layers.svm_loss,
    naive_backward=None,
    fast=False,
    gpu=True,
    oracle="svm_loss",
    cases=(
        loss_case("N50-C10", 50, 10, scale=0.001),
        loss_case("N1-C3", 1, 3),
        loss_case("N7-C4-wide", 7, 4, scale=2.0),
    ),
    n_grads=1,
)

SIGMOID_CROSS_ENTROPY_LOSS = Op(
    name="sigmoid_cross_entropy_loss",
    naive_forward=layers.sigmoid_cross_entropy_loss,
    naive_backward=None,
    fast=False,
    gpu=True,
    oracle="sigmoid_cross_entropy_loss",
    cases=(
        binary_loss_case("N4-one-unit", (4,)),
        binary_loss_case("N6-K3", (6, 3), scale=3.0),
        binary_loss_case("huge-scores", (5, 2), scale=400.0),
    ),
    n_grads=1,
)

OPS = (AFFINE, RELU, SIGMOID, TANH, CONV, CONV_RELU, MAX_POOL, AVG_POOL, BATCHNORM, LAYERNORM,
       SPATIAL_BATCHNORM, SPATIAL_GROUPNORM, DROPOUT, SOFTMAX_LOSS, SVM_LOSS, SIGMOID_CROSS_ENTROPY_LOSS)
BY_NAME = MappingProxyType({op.name: op for op in OPS})
TWINS = tuple(op for op in OPS if op.fast)  # the rows with CPU twins: what the twin tests and benchmarks run


def get_ops(backend="fast"):
    """The layer functions a model runs on ``backend``, as a namespace with one attribute per function name.

    - ``"naive"``: the functions of ``assignment.layers`` (the contract);
    - ``"fast"``: the CPU twins ``assignment.fast_layers`` serves (compiled or numpy), and the naive
      layer for every row with ``fast=False``;
    - ``"gpu"``: the ``*_gpu`` twins of ``assignment.gpu_layers``, which run where their arrays live.

    Every entry keeps the naive contract, so a model written against one table runs on the others.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    impl = {"naive": "naive", "fast": "cpu", "gpu": "gpu"}[backend]
    table = {}
    for op in OPS:
        table[op.function_names[0]] = op.forward(impl)
        if not op.is_loss:
            table[op.function_names[1]] = op.backward(impl)
    return SimpleNamespace(name=backend, **table)
