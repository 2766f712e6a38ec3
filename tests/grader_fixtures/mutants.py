"""Mutants of the solution: plausible student bugs, each a single text replacement in one module.

Each entry is ``name: (what the bug is, module under assignment/, old text, new text)``. The
old text must occur exactly once in the module and lie inside a solution region (the test
checks both), so that every mutant is a change to student code. ``make_submission`` writes a
submission directory holding every student-owned module of the solution with the one change.
"""

import shutil
from pathlib import Path

MUTANTS = {
    # --- layers: affine, relu ------------------------------------------------------------------
    "affine_no_bias": ("affine_forward forgets the bias", "layers.py",
                       "    out = x.reshape(x.shape[0], D) @ w + b\n",
                       "    out = x.reshape(x.shape[0], D) @ w\n"),
    "affine_db_mean": ("affine_backward averages db over the batch (a stray /N)", "layers.py",
                       "    db = dout.sum(axis=0)\n    ### END SOLUTION\n    return dx.astype(x.dtype, copy=False), dw",
                       "    db = dout.mean(axis=0)\n    ### END SOLUTION\n    return dx.astype(x.dtype, copy=False), dw"),  # noqa: E501
    "affine_dw_zeros": ("affine_backward returns zeros for dw", "layers.py",
                        "    dw = x2d.T @ dout\n",
                        "    dw = np.zeros_like(w)\n"),
    "relu_in_place": ("relu_forward writes into x (mutates its input)", "layers.py",
                      "    out = np.maximum(x, 0)\n",
                      "    out = np.maximum(x, 0, out=x)\n"),
    "relu_grad_at_zero": ("relu_backward passes the gradient at x = 0", "layers.py",
                          "    dx = dout * (x > 0)\n",
                          "    dx = dout * (x >= 0)\n"),
    # --- losses --------------------------------------------------------------------------------
    "svm_margin_half": ("svm_loss with margin 0.5", "layers.py",
                        "    margins = np.maximum(0, x - x[rows, y][:, None] + 1)\n",
                        "    margins = np.maximum(0, x - x[rows, y][:, None] + 0.5)\n"),
    "svm_no_div_n": ("svm_loss gradient missing /N", "layers.py",
                     "    dx = positive / N\n",
                     "    dx = positive\n"),
    "svm_no_clamp": ("svm_loss counts negative margins (no max(0, .))", "layers.py",
                     "    margins = np.maximum(0, x - x[rows, y][:, None] + 1)\n",
                     "    margins = x - x[rows, y][:, None] + 1\n"),
    "softmax_wrong_axis": ("softmax normalizes over the batch axis", "layers.py",
                           "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n",
                           "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))\n"),
    "softmax_no_div_n": ("softmax_loss gradient missing /N", "layers.py",
                         "    dx /= N\n",
                         "    dx /= 1\n"),
    "softmax_unstable": ("softmax without subtracting the row maximum", "layers.py",
                         "    shifted = x - x.max(axis=1, keepdims=True)\n",
                         "    shifted = x\n"),
    "bce_mean_over_all": ("sigmoid_cross_entropy_loss divides by x.size instead of N", "layers.py",
                          "    N = x.shape[0]\n    t = y.astype(x.dtype)\n",
                          "    N = x.size\n    t = y.astype(x.dtype)\n"),
    "bce_naive_log": ("sigmoid_cross_entropy_loss as -(t log p + (1 - t) log(1 - p)): inf for large |x|",
                      "layers.py",
                      "    loss = (np.maximum(x, 0) - x * t + softplus).sum() / N\n",
                      "    p0 = 1 / (1 + np.exp(-x))\n"
                      "    loss = -(t * np.log(p0) + (1 - t) * np.log(1 - p0)).sum() / N\n"),
    "bce_grad_sign": ("sigmoid_cross_entropy_loss's gradient is (t - p) / N", "layers.py",
                      "    dx = (p - t) / N\n",
                      "    dx = (t - p) / N\n"),
    # --- normalization -------------------------------------------------------------------------
    "bn_unbiased_var": ("batch norm uses the unbiased (N - 1) variance", "layers.py",
                        "        var = x.var(axis=0)\n",
                        "        var = x.var(axis=0, ddof=1)\n"),
    "bn_momentum_swapped": ("batch norm's running mean weights the batch by momentum", "layers.py",
                            "        running_mean = momentum * running_mean + (1 - momentum) * mean\n",
                            "        running_mean = (1 - momentum) * running_mean + momentum * mean\n"),
    "bn_test_uses_batch": ("batch norm in test mode normalizes with the batch statistics", "layers.py",
                           "        mean, var = running_mean, running_var\n",
                           "        mean, var = x.mean(axis=0), x.var(axis=0)\n"),
    "bn_backward_no_dmean": ("batchnorm_backward drops the gradient through the mean", "layers.py",
                             "        dx = dxmu + dmean / N                                    # mean = mean(x)\n",
                             "        dx = dxmu                                                # mean = mean(x)\n"),
    "bn_alt_missing_term": ("batchnorm_backward_alt forgets the sum(g) term", "layers.py",
                            "        dx = inv_std / N * (N * g - g.sum(axis=0) - x_hat * (g * x_hat).sum(axis=0))\n",
                            "        dx = inv_std / N * (N * g - x_hat * (g * x_hat).sum(axis=0))\n"),
    "ln_wrong_axis": ("layer norm takes its mean over the batch", "layers.py",
                      "    mean = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)\n",
                      "    mean = x.mean(axis=0, keepdims=True)\n    var = x.var(axis=1, keepdims=True)\n"),
    "ln_backward_no_mean_term": ("layernorm_backward forgets the mean of g", "layers.py",
                                 "    dx = inv_std / D * (D * g - g.sum(axis=1, keepdims=True) - x_hat",
                                 "    dx = inv_std / D * (D * g - x_hat"),
    "sbn_no_transpose": ("spatial batch norm reshapes without moving the channel axis", "layers.py",
                         "    columns = x.transpose(0, 2, 3, 1).reshape(-1, C)\n",
                         "    columns = x.reshape(-1, C)\n"),
    "gn_unbiased_var": ("group norm with the unbiased variance", "layers.py",
                        "    var = groups.var(axis=2, keepdims=True)\n",
                        "    var = groups.var(axis=2, keepdims=True, ddof=1)\n"),
    "gn_backward_db_axes": ("group norm's dbeta summed over N only", "layers.py",
                            "    dbeta = dout.sum(axis=(0, 2, 3), keepdims=True)\n",
                            "    dbeta = dout.sum(axis=0, keepdims=True).sum(axis=(1, 2), keepdims=True)\n"),
    # --- dropout -------------------------------------------------------------------------------
    "dropout_drop_prob": ("dropout treats p as the probability of dropping", "layers.py",
                          "        keep = rng.random(x.shape) < p\n",
                          "        keep = rng.random(x.shape) >= p\n"),
    "dropout_not_inverted": ("dropout forgets to scale the kept units by 1/p", "layers.py",
                             "        mask = (keep / p if kind == \"inverted\" else keep).astype(x.dtype)\n",
                             "        mask = keep.astype(x.dtype)\n"),
    "dropout_backward_ignores_mask": ("dropout_backward passes dout through unmasked", "layers.py",
                                      "        dx = dout * mask\n",
                                      "        dx = dout.copy()\n"),
    "dropout_vanilla_scales": ("vanilla dropout scales the kept units by 1/p as inverted dropout does", "layers.py",
                               "        mask = (keep / p if kind == \"inverted\" else keep).astype(x.dtype)\n",
                               "        mask = (keep / p).astype(x.dtype)\n"),
    "dropout_vanilla_test_identity": ("vanilla dropout is the identity at test time (forgets the factor p)",
                                      "layers.py", "        out = x * p\n", "        out = x.copy()\n"),
    "dropout_vanilla_backward_test": ("vanilla dropout's test-mode backward passes dout unscaled", "layers.py",
                                      "        dx = dout * dropout_param[\"p\"]\n", "        dx = dout.copy()\n"),
    # --- sigmoid, tanh -------------------------------------------------------------------------
    "sigmoid_overflow_nan": ("sigmoid as exp(x) / (1 + exp(x)): nan for large x", "layers.py",
                             "    out = np.where(x >= 0, 1 / (1 + z), z / (1 + z))\n",
                             "    out = np.exp(x) / (1 + np.exp(x))\n"),
    "sigmoid_backward_no_one_minus": ("sigmoid_backward forgets the (1 - out) factor", "layers.py",
                                      "    dx = dout * out * (1 - out)\n", "    dx = dout * out\n"),
    "sigmoid_backward_of_x": ("sigmoid_backward treats the cache as x: sigmoid'(out) instead of sigmoid'(x)",
                              "layers.py", "    dx = dout * out * (1 - out)\n",
                              "    s = 1 / (1 + np.exp(-out))\n    dx = dout * s * (1 - s)\n"),
    "tanh_backward_no_square": ("tanh_backward uses 1 - out instead of 1 - out ** 2", "layers.py",
                                "    dx = dout * (1 - out * out)\n", "    dx = dout * (1 - out)\n"),
    "tanh_forward_sigmoid": ("tanh_forward computes 2 * sigmoid(x) - 1 of the wrong argument", "layers.py",
                             "    out = np.tanh(x)\n", "    out = 2 / (1 + np.exp(-x)) - 1\n"),
    # --- convolution and pooling ---------------------------------------------------------------
    "conv_no_padding": ("conv_forward_naive ignores pad", "layers.py",
                        "    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))\n    w_rows = w.reshape(F, -1)\n"
                        "    out = np.empty",
                        "    xp = x\n    w_rows = w.reshape(F, -1)\n    out = np.empty"),
    "conv_stride_off_by_one": ("conv_forward_naive steps stride + 1 between rows of windows", "layers.py",
                               "            window = xp[:, :, i * stride : i * stride + HH, j * stride : j * stride + WW]\n",  # noqa: E501
                               "            window = xp[:, :, i * (stride + 1) : i * (stride + 1) + HH, "
                               "j * stride : j * stride + WW]\n"),
    "conv_flipped_filter": ("conv_forward_naive flips the filter (a true convolution)", "layers.py",
                            "    w_rows = w.reshape(F, -1)\n    out = np.empty",
                            "    w_rows = w[:, :, ::-1, ::-1].reshape(F, -1)\n    out = np.empty"),
    "conv_backward_crop": ("conv_backward_naive crops the padded dx at the wrong offset", "layers.py",
                           "    dx = dxp[:, :, pad : pad + H, pad : pad + W]\n",
                           "    dx = dxp[:, :, :H, :W]\n"),
    "conv_backward_db_mean": ("conv_backward_naive averages db over the batch", "layers.py",
                              "    db = dout.sum(axis=(0, 2, 3))\n",
                              "    db = dout.sum(axis=(2, 3)).mean(axis=0)\n"),
    "pool_mean": ("max_pool_forward_naive averages instead of taking the maximum", "layers.py",
                  "            out[:, :, i, j] = window.max(axis=(2, 3))\n",
                  "            out[:, :, i, j] = window.mean(axis=(2, 3))\n"),
    "pool_every_tie": ("max-pool gradient sent to every tied maximum", "layers.py",
                       "            routed = np.zeros(window.shape, dtype=x.dtype)\n"
                       "            np.put_along_axis(routed, first_max, dout[:, :, i, j][:, :, None], axis=2)\n",
                       "            routed = (window == window.max(axis=2, keepdims=True)) * dout[:, :, i, j][:, :, None]\n"),  # noqa: E501
    "avg_pool_divides_by_width": ("avg pool divides by pool_width only (square windows hide it)", "layers.py",
                                  "            out[:, :, i, j] = window.mean(axis=(2, 3))\n",
                                  "            out[:, :, i, j] = window.sum(axis=(2, 3)) / pw\n"),
    "avg_pool_backward_overwrites": ("avg-pool gradient of overlapping windows overwrites instead of adding",
                                     "layers.py",
                                     "            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] += per_position",  # noqa: E501
                                     "            dx[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw] = per_position"),  # noqa: E501
    "avg_pool_backward_unscaled": ("avg-pool backward gives each position the whole dout, not dout / (PH * PW)",
                                   "layers.py", "    per_position = dout / (ph * pw)\n", "    per_position = dout\n"),
    "avg_pool_stride_is_window": ("avg pool steps by the window instead of the stride (right only when equal)",
                                  "layers.py",
                                  "            window = x[:, :, i * stride : i * stride + ph, j * stride : j * stride + pw]\n            out[:, :, i, j] = window.mean",  # noqa: E501
                                  "            window = x[:, :, i * ph : i * ph + ph, j * pw : j * pw + pw]\n            out[:, :, i, j] = window.mean"),  # noqa: E501
    "pool_overlap_overwrites": ("max-pool gradient of overlapping windows overwrites instead of adding", "layers.py",
                                "            dx[:, :, hs, ws] += routed.reshape(N, C, ph, pw)\n",
                                "            dx[:, :, hs, ws] = routed.reshape(N, C, ph, pw)\n"),
    # --- update rules --------------------------------------------------------------------------
    "momentum_sign": ("sgd_momentum adds the gradient step", "optim.py",
                      '    v = config["momentum"] * v - config["learning_rate"] * dw\n',
                      '    v = config["momentum"] * v + config["learning_rate"] * dw\n'),
    "nesterov_plain_momentum": ("nesterov written as plain momentum", "optim.py",
                                "    next_w = w - mu * v_prev + (1 + mu) * v\n",
                                "    next_w = w + v\n"),
    "adagrad_no_sqrt": ("adagrad divides by the cache without its square root", "optim.py",
                        '    cache = cache + dw**2\n    next_w = w - config["learning_rate"] * dw / (np.sqrt(cache) + ',
                        '    cache = cache + dw**2\n    next_w = w - config["learning_rate"] * dw / ((cache) + '),
    "rmsprop_no_square": ("rmsprop averages dw instead of dw ** 2", "optim.py",
                          "    cache = decay * cache + (1 - decay) * dw**2\n",
                          "    cache = decay * cache + (1 - decay) * np.abs(dw)\n"),
    "adam_t_after_use": ("adam increments t after the bias correction", "optim.py",
                         "    t = t + 1\n    m = b1 * m + (1 - b1) * dw\n    v = b2 * v + (1 - b2) * dw**2\n"
                         "    m_hat = m / (1 - b1**t)\n    v_hat = v / (1 - b2**t)\n",
                         "    m = b1 * m + (1 - b1) * dw\n    v = b2 * v + (1 - b2) * dw**2\n"
                         "    m_hat = m / (1 - b1**t)\n    v_hat = v / (1 - b2**t)\n    t = t + 1\n"),
    "adam_no_bias_correction": ("adam without bias correction", "optim.py",
                                "    m_hat = m / (1 - b1**t)\n    v_hat = v / (1 - b2**t)\n",
                                "    m_hat = m\n    v_hat = v\n"),
    # --- models --------------------------------------------------------------------------------
    "l2_without_half": ("L2 penalty without the factor 0.5", "classifiers/base.py",
                        "            penalty = penalty + 0.5 * self.reg * (W * W).sum()\n",
                        "            penalty = penalty + self.reg * (W * W).sum()\n"),
    "l2_grad_doubled": ("L2 gradient 2 * reg * W", "classifiers/base.py",
                        "            grads[name] = grads[name] + (self.reg * W).astype(W.dtype, copy=False)\n",
                        "            grads[name] = grads[name] + (2 * self.reg * W).astype(W.dtype, copy=False)\n"),
    "two_layer_l2_first_only": ("TwoLayerNet regularizes W1 only", "classifiers/fc_net.py",
                                '        loss += self._add_l2(grads, ("W1", "W2"))\n',
                                '        loss += self._add_l2(grads, ("W1",))\n'),
    "fcn_no_dropout_backward": ("FullyConnectedNet skips dropout in its backward pass", "classifiers/fc_net.py",
                                "            if self.use_dropout:\n                dout = ops.dropout_backward(dout, drop_cache)\n",  # noqa: E501
                                ""),
    "fcn_shared_bn_param": ("FullyConnectedNet shares the first bn_param between layers", "classifiers/fc_net.py",
                            '                out, norm_cache = ops.batchnorm_forward(out, p[f"gamma{i}"], p[f"beta{i}"], '  # noqa: E501
                            "self.bn_params[i - 1])\n",
                            '                out, norm_cache = ops.batchnorm_forward(out, p[f"gamma{i}"], p[f"beta{i}"], '  # noqa: E501
                            "self.bn_params[0])\n"),
    "three_layer_no_l2_w1": ("ThreeLayerConvNet does not regularize the conv weights", "classifiers/cnn.py",
                             '        loss += self._add_l2(grads, ("W1", "W2", "W3"))\n',
                             '        loss += self._add_l2(grads, ("W2", "W3"))\n'),
    "deep_conv_shared_conv_param": ("DeepConvNet uses the first conv_param for every convolution", "classifiers/cnn.py",
                                    "            a, conv_relu_cache = ops.conv_relu_forward("
                                    "a, p[f\"W{i}\"], p[f\"b{i}\"], self.conv_params[i - 1])\n",
                                    "            a, conv_relu_cache = ops.conv_relu_forward("
                                    "a, p[f\"W{i}\"], p[f\"b{i}\"], self.conv_params[0])\n"),
    "deep_conv_no_dropout_backward": ("DeepConvNet skips dropout in the backward pass", "classifiers/cnn.py",
                                      "        if self.use_dropout:\n            dh = ops.dropout_backward(dh, drop_cache)\n",  # noqa: E501
                                      ""),
    "linear_l1_grad": ("L1 regularization gradient reg * W instead of reg * sign(W)", "classifiers/linear.py",
                       "            dW += self.reg * np.sign(W)\n",
                       "            dW += self.reg * W\n"),
    "linear_train_no_bias_step": ("LinearClassifier.train never updates b", "classifiers/linear.py",
                                  "            for name, grad in grads.items():\n",
                                  "            for name, grad in [(k, g) for k, g in grads.items() if k == \"W\"]:\n"),
}


def apply(source, old, new, name="mutant"):
    count = source.count(old)
    if count != 1:
        raise AssertionError(f"{name}: the text to replace occurs {count} times, not once")
    return source.replace(old, new)


def make_submission(solution_package, student_modules, dest, name):
    """A submission directory ``dest`` with the solution's student modules and mutant ``name`` applied."""
    what, module, old, new = MUTANTS[name]
    dest = Path(dest)
    for rel in student_modules:
        target = dest / "assignment" / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(solution_package) / rel, target)
    path = dest / "assignment" / module
    path.write_text(apply(path.read_text(), old, new, name))
    return dest
