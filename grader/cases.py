"""What is graded: one frozen record per case, and the seeded inputs each case is run on.

A case names the student function it grades (``target``), the worker recipe that calls it
(``recipe``, see ``grader/worker.py``), its points, its visibility, its tolerance, a hint for
students, a seed, and a shape spec. Inputs are drawn in the trusted parent from
``np.random.default_rng(seed)`` by the generator of the case's recipe; the worker receives
them as arrays and never sees the case record beyond the recipe and its call parameters.

Visibility:
- ``public`` cases are what students can run themselves (``python -m grader check``): their
  inputs and expected values ship in the student tree. Their seeds come from the fixed
  secret ``PUBLIC_SECRET``.
- ``hidden`` cases draw their seeds from the release's own secret (a fresh random number at
  every ``release`` unless one is given), and use shapes and parameters that no public case
  of the same target uses (``check_catalog`` enforces it): non-square inputs and kernels,
  N = 1, stride 2, pad 0 and 2, overlapping pools, exact ties and zeros, huge scores, several
  optimizer steps from a fresh state, regularization on. Hard-coding printed values earns
  nothing.

Cases are grouped by the student module they grade (``GROUPS``): one worker process runs a
whole group, so that a module that crashes or hangs at import costs only its own cases. Points: public cases
1, hidden cases 2 (3 for model gradients).
"""

import hashlib

import numpy as np

from grader.caserecord import Case, freeze

PUBLIC_SECRET = "public-cases-v1"

# Comparator defaults (see grader/compare.py): rel_error below ``tolerance``, with the
# denominator floored at max(FLOOR, FLOOR_REL * max|expected|).
TOL_FORWARD = 1e-7
TOL_BACKWARD = 1e-6
TOL_MODEL = 1e-6


def derive_seed(secret, name):
    digest = hashlib.sha256(f"{secret}\0{name}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# ----------------------------------------------------------------------------------------------
# The catalog
# ----------------------------------------------------------------------------------------------


def _table_op(op_name):
    """A row of the solution's operation table (imported when the catalog is built: release time only)."""
    from assignment import registry

    return registry.BY_NAME[op_name]


def layer_call(op_name, param=None):
    """What the worker's layer recipes are told of a table op: its naive functions and array arguments."""
    op = _table_op(op_name)
    return {"op": op_name, "forward": op.naive_forward.__name__,
            "backward": None if op.is_loss else op.naive_backward.__name__,
            "arrays": list(op.array_names), "param": param}


def _layer_function(op_name, function):
    """``(which, recipe, tolerance)`` of ``function``, the forward or backward of ``op_name``'s row."""
    op = _table_op(op_name)
    if op.is_loss and function == op.naive_forward.__name__:
        return "loss", "layer_loss", TOL_BACKWARD
    if function == op.naive_forward.__name__:
        return "forward", "layer_forward", TOL_FORWARD
    if function == op.naive_backward.__name__:
        return "backward", "layer_backward", TOL_BACKWARD
    raise ValueError(f"{function} is neither the forward nor the backward of the {op_name} row")


# group -> the student modules (relative to assignment/) its cases import
GROUPS = {
    "layers": ("layers.py",),
    "optim": ("optim.py",),
    "models_fc": ("layers.py", "classifiers/base.py", "classifiers/fc_net.py"),
    "models_cnn": ("layers.py", "classifiers/base.py", "classifiers/cnn.py"),
    "linear": ("layers.py", "classifiers/linear.py"),
}

L = "assignment.layers."
O = "assignment.optim."

H_BACKWARD = "Check each gradient against a numerical one (gradient_check.eval_numerical_gradient_array)."
H_NO_MUTATE = "A forward must not modify its inputs."


def _entries():
    """(name, target, group, recipe, visibility, tolerance, hint, shape spec, params, points) rows."""
    E = []

    def add(name, target, group, recipe, vis, tol, hint, shape, params=None, points=None):
        if points is None:
            points = 1.0 if vis == "public" else 2.0
        E.append((name, target, group, recipe, vis, tol, hint, shape, params or {}, points))

    def add_layer(name, op_name, vis, hint, shape, param=None):
        """A case of one row of the operation table: ``name`` is ``<function>.<p1|h1|...>``."""
        function = name.rsplit(".", 1)[0]
        which, recipe, tol = _layer_function(op_name, function)
        add(name, L + function, "layers", recipe, vis, tol, hint, shape, layer_call(op_name, param))

    # --- affine, relu, losses ------------------------------------------------------------------
    g = "layers"
    add_layer("affine_forward.p1", "affine", "public", "out = x flattened to (N, D), times w, plus b.",
              {"x": (2, 4, 5, 6), "M": 3})
    add_layer("affine_forward.h1", "affine", "hidden",
              "Flatten each example to D = d_1 * ... * d_k; do not forget b. " + H_NO_MUTATE, {"x": (3, 7), "M": 5})
    add_layer("affine_forward.h2", "affine", "hidden", "N = 1 must work too (reshape with x.shape[0], not a constant).",
              {"x": (1, 2, 3, 2), "M": 4})
    add_layer("affine_backward.p1", "affine", "public", H_BACKWARD, {"x": (10, 2, 3), "M": 5})
    add_layer("affine_backward.h1", "affine", "hidden",
              "dx has x's original shape; dw = x2d.T @ dout; db sums over the batch.", {"x": (4, 3, 2, 2), "M": 3})
    add_layer("relu_forward.p1", "relu", "public", "max(0, x) elementwise.", {"x": (3, 4)})
    add_layer("relu_forward.h1", "relu", "hidden", "max(0, x) elementwise, into a new array: " + H_NO_MUTATE,
              {"x": (5, 3, 2), "zeros": 6})
    add_layer("relu_backward.p1", "relu", "public", H_BACKWARD, {"x": (10, 10)})
    add_layer("relu_backward.h1", "relu", "hidden", "The derivative at exactly x = 0 is 0 (x > 0, not x >= 0).",
              {"x": (4, 6), "zeros": 5})

    # --- sigmoid, tanh -------------------------------------------------------------------------
    add_layer("sigmoid_forward.p1", "sigmoid", "public", "1 / (1 + exp(-x)) elementwise.", {"x": (4, 5)})
    add_layer("sigmoid_forward.h1", "sigmoid", "hidden",
              "Large |x| must neither overflow nor give nan: use exp(-|x|), which lies in (0, 1].",
              {"x": (3, 6), "scale": 400.0})
    add_layer("sigmoid_forward.h2", "sigmoid", "hidden", "Any shape, and exactly 0.5 at x = 0. " + H_NO_MUTATE,
              {"x": (2, 3, 2), "scale": 20.0, "zeros": 3})
    add_layer("sigmoid_backward.p1", "sigmoid", "public", H_BACKWARD, {"x": (5, 5)})
    add_layer("sigmoid_backward.h1", "sigmoid", "hidden", "dx = dout * out * (1 - out), with out from the cache.",
              {"x": (2, 4, 3), "scale": 3.0})
    add_layer("tanh_forward.p1", "tanh", "public", "tanh(x) elementwise.", {"x": (4, 5)})
    add_layer("tanh_forward.h1", "tanh", "hidden", "tanh(x) elementwise, any shape. " + H_NO_MUTATE,
              {"x": (2, 3, 4), "scale": 3.0})
    add_layer("tanh_backward.p1", "tanh", "public", H_BACKWARD, {"x": (5, 5)})
    add_layer("tanh_backward.h1", "tanh", "hidden", "dx = dout * (1 - out ** 2), with out from the cache.",
              {"x": (3, 2, 5), "scale": 2.0})
    add("svm_loss.p1", L + "svm_loss", g, "svm_loss", "public", TOL_BACKWARD,
        "Margin 1, averaged over N.", {"N": 50, "C": 10, "scale": 0.001})
    add("svm_loss.h1", L + "svm_loss", g, "svm_loss", "hidden", TOL_BACKWARD,
        "Only positive margins count (max(0, .)), the correct class is excluded, loss and dx are divided by N.",
        {"N": 7, "C": 4, "scale": 2.0})
    add("svm_loss.h2", L + "svm_loss", g, "svm_loss", "hidden", TOL_BACKWARD,
        "N = 1 and few classes must work.", {"N": 1, "C": 3, "scale": 1.0})
    add("softmax_loss.p1", L + "softmax_loss", g, "softmax_loss", "public", TOL_BACKWARD,
        "Cross-entropy averaged over N.", {"N": 50, "C": 10, "scale": 0.001})
    add("softmax_loss.h1", L + "softmax_loss", g, "softmax_loss", "hidden", TOL_BACKWARD,
        "Normalize over the classes of each example (axis 1) and divide loss and dx by N.",
        {"N": 6, "C": 5, "scale": 3.0})
    add("softmax_loss.h2", L + "softmax_loss", g, "softmax_loss", "hidden", TOL_BACKWARD,
        "Scores can be huge: subtract each row's maximum before exponentiating.",
        {"N": 4, "C": 3, "scale": 5.0, "offset": 1000.0})
    add_layer("sigmoid_cross_entropy_loss.p1", "sigmoid_cross_entropy_loss", "public",
              "Binary cross-entropy of sigmoid(x) against 0/1 targets y of x's shape, summed, divided by N.",
              {"x": (8,)})
    add_layer("sigmoid_cross_entropy_loss.h1", "sigmoid_cross_entropy_loss", "hidden",
              "Large |x| must give a finite loss: max(x, 0) - x * y + log(1 + exp(-|x|)), never log(0).",
              {"x": (6, 2), "scale": 400.0})
    add_layer("sigmoid_cross_entropy_loss.h2", "sigmoid_cross_entropy_loss", "hidden",
              "Divide by N, the first dimension of x, not by x.size: each example may have several units. "
              + H_NO_MUTATE, {"x": (5, 3), "scale": 2.0})

    # --- normalization -------------------------------------------------------------------------
    g = "layers"
    bn_hint = "Train mode: batch mean and BIASED variance (1/N); running = momentum * running + (1 - momentum) * batch."
    add("batchnorm_forward.p1", L + "batchnorm_forward", g, "batchnorm_forward", "public", TOL_FORWARD,
        bn_hint, {"x": (8, 3)}, {"mode": "train"})
    add("batchnorm_forward.p2", L + "batchnorm_forward", g, "batchnorm_forward", "public", TOL_FORWARD,
        "Test mode normalizes with the running statistics.", {"x": (8, 3), "running": True}, {"mode": "test"})
    add("batchnorm_forward.h1", L + "batchnorm_forward", g, "batchnorm_forward", "hidden", TOL_FORWARD,
        bn_hint, {"x": (5, 4), "running": True}, {"mode": "train", "momentum": 0.7, "eps": 1e-3})
    add("batchnorm_forward.h2", L + "batchnorm_forward", g, "batchnorm_forward", "hidden", TOL_FORWARD,
        "Test mode uses bn_param's running_mean and running_var, not the batch.", {"x": (3, 5), "running": True},
        {"mode": "test", "eps": 1e-2})
    for fn in ("batchnorm_backward", "batchnorm_backward_alt"):
        add(f"{fn}.p1", L + fn, g, fn, "public", TOL_BACKWARD, H_BACKWARD, {"x": (4, 5)}, {"mode": "train"})
        add(f"{fn}.h1", L + fn, g, fn, "hidden", TOL_BACKWARD,
            "The batch mean and variance depend on x too: dx has three terms.", {"x": (6, 3), "running": True},
            {"mode": "train", "eps": 1e-3})
        add(f"{fn}.h2", L + fn, g, fn, "hidden", TOL_BACKWARD,
            "In test mode the running statistics are constants: dx = dout * gamma / sqrt(running_var + eps).",
            {"x": (5, 4), "running": True}, {"mode": "test"})
    add("layernorm_forward.p1", L + "layernorm_forward", g, "layernorm_forward", "public", TOL_FORWARD,
        "Normalize each example over its own features.", {"x": (4, 3)})
    add("layernorm_forward.h1", L + "layernorm_forward", g, "layernorm_forward", "hidden", TOL_FORWARD,
        "Statistics per example (axis 1, keepdims), biased variance, eps inside the square root.",
        {"x": (3, 5)}, {"eps": 1e-3})
    add("layernorm_backward.p1", L + "layernorm_backward", g, "layernorm_backward", "public", TOL_BACKWARD,
        H_BACKWARD, {"x": (4, 3)})
    add("layernorm_backward.h1", L + "layernorm_backward", g, "layernorm_backward", "hidden", TOL_BACKWARD,
        "Like batch norm's backward, with the sums over the features of each example.", {"x": (5, 6)})
    add("spatial_batchnorm_forward.p1", L + "spatial_batchnorm_forward", g, "spatial_batchnorm_forward", "public",
        TOL_FORWARD, "One mean and variance per channel, over N, H and W.", {"x": (2, 3, 4, 5)}, {"mode": "train"})
    add("spatial_batchnorm_forward.h1", L + "spatial_batchnorm_forward", g, "spatial_batchnorm_forward", "hidden",
        TOL_FORWARD, "Move the channel axis last before reshaping to (N * H * W, C), and back afterwards.",
        {"x": (3, 2, 3, 2), "running": True}, {"mode": "train", "momentum": 0.6})
    add("spatial_batchnorm_backward.p1", L + "spatial_batchnorm_backward", g, "spatial_batchnorm_backward",
        "public", TOL_BACKWARD, H_BACKWARD, {"x": (2, 3, 4, 5)}, {"mode": "train"})
    add("spatial_batchnorm_backward.h1", L + "spatial_batchnorm_backward", g, "spatial_batchnorm_backward",
        "hidden", TOL_BACKWARD, "Reshape dout exactly as the forward reshaped x.", {"x": (2, 4, 3, 2)},
        {"mode": "train"})
    add("spatial_groupnorm_forward.p1", L + "spatial_groupnorm_forward", g, "spatial_groupnorm_forward", "public",
        TOL_FORWARD, "Groups of C // G contiguous channels, statistics per example and group.",
        {"x": (2, 6, 4, 5)}, {"G": 2})
    add("spatial_groupnorm_forward.h1", L + "spatial_groupnorm_forward", g, "spatial_groupnorm_forward", "hidden",
        TOL_FORWARD, "Reshape to (N, G, -1): each group spans C // G channels and all positions.",
        {"x": (3, 6, 3, 2)}, {"G": 3, "eps": 1e-3})
    add("spatial_groupnorm_backward.p1", L + "spatial_groupnorm_backward", g, "spatial_groupnorm_backward",
        "public", TOL_BACKWARD, H_BACKWARD, {"x": (2, 6, 4, 5)}, {"G": 2})
    add("spatial_groupnorm_backward.h1", L + "spatial_groupnorm_backward", g, "spatial_groupnorm_backward",
        "hidden", TOL_BACKWARD, "dgamma and dbeta have shape (1, C, 1, 1); dx sums within each group.",
        {"x": (2, 4, 2, 3)}, {"G": 4})

    # --- dropout -------------------------------------------------------------------------------
    g = "layers"
    add("dropout_forward.p1", L + "dropout_forward", g, "dropout_forward", "public", TOL_FORWARD,
        "Keep a unit when rng.random(x.shape) < p, and scale the kept units by 1 / p.", {"x": (10, 10)},
        {"p": 0.5, "mode": "train"})
    add("dropout_forward.h1", L + "dropout_forward", g, "dropout_forward", "hidden", TOL_FORWARD,
        "p is the probability of KEEPING a unit; the mask is rng.random(x.shape) < p, scaled by 1 / p.",
        {"x": (6, 7)}, {"p": 0.7, "mode": "train"})
    add("dropout_forward.h2", L + "dropout_forward", g, "dropout_forward", "hidden", TOL_FORWARD,
        "At test time inverted dropout is the identity.", {"x": (4, 5)}, {"p": 0.3, "mode": "test"})
    add("dropout_forward.p2", L + "dropout_forward", g, "dropout_forward", "public", TOL_FORWARD,
        "Vanilla dropout keeps a unit when rng.random(x.shape) < p and does not scale it at train time.",
        {"x": (8, 6)}, {"p": 0.5, "mode": "train", "kind": "vanilla"})
    add("dropout_forward.h3", L + "dropout_forward", g, "dropout_forward", "hidden", TOL_FORWARD,
        "Vanilla dropout at test time multiplies every unit by p (the expected value at train time).",
        {"x": (3, 7)}, {"p": 0.6, "mode": "test", "kind": "vanilla"})
    add("dropout_forward.h4", L + "dropout_forward", g, "dropout_forward", "hidden", TOL_FORWARD,
        "Vanilla dropout's train-time mask is 0 or 1: no 1 / p.", {"x": (2, 5, 3)},
        {"p": 0.7, "mode": "train", "kind": "vanilla"})
    add("dropout_backward.p1", L + "dropout_backward", g, "dropout_backward", "public", TOL_BACKWARD,
        H_BACKWARD, {"x": (10, 10)}, {"p": 0.5, "mode": "train"})
    add("dropout_backward.h1", L + "dropout_backward", g, "dropout_backward", "hidden", TOL_BACKWARD,
        "dx = dout * mask, with the mask (already scaled by 1 / p) from the cache.", {"x": (5, 3, 2)},
        {"p": 0.6, "mode": "train"})
    add("dropout_backward.h2", L + "dropout_backward", g, "dropout_backward", "hidden", TOL_BACKWARD,
        "In test mode dx = dout.", {"x": (3, 4)}, {"p": 0.4, "mode": "test"})
    add("dropout_backward.h3", L + "dropout_backward", g, "dropout_backward", "hidden", TOL_BACKWARD,
        "Vanilla dropout in test mode: dx = dout * p.", {"x": (4, 2, 3)}, {"p": 0.3, "mode": "test", "kind": "vanilla"})
    add("dropout_backward.h4", L + "dropout_backward", g, "dropout_backward", "hidden", TOL_BACKWARD,
        "Vanilla dropout in train mode: dx = dout * mask, the 0/1 mask from the cache.", {"x": (6, 5)},
        {"p": 0.5, "mode": "train", "kind": "vanilla"})

    # --- convolution and pooling ---------------------------------------------------------------
    g = "layers"
    conv_hint = "Zero-pad x by pad on each side; windows start every stride pixels; do not flip the filter."
    add_layer("conv_forward_naive.p1", "conv", "public", conv_hint, {"x": (2, 3, 4, 4), "w": (3, 3, 4, 4)},
              {"stride": 2, "pad": 1})
    add_layer("conv_forward_naive.h1", "conv", "hidden", conv_hint + " Filters need not be square.",
              {"x": (1, 2, 5, 8), "w": (3, 2, 3, 2)}, {"stride": 2, "pad": 1})
    add_layer("conv_forward_naive.h2", "conv", "hidden", "pad = 0 and stride 1 must work.",
              {"x": (2, 3, 4, 3), "w": (2, 3, 2, 2)}, {"stride": 1, "pad": 0})
    add_layer("conv_forward_naive.h3", "conv", "hidden", "pad = 2: the output is larger than the input.",
              {"x": (1, 1, 3, 3), "w": (2, 1, 3, 3)}, {"stride": 1, "pad": 2})
    add_layer("conv_backward_naive.p1", "conv", "public", H_BACKWARD, {"x": (4, 3, 5, 5), "w": (2, 3, 3, 3)},
              {"stride": 1, "pad": 1})
    add_layer("conv_backward_naive.h1", "conv", "hidden",
              "Accumulate into a padded dx and crop the padding off at the end; db sums over N, H' and W'.",
              {"x": (1, 2, 5, 8), "w": (3, 2, 3, 2)}, {"stride": 2, "pad": 1})
    add_layer("conv_backward_naive.h2", "conv", "hidden", "pad = 2 and a stride of 1.",
              {"x": (2, 1, 3, 3), "w": (2, 1, 3, 3)}, {"stride": 1, "pad": 2})
    add_layer("max_pool_forward_naive.p1", "max_pool", "public", "The maximum of each window.", {"x": (2, 3, 4, 4)},
              {"pool_height": 2, "pool_width": 2, "stride": 2})
    add_layer("max_pool_forward_naive.h1", "max_pool", "hidden", "Windows may overlap (stride < window).",
              {"x": (1, 2, 5, 7)}, {"pool_height": 3, "pool_width": 3, "stride": 2})
    add_layer("max_pool_forward_naive.h2", "max_pool", "hidden", "Windows need not be square.", {"x": (2, 1, 4, 5)},
              {"pool_height": 2, "pool_width": 3, "stride": 1})
    add_layer("max_pool_backward_naive.p1", "max_pool", "public", H_BACKWARD, {"x": (3, 2, 8, 8)},
              {"pool_height": 2, "pool_width": 2, "stride": 2})
    add_layer("max_pool_backward_naive.h1", "max_pool", "hidden",
              "On ties the whole gradient goes to the FIRST maximum (np.argmax); overlapping windows add up.",
              {"x": (2, 2, 4, 4), "ties": 3}, {"pool_height": 2, "pool_width": 2, "stride": 1})
    add_layer("max_pool_backward_naive.h2", "max_pool", "hidden", "Non-square windows, ties, overlap.",
              {"x": (1, 3, 3, 5), "ties": 2}, {"pool_height": 2, "pool_width": 3, "stride": 1})
    add_layer("avg_pool_forward_naive.p1", "avg_pool", "public", "The mean of each window.", {"x": (2, 3, 4, 4)},
              {"pool_height": 2, "pool_width": 2, "stride": 2})
    add_layer("avg_pool_forward_naive.h1", "avg_pool", "hidden",
              "Windows may overlap (stride < window) and need not be square: divide by pool_height * pool_width.",
              {"x": (1, 2, 5, 7)}, {"pool_height": 3, "pool_width": 2, "stride": 1})
    add_layer("avg_pool_forward_naive.h2", "avg_pool", "hidden", "The stride need not equal the window.",
              {"x": (2, 1, 7, 7)}, {"pool_height": 3, "pool_width": 3, "stride": 2})
    add_layer("avg_pool_backward_naive.p1", "avg_pool", "public", H_BACKWARD, {"x": (3, 2, 8, 8)},
              {"pool_height": 2, "pool_width": 2, "stride": 2})
    add_layer("avg_pool_backward_naive.h1", "avg_pool", "hidden",
              "Each window gives dout / (pool_height * pool_width) to each of its positions; overlaps add up.",
              {"x": (2, 2, 5, 4)}, {"pool_height": 2, "pool_width": 3, "stride": 1})
    add_layer("avg_pool_backward_naive.h2", "avg_pool", "hidden", "Overlapping square windows, stride 2.",
              {"x": (1, 3, 7, 9)}, {"pool_height": 3, "pool_width": 3, "stride": 2})

    # --- update rules --------------------------------------------------------------------------
    g = "optim"
    rules = {
        "sgd_momentum": ({"learning_rate": 1e-3}, {"learning_rate": 5e-2, "momentum": 0.8}, ("velocity",),
                         "v = momentum * v - learning_rate * dw; next_w = w + v."),
        "nesterov": ({"learning_rate": 1e-3}, {"learning_rate": 3e-2, "momentum": 0.7}, ("velocity",),
                     "next_w = w - momentum * v_prev + (1 + momentum) * v."),
        "adagrad": ({"learning_rate": 1e-2}, {"learning_rate": 2e-1, "epsilon": 1e-6}, ("cache",),
                    "cache += dw ** 2; step by dw / (sqrt(cache) + epsilon)."),
        "rmsprop": ({"learning_rate": 1e-2}, {"learning_rate": 5e-2, "decay_rate": 0.9}, ("cache",),
                    "cache = decay * cache + (1 - decay) * dw ** 2; step by dw / (sqrt(cache) + epsilon)."),
        "adam": ({"learning_rate": 1e-2}, {"learning_rate": 1e-1, "beta1": 0.8, "beta2": 0.95}, ("m", "v"),
                 "Increment t BEFORE the bias corrections m / (1 - beta1 ** t) and v / (1 - beta2 ** t)."),
    }
    for rule, (pub_cfg, hid_cfg, state, hint) in rules.items():
        add(f"{rule}.p1", O + rule, g, "update_rule", "public", TOL_FORWARD, hint,
            {"w": (4, 5), "steps": 1, "state": True},
            {"rule": rule, "config": pub_cfg, "state_keys": list(state), "t": 5 if rule == "adam" else None})
        add(f"{rule}.h1", O + rule, g, "update_rule", "hidden", TOL_FORWARD,
            hint + " The state written back into config carries over to the next step.",
            {"w": (3, 2, 3), "steps": 3, "state": False},
            {"rule": rule, "config": hid_cfg, "state_keys": list(state), "t": None})

    # --- fully connected models ----------------------------------------------------------------
    g = "models_fc"
    l2 = "L2 regularization: 0.5 * reg * sum(W ** 2) over the weight matrices only (Model._add_l2)."
    add("TwoLayerNet.loss.p1", "assignment.classifiers.fc_net.TwoLayerNet.loss (and Model._add_l2)", g, "model_loss",
        "public", TOL_MODEL, "affine - relu - affine - softmax, plus " + l2,
        {"N": 3, "D": 5, "H": 6, "C": 4}, {"model": "TwoLayerNet", "reg": 0.25})
    add("TwoLayerNet.loss.h1", "assignment.classifiers.fc_net.TwoLayerNet.loss (and Model._add_l2)", g,
        "model_loss", "hidden", TOL_MODEL, l2, {"N": 4, "D": 6, "H": 5, "C": 3},
        {"model": "TwoLayerNet", "reg": 0.7}, points=3.0)
    fcn = "assignment.classifiers.fc_net.FullyConnectedNet.loss"
    add("FullyConnectedNet.loss.p1", fcn, g, "model_loss", "public", TOL_MODEL,
        "{affine - relu} x (L - 1) - affine - softmax.", {"N": 3, "D": 4, "hidden": [5, 4], "C": 3},
        {"model": "FullyConnectedNet", "reg": 0.0, "normalization": None, "keep": 1.0})
    add("FullyConnectedNet.loss.h1", fcn + " (and Model._add_l2)", g, "model_loss", "hidden", TOL_MODEL,
        l2 + " Any number of hidden layers.", {"N": 5, "D": 3, "hidden": [4, 3, 5], "C": 4},
        {"model": "FullyConnectedNet", "reg": 0.3, "normalization": None, "keep": 1.0}, points=3.0)
    add("FullyConnectedNet.batchnorm.p1", fcn, g, "model_loss", "public", TOL_MODEL,
        "affine - batchnorm - relu per hidden layer; gamma and beta get gradients.",
        {"N": 4, "D": 4, "hidden": [5, 4], "C": 3},
        {"model": "FullyConnectedNet", "reg": 0.0, "normalization": "batchnorm", "keep": 1.0})
    add("FullyConnectedNet.batchnorm.h1", fcn, g, "model_loss", "hidden", TOL_MODEL,
        "One bn_param per layer (self.bn_params[i - 1]); scores in test mode use the running statistics.",
        {"N": 6, "D": 3, "hidden": [4, 5], "C": 3},
        {"model": "FullyConnectedNet", "reg": 0.1, "normalization": "batchnorm", "keep": 1.0}, points=3.0)
    add("FullyConnectedNet.layernorm.p1", fcn, g, "model_loss", "public", TOL_MODEL,
        "affine - layernorm - relu per hidden layer.", {"N": 3, "D": 4, "hidden": [5, 4], "C": 3},
        {"model": "FullyConnectedNet", "reg": 0.0, "normalization": "layernorm", "keep": 1.0})
    add("FullyConnectedNet.layernorm.h1", fcn, g, "model_loss", "hidden", TOL_MODEL,
        "Layer norm in every hidden layer, with its own gamma and beta.", {"N": 4, "D": 5, "hidden": [3, 4], "C": 5},
        {"model": "FullyConnectedNet", "reg": 0.2, "normalization": "layernorm", "keep": 1.0}, points=3.0)
    add("FullyConnectedNet.dropout.p1", fcn, g, "model_loss", "public", TOL_MODEL,
        "Dropout after each hidden relu, with self.dropout_param.", {"N": 3, "D": 4, "hidden": [5, 4], "C": 3},
        {"model": "FullyConnectedNet", "reg": 0.0, "normalization": None, "keep": 0.5})
    add("FullyConnectedNet.dropout.h1", fcn, g, "model_loss", "hidden", TOL_MODEL,
        "Dropout after every hidden relu (not after the last affine); backward through the same masks.",
        {"N": 5, "D": 3, "hidden": [6, 5], "C": 4},
        {"model": "FullyConnectedNet", "reg": 0.2, "normalization": "batchnorm", "keep": 0.6}, points=3.0)

    # --- convolutional models ------------------------------------------------------------------
    g = "models_cnn"
    add("ThreeLayerConvNet.loss.p1", "assignment.classifiers.cnn.ThreeLayerConvNet.loss", g, "model_loss",
        "public", TOL_MODEL, "conv - relu - 2x2 pool - affine - relu - affine - softmax.",
        {"N": 2, "input_dim": (3, 6, 6), "F": 2, "filter_size": 3, "hidden": 5, "C": 3},
        {"model": "ThreeLayerConvNet", "reg": 0.0})
    add("ThreeLayerConvNet.loss.h1", "assignment.classifiers.cnn.ThreeLayerConvNet.loss (and Model._add_l2)", g,
        "model_loss", "hidden", TOL_MODEL, l2 + " Use self.conv_param and self.pool_param.",
        {"N": 3, "input_dim": (2, 8, 6), "F": 3, "filter_size": 3, "hidden": 4, "C": 4},
        {"model": "ThreeLayerConvNet", "reg": 0.5}, points=3.0)
    add("DeepConvNet.loss.p1", "assignment.classifiers.cnn.DeepConvNet.loss", g, "model_loss", "public",
        TOL_MODEL, "Six conv - relu, a pool after every second, then affine - relu - dropout - affine.",
        {"N": 2, "input_dim": (1, 4, 4), "hidden": 6, "C": 3}, {"model": "DeepConvNet", "reg": 0.0, "keep": 1.0})
    add("DeepConvNet.loss.h1", "assignment.classifiers.cnn.DeepConvNet.loss (and Model._add_l2)", g, "model_loss",
        "hidden", TOL_MODEL, l2 + " Dropout after the hidden affine - relu only.",
        {"N": 3, "input_dim": (2, 4, 4), "hidden": 8, "C": 4}, {"model": "DeepConvNet", "reg": 0.3, "keep": 0.5},
        points=3.0)
    add("DeepConvNet.loss.h2", "assignment.classifiers.cnn.DeepConvNet.loss", g, "model_loss", "hidden",
        TOL_MODEL, "Each convolution uses its own conv_param (conv4 pads 2).",
        {"N": 2, "input_dim": (1, 12, 12), "hidden": 4, "C": 3}, {"model": "DeepConvNet", "reg": 0.1, "keep": 1.0},
        points=3.0)

    # --- linear classifiers --------------------------------------------------------------------
    g = "linear"
    lc = "assignment.classifiers.linear.LinearClassifier."
    add("LinearSVM.loss.p1", lc + "loss", g, "linear_loss", "public", TOL_MODEL,
        "scores = X W + b; data loss from layers.svm_loss; 0.5 * reg * sum(W ** 2).", {"N": 6, "D": 5, "C": 3},
        {"cls": "LinearSVM", "reg": 0.1, "reg_type": "l2"})
    add("LinearSVM.loss.h1", lc + "loss", g, "linear_loss", "hidden", TOL_MODEL,
        "L1: reg * sum(|W|), gradient reg * sign(W); b is not regularized.", {"N": 8, "D": 4, "C": 5},
        {"cls": "LinearSVM", "reg": 0.3, "reg_type": "l1"})
    add("Softmax.loss.p1", lc + "loss", g, "linear_loss", "public", TOL_MODEL,
        "scores = X W + b; data loss from layers.softmax_loss.", {"N": 5, "D": 4, "C": 3},
        {"cls": "Softmax", "reg": 0.0, "reg_type": "l2"})
    add("Softmax.loss.h1", lc + "loss", g, "linear_loss", "hidden", TOL_MODEL,
        "L2: 0.5 * reg * sum(W ** 2), gradient reg * W.", {"N": 7, "D": 3, "C": 4},
        {"cls": "Softmax", "reg": 0.5, "reg_type": "l2"})
    add("LinearClassifier.train.p1", lc + "train", g, "linear_train", "public", TOL_MODEL,
        "One SGD step per iteration on a sampled minibatch: W -= learning_rate * dW.", {"N": 6, "D": 4, "C": 3},
        {"cls": "LinearSVM", "reg": 0.1, "reg_type": "l2", "learning_rate": 0.1, "num_iters": 3})
    add("LinearClassifier.train.h1", lc + "train", g, "linear_train", "hidden", TOL_MODEL,
        "Update both W and b every iteration, and record each minibatch loss.", {"N": 5, "D": 3, "C": 4},
        {"cls": "Softmax", "reg": 0.2, "reg_type": "l1", "learning_rate": 0.5, "num_iters": 4})
    return E


# The student notebook whose check cells exercise each public case's function: where
# ``python -m grader check`` sends a student whose case still fails. Keyed by the case name
# without its ``.pN``/``.hN`` suffix; tests check that each notebook names the function.
NOTEBOOKS = ("LinearClassifiers.ipynb", "FullyConnectedNets.ipynb", "BatchNormalization.ipynb", "Dropout.ipynb",
             "ConvolutionalNetworks.ipynb", "NetworkProgression.ipynb")  # in the order of the work
NOTEBOOK_OF = {
    **dict.fromkeys(("affine_forward", "affine_backward", "relu_forward", "relu_backward", "sigmoid_forward",
                     "sigmoid_backward", "tanh_forward", "tanh_backward", "sgd_momentum",
                     "nesterov", "adagrad", "rmsprop", "adam", "TwoLayerNet.loss", "FullyConnectedNet.loss",
                     "Model._add_l2"),
                    "FullyConnectedNets.ipynb"),
    **dict.fromkeys(("svm_loss", "softmax_loss", "LinearSVM.loss", "Softmax.loss", "LinearClassifier.train",
                     "LinearClassifier.loss"),
                    "LinearClassifiers.ipynb"),
    **dict.fromkeys(("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "layernorm_forward",
                     "layernorm_backward", "FullyConnectedNet.batchnorm", "FullyConnectedNet.layernorm"),
                    "BatchNormalization.ipynb"),
    **dict.fromkeys(("dropout_forward", "dropout_backward", "FullyConnectedNet.dropout"), "Dropout.ipynb"),
    **dict.fromkeys(("conv_forward_naive", "conv_backward_naive", "max_pool_forward_naive", "max_pool_backward_naive",
                     "avg_pool_forward_naive", "avg_pool_backward_naive",
                     "spatial_batchnorm_forward", "spatial_batchnorm_backward", "spatial_groupnorm_forward",
                     "spatial_groupnorm_backward", "ThreeLayerConvNet.loss", "DeepConvNet.loss"),
                    "ConvolutionalNetworks.ipynb"),
    "sigmoid_cross_entropy_loss": "NetworkProgression.ipynb",
}


def notebook_of(case_name):
    """The notebook that checks the function of a case (``affine_forward.p1`` -> FullyConnectedNets.ipynb)."""
    return NOTEBOOK_OF[case_name.rsplit(".", 1)[0]]


def _module_of(target):
    parts = target.split(" ")[0].split(".")
    # assignment.layers.affine_forward -> layers.py; assignment.classifiers.fc_net.X.loss -> classifiers/fc_net.py
    if parts[1] == "classifiers":
        return f"classifiers/{parts[2]}.py"
    return f"{parts[1]}.py"


def all_cases(hidden_secret):
    """Every case, public and hidden, with seeds drawn from the two secrets."""
    cases = []
    for name, target, group, recipe, vis, tol, hint, shape, params, points in _entries():
        secret = PUBLIC_SECRET if vis == "public" else f"hidden:{hidden_secret}"
        cases.append(Case(name=name, target=target, group=group, recipe=recipe, points=points, visibility=vis,
                          tolerance=tol, hint=hint, seed=derive_seed(secret, name), shape=freeze(shape),
                          params=freeze(params), module=_module_of(target)))
    check_catalog(cases)
    return cases


def public_cases():
    return [c for c in all_cases(hidden_secret="unused") if not c.hidden]


def check_catalog(cases):
    """Unique names; known groups; every target has a public and a hidden case; hidden shapes are new."""
    names = [c.name for c in cases]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ValueError(f"duplicate case names: {sorted(dupes)}")
    by_target = {}
    for c in cases:
        if c.group not in GROUPS:
            raise ValueError(f"{c.name}: unknown group {c.group!r}")
        key = c.target.split(" ")[0]
        by_target.setdefault(key, []).append(c)
    for target, group in by_target.items():
        public = {(c.shape, c.params) for c in group if not c.hidden}
        hidden = [c for c in group if c.hidden]
        if not public or not hidden:
            raise ValueError(f"{target}: needs at least one public and one hidden case")
        for c in hidden:
            if (c.shape, c.params) in public:
                raise ValueError(f"{c.name}: a hidden case must not reuse a public case's shape and parameters")
            if c.shape in {s for s, _ in public}:
                raise ValueError(f"{c.name}: a hidden case must not reuse a public case's shapes")


def groups_of(cases):
    out = {}
    for c in cases:
        out.setdefault(c.group, []).append(c)
    return out


# ----------------------------------------------------------------------------------------------
# Inputs, drawn in the parent
# ----------------------------------------------------------------------------------------------


def _normal(rng, shape, scale=1.0):
    return scale * rng.standard_normal(shape)


def _with_zeros(rng, arr, count):
    flat = arr.reshape(-1)
    flat[rng.choice(flat.size, size=min(count, flat.size), replace=False)] = 0.0
    return arr


def _labels(rng, N, C):
    return rng.integers(0, C, size=N).astype(np.int64)


def _norm_inputs(rng, spec, params, per_channel_shape=None):
    x_shape = tuple(spec["x"])
    C = x_shape[1]
    pshape = per_channel_shape or (C,)
    arrays = {
        "x": 3.0 * rng.standard_normal(x_shape) + 2.0,
        "gamma": 1.0 + 0.3 * rng.standard_normal(pshape),
        "beta": 0.5 * rng.standard_normal(pshape),
        "dout": rng.standard_normal(x_shape),
    }
    if spec.get("running"):
        arrays["running_mean"] = rng.standard_normal(C)
        arrays["running_var"] = 0.5 + rng.random(C)
    return arrays


def _ties(rng, shape, levels):
    """Small integers, so that pooling windows hold exact ties."""
    return rng.integers(0, levels, size=shape).astype(np.float64)


def _model_param_shapes(spec, params):
    """Names and shapes of a model's parameters, as its constructor (given code) creates them."""
    model = params["model"]
    if model == "TwoLayerNet":
        D, H, C = spec["D"], spec["H"], spec["C"]
        return {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}
    if model == "FullyConnectedNet":
        dims = [spec["D"], *spec["hidden"], spec["C"]]
        shapes = {}
        for i in range(1, len(dims)):
            shapes[f"W{i}"] = (dims[i - 1], dims[i])
            shapes[f"b{i}"] = (dims[i],)
            if params.get("normalization") and i < len(dims) - 1:
                shapes[f"gamma{i}"] = (dims[i],)
                shapes[f"beta{i}"] = (dims[i],)
        return shapes
    if model == "ThreeLayerConvNet":
        C, H, W = spec["input_dim"]
        F, k, hidden, classes = spec["F"], spec["filter_size"], spec["hidden"], spec["C"]
        return {"W1": (F, C, k, k), "b1": (F,), "W2": (F * (H // 2) * (W // 2), hidden), "b2": (hidden,),
                "W3": (hidden, classes), "b3": (classes,)}
    if model == "DeepConvNet":
        C, H, W = spec["input_dim"]
        shapes = {}
        layers = ((16, 1, False), (16, 1, True), (32, 1, False), (32, 2, True), (64, 1, False), (64, 1, True))
        for i, (filters, pad, pool) in enumerate(layers, start=1):
            shapes[f"W{i}"] = (filters, C, 3, 3)
            shapes[f"b{i}"] = (filters,)
            C, H, W = filters, H + 2 * pad - 2, W + 2 * pad - 2
            if pool:
                H, W = H // 2, W // 2
        shapes["W7"] = (C * H * W, spec["hidden"])
        shapes["b7"] = (spec["hidden"],)
        shapes["W8"] = (spec["hidden"], spec["C"])
        shapes["b8"] = (spec["C"],)
        return shapes
    raise ValueError(f"unknown model {model!r}")


def _model_inputs(rng, spec, params):
    shapes = _model_param_shapes(spec, params)
    arrays = {}
    for name, shape in shapes.items():
        if name.startswith("W"):
            fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
            w = rng.standard_normal(shape) * (1.5 / np.sqrt(fan_in))
            # Each unit's weights sum to zero: after a ReLU every input is >= 0, and a unit whose
            # weights do not cancel would see the same sign for every example (dead for the batch).
            axes = tuple(range(1, len(shape))) if len(shape) == 4 else (0,)
            arrays[f"param_{name}"] = w - w.mean(axis=axes, keepdims=True)
        elif name.startswith("gamma"):
            arrays[f"param_{name}"] = 1.0 + 0.2 * rng.standard_normal(shape)
        else:
            arrays[f"param_{name}"] = 0.1 * rng.standard_normal(shape)
    N = spec["N"]
    x_shape = (N, spec["D"]) if "D" in spec else (N, *spec["input_dim"])
    arrays["X"] = rng.standard_normal(x_shape)
    arrays["y"] = _labels(rng, N, spec["C"])
    return arrays


def _layer_inputs(rng, spec, op, param, backward):
    """The arrays of a table op's case (and ``dout`` for its backward), drawn in the catalog's order."""
    x_shape = tuple(spec["x"])
    if op == "affine":
        D = int(np.prod(x_shape[1:]))
        a = {"x": _normal(rng, x_shape), "w": _normal(rng, (D, spec["M"]), 0.5), "b": _normal(rng, (spec["M"],))}
        out_shape = (x_shape[0], spec["M"])
    elif op == "conv":
        w_shape = tuple(spec["w"])
        s, p = param["stride"], param["pad"]
        Ho = 1 + (x_shape[2] + 2 * p - w_shape[2]) // s
        Wo = 1 + (x_shape[3] + 2 * p - w_shape[3]) // s
        a = {"x": _normal(rng, x_shape), "w": _normal(rng, w_shape, 0.5), "b": _normal(rng, (w_shape[0],))}
        out_shape = (x_shape[0], w_shape[0], Ho, Wo)
    elif op in ("max_pool", "avg_pool"):
        a = {"x": _ties(rng, x_shape, spec["ties"]) if spec.get("ties") else _normal(rng, x_shape)}
        ph, pw, s = param["pool_height"], param["pool_width"], param["stride"]
        out_shape = (x_shape[0], x_shape[1], 1 + (x_shape[2] - ph) // s, 1 + (x_shape[3] - pw) // s)
    elif op in ("relu", "sigmoid", "tanh"):
        a = {"x": _with_zeros(rng, _normal(rng, x_shape, spec.get("scale", 1.0)), spec.get("zeros", 0))}
        out_shape = x_shape
    elif op == "sigmoid_cross_entropy_loss":
        return {"x": _normal(rng, x_shape, spec.get("scale", 1.0)), "y": rng.integers(0, 2, x_shape)}
    else:
        raise ValueError(f"no input generator for the table op {op!r}")
    if backward:
        a["dout"] = _normal(rng, out_shape)
    return a


def make_inputs(case):
    """The arrays a case's recipe is called with (float64; labels int64), drawn from ``case.seed``."""
    rng = np.random.default_rng(case.seed)
    spec, params, recipe = case.shape_spec, case.call_params, case.recipe
    if recipe in ("layer_forward", "layer_backward", "layer_loss"):
        return _layer_inputs(rng, spec, params["op"], params["param"], backward=recipe == "layer_backward")
    if recipe in ("svm_loss", "softmax_loss"):
        N, C = spec["N"], spec["C"]
        x = spec["scale"] * rng.standard_normal((N, C)) + spec.get("offset", 0.0)
        return {"x": x, "y": _labels(rng, N, C)}
    if recipe in ("batchnorm_forward", "batchnorm_backward", "batchnorm_backward_alt", "layernorm_forward",
                  "layernorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward"):
        return _norm_inputs(rng, spec, params)
    if recipe in ("spatial_groupnorm_forward", "spatial_groupnorm_backward"):
        C = spec["x"][1]
        return _norm_inputs(rng, spec, params, per_channel_shape=(1, C, 1, 1))
    if recipe in ("dropout_forward", "dropout_backward"):
        x = _normal(rng, tuple(spec["x"])) + 1.0
        return {"x": x, "dout": _normal(rng, x.shape), "seed": np.array(rng.integers(2**31), dtype=np.int64)}
    if recipe == "update_rule":
        w_shape = tuple(spec["w"])
        a = {"w": _normal(rng, w_shape), "dw": _normal(rng, (spec["steps"], *w_shape))}
        if spec.get("state"):
            for key in params["state_keys"]:
                a[f"state_{key}"] = rng.random(w_shape) if key in ("cache", "v") else _normal(rng, w_shape, 0.5)
        return a
    if recipe == "model_loss":
        a = _model_inputs(rng, spec, params)
        a["dropout_seed"] = np.array(rng.integers(2**31), dtype=np.int64)
        return a
    if recipe in ("linear_loss", "linear_train"):
        N, D, C = spec["N"], spec["D"], spec["C"]
        return {"X": _normal(rng, (N, D)), "y": _labels(rng, N, C), "W": _normal(rng, (D, C), 0.5),
                "b": _normal(rng, (C,), 0.1)}
    raise ValueError(f"{case.name}: no input generator for recipe {recipe!r}")


def plan_entry(case, cid):
    """What the worker is told about a case: an id, the recipe, its call parameters, its arrays."""
    return {"id": cid, "recipe": case.recipe, "params": case.call_params}
