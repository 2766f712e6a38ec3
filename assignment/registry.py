"""One table of every operation that has fast twins: naive, CPU (Cython, or its numpy fallback) and GPU (CuPy).

Each row is a frozen :class:`Twin` naming the three implementations of one operation, the
tolerance they must agree to (per dtype), the seeded cases the twin test runs and the shapes
the benchmarks time. The twin tests run every row; the layer benchmark times every row's
``bench_cases``. Adding a twin is adding a row here.

Implementations (``IMPLS``): ``"naive"``; ``"cython"`` and ``"numpy"``, the two sets of CPU twins
behind ``assignment.fast_layers`` (the compiled ones and the pure-numpy fallback; asking for
``"cython"`` where it is not in use raises ImportError saying why); ``"gpu"``. ``"cpu"`` means
whichever of the two CPU sets ``assignment.fast_layers`` serves (``fast_layers.BACKEND``).

The GPU twins are named, not imported: ``assignment.gpu_layers`` (and CuPy) are loaded only
when :meth:`Twin.forward` / :meth:`Twin.backward` are asked for ``"gpu"``.

Calling convention shared by the three implementations (the CS231n one):
``out, cache = forward(*arrays, param)`` (``forward(*arrays)`` for ops without a parameter
dict, such as affine and ReLU) and ``grads = backward(dout, cache)``, where ``arrays`` are the
differentiable inputs (in argument order) and ``param`` the op's dict (``conv_param``,
``pool_param``). :meth:`Twin.run_forward` and :meth:`Twin.run_oracle` hide that difference;
:meth:`Twin.grads` turns a backward's result into a tuple with one gradient per array
(``max_pool_backward`` and ``relu_backward`` return ``dx`` alone).
"""

import importlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Callable

import numpy as np

from assignment import fast_layers, layer_utils, layers
from assignment.checks import conv_output_shape, pool_output_shape

IMPLS = ("naive", "cython", "numpy", "gpu")


@dataclass(frozen=True)
class Case:
    """Seeded inputs for one call: the shapes of the arrays and the parameter dict.

    - label: a short name, used as the test id and the benchmark row
    - shapes: the shapes of the differentiable inputs, in argument order
    - params: the op's parameter dict, frozen as ``((key, value), ...)``; None for ops without one
    - out_shape: the forward's output shape (the shape of ``dout``)
    - ties: draw small integers instead of normal values, so that max-pool windows tie
    """

    label: str
    shapes: tuple
    params: tuple
    out_shape: tuple
    ties: bool = False

    @property
    def param(self):
        """A fresh parameter dict (callers may keep or modify it), or None."""
        return None if self.params is None else dict(self.params)

    def draw(self, dtype=np.float64, seed=231):
        """``(arrays, dout)`` of ``dtype``, the same values for every dtype and every call."""
        rng = np.random.default_rng(seed)
        arrays = []
        for shape in self.shapes:
            if self.ties:
                a = rng.integers(-2, 3, size=shape).astype(np.float64)
            else:
                a = rng.standard_normal(shape)
            arrays.append(a.astype(dtype))
        dout = rng.standard_normal(self.out_shape).astype(dtype)
        return tuple(arrays), dout


def conv_case(label, x_shape, w_shape, stride, pad):
    out = conv_output_shape(x_shape, w_shape, (w_shape[0],), stride, pad)
    return Case(label, (tuple(x_shape), tuple(w_shape), (w_shape[0],)),
                (("stride", stride), ("pad", pad)), out)


def affine_case(label, x_shape, M):
    D = 1
    for d in x_shape[1:]:
        D *= d
    return Case(label, (tuple(x_shape), (D, M), (M,)), None, (x_shape[0], M))


def relu_case(label, x_shape, ties=False):
    return Case(label, (tuple(x_shape),), None, tuple(x_shape), ties)


def pool_case(label, x_shape, pool_height, pool_width, stride, ties=False):
    out = pool_output_shape(x_shape, pool_height, pool_width, stride)
    params = (("pool_height", pool_height), ("pool_width", pool_width), ("stride", stride))
    return Case(label, (tuple(x_shape),), params, out, ties)


@dataclass(frozen=True)
class Twin:
    """One operation's three implementations and how to check and time them.

    - name: the operation ("conv", "max_pool")
    - naive_forward, naive_backward: from assignment.layers (the contract)
    - cpu_forward, cpu_backward: the CS231n-named dispatchers of assignment.fast_layers
      (numpy arrays run the CPU twins it serves); the functions of the same names in
      fast_layers.twins("cython") and fast_layers.twins("numpy") are the "cython" and "numpy" impls
    - gpu_forward, gpu_backward: function names in assignment.gpu_layers, resolved lazily
    - oracle: the function name in the tests' PyTorch oracles module that computes out and grads
    - tolerance: {dtype: tol}, for ``|got - want| <= tol * (|want| + max(1, max|want|))``
    - cases: the seeded grid the twin test runs (small shapes)
    - bench_cases: the shapes the benchmarks time
    - n_grads: how many gradients the backward returns
    """

    name: str
    naive_forward: Callable
    naive_backward: Callable
    cpu_forward: Callable
    cpu_backward: Callable
    gpu_forward: str
    gpu_backward: str
    oracle: str
    tolerance: MappingProxyType
    cases: tuple
    bench_cases: tuple
    n_grads: int

    def forward(self, impl):
        return self._resolve(impl, "forward")

    def backward(self, impl):
        return self._resolve(impl, "backward")

    def _resolve(self, impl, which):
        if impl == "naive":
            return getattr(self, f"naive_{which}")
        if impl == "cpu":
            return getattr(self, f"cpu_{which}")
        if impl in ("cython", "numpy"):
            return getattr(fast_layers.twins(impl), getattr(self, f"cpu_{which}").__name__)
        if impl == "gpu":
            gpu_layers = importlib.import_module("assignment.gpu_layers")
            return getattr(gpu_layers, getattr(self, f"gpu_{which}"))
        raise ValueError(f"impl must be one of {IMPLS} or 'cpu', got {impl!r}")

    def run_forward(self, impl, arrays, param):
        """``forward(*arrays, param)``, or ``forward(*arrays)`` for an op without a param dict."""
        fn = self.forward(impl)
        return fn(*arrays) if param is None else fn(*arrays, param)

    def run_oracle(self, oracles, arrays, param, dout):
        """The oracle's ``(out, grads)`` (``oracles``, the tests' PyTorch module, is passed in: no torch here)."""
        fn = getattr(oracles, self.oracle)
        return fn(*arrays, dout) if param is None else fn(*arrays, param, dout)

    def grads(self, result):
        """A backward's result as a tuple of gradients, one per array input."""
        return (result,) if self.n_grads == 1 else tuple(result)

    def tol(self, dtype):
        return self.tolerance[np.dtype(dtype)]


_TOLERANCE = MappingProxyType({np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-10})

# DLFS DeepConvNet on Fashion-MNIST (batch 100, 1x28x28): its six 3x3 convolutions.
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

CONV = Twin(
    name="conv",
    naive_forward=layers.conv_forward_naive,
    naive_backward=layers.conv_backward_naive,
    cpu_forward=fast_layers.conv_forward_fast,
    cpu_backward=fast_layers.conv_backward_fast,
    gpu_forward="conv_forward_gpu",
    gpu_backward="conv_backward_gpu",
    oracle="conv",
    tolerance=_TOLERANCE,
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

MAX_POOL = Twin(
    name="max_pool",
    naive_forward=layers.max_pool_forward_naive,
    naive_backward=layers.max_pool_backward_naive,
    cpu_forward=fast_layers.max_pool_forward_fast,
    cpu_backward=fast_layers.max_pool_backward_fast,
    gpu_forward="max_pool_forward_gpu",
    gpu_backward="max_pool_backward_gpu",
    oracle="max_pool",
    tolerance=_TOLERANCE,
    cases=(
        pool_case("2x2-s2", (2, 3, 8, 8), 2, 2, 2),
        pool_case("2x2-s2-N1-nonsquare-x", (1, 2, 6, 10), 2, 2, 2),
        pool_case("3x3-s2-overlap", (1, 2, 7, 9), 3, 3, 2),
        pool_case("2x3-s1-overlap", (2, 1, 5, 6), 2, 3, 1),
        pool_case("3x3-s3", (2, 3, 6, 6), 3, 3, 3),
        pool_case("4x4-whole-input", (1, 1, 4, 4), 4, 4, 1),
        pool_case("2x2-s2-ties", (3, 2, 4, 6), 2, 2, 2, ties=True),
        pool_case("3x3-s1-ties-overlap", (2, 2, 5, 5), 3, 3, 1, ties=True),
    ),
    bench_cases=DEEPCONVNET_POOLS + (
        pool_case("CS231n cell 18 (100,3,32,32) 2x2/2", (100, 3, 32, 32), 2, 2, 2),
        pool_case("overlapping 3x3/2 (100,16,27,27)", (100, 16, 27, 27), 3, 3, 2),
    ),
    n_grads=1,
)

AFFINE = Twin(
    name="affine",
    naive_forward=layers.affine_forward,
    naive_backward=layers.affine_backward,
    cpu_forward=fast_layers.affine_forward_fast,
    cpu_backward=fast_layers.affine_backward_fast,
    gpu_forward="affine_forward_gpu",
    gpu_backward="affine_backward_gpu",
    oracle="affine",
    tolerance=_TOLERANCE,
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

RELU = Twin(
    name="relu",
    naive_forward=layers.relu_forward,
    naive_backward=layers.relu_backward,
    cpu_forward=fast_layers.relu_forward_fast,
    cpu_backward=fast_layers.relu_backward_fast,
    gpu_forward="relu_forward_gpu",
    gpu_backward="relu_backward_gpu",
    oracle="relu",
    tolerance=_TOLERANCE,
    cases=(
        relu_case("2d", (4, 5)),
        relu_case("4d-N1", (1, 3, 5, 7)),
        relu_case("threaded", (8, 16, 28, 28)),  # above the serial size
        relu_case("ties-at-zero", (3, 4, 5), ties=True),
    ),
    bench_cases=(
        relu_case("DeepConvNet relu1 (100,16,28,28)", (100, 16, 28, 28)),
        relu_case("DeepConvNet relu6 (100,64,8,8)", (100, 64, 8, 8)),
    ),
    n_grads=1,
)

# Convolution and ReLU as one op: the fast twin applies the ReLU (and, backward, its mask) per chunk
# inside the convolution, where the separate ops would read and write the whole activation again.
CONV_RELU = Twin(
    name="conv_relu",
    naive_forward=layer_utils.conv_relu_forward,
    naive_backward=layer_utils.conv_relu_backward,
    cpu_forward=fast_layers.conv_relu_forward_fast,
    cpu_backward=fast_layers.conv_relu_backward_fast,
    gpu_forward="conv_relu_forward_gpu",
    gpu_backward="conv_relu_backward_gpu",
    oracle="conv_relu",
    tolerance=_TOLERANCE,
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

TWINS = (CONV, MAX_POOL, AFFINE, RELU, CONV_RELU)
BY_NAME = MappingProxyType({t.name: t for t in TWINS})
