"""Argument checks shared by the naive layers and their fast twins.

Each check raises ``ValueError`` naming the argument and the shapes it saw, so that a
student who passes the wrong thing reads what went wrong instead of a numpy broadcast error
three frames deeper. These are given to students: they are the layer contract, not the math.
"""

import numpy as np

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


def require_float_array(name, arr):
    """``arr`` must be a numpy array of floats (the fast twins take nothing else)."""
    if not isinstance(arr, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(arr).__name__}")
    require_float(name, arr)


def conv_geometry(x, w, b, conv_param):
    """((N, F, H', W'), stride, pad) of a valid convolution, checked in the naive layer's order."""
    for name, arr in (("x", x), ("w", w), ("b", b)):
        require_float_array(name, arr)
    stride = get_param(conv_param, "stride", "conv_param")
    pad = get_param(conv_param, "pad", "conv_param")
    return conv_output_shape(x.shape, w.shape, b.shape, stride, pad), int(stride), int(pad)


def pool_geometry(x, pool_param):
    """((N, C, H', W'), PH, PW, stride) of a valid max pooling, checked in the naive layer's order."""
    require_float_array("x", x)
    ph = get_param(pool_param, "pool_height", "pool_param")
    pw = get_param(pool_param, "pool_width", "pool_param")
    stride = get_param(pool_param, "stride", "pool_param")
    return pool_output_shape(x.shape, ph, pw, stride), int(ph), int(pw), int(stride)


def compute_dtype(*dtypes):
    """The dtype the fast twins compute in: float32 stays float32 (float16 computes in float32),
    everything else computes in float64."""
    dt = np.result_type(*dtypes)
    if dt == np.float32 or dt == np.float16:
        return np.dtype(np.float32)
    return np.dtype(np.float64)
