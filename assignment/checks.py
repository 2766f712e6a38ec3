"""Argument checks shared by the naive layers and their fast twins.

Each check raises ``ValueError`` naming the argument and the shapes it saw, so that a
student who passes the wrong thing reads what went wrong instead of a numpy broadcast error
three frames deeper. These are given to students: they are the layer contract, not the math.
"""

import numpy as np

from assignment.devices import array_module, is_cupy

_FLOAT_KINDS = "f"


def require_ndim(name, arr, ndim, layout=None):
    """Raise unless ``arr`` has exactly ``ndim`` dimensions (``layout`` e.g. "(N, C, H, W)")."""
    if arr.ndim != ndim:
        want = layout or f"{ndim} dimensions"
        raise ValueError(f"{name} must have shape {want}, got shape {arr.shape}")


def require_min_ndim(name, arr, ndim):
    if arr.ndim < ndim:
        raise ValueError(f"{name} must have at least {ndim} dimensions, got shape {arr.shape}")


def require_shape(name, arr, shape, because=""):
    """Raise unless ``arr.shape == shape``."""
    if tuple(arr.shape) != tuple(shape):
        extra = f" ({because})" if because else ""
        raise ValueError(f"{name} must have shape {tuple(shape)}{extra}, got shape {arr.shape}")


def require_float(name, arr):
    if arr.dtype.kind not in _FLOAT_KINDS:
        raise ValueError(f"{name} must be a floating-point array, got dtype {arr.dtype} (shape {arr.shape})")


def require_labels(y, num_examples, num_classes, name="y"):
    """Integer labels of shape (N,) with every value in [0, C)."""
    if y.ndim != 1 or y.shape[0] != num_examples:
        raise ValueError(f"{name} must have shape ({num_examples},) to match x, got shape {y.shape}")
    if y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class labels, got dtype {y.dtype}")
    if num_examples and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(
            f"{name} holds labels in [{y.min()}, {y.max()}] but x has {num_classes} classes "
            f"(labels must lie in [0, {num_classes - 1}])"
        )


def require_mode(name, mode):
    if mode not in ("train", "test"):
        raise ValueError(f"{name}['mode'] must be 'train' or 'test', got {mode!r}")


def require_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def require_nonnegative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")


def conv_output_shape(x_shape, w_shape, b_shape, stride, pad):
    """Validate a convolution and return its output shape (N, F, H', W').

    ``H' = 1 + (H + 2 * pad - HH) / stride`` must be a whole number (likewise W'): a stride
    that does not tile the padded input is an error, not a silently dropped border.
    """
    require_positive_int("conv_param['stride']", stride)
    require_nonnegative_int("conv_param['pad']", pad)
    if len(x_shape) != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got shape {tuple(x_shape)}")
    if len(w_shape) != 4:
        raise ValueError(f"w must have shape (F, C, HH, WW), got shape {tuple(w_shape)}")
    N, C, H, W = x_shape
    F, Cw, HH, WW = w_shape
    if Cw != C:
        raise ValueError(f"w has {Cw} input channels but x has {C}: w shape {tuple(w_shape)}, x shape {tuple(x_shape)}")
    if tuple(b_shape) != (F,):
        raise ValueError(f"b must have shape ({F},) to match w {tuple(w_shape)}, got shape {tuple(b_shape)}")
    Hp, Wp = H + 2 * pad, W + 2 * pad
    if HH > Hp or WW > Wp:
        raise ValueError(
            f"filter {HH}x{WW} (w shape {tuple(w_shape)}) is larger than the padded input "
            f"{Hp}x{Wp} (x shape {tuple(x_shape)}, pad {pad})"
        )
    if (Hp - HH) % stride or (Wp - WW) % stride:
        raise ValueError(
            f"conv_param['stride'] = {stride} does not tile the padded input: x shape {tuple(x_shape)}, "
            f"w shape {tuple(w_shape)}, pad {pad} give (H + 2*pad - HH, W + 2*pad - WW) = "
            f"({Hp - HH}, {Wp - WW}), which must both be divisible by the stride"
        )
    return N, F, 1 + (Hp - HH) // stride, 1 + (Wp - WW) // stride


def pool_output_shape(x_shape, pool_height, pool_width, stride):
    """Validate a max pooling and return its output shape (N, C, H', W')."""
    require_positive_int("pool_param['pool_height']", pool_height)
    require_positive_int("pool_param['pool_width']", pool_width)
    require_positive_int("pool_param['stride']", stride)
    if len(x_shape) != 4:
        raise ValueError(f"x must have shape (N, C, H, W), got shape {tuple(x_shape)}")
    N, C, H, W = x_shape
    if pool_height > H or pool_width > W:
        raise ValueError(
            f"pool window {pool_height}x{pool_width} is larger than the input {H}x{W} (x shape {tuple(x_shape)})"
        )
    if (H - pool_height) % stride or (W - pool_width) % stride:
        raise ValueError(
            f"pool_param['stride'] = {stride} does not tile the input: x shape {tuple(x_shape)} with a "
            f"{pool_height}x{pool_width} window leaves (H - PH, W - PW) = ({H - pool_height}, "
            f"{W - pool_width}), which must both be divisible by the stride"
        )
    return N, C, 1 + (H - pool_height) // stride, 1 + (W - pool_width) // stride


def get_param(params, key, name):
    """``params[key]`` with a clear error when the dict lacks it."""
    if not isinstance(params, dict):
        raise ValueError(f"{name} must be a dict, got {type(params).__name__}")
    if key not in params:
        raise ValueError(f"{name} must contain {key!r}, got keys {sorted(params)}")
    return params[key]


def conv_geometry(x, w, b, conv_param):
    """((N, F, H', W'), stride, pad) of a valid convolution of numpy arrays, checked in the naive layer's order."""
    return _checked_conv_geometry(x, w, b, conv_param, devices=False)


def pool_geometry(x, pool_param):
    """((N, C, H', W'), PH, PW, stride) of a valid pooling of a numpy x, checked in the naive layer's order."""
    return _checked_pool_geometry(x, pool_param, devices=False)


def conv_relu_cache(cache):
    """(conv cache, ReLU array) out of a conv_relu cache (the fast twins' or the naive one), or a
    ValueError that says what it needs."""
    if not isinstance(cache, tuple) or len(cache) != 2 or not isinstance(cache[0], tuple) or len(cache[0]) != 4:
        raise ValueError("cache must be the ((x, w, b, conv_param), relu_cache) of conv_relu_forward_fast "
                         "or of layer_utils.conv_relu_forward")
    return cache


def compute_dtype(*dtypes):
    """The dtype the fast twins compute in: float32 stays float32 (float16 computes in float32),
    everything else computes in float64."""
    dt = np.result_type(*dtypes)
    if dt == np.float32 or dt == np.float16:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


# ----------------------------------------------------------------------------------------------
# The checks of the naive layers, written once for them and for their GPU twins. With
# ``devices=True`` an argument may be a numpy OR a CuPy array (what the GPU twins take); without
# it, a numpy array only (the naive layers). Nothing else differs: same checks, same order, same
# messages.
# ----------------------------------------------------------------------------------------------

DROPOUT_KINDS = ("inverted", "vanilla")


def is_array(a):
    """True for a numpy or a CuPy array (decided without importing CuPy; a CuPy generator is none)."""
    return isinstance(a, np.ndarray) or (is_cupy(a) and hasattr(a, "shape") and hasattr(a, "dtype"))


def _array_kinds(devices):
    return "a numpy or CuPy array" if devices else "a numpy array"


def _accepted(arr, devices):
    return is_array(arr) if devices else isinstance(arr, np.ndarray)


def require_array(name, arr, integers_ok=False, devices=False):
    """``arr`` must be a numpy array (``devices``: numpy or CuPy) of floats; with ``integers_ok``,
    of any real numbers (CS231n passes an integer gamma)."""
    if not _accepted(arr, devices):
        raise ValueError(f"{name} must be {_array_kinds(devices)}, got {type(arr).__name__}")
    if not (integers_ok and arr.dtype.kind in "iu"):
        require_float(name, arr)


def affine_geometry(x, w, b, devices=False):
    """D = d_1 * ... * d_k of a valid affine layer: x (N, d_1, ..., d_k), w (D, M), b (M,)."""
    for name, arr in (("x", x), ("w", w), ("b", b)):
        require_array(name, arr, devices=devices)
    require_min_ndim("x", x, 2)
    require_ndim("w", w, 2, "(D, M)")
    D = int(np.prod(x.shape[1:]))
    if w.shape[0] != D:
        raise ValueError(f"w must have shape ({D}, M) to match x of shape {x.shape} (D = {D}), got shape {w.shape}")
    require_shape("b", b, (w.shape[1],), f"to match w of shape {w.shape}")
    return D


def require_scores_and_labels(x, y, devices=False):
    """The losses' inputs: float scores x of shape (N, C) with N >= 1, integer labels y of shape
    (N,) in [0, C). On a GPU the label range costs two scalar copies back."""
    require_array("x", x, devices=devices)
    require_ndim("x", x, 2, "(N, C)")
    if not _accepted(y, devices):
        raise ValueError(f"y must be {_array_kinds(devices)} of integer labels, got {type(y).__name__}")
    require_labels(y, x.shape[0], x.shape[1])
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one example, got shape {x.shape}")


def require_scores_and_targets(x, y, devices=False):
    """A binary loss's inputs: float scores x of shape (N, ...) with N >= 1, and targets y of the
    same shape, of integers, booleans or floats, every one 0 or 1. On a GPU the value check costs
    one scalar copy back."""
    require_array("x", x, devices=devices)
    require_min_ndim("x", x, 1)
    if x.shape[0] == 0:
        raise ValueError(f"x must hold at least one example, got shape {x.shape}")
    if not _accepted(y, devices):
        raise ValueError(f"y must be {_array_kinds(devices)} of 0/1 targets, got {type(y).__name__}")
    if y.shape != x.shape:
        raise ValueError(f"y must have the shape of x, {x.shape} (one 0/1 target per score), got shape {y.shape}")
    if y.dtype.kind not in "biuf":
        raise ValueError(f"y must hold 0/1 targets as integers, booleans or floats, got dtype {y.dtype}")
    if y.dtype.kind != "b" and bool(((y != 0) & (y != 1)).any()):
        raise ValueError(f"y must hold only 0 and 1, found values in [{y.min()}, {y.max()}]")


def require_norm_inputs(x, gamma, beta, x_layout="(N, D)", devices=False):
    """Float x of shape (N, D); gamma and beta of shape (D,) (integers allowed)."""
    require_array("x", x, devices=devices)
    for name, arr in (("gamma", gamma), ("beta", beta)):
        require_array(name, arr, integers_ok=True, devices=devices)
    require_ndim("x", x, 2, x_layout)
    D = x.shape[1]
    require_shape("gamma", gamma, (D,), f"one scale per feature of x, shape {x.shape}")
    require_shape("beta", beta, (D,), f"one shift per feature of x, shape {x.shape}")


def batchnorm_settings(x, gamma, beta, bn_param, devices=False):
    """(mode, eps, momentum, running_mean, running_var) of a valid batch normalization.

    Checks x, gamma, beta (:func:`require_norm_inputs`), bn_param['mode'] ('train' or 'test'),
    the running statistics (shape (D,); zeros of x's dtype, where x lives, when absent) and at
    least one example in train mode. Defaults: eps 1e-5, momentum 0.9.
    """
    require_norm_inputs(x, gamma, beta, devices=devices)
    mode = get_param(bn_param, "mode", "bn_param")
    require_mode("bn_param", mode)
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    N, D = x.shape
    xp = array_module(x)
    running_mean = bn_param.get("running_mean", xp.zeros(D, dtype=x.dtype))
    running_var = bn_param.get("running_var", xp.zeros(D, dtype=x.dtype))
    require_shape("bn_param['running_mean']", running_mean, (D,), f"one per feature of x, shape {x.shape}")
    require_shape("bn_param['running_var']", running_var, (D,), f"one per feature of x, shape {x.shape}")
    if mode == "train" and N < 1:
        raise ValueError(f"x must hold at least one example in train mode, got shape {x.shape}")
    return mode, eps, momentum, running_mean, running_var


def require_param_dict(name, params):
    """``params`` (``ln_param``, ``gn_param``) must be a dict."""
    if not isinstance(params, dict):
        raise ValueError(f"{name} must be a dict, got {type(params).__name__}")


def layernorm_settings(x, gamma, beta, ln_param, devices=False):
    """eps of a valid layer normalization (default 1e-5): x (N, D) with D >= 1, gamma and beta (D,)."""
    require_norm_inputs(x, gamma, beta, devices=devices)
    require_param_dict("ln_param", ln_param)
    eps = ln_param.get("eps", 1e-5)
    if x.shape[1] < 1:
        raise ValueError(f"x must have at least one feature, got shape {x.shape}")
    return eps


def require_spatial_norm_inputs(x, gamma, beta, keepdims=False, devices=False):
    """Float x of shape (N, C, H, W); gamma and beta one per channel (integers allowed), of shape
    (C,), or (1, C, 1, 1) with ``keepdims`` (group normalization)."""
    require_array("x", x, devices=devices)
    require_ndim("x", x, 4, "(N, C, H, W)")
    C = x.shape[1]
    for name, arr in (("gamma", gamma), ("beta", beta)):
        require_array(name, arr, integers_ok=True, devices=devices)
        require_shape(name, arr, (1, C, 1, 1) if keepdims else (C,), f"one per channel of x, shape {x.shape}")


def groupnorm_settings(x, gamma, beta, G, gn_param, devices=False):
    """eps of a valid spatial group normalization (default 1e-5): x (N, C, H, W), gamma and beta
    (1, C, 1, 1), G a positive integer dividing C, gn_param a dict."""
    require_spatial_norm_inputs(x, gamma, beta, keepdims=True, devices=devices)
    C = x.shape[1]
    if isinstance(G, bool) or not isinstance(G, (int, np.integer)) or G < 1 or C % G:
        raise ValueError(f"G must be a positive integer dividing the {C} channels of x (shape {x.shape}), got {G!r}")
    require_param_dict("gn_param", gn_param)
    return gn_param.get("eps", 1e-5)


def dropout_settings(x, dropout_param, devices=False):
    """(p, mode, kind) of a valid dropout: x a float array; dropout_param['p'] (the KEEP
    probability) in (0, 1], ['mode'] 'train' or 'test', ['kind'] one of DROPOUT_KINDS
    ('inverted' when absent)."""
    require_array("x", x, devices=devices)
    p = get_param(dropout_param, "p", "dropout_param")
    mode = get_param(dropout_param, "mode", "dropout_param")
    require_mode("dropout_param", mode)
    if isinstance(p, bool) or not isinstance(p, (int, float, np.floating, np.integer)) or not 0 < p <= 1:
        raise ValueError(f"dropout_param['p'] is the probability of KEEPING a unit and must lie in (0, 1], got {p!r}")
    kind = dropout_param.get("kind", "inverted")
    if kind not in DROPOUT_KINDS:
        raise ValueError(f"dropout_param['kind'] must be 'inverted' or 'vanilla', got {kind!r}")
    return p, mode, kind


def _checked_conv_geometry(x, w, b, conv_param, devices):
    for name, arr in (("x", x), ("w", w), ("b", b)):
        require_array(name, arr, devices=devices)
    stride = get_param(conv_param, "stride", "conv_param")
    pad = get_param(conv_param, "pad", "conv_param")
    return conv_output_shape(x.shape, w.shape, b.shape, stride, pad), int(stride), int(pad)


def _checked_pool_geometry(x, pool_param, devices):
    require_array("x", x, devices=devices)
    ph = get_param(pool_param, "pool_height", "pool_param")
    pw = get_param(pool_param, "pool_width", "pool_param")
    stride = get_param(pool_param, "stride", "pool_param")
    return pool_output_shape(x.shape, ph, pw, stride), int(ph), int(pw), int(stride)


def device_conv_geometry(x, w, b, conv_param):
    """:func:`conv_geometry` for numpy or CuPy arrays (the GPU twins): same checks, same messages."""
    return _checked_conv_geometry(x, w, b, conv_param, devices=True)


def device_pool_geometry(x, pool_param):
    """:func:`pool_geometry` for a numpy or CuPy x (the GPU twins): same checks, same messages."""
    return _checked_pool_geometry(x, pool_param, devices=True)
