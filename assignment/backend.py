"""Which implementation of each layer a model runs: the naive loops, the fast twins, the GPU twins.

``get_ops("naive")`` returns the functions of ``assignment.layers``; ``get_ops("fast")``
returns, for every operation that has one, the CS231n-named dispatcher of
``assignment.fast_layers`` (``conv_forward_fast``, ...) and the naive function for the rest;
``get_ops("gpu")`` returns the ``<op>_gpu`` twins of ``assignment.gpu_layers``, which run where
their arrays live (CuPy arrays on the GPU). Every entry keeps the naive contract, so a model
written against one table runs on the others unchanged.
"""

from types import SimpleNamespace

from assignment import layer_utils, layers

# Operation name -> the naive layer functions that define its contract.
OPERATIONS = {
    "affine_forward": layers.affine_forward,
    "affine_backward": layers.affine_backward,
    "relu_forward": layers.relu_forward,
    "relu_backward": layers.relu_backward,
    "softmax_loss": layers.softmax_loss,
    "svm_loss": layers.svm_loss,
    "batchnorm_forward": layers.batchnorm_forward,
    "batchnorm_backward": layers.batchnorm_backward_alt,
    "layernorm_forward": layers.layernorm_forward,
    "layernorm_backward": layers.layernorm_backward,
    "dropout_forward": layers.dropout_forward,
    "dropout_backward": layers.dropout_backward,
    "conv_forward": layers.conv_forward_naive,
    "conv_backward": layers.conv_backward_naive,
    "conv_relu_forward": layer_utils.conv_relu_forward,
    "conv_relu_backward": layer_utils.conv_relu_backward,
    "max_pool_forward": layers.max_pool_forward_naive,
    "max_pool_backward": layers.max_pool_backward_naive,
    "spatial_batchnorm_forward": layers.spatial_batchnorm_forward,
    "spatial_batchnorm_backward": layers.spatial_batchnorm_backward,
    "spatial_groupnorm_forward": layers.spatial_groupnorm_forward,
    "spatial_groupnorm_backward": layers.spatial_groupnorm_backward,
}

BACKENDS = ("naive", "fast", "gpu")


def _fast_name(op):
    """conv_forward -> conv_forward_fast; softmax_loss -> softmax_loss_fast."""
    return f"{op}_fast"


def get_ops(backend="fast"):
    """A namespace with one attribute per name in OPERATIONS, for the chosen backend."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    table = dict(OPERATIONS)
    if backend == "gpu":
        from assignment import gpu_layers

        return SimpleNamespace(name=backend, **{op: getattr(gpu_layers, f"{op}_gpu") for op in OPERATIONS})
    if backend == "fast":
        from assignment import fast_layers

        for op in OPERATIONS:
            fast = getattr(fast_layers, _fast_name(op), None)
            if fast is not None:
                table[op] = fast
    return SimpleNamespace(name=backend, **table)
