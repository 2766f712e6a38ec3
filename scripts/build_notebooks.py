"""Write the five student notebooks from the cell sources below, or execute them.

    python scripts/build_notebooks.py            # (re)write the .ipynb files at the top level, no outputs
    python scripts/build_notebooks.py --check    # exit 1 if a stored notebook differs from its source
    python scripts/build_notebooks.py --execute  # run each notebook in place (outputs kept, for reading)
    python scripts/build_notebooks.py --execute --fast --figures DIR   # small budgets; PNGs into DIR
    python scripts/build_notebooks.py --images   # rebuild assignment/data/notebook_images.npz

The notebooks are generated so that their cells are reviewed as Python here and stored
without outputs. ``--execute`` (what ``make notebooks`` runs) executes them with nbclient in
a kernel of this interpreter and writes the executed notebooks back in place; run the script
without arguments (or ``git checkout``) before committing, to store them clean again.
"""

import argparse
import sys
import textwrap
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = (
    "LinearClassifiers",
    "FullyConnectedNets",
    "BatchNormalization",
    "Dropout",
    "ConvolutionalNetworks",
)
KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
IMAGE_SIZE = 160


# ---------------------------------------------------------------------------------------------
# Cell sources. md() and code() dedent their text; solution regions use the .py files' markers.
# ---------------------------------------------------------------------------------------------


def md(text):
    return ("md", textwrap.dedent(text).strip("\n"))


def code(*parts):
    """A code cell; several parts are dedented one by one and joined by a blank line."""
    return ("code", "\n\n".join(textwrap.dedent(part).strip("\n") for part in parts))


HOW_CHECKS_WORK = md(r"""
    **How the checks work.** Each check cell runs your code on fixed inputs (CS231n's own: where
    CS231n calls `np.random.seed(231)`, a local `np.random.RandomState(231)` here draws the same
    numbers) and prints one line per quantity through `assignment/notebook_utils.py`:

        conv_forward_naive out: relative error 2.21e-08 (should be below 1e-07) ok

    The bound is what the cell says in words: "the error should be around e-8" is printed as
    "below 1e-07", at most that order of magnitude. A line ending in `TOO LARGE` (or
    `TOO SMALL`) points at the part of your code to fix. The relative error is
    `rel_error(x, y) = max |x - y| / max(1e-8, |x| + |y|)` from `assignment/gradient_check.py`.
    The test suite executes this notebook and reads the same lines.

    **Budgets.** Training cells take `nbu.budget(full, small)`: the small budget when the
    environment variable `CI` or `ASSIGNMENT_FAST_NOTEBOOKS` is set, so that the suite runs
    quickly; the full one when you run the notebook yourself.
    """)

SETUP = code(r"""
    # Run this first. autoreload re-imports your edits to assignment/*.py without a kernel restart.
    %load_ext autoreload
    %autoreload 2
    %matplotlib inline

    from assignment import notebook_utils as nbu

    nbu.setup_notebook()
    """)

PLOT_DEFAULTS = r"""
plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"
"""


def answer(text):
    """The answer cell that follows an inline question: a solution region in markdown."""
    body = textwrap.dedent(text).strip("\n")
    return ("md", f"**Your answer:**\n\n### BEGIN SOLUTION\n{body}\n### END SOLUTION")


def linear_classifiers():
    return [
        md(r"""
            # Linear classifiers: SVM and softmax

            A linear classifier scores an image with one matrix product, `scores = X W + b`, and
            learns `W` by minimizing a loss. Here you check the two losses of
            `assignment/layers.py` that every later network ends with, `svm_loss` and
            `softmax_loss`, then train `LinearSVM` and `Softmax` (`assignment/classifiers/linear.py`)
            on a real subset of Fashion-MNIST with L2 and L1 regularization.
            """),
        HOW_CHECKS_WORK,
        SETUP,
        code(r"""
            import matplotlib.pyplot as plt
            import numpy as np

            from assignment.classifiers.linear import LinearSVM, Softmax
            from assignment.data_utils import get_data, load_embedded
            from assignment.gradient_check import eval_numerical_gradient, grad_check_sparse
            from assignment.layers import softmax_loss, svm_loss
            """, PLOT_DEFAULTS),
        md(r"""
            ## The data

            The package ships a small real subset of Fashion-MNIST: 5000 training, 1000 validation
            and 1000 test images of 28x28 grey pixels, 10 classes, 10% of each class per split.
            `get_data(flatten=True)` scales them to [0, 1], subtracts the mean training image and
            returns rows of 784 numbers.
            """),
        code(r"""
            embedded = load_embedded()
            class_names = embedded["class_names"]
            data = get_data(flatten=True)
            for key, value in data.items():
                print(f"{key}: {value.shape} {value.dtype}")

            # Seven training images of each class.
            fig, axes = plt.subplots(7, len(class_names), figsize=(10, 7.5))
            for c, name in enumerate(class_names):
                for row, i in enumerate(np.flatnonzero(embedded["y_train"] == c)[:7]):
                    axes[row, c].imshow(embedded["X_train"][i], cmap="gray")
                    axes[row, c].axis("off")
                axes[0, c].set_title(name, fontsize=9)
            plt.show()
            """),
        md(r"""
            ## The two losses

            `svm_loss(x, y)` (multiclass hinge loss, margin 1, the correct class skipped) and
            `softmax_loss(x, y)` (cross-entropy of the softmax) take scores `x` of shape (N, C) and
            labels `y`, and return `(loss, dx)`: the mean loss over the N examples and its gradient.
            The numerical gradient `eval_numerical_gradient` perturbs each score by +-1e-5.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            num_classes, num_inputs = 10, 50
            x = 0.001 * rs.randn(num_inputs, num_classes)
            y = rs.randint(num_classes, size=num_inputs)

            dx_num = eval_numerical_gradient(lambda x: svm_loss(x, y)[0], x, verbose=False)
            loss, dx = svm_loss(x, y)

            # The loss should be around 9 and the dx error around the order of e-9.
            print("Testing svm_loss: loss", loss)
            nbu.check_rel_error("svm_loss loss vs CS231n's 8.99960274909623", loss, 8.99960274909623, 1e-10)
            nbu.check_rel_error("svm_loss dx", dx_num, dx, 1e-8)

            dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
            loss, dx = softmax_loss(x, y)

            # The loss should be close to 2.3 and the dx error around e-8.
            print("Testing softmax_loss: loss", loss)
            nbu.check_rel_error("softmax_loss loss vs CS231n's 2.30254584450074", loss, 2.30254584450074, 1e-10)
            nbu.check_rel_error("softmax_loss dx", dx_num, dx, 1e-7)
            """),
        md(r"""
            **Inline Question 1.** The scores above are tiny random numbers. Why is the SVM loss
            then about 9, and the softmax loss about 2.3? What would you suspect if your SVM loss
            came out near 10?
            """),
        answer(r"""
            With all scores close to 0, every wrong class j has margin `s_j - s_y + 1 ~ 1`, so each
            example loses about `C - 1 = 9`. The softmax of nearly equal scores is uniform, so each
            example loses `-log(1/C) = log 10 ~ 2.303`. An SVM loss near 10 means the correct
            class was not skipped: it adds its own margin of exactly 1.
            """),
        md(r"""
            **Inline Question 2.** Once in a while a gradient check of the SVM loss does not match
            in one dimension, although the code is correct. What causes such a discrepancy? Is it
            a reason for concern? Give a one-dimensional example where a gradient check could fail.
            How would the margin change how often this happens?
            """),
        answer(r"""
            The hinge `max(0, m)` has a kink at `m = 0`: it is not differentiable there. When a
            margin lies within `h` of 0 the centred difference straddles the kink and measures the
            average of the two one-sided slopes, while the analytic gradient picks one of them.
            It is no reason for concern: the analytic gradient is right almost everywhere. Example:
            `f(x) = max(0, x)` at `x = 1e-6` with `h = 1e-5` gives a numerical slope near 0.55, the
            analytic one is 1. With scores near 0 every margin is near the margin constant: a
            margin of 1 keeps every hinge far from its kink (this check passes), a margin of 0
            would put all of them at the kink. The smaller the margin compared with the spread of
            the scores, the more often a check straddles a kink.
            """),
        md(r"""
            ## The linear classifiers with regularization

            `LinearSVM` and `Softmax` share `LinearClassifier.loss(X, y)`: scores `X W + b`, the data
            loss above, plus a penalty on `W` only: `0.5 * reg * sum(W**2)` (`reg_type="l2"`) or
            `reg * sum(|W|)` (`reg_type="l1"`). `grad_check_sparse` compares the gradient with a
            centred difference at a few random entries of `W`.
            """),
        code(r"""
            X_dev, y_dev = data["X_train"][:500].astype(np.float64), data["y_train"][:500]


            def sparse_check(model):
                # Relative errors of dW at 10 random entries (model.params["W"] is perturbed in place).
                loss, grads = model.loss(X_dev, y_dev)
                return grad_check_sparse(lambda W: model.loss(X_dev, y_dev)[0], model.params["W"], grads["W"],
                                         num_checks=10, seed=231, verbose=False)


            for cls in (LinearSVM, Softmax):
                for reg_type in ("l2", "l1"):
                    model = cls(input_dim=X_dev.shape[1], num_classes=10, weight_scale=1e-2, reg=0.1,
                                reg_type=reg_type, dtype=np.float64, seed=0)
                    # Should be around e-7 or less (a probe that straddles a kink of the hinge would show
                    # an error near e-1 instead: see Inline Question 2).
                    nbu.check_below(f"{cls.__name__} {reg_type} dW at 10 entries", "largest relative error",
                                    max(sparse_check(model)), 1e-6)
            """),
        md(r"""
            ## Training with SGD

            `model.train(X, y, learning_rate, reg, num_iters, batch_size, seed)` runs minibatch
            SGD and returns the loss of every step. Search a few learning rates and regularization
            strengths for each classifier; keep the model with the best validation accuracy. Both
            should reach at least 80% on the validation set.
            """),
        code(r"""
            num_iters = nbu.budget(1500, 300)
            results = {}  # (classifier, learning rate, reg) -> (train accuracy, validation accuracy)
            best = {}     # classifier -> (validation accuracy, model, loss history)
            ### BEGIN SOLUTION
            grid = {LinearSVM: ([1e-3, 1e-2], [1e-3, 1e-1]), Softmax: ([1e-2, 1e-1], [1e-4, 1e-2])}
            for cls, (learning_rates, strengths) in grid.items():
                for lr in learning_rates:
                    for reg in strengths:
                        candidate = cls(weight_scale=1e-3, seed=0)
                        history = candidate.train(data["X_train"], data["y_train"], learning_rate=lr, reg=reg,
                                                  num_iters=num_iters, batch_size=200, seed=0)
                        train_acc = np.mean(candidate.predict(data["X_train"]) == data["y_train"])
                        val_acc = np.mean(candidate.predict(data["X_val"]) == data["y_val"])
                        results[(cls.__name__, lr, reg)] = (train_acc, val_acc)
                        if val_acc > best.get(cls.__name__, (-1.0,))[0]:
                            best[cls.__name__] = (val_acc, candidate, history)
            ### END SOLUTION
            for (name, lr, reg), (train_acc, val_acc) in sorted(results.items()):
                print(f"{name:9s} lr {lr:.0e} reg {reg:.0e}: "
                      f"train accuracy {train_acc:.3f}, val accuracy {val_acc:.3f}")
            for name, (val_acc, model, _) in best.items():
                nbu.check_at_least(f"best {name}", "validation accuracy", val_acc, nbu.budget(0.8, 0.75))
                test_acc = np.mean(model.predict(data["X_test"]) == data["y_test"])
                print(f"best {name}: test accuracy {test_acc:.3f}")
            """),
        md(r"""
            The loss curves, and each class's row of learned weights shown as a 28x28 picture: a
            linear classifier learns one template per class.
            """),
        code(r"""
            fig = plt.figure(figsize=(12, 6))
            grid = fig.add_gridspec(3, 10, height_ratios=[2.5, 1, 1])
            ax = fig.add_subplot(grid[0, :])
            for name, (_, _, history) in best.items():
                ax.plot(history, label=name, alpha=0.8)
            ax.set_xlabel("iteration")
            ax.set_ylabel("minibatch loss")
            ax.legend()
            for row, (name, (_, model, _)) in enumerate(best.items(), start=1):
                W = model.params["W"].reshape(28, 28, 10)
                for c in range(10):
                    a = fig.add_subplot(grid[row, c])
                    a.imshow(W[:, :, c], cmap="gray")
                    a.axis("off")
                    a.set_title(f"{name}\n{class_names[c]}" if c == 0 else class_names[c], fontsize=7)
            fig.tight_layout()
            plt.show()
            """),
        md(r"""
            ## L1 against L2

            The same classifier trained with each penalty. The L1 penalty pushes every weight
            towards zero by the same amount, the L2 penalty in proportion to its size.
            """),
        code(r"""
            trained = {}
            for reg_type, reg in (("l2", 1e-2), ("l1", 1e-3)):
                model = Softmax(weight_scale=1e-3, reg_type=reg_type, seed=0)
                model.train(data["X_train"], data["y_train"], learning_rate=1e-1, reg=reg,
                            num_iters=nbu.budget(1500, 300), batch_size=200, seed=0)
                trained[reg_type] = model
                W = model.params["W"]
                val_acc = np.mean(model.predict(data["X_val"]) == data["y_val"])
                print(f"{reg_type} reg {reg:.0e}: val accuracy {val_acc:.3f}, "
                      f"weights with |w| < 1e-3: {np.mean(np.abs(W) < 1e-3):.1%}, largest |w| {np.abs(W).max():.3f}")

            fig, axes = plt.subplots(1, 2, figsize=(10, 3))
            for ax, (reg_type, model) in zip(axes, trained.items(), strict=True):
                ax.hist(model.params["W"].ravel(), bins=100)
                ax.set_yscale("log")
                ax.set_title(f"weights, {reg_type} penalty")
            plt.show()
            """),
        md(r"""
            **Inline Question 3.** Which penalty leaves more weights near zero, and why? Why does
            plain SGD with the L1 penalty rarely make a weight *exactly* zero?
            """),
        answer(r"""
            L1: its gradient `reg * sign(w)` has the same size however small `w` is, so every weight
            the data does not need (the border pixels, which are nearly constant) is pulled all the
            way to zero; the L2 gradient `reg * w` fades as `w` shrinks and leaves many small but
            non-zero weights. Plain SGD steps by `lr * reg` and overshoots zero, so those weights
            jitter around zero instead of settling on it; proximal updates (soft thresholding)
            would set them to exactly zero.
            """),
    ]


def fully_connected_nets():
    return [
        md(r"""
            # Fully connected networks

            A network is a stack of layers, each a pair of functions in `assignment/layers.py`:

            ```python
            def layer_forward(x, w):
                z = ...            # intermediate values needed by the backward pass
                out = ...          # the output
                cache = (x, w, z)  # what the backward pass will read
                return out, cache

            def layer_backward(dout, cache):
                x, w, z = cache    # unpack the cache first
                dx = ...           # derivative of the loss with respect to x
                dw = ...           # derivative of the loss with respect to w
                return dx, dw
            ```

            You check the affine and ReLU layers and the losses, build `TwoLayerNet` and
            `FullyConnectedNet` (`assignment/classifiers/fc_net.py`) from them, train them with the
            `Solver`, and compare the update rules of `assignment/optim.py`.
            """),
        HOW_CHECKS_WORK,
        SETUP,
        code(r"""
            import matplotlib.pyplot as plt
            import numpy as np

            from assignment.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
            from assignment.data_utils import get_data
            from assignment.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
            from assignment.layer_utils import affine_relu_backward, affine_relu_forward
            from assignment.layers import (
                affine_backward,
                affine_forward,
                relu_backward,
                relu_forward,
                softmax_loss,
                svm_loss,
            )
            from assignment.optim import adam, rmsprop, sgd_momentum
            from assignment.solver import Solver, plot_history
            """, PLOT_DEFAULTS),
        md(r"""
            ## The data

            The embedded Fashion-MNIST subset (5000 training, 1000 validation, 1000 test images),
            scaled to [0, 1] with the mean training image subtracted, as (N, 1, 28, 28) arrays: the
            affine layer flattens each image into a row of 784 numbers.
            """),
        code(r"""
            data = get_data()
            for key, value in data.items():
                print(f"{key}: {value.shape} {value.dtype}")
            """),
        md(r"""
            ## Affine layer: forward

            Implement `affine_forward` in `assignment/layers.py`.
            """),
        code(r"""
            num_inputs, input_shape, output_dim = 2, (4, 5, 6), 3
            input_size = num_inputs * np.prod(input_shape)
            weight_size = output_dim * np.prod(input_shape)
            x = np.linspace(-0.1, 0.5, num=input_size).reshape(num_inputs, *input_shape)
            w = np.linspace(-0.2, 0.3, num=weight_size).reshape(np.prod(input_shape), output_dim)
            b = np.linspace(-0.3, 0.1, num=output_dim)

            out, _ = affine_forward(x, w, b)
            correct_out = np.array([[1.49834967, 1.70660132, 1.91485297],
                                    [3.25553199, 3.5141327, 3.77273342]])

            # The error should be around e-9 or less.
            nbu.check_rel_error("affine_forward out", out, correct_out, 1e-8)
            """),
        md(r"""
            ## Affine layer: backward

            Implement `affine_backward`; the numerical gradient checks it.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(10, 2, 3)
            w = rs.randn(6, 5)
            b = rs.randn(5)
            dout = rs.randn(10, 5)

            dx_num = eval_numerical_gradient_array(lambda x: affine_forward(x, w, b)[0], x, dout)
            dw_num = eval_numerical_gradient_array(lambda w: affine_forward(x, w, b)[0], w, dout)
            db_num = eval_numerical_gradient_array(lambda b: affine_forward(x, w, b)[0], b, dout)

            _, cache = affine_forward(x, w, b)
            dx, dw, db = affine_backward(dout, cache)

            # The errors should be around e-10 or less.
            nbu.check_rel_error("affine_backward dx", dx_num, dx, 1e-9)
            nbu.check_rel_error("affine_backward dw", dw_num, dw, 1e-9)
            nbu.check_rel_error("affine_backward db", db_num, db, 1e-9)
            """),
        md(r"""
            ## ReLU: forward and backward
            """),
        code(r"""
            x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
            out, _ = relu_forward(x)
            correct_out = np.array([[0.,          0.,          0.,          0.,        ],
                                    [0.,          0.,          0.04545455,  0.13636364,],
                                    [0.22727273,  0.31818182,  0.40909091,  0.5,       ]])

            # The error should be on the order of e-8.
            nbu.check_rel_error("relu_forward out", out, correct_out, 1e-7)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(10, 10)
            dout = rs.randn(*x.shape)

            dx_num = eval_numerical_gradient_array(lambda x: relu_forward(x)[0], x, dout)
            _, cache = relu_forward(x)
            dx = relu_backward(dout, cache)

            # The error should be on the order of e-12.
            nbu.check_rel_error("relu_backward dx", dx_num, dx, 1e-11)
            """),
        md(r"""
            **Inline Question 1.** The ReLU is only one of the nonlinearities used in networks.
            Which of sigmoid, ReLU and Leaky ReLU can give a zero (or nearly zero) gradient during
            backpropagation? What one-dimensional inputs would do it for each?
            """),
        answer(r"""
            Sigmoid and ReLU. The sigmoid saturates: for large |x| (say x = 10 or x = -10) its slope
            `s(x)(1 - s(x))` is about 5e-5, and its largest slope is only 0.25. The ReLU has slope
            exactly 0 for every x < 0, so a unit whose input is negative for all data passes no
            gradient at all ("dead ReLU"). Leaky ReLU keeps a small slope (e.g. 0.01) for x < 0 and
            never gives zero.
            """),
        md(r"""
            ## Sandwich layers

            `assignment/layer_utils.py` chains layers that always come together; its backward runs
            the parts in reverse. `affine_relu_forward` / `affine_relu_backward` use your layers.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(2, 3, 4)
            w = rs.randn(12, 10)
            b = rs.randn(10)
            dout = rs.randn(2, 10)

            out, cache = affine_relu_forward(x, w, b)
            dx, dw, db = affine_relu_backward(dout, cache)

            dx_num = eval_numerical_gradient_array(lambda x: affine_relu_forward(x, w, b)[0], x, dout)
            dw_num = eval_numerical_gradient_array(lambda w: affine_relu_forward(x, w, b)[0], w, dout)
            db_num = eval_numerical_gradient_array(lambda b: affine_relu_forward(x, w, b)[0], b, dout)

            # The errors should be around e-10 or less.
            nbu.check_rel_error("affine_relu dx", dx_num, dx, 1e-9)
            nbu.check_rel_error("affine_relu dw", dw_num, dw, 1e-9)
            nbu.check_rel_error("affine_relu db", db_num, db, 1e-9)
            """),
        md(r"""
            ## Loss layers: softmax and SVM

            The same two losses as in `LinearClassifiers.ipynb`; every network below ends with
            `softmax_loss`.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            num_classes, num_inputs = 10, 50
            x = 0.001 * rs.randn(num_inputs, num_classes)
            y = rs.randint(num_classes, size=num_inputs)

            dx_num = eval_numerical_gradient(lambda x: svm_loss(x, y)[0], x, verbose=False)
            loss, dx = svm_loss(x, y)
            # The loss should be around 9 and the dx error around the order of e-9.
            print("Testing svm_loss: loss", loss)
            nbu.check_rel_error("svm_loss loss vs CS231n's 8.99960274909623", loss, 8.99960274909623, 1e-10)
            nbu.check_rel_error("svm_loss dx", dx_num, dx, 1e-8)

            dx_num = eval_numerical_gradient(lambda x: softmax_loss(x, y)[0], x, verbose=False)
            loss, dx = softmax_loss(x, y)
            # The loss should be close to 2.3 and the dx error around e-8.
            print("Testing softmax_loss: loss", loss)
            nbu.check_rel_error("softmax_loss loss vs CS231n's 2.30254584450074", loss, 2.30254584450074, 1e-10)
            nbu.check_rel_error("softmax_loss dx", dx_num, dx, 1e-7)
            """),
        md(r"""
            ## Two-layer network

            `TwoLayerNet` in `assignment/classifiers/fc_net.py`: affine - ReLU - affine - softmax,
            built from your layers. `model.loss(X)` returns scores, `model.loss(X, y)` the loss and
            the gradients. The L2 penalty is `0.5 * reg * sum(W**2)` over the weights only
            (`Model._add_l2` in `assignment/classifiers/base.py`): mind the factor of 0.5.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D, H, C = 3, 5, 50, 7
            X = rs.randn(N, D)
            y = rs.randint(C, size=N)

            std = 1e-3
            model = TwoLayerNet(input_dim=D, hidden_dim=H, num_classes=C, weight_scale=std, seed=0)

            print("Testing initialization ... ")
            for name in ("W1", "W2"):
                nbu.check_below(f"TwoLayerNet {name} std", "relative distance to weight_scale",
                                abs(model.params[name].std() - std) / std, 0.1)
            for name in ("b1", "b2"):
                nbu.check_below(f"TwoLayerNet {name}", "largest |entry|", np.abs(model.params[name]).max(), 1e-12)

            print("Testing test-time forward pass ... ")
            model.params["W1"] = np.linspace(-0.7, 0.3, num=D * H).reshape(D, H)
            model.params["b1"] = np.linspace(-0.1, 0.9, num=H)
            model.params["W2"] = np.linspace(-0.3, 0.4, num=H * C).reshape(H, C)
            model.params["b2"] = np.linspace(-0.9, 0.1, num=C)
            X = np.linspace(-5.5, 4.5, num=N * D).reshape(D, N).T
            scores = model.loss(X)
            correct_scores = np.asarray(
              [[11.53165108, 12.2917344,  13.05181771, 13.81190102, 14.57198434, 15.33206765, 16.09215096],
               [12.05769098, 12.74614105, 13.43459113, 14.1230412,  14.81149128, 15.49994135, 16.18839143],
               [12.58373087, 13.20054771, 13.81736455, 14.43418138, 15.05099822, 15.66781506, 16.2846319 ]])
            nbu.check_below("TwoLayerNet scores", "sum of |differences|", np.abs(scores - correct_scores).sum(), 1e-6)

            print("Testing training loss (no regularization)")
            y = np.asarray([0, 5, 1])
            loss, grads = model.loss(X, y)
            correct_loss = 3.4702243556
            nbu.check_below("TwoLayerNet loss reg=0", "distance to 3.4702243556", abs(loss - correct_loss), 1e-10)

            model.reg = 1.0
            loss, grads = model.loss(X, y)
            correct_loss = 26.5948426952
            nbu.check_below("TwoLayerNet loss reg=1", "distance to 26.5948426952", abs(loss - correct_loss), 1e-10)

            # Errors should be around e-7 or less.
            for reg in [0.0, 0.7]:
                print("Running numeric gradient check with reg =", reg)
                model.reg = reg
                loss, grads = model.loss(X, y)
                numeric = nbu.numeric_grads(model, X, y)
                nbu.check_grads(f"TwoLayerNet reg={reg}", grads, numeric, 1e-6)
            """),
        md(r"""
            ## The Solver

            `assignment/solver.py` holds the training loop: minibatches, update rules, a progress
            bar, the loss and accuracy histories, and keeping the parameters that did best on the
            validation set. Use it to train a `TwoLayerNet` on the embedded data to at least 80%
            validation accuracy.
            """),
        code(r"""
            ### BEGIN SOLUTION
            model = TwoLayerNet(input_dim=28 * 28, hidden_dim=100, num_classes=10, weight_scale=5e-2, reg=1e-3, seed=0)
            solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 2e-1}, lr_decay=0.95,
                            num_epochs=nbu.budget(10, 5), batch_size=100, print_every=100)
            ### END SOLUTION
            solver.train()
            nbu.check_at_least("TwoLayerNet with the Solver", "best validation accuracy", solver.best_val_acc,
                               nbu.budget(0.8, 0.78))
            plot_history(solver, title="TwoLayerNet")
            """),
        md(r"""
            ## Multilayer network

            `FullyConnectedNet(hidden_dims, ...)` stacks `{affine - [batch/layer norm] - relu -
            [dropout]}` for each hidden layer, then affine - softmax. Normalization and dropout come
            in `BatchNormalization.ipynb` and `Dropout.ipynb`; here, the plain network.

            The check draws the data and each model's weights from CS231n's stream, so the initial
            losses match CS231n's reference outputs exactly.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D, H1, H2, C = 2, 15, 20, 30, 10
            X = rs.randn(N, D)
            y = rs.randint(C, size=(N,))

            for reg, reference_loss in [(0, 2.300479089768492), (3.14, 7.052114776533016)]:
                print("Running check with reg =", reg)
                model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                                          dtype=np.float64)
                for i, (fan_in, fan_out) in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
                    model.params[f"W{i}"] = 5e-2 * rs.randn(fan_in, fan_out)  # CS231n's weights

                loss, grads = model.loss(X, y)
                print("Initial loss:", loss)
                nbu.check_rel_error(f"FullyConnectedNet reg={reg} initial loss vs CS231n's", loss, reference_loss,
                                    1e-10)
                numeric = nbu.numeric_grads(model, X, y, h=1e-5)
                # Most of the errors should be on the order of e-7 or smaller. It is fine to see an
                # error for W2 on the order of e-5 for the check when reg = 0.0.
                nbu.check_grads(f"FullyConnectedNet reg={reg}", grads, numeric, 1e-6,
                                bounds={"W2": 1e-4} if reg == 0 else None)
            """),
        md(r"""
            ### Overfitting 50 examples

            A network that can learn should reach 100% training accuracy on 50 images within 20
            epochs. Tweak the learning rate and the weight initialization scale of a three-layer
            network (two hidden layers of 100 units) until it does.
            """),
        code(r"""
            small_data = {
                "X_train": data["X_train"][:50], "y_train": data["y_train"][:50],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }
            ### BEGIN SOLUTION
            weight_scale = 1e-1
            learning_rate = 3e-1
            ### END SOLUTION
            model = FullyConnectedNet([100, 100], input_dim=28 * 28, weight_scale=weight_scale, dtype=np.float64,
                                      seed=0)
            solver = Solver(model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule="sgd",
                            optim_config={"learning_rate": learning_rate})
            solver.train()
            nbu.check_at_least("three-layer net on 50 examples", "training accuracy", max(solver.train_acc_history),
                               1.0)

            plt.plot(solver.loss_history)
            plt.title("Training loss history")
            plt.xlabel("Iteration")
            plt.ylabel("Training loss")
            plt.grid(linestyle="--", linewidth=0.5)
            plt.show()
            """),
        md(r"""
            Now a five-layer network (four hidden layers of 100 units), same data and epochs.
            """),
        code(r"""
            ### BEGIN SOLUTION
            five_layer_learning_rate = 3e-1
            five_layer_weight_scale = 1e-1
            ### END SOLUTION
            model = FullyConnectedNet([100, 100, 100, 100], input_dim=28 * 28, weight_scale=five_layer_weight_scale,
                                      dtype=np.float64, seed=0)
            solver = Solver(model, small_data, print_every=10, num_epochs=20, batch_size=25, update_rule="sgd",
                            optim_config={"learning_rate": five_layer_learning_rate})
            solver.train()
            nbu.check_at_least("five-layer net on 50 examples", "training accuracy", max(solver.train_acc_history),
                               1.0)

            plt.plot(solver.loss_history)
            plt.title("Training loss history")
            plt.xlabel("Iteration")
            plt.ylabel("Training loss")
            plt.grid(linestyle="--", linewidth=0.5)
            plt.show()
            """),
        md(r"""
            **Inline Question 2.** Did you notice anything about the comparative difficulty of
            training the three-layer network vs. training the five-layer network? In particular,
            which one seemed more sensitive to the initialization scale, and why?
            """),
        answer(r"""
            The five-layer network is much more sensitive. Each layer multiplies the scale of the
            activations (and of the gradients on the way back) by roughly `weight_scale * sqrt(fan_in)`
            (halved by the ReLU); with four hidden layers that factor is raised to a higher power,
            so a slightly too small scale makes the scores and gradients vanish (the loss stays at
            log 10) and a slightly too large one makes them explode. The range of scales that
            trains is narrow, and the learning rate has to be retuned with it.
            """),
        md(r"""
            ## Update rules

            So far: plain SGD. Implement the rules of `assignment/optim.py`, each
            `update(w, dw, config) -> (next_w, config)` with its state in `config`.

            ### SGD with momentum
            """),
        code(r"""
            N, D = 4, 5
            w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
            dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
            v = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)

            config = {"learning_rate": 1e-3, "velocity": v}
            next_w, _ = sgd_momentum(w, dw, config=config)

            expected_next_w = np.asarray([
              [ 0.1406,      0.20738947,  0.27417895,  0.34096842,  0.40775789],
              [ 0.47454737,  0.54133684,  0.60812632,  0.67491579,  0.74170526],
              [ 0.80849474,  0.87528421,  0.94207368,  1.00886316,  1.07565263],
              [ 1.14244211,  1.20923158,  1.27602105,  1.34281053,  1.4096    ]])
            expected_velocity = np.asarray([
              [ 0.5406,      0.55475789,  0.56891579, 0.58307368,  0.59723158],
              [ 0.61138947,  0.62554737,  0.63970526,  0.65386316,  0.66802105],
              [ 0.68217895,  0.69633684,  0.71049474,  0.72465263,  0.73881053],
              [ 0.75296842,  0.76712632,  0.78128421,  0.79544211,  0.8096    ]])

            # Should see relative errors around e-8 or less.
            nbu.check_rel_error("sgd_momentum next_w", next_w, expected_next_w, 1e-7)
            nbu.check_rel_error("sgd_momentum velocity", expected_velocity, config["velocity"], 1e-7)
            """),
        md(r"""
            ### RMSProp and Adam

            Adam: increment `t` *before* using it, and use the bias-corrected moments.
            """),
        code(r"""
            N, D = 4, 5
            w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
            dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
            cache = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)

            config = {"learning_rate": 1e-2, "cache": cache}
            next_w, _ = rmsprop(w, dw, config=config)

            expected_next_w = np.asarray([
              [-0.39223849, -0.34037513, -0.28849239, -0.23659121, -0.18467247],
              [-0.132737,   -0.08078555, -0.02881884,  0.02316247,  0.07515774],
              [ 0.12716641,  0.17918792,  0.23122175,  0.28326742,  0.33532447],
              [ 0.38739248,  0.43947102,  0.49155973,  0.54365823,  0.59576619]])
            expected_cache = np.asarray([
              [ 0.5976,      0.6126277,   0.6277108,   0.64284931,  0.65804321],
              [ 0.67329252,  0.68859723,  0.70395734,  0.71937285,  0.73484377],
              [ 0.75037008,  0.7659518,   0.78158892,  0.79728144,  0.81302936],
              [ 0.82883269,  0.84469141,  0.86060554,  0.87657507,  0.8926    ]])

            # You should see relative errors around e-7 or less.
            nbu.check_rel_error("rmsprop next_w", expected_next_w, next_w, 1e-6)
            nbu.check_rel_error("rmsprop cache", expected_cache, config["cache"], 1e-6)
            """),
        code(r"""
            N, D = 4, 5
            w = np.linspace(-0.4, 0.6, num=N * D).reshape(N, D)
            dw = np.linspace(-0.6, 0.4, num=N * D).reshape(N, D)
            m = np.linspace(0.6, 0.9, num=N * D).reshape(N, D)
            v = np.linspace(0.7, 0.5, num=N * D).reshape(N, D)

            config = {"learning_rate": 1e-2, "m": m, "v": v, "t": 5}
            next_w, _ = adam(w, dw, config=config)

            expected_next_w = np.asarray([
              [-0.40094747, -0.34836187, -0.29577703, -0.24319299, -0.19060977],
              [-0.1380274,  -0.08544591, -0.03286534,  0.01971428,  0.0722929],
              [ 0.1248705,   0.17744702,  0.23002243,  0.28259667,  0.33516969],
              [ 0.38774145,  0.44031188,  0.49288093,  0.54544852,  0.59801459]])
            expected_v = np.asarray([
              [ 0.69966,     0.68908382,  0.67851319,  0.66794809,  0.65738853,],
              [ 0.64683452,  0.63628604,  0.6257431,   0.61520571,  0.60467385,],
              [ 0.59414753,  0.58362676,  0.57311152,  0.56260183,  0.55209767,],
              [ 0.54159906,  0.53110598,  0.52061845,  0.51013645,  0.49966,   ]])
            expected_m = np.asarray([
              [ 0.48,        0.49947368,  0.51894737,  0.53842105,  0.55789474],
              [ 0.57736842,  0.59684211,  0.61631579,  0.63578947,  0.65526316],
              [ 0.67473684,  0.69421053,  0.71368421,  0.73315789,  0.75263158],
              [ 0.77210526,  0.79157895,  0.81105263,  0.83052632,  0.85      ]])

            # You should see relative errors around e-7 or less.
            nbu.check_rel_error("adam next_w", expected_next_w, next_w, 1e-6)
            nbu.check_rel_error("adam v", expected_v, config["v"], 1e-6)
            nbu.check_rel_error("adam m", expected_m, config["m"], 1e-6)
            nbu.check_below("adam t after one step", "distance to 6", abs(config["t"] - 6), 0.5)
            """),
        md(r"""
            ### The update rules compared

            The same six-layer network (five hidden layers of 100 units), trained from the same
            initialization with each rule. SGD with momentum should converge faster than SGD;
            RMSProp and Adam faster still.
            """),
        code(r"""
            num_train = nbu.budget(4000, 2000)
            small_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }
            learning_rates = {"sgd": 1e-2, "sgd_momentum": 1e-2, "nesterov": 1e-2, "adagrad": 1e-2,
                              "rmsprop": 1e-4, "adam": 1e-3}
            solvers = {}
            for update_rule, learning_rate in learning_rates.items():
                model = FullyConnectedNet([100] * 5, input_dim=28 * 28, weight_scale=1e-1, seed=0)
                solver = Solver(model, small_data, num_epochs=nbu.budget(5, 3), batch_size=100, update_rule=update_rule,
                                optim_config={"learning_rate": learning_rate}, verbose=False, progress=True)
                solver.train()
                solvers[update_rule] = solver
                last = solver.loss_history[-solver.iterations_per_epoch:]
                print(f"{update_rule:13s} lr {learning_rate:.0e}: last-epoch mean loss {np.mean(last):.3f}, "
                      f"train accuracy {solver.train_acc_history[-1]:.3f}, "
                      f"val accuracy {solver.val_acc_history[-1]:.3f}")

            fig, axes = plt.subplots(3, 1, figsize=(12, 12))
            for update_rule, solver in solvers.items():
                k = 10
                smooth = np.convolve(solver.loss_history, np.ones(k) / k, mode="valid")
                axes[0].plot(solver.loss_history, ".", alpha=0.15)
                axes[0].plot(np.arange(k - 1, len(solver.loss_history)), smooth, label=update_rule,
                             color=axes[0].lines[-1].get_color())
                axes[1].plot(solver.train_acc_history, "-o", label=update_rule)
                axes[2].plot(solver.val_acc_history, "-o", label=update_rule)
            for ax, title, xlabel in zip(axes, ["Training loss", "Training accuracy", "Validation accuracy"],
                                         ["Iteration", "Epoch", "Epoch"], strict=True):
                ax.set_title(title)
                ax.set_xlabel(xlabel)
                ax.legend(loc="lower right" if "accuracy" in title else "upper right", ncol=3)
                ax.grid(linestyle="--", linewidth=0.5)
            fig.tight_layout()
            plt.show()

            def last_epoch_loss(rule):
                return np.mean(solvers[rule].loss_history[-solvers[rule].iterations_per_epoch:])

            nbu.check_below("sgd_momentum against sgd", "ratio of last-epoch losses",
                            last_epoch_loss("sgd_momentum") / last_epoch_loss("sgd"), 1.0)
            nbu.check_below("adam against sgd", "ratio of last-epoch losses",
                            last_epoch_loss("adam") / last_epoch_loss("sgd"), 1.0)
            """),
        md(r"""
            **Inline Question 3.** AdaGrad, like Adam, is a per-parameter optimization method
            that uses the update rule

            ```
            cache += dw**2
            w += - learning_rate * dw / (np.sqrt(cache) + eps)
            ```

            John notices that when he trains a network with AdaGrad, the updates become very
            small, and his network learns slowly. Using your knowledge of the AdaGrad update rule,
            why do you think the updates would become very small? Would Adam have the same issue?
            """),
        answer(r"""
            AdaGrad's `cache` is a running *sum* of squared gradients: it only grows, so the
            effective step `learning_rate / sqrt(cache)` shrinks steadily, roughly like
            `1 / sqrt(t)`, whether or not the parameter still needs to move. Adam (like RMSProp)
            keeps an exponentially decaying *average* of the squared gradients instead: old
            gradients are forgotten, the denominator tracks the recent gradient size, and the step
            does not decay to zero. Its bias correction also keeps the first steps from being tiny.
            """),
        md(r"""
            ## Train a good model

            Train the best fully connected model you can on the embedded data (any depth, update
            rule, learning-rate decay and regularization; batch normalization and dropout after
            their notebooks). It should reach at least 84% validation accuracy (5000 training
            images leave little room above 85% for a fully connected network).
            """),
        code(r"""
            best_model = None
            ### BEGIN SOLUTION
            best_model = FullyConnectedNet([256, 128], input_dim=28 * 28, weight_scale=5e-2, reg=1e-3, seed=0)
            best_solver = Solver(best_model, data, update_rule="adam", optim_config={"learning_rate": 1e-3},
                                 lr_decay=0.9, num_epochs=nbu.budget(15, 4), batch_size=100, print_every=200)
            best_solver.train()
            ### END SOLUTION
            y_val_pred = np.argmax(best_model.loss(data["X_val"]), axis=1)
            y_test_pred = np.argmax(best_model.loss(data["X_test"]), axis=1)
            nbu.check_at_least("best fully connected model", "validation accuracy",
                               (y_val_pred == data["y_val"]).mean(), nbu.budget(0.84, 0.8))
            print(f"Test set accuracy: {(y_test_pred == data['y_test']).mean():.3f}")
            """),
    ]


def batch_normalization():
    return [
        md(r"""
            # Batch normalization

            Deep networks train more easily when the inputs of each layer are normalized. Batch
            normalization [1] does it inside the network: at training time it normalizes each
            feature with the mean and variance of the minibatch, then scales and shifts it by
            learned `gamma` and `beta`; it also keeps running averages of the means and variances
            and uses them at test time. Layer normalization [2] normalizes each example over its
            features instead, so it does not depend on the batch.

            You implement `batchnorm_forward`, `batchnorm_backward`, `batchnorm_backward_alt`,
            `layernorm_forward` and `layernorm_backward` in `assignment/layers.py` and the
            `normalization` option of `FullyConnectedNet`.

            [1] Sergey Ioffe and Christian Szegedy, "Batch Normalization: Accelerating Deep Network
            Training by Reducing Internal Covariate Shift", ICML 2015.
            [2] Jimmy Lei Ba, Jamie Ryan Kiros and Geoffrey E. Hinton, "Layer Normalization", 2016.
            """),
        HOW_CHECKS_WORK,
        SETUP,
        code(r"""
            import matplotlib.pyplot as plt
            import numpy as np

            from assignment.classifiers.fc_net import FullyConnectedNet
            from assignment.data_utils import get_data
            from assignment.gradient_check import eval_numerical_gradient_array
            from assignment.layers import (
                batchnorm_backward,
                batchnorm_backward_alt,
                batchnorm_forward,
                layernorm_backward,
                layernorm_forward,
            )
            from assignment.solver import Solver
            """, PLOT_DEFAULTS, r"""

            def print_mean_std(x, axis=0):
                print(f"  means: {x.mean(axis=axis)}")
                print(f"  stds:  {x.std(axis=axis)}")
                print()
            """),
        code(r"""
            data = get_data()
            for key, value in data.items():
                print(f"{key}: {value.shape} {value.dtype}")
            """),
        md(r"""
            ## Batch normalization: forward

            Implement `batchnorm_forward`. In train mode it uses the batch's mean and (biased)
            variance and updates `bn_param["running_mean"]` / `["running_var"]` with momentum; in
            test mode it uses the running statistics.
            """),
        code(r"""
            # Check the training-time forward pass on the features of a two-layer network.
            rs = np.random.RandomState(231)
            N, D1, D2, D3 = 200, 50, 60, 3
            X = rs.randn(N, D1)
            W1 = rs.randn(D1, D2)
            W2 = rs.randn(D2, D3)
            a = np.maximum(0, X.dot(W1)).dot(W2)

            print("Before batch normalization:")
            print_mean_std(a, axis=0)
            nbu.check_rel_error("features before batch norm stds vs CS231n's", a.std(axis=0),
                                [27.18502186, 34.21455511, 37.68611762], 1e-8)

            gamma = np.ones((D3,))
            beta = np.zeros((D3,))
            # Means should be close to zero and stds close to one.
            print("After batch normalization (gamma=1, beta=0)")
            a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
            print_mean_std(a_norm, axis=0)
            nbu.check_below("batchnorm_forward gamma=1 beta=0 means", "largest |mean|",
                            np.abs(a_norm.mean(axis=0)).max(), 1e-8)
            nbu.check_rel_error("batchnorm_forward gamma=1 beta=0 stds vs CS231n's", a_norm.std(axis=0),
                                [0.99999999, 1.0, 1.0], 1e-7)

            gamma = np.asarray([1.0, 2.0, 3.0])
            beta = np.asarray([11.0, 12.0, 13.0])
            # Now means should be close to beta and stds close to gamma.
            print("After batch normalization (gamma=", gamma, ", beta=", beta, ")")
            a_norm, _ = batchnorm_forward(a, gamma, beta, {"mode": "train"})
            print_mean_std(a_norm, axis=0)
            nbu.check_rel_error("batchnorm_forward means vs beta", a_norm.mean(axis=0), beta, 1e-8)
            nbu.check_rel_error("batchnorm_forward stds vs CS231n's", a_norm.std(axis=0),
                                [0.99999999, 1.99999999, 2.99999999], 1e-7)
            """),
        code(r"""
            # Check the test-time forward pass by running the training-time forward pass many times
            # to warm up the running averages, then checking the means and variances of the
            # activations after a test-time forward pass.
            rs = np.random.RandomState(231)
            N, D1, D2, D3 = 200, 50, 60, 3
            W1 = rs.randn(D1, D2)
            W2 = rs.randn(D2, D3)

            bn_param = {"mode": "train"}
            gamma = np.ones(D3)
            beta = np.zeros(D3)

            for _ in range(50):
                X = rs.randn(N, D1)
                a = np.maximum(0, X.dot(W1)).dot(W2)
                batchnorm_forward(a, gamma, beta, bn_param)

            bn_param["mode"] = "test"
            X = rs.randn(N, D1)
            a = np.maximum(0, X.dot(W1)).dot(W2)
            a_norm, _ = batchnorm_forward(a, gamma, beta, bn_param)

            # Means should be close to zero and stds close to one, but will be noisier than
            # training-time forward passes.
            print("After batch normalization (test-time):")
            print_mean_std(a_norm, axis=0)
            nbu.check_rel_error("batchnorm_forward test mode means vs CS231n's", a_norm.mean(axis=0),
                                [-0.03927354, -0.04349152, -0.10452688], 1e-6)
            nbu.check_rel_error("batchnorm_forward test mode stds vs CS231n's", a_norm.std(axis=0),
                                [1.01531428, 1.01238373, 0.97819988], 1e-6)
            """),
        md(r"""
            ## Batch normalization: backward

            Implement `batchnorm_backward` by following the computational graph of the forward
            pass node by node, backwards.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D = 4, 5
            x = 5 * rs.randn(N, D) + 12
            gamma = rs.randn(D)
            beta = rs.randn(D)
            dout = rs.randn(N, D)

            bn_param = {"mode": "train"}
            fx = lambda x: batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
            fg = lambda a: batchnorm_forward(x, a, beta, bn_param)[0]  # noqa: E731
            fb = lambda b: batchnorm_forward(x, gamma, b, bn_param)[0]  # noqa: E731

            dx_num = eval_numerical_gradient_array(fx, x, dout)
            da_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
            db_num = eval_numerical_gradient_array(fb, beta.copy(), dout)

            _, cache = batchnorm_forward(x, gamma, beta, bn_param)
            dx, dgamma, dbeta = batchnorm_backward(dout, cache)

            # You should expect to see relative errors between 1e-13 and 1e-8.
            nbu.check_rel_error("batchnorm_backward dx", dx_num, dx, 1e-8)
            nbu.check_rel_error("batchnorm_backward dgamma", da_num, dgamma, 1e-8)
            nbu.check_rel_error("batchnorm_backward dbeta", db_num, dbeta, 1e-8)
            """),
        md(r"""
            ## Batch normalization: alternative backward

            Work out the derivative on paper and simplify it into one expression for `dx`
            (as the Ioffe and Szegedy paper does); implement it in `batchnorm_backward_alt`. The
            two implementations should compute nearly identical results, the simplified one faster.
            (The networks use `batchnorm_backward_alt`.)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D = 100, 500
            x = 5 * rs.randn(N, D) + 12
            gamma = rs.randn(D)
            beta = rs.randn(D)
            dout = rs.randn(N, D)

            bn_param = {"mode": "train"}
            out, cache = batchnorm_forward(x, gamma, beta, bn_param)

            t_graph, (dx1, dgamma1, dbeta1) = nbu.best_time(lambda: batchnorm_backward(dout, cache), repeat=20)
            t_alt, (dx2, dgamma2, dbeta2) = nbu.best_time(lambda: batchnorm_backward_alt(dout, cache), repeat=20)

            # "Nearly identical": both are exact formulas in float64.
            nbu.check_rel_error("batchnorm_backward_alt dx vs batchnorm_backward", dx1, dx2, 1e-8)
            nbu.check_rel_error("batchnorm_backward_alt dgamma vs batchnorm_backward", dgamma1, dgamma2, 1e-8)
            nbu.check_rel_error("batchnorm_backward_alt dbeta vs batchnorm_backward", dbeta1, dbeta2, 1e-8)
            print(f"speedup: {t_graph / t_alt:.2f}x ({t_graph * 1e3:.3f} ms vs {t_alt * 1e3:.3f} ms)")
            """),
        md(r"""
            ## Fully connected networks with batch normalization

            Add `normalization="batchnorm"` to `FullyConnectedNet`: a batch norm layer between
            each affine layer and its ReLU (not after the last affine), with `gamma{i}` (ones) and
            `beta{i}` (zeros) in `model.params`, one `bn_param` dict per layer. The sandwich
            `affine_bn_relu_forward` in `assignment/layer_utils.py` may help.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D, H1, H2, C = 2, 15, 20, 30, 10
            X = rs.randn(N, D)
            y = rs.randint(C, size=(N,))

            # You should expect losses between 1e-4~1e-10 for W, losses between 1e-08~1e-10 for b,
            # and losses between 1e-08~1e-09 for beta and gammas. (b1 and b2 feed a batch norm layer,
            # which subtracts them away: their gradients are zero up to rounding, and their relative
            # error compares two numbers near zero. It may reach e-7.)
            for reg, reference_loss in [(0, 2.2611955101340957), (3.14, 6.996533220108303)]:
                print("Running check with reg =", reg)
                model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=reg, weight_scale=5e-2,
                                          dtype=np.float64, normalization="batchnorm")
                for i, (fan_in, fan_out) in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
                    model.params[f"W{i}"] = 5e-2 * rs.randn(fan_in, fan_out)  # CS231n's weights

                loss, grads = model.loss(X, y)
                print("Initial loss:", loss)
                nbu.check_rel_error(f"batchnorm net reg={reg} initial loss vs CS231n's", loss, reference_loss, 1e-10)
                numeric = nbu.numeric_grads(model, X, y, h=1e-5)
                bounds = {name: 1e-3 for name in numeric if name.startswith("W")}
                bounds.update({"b1": 1e-6, "b2": 1e-6})
                nbu.check_grads(f"batchnorm net reg={reg}", grads, numeric, 1e-7, bounds=bounds)
            """),
        md(r"""
            ## Batch normalization for deep networks

            A six-layer network trained with and without batch normalization, from the same
            weights, on 1000 training images.
            """),
        code(r"""
            hidden_dims = [100, 100, 100, 100, 100]
            num_train = 1000
            small_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }
            weight_scale = 2e-2
            epochs = nbu.budget(10, 4)

            solvers = {}
            for normalization in (None, "batchnorm"):
                model = FullyConnectedNet(hidden_dims, input_dim=28 * 28, weight_scale=weight_scale,
                                          normalization=normalization, seed=0)
                print(f"Solver with normalization={normalization}:")
                solver = Solver(model, small_data, num_epochs=epochs, batch_size=50, update_rule="adam",
                                optim_config={"learning_rate": 1e-3}, print_every=50)
                solver.train()
                solvers[normalization or "baseline"] = solver
            """),
        code(r"""
            def plot_training_history(title, label, baseline, bn_solvers, plot_fn, bl_marker=".", bn_marker=".",
                                      labels=None):
                # Plot one history (plot_fn picks it) of a baseline solver and of batch-norm solvers.
                plt.title(title)
                plt.xlabel(label)
                bn_plots = [plot_fn(bn_solver) for bn_solver in bn_solvers]
                bl_plot = plot_fn(baseline)
                num_bn = len(bn_plots)
                for i in range(num_bn):
                    name = "with_norm" if labels is None else f"with_norm, {labels[i]}"
                    plt.plot(bn_plots[i], bn_marker, label=name)
                name = "baseline" if labels is None else f"baseline, {labels[0]}"
                plt.plot(bl_plot, bl_marker, label=name)
                plt.legend(loc="lower center", ncol=num_bn + 1)


            plt.figure(figsize=(15, 15))
            plt.subplot(3, 1, 1)
            plot_training_history("Training loss", "Iteration", solvers["baseline"], [solvers["batchnorm"]],
                                  lambda x: x.loss_history, bl_marker="o", bn_marker="o")
            plt.subplot(3, 1, 2)
            plot_training_history("Training accuracy", "Epoch", solvers["baseline"], [solvers["batchnorm"]],
                                  lambda x: x.train_acc_history, bl_marker="-o", bn_marker="-o")
            plt.subplot(3, 1, 3)
            plot_training_history("Validation accuracy", "Epoch", solvers["baseline"], [solvers["batchnorm"]],
                                  lambda x: x.val_acc_history, bl_marker="-o", bn_marker="-o")
            plt.show()

            def first_epoch_loss(solver):
                return np.mean(solver.loss_history[:solver.iterations_per_epoch])

            # Batch normalization should help the network converge much faster.
            nbu.check_below("batchnorm against baseline", "ratio of first-epoch losses",
                            first_epoch_loss(solvers["batchnorm"]) / first_epoch_loss(solvers["baseline"]), 1.0)
            """),
        md(r"""
            ## Batch normalization and initialization

            Train the six-layer network with and without batch normalization for a range of weight
            initialization scales, and plot the best accuracies and the final loss against the scale.
            """),
        code(r"""
            hidden_dims = [50, 50, 50, 50, 50, 50, 50]
            num_train = 1000
            small_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }
            weight_scales = np.logspace(-4, 0, num=nbu.budget(20, 5))
            bn_solvers_ws, solvers_ws = {}, {}
            for i, weight_scale in enumerate(weight_scales):
                print(f"Running weight scale {i + 1} / {len(weight_scales)}: {weight_scale:.1e}")
                for normalization, store in (("batchnorm", bn_solvers_ws), (None, solvers_ws)):
                    model = FullyConnectedNet(hidden_dims, input_dim=28 * 28, weight_scale=weight_scale,
                                              normalization=normalization, seed=0)
                    solver = Solver(model, small_data, num_epochs=nbu.budget(10, 2), batch_size=50, update_rule="adam",
                                    optim_config={"learning_rate": 1e-3}, verbose=False, print_every=200)
                    solver.train()
                    store[weight_scale] = solver
            """),
        code(r"""
            # Plot the results of the weight scale experiment.
            best_train_accs, bn_best_train_accs = [], []
            best_val_accs, bn_best_val_accs = [], []
            final_train_loss, bn_final_train_loss = [], []

            for ws in weight_scales:
                best_train_accs.append(max(solvers_ws[ws].train_acc_history))
                bn_best_train_accs.append(max(bn_solvers_ws[ws].train_acc_history))
                best_val_accs.append(max(solvers_ws[ws].val_acc_history))
                bn_best_val_accs.append(max(bn_solvers_ws[ws].val_acc_history))
                final_train_loss.append(np.mean(solvers_ws[ws].loss_history[-100:]))
                bn_final_train_loss.append(np.mean(bn_solvers_ws[ws].loss_history[-100:]))

            plt.figure(figsize=(15, 15))
            plt.subplot(3, 1, 1)
            plt.title("Best val accuracy vs. weight initialization scale")
            plt.xlabel("Weight initialization scale")
            plt.ylabel("Best val accuracy")
            plt.semilogx(weight_scales, best_val_accs, "-o", label="baseline")
            plt.semilogx(weight_scales, bn_best_val_accs, "-o", label="batchnorm")
            plt.legend(ncol=2, loc="lower right")

            plt.subplot(3, 1, 2)
            plt.title("Best train accuracy vs. weight initialization scale")
            plt.xlabel("Weight initialization scale")
            plt.ylabel("Best training accuracy")
            plt.semilogx(weight_scales, best_train_accs, "-o", label="baseline")
            plt.semilogx(weight_scales, bn_best_train_accs, "-o", label="batchnorm")
            plt.legend()

            plt.subplot(3, 1, 3)
            plt.title("Final training loss vs. weight initialization scale")
            plt.xlabel("Weight initialization scale")
            plt.ylabel("Final training loss")
            plt.semilogx(weight_scales, final_train_loss, "-o", label="baseline")
            plt.semilogx(weight_scales, bn_final_train_loss, "-o", label="batchnorm")
            plt.legend()
            plt.gca().set_ylim(0.0, 3.5)

            plt.gcf().set_size_inches(15, 15)
            plt.show()
            """),
        md(r"""
            **Inline Question 1.** Describe the results of this experiment. How does the weight
            initialization scale affect models with and without batch normalization differently,
            and why?
            """),
        answer(r"""
            Without batch normalization only a narrow band of scales trains well, around
            `sqrt(2 / fan_in)` (about 0.14 for 50 inputs, the He initialization): below it the
            activations shrink from layer to layer until the scores carry no signal (the loss
            stays at log 10 and the accuracy at chance for every scale under about 3e-3, and the
            network learns little up to 3e-2), above it they grow from layer to layer and the
            loss blows up. With batch normalization each layer's
            pre-activations are renormalized to zero mean and unit variance whatever the scale of
            `W`, so the network learns at every scale tried: it is best over a wide band
            (1e-2 to 1e-1) and degrades gently outside it, where the tiny or huge weights still
            slow the first updates down.
            """),
        md(r"""
            ## Batch normalization and batch size

            Batch normalization estimates the statistics from the minibatch: how small can the
            batch be?
            """),
        code(r"""
            def run_batchsize_experiments(normalization_mode):
                hidden_dims = [100, 100, 100, 100, 100]
                num_train = 1000
                small_data = {
                    "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                    "X_val": data["X_val"], "y_val": data["y_val"],
                }
                n_epochs = nbu.budget(10, 2)
                weight_scale = 2e-2
                batch_sizes = [5, 10, 50]
                lr = 10**-3.5

                print("No normalization: batch size = ", batch_sizes[0])
                model = FullyConnectedNet(hidden_dims, input_dim=28 * 28, weight_scale=weight_scale, normalization=None,
                                          seed=0)
                solver = Solver(model, small_data, num_epochs=n_epochs, batch_size=batch_sizes[0], update_rule="adam",
                                optim_config={"learning_rate": lr}, verbose=False)
                solver.train()

                bn_solvers = []
                for batch_size in batch_sizes:
                    print(f"Normalization: {normalization_mode}, batch size = {batch_size}")
                    bn_model = FullyConnectedNet(hidden_dims, input_dim=28 * 28, weight_scale=weight_scale,
                                                 normalization=normalization_mode, seed=0)
                    bn_solver = Solver(bn_model, small_data, num_epochs=n_epochs, batch_size=batch_size,
                                       update_rule="adam", optim_config={"learning_rate": lr}, verbose=False)
                    bn_solver.train()
                    bn_solvers.append(bn_solver)
                return bn_solvers, solver, batch_sizes


            batch_sizes = [5, 10, 50]
            bn_solvers_bsize, solver_bsize, batch_sizes = run_batchsize_experiments("batchnorm")
            """),
        code(r"""
            plt.subplot(2, 1, 1)
            plot_training_history("Training accuracy (Batch Normalization)", "Epoch", solver_bsize, bn_solvers_bsize,
                                  lambda x: x.train_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
            plt.subplot(2, 1, 2)
            plot_training_history("Validation accuracy (Batch Normalization)", "Epoch", solver_bsize, bn_solvers_bsize,
                                  lambda x: x.val_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
            plt.gcf().set_size_inches(15, 10)
            plt.show()
            """),
        md(r"""
            **Inline Question 2.** Describe the results of this experiment. What does this imply
            about the relationship between batch normalization and batch size? Why is this
            relationship observed?
            """),
        answer(r"""
            The smaller the batch, the worse batch normalization does: with batches of 5 the
            training and validation accuracies fall behind those of batches of 50 and can drop to
            or below the baseline without normalization. The mean and variance of 5 examples are
            noisy estimates of the statistics the layer should normalize with, so training sees a
            heavily perturbed network, and the running averages used at test time differ from what
            each training batch saw. Batch normalization needs batches large enough for their
            statistics to be reliable.
            """),
        md(r"""
            ## Layer normalization

            Layer normalization normalizes each example over its features, with the same formula in
            train and test mode and no running statistics. Implement `layernorm_forward` and
            `layernorm_backward` (a small change from batch norm: transpose), then
            `normalization="layernorm"` in `FullyConnectedNet`.
            """),
        code(r"""
            # Check the training-time forward pass on the features of a two-layer network.
            rs = np.random.RandomState(231)
            N, D1, D2, D3 = 4, 50, 60, 3
            X = rs.randn(N, D1)
            W1 = rs.randn(D1, D2)
            W2 = rs.randn(D2, D3)
            a = np.maximum(0, X.dot(W1)).dot(W2)

            print("Before layer normalization:")
            print_mean_std(a, axis=1)

            gamma = np.ones(D3)
            beta = np.zeros(D3)
            # Means should be close to zero and stds close to one.
            print("After layer normalization (gamma=1, beta=0)")
            a_norm, _ = layernorm_forward(a, gamma, beta, {"mode": "train"})
            print_mean_std(a_norm, axis=1)
            nbu.check_below("layernorm_forward gamma=1 beta=0 means", "largest |mean|",
                            np.abs(a_norm.mean(axis=1)).max(), 1e-8)
            nbu.check_rel_error("layernorm_forward gamma=1 beta=0 stds vs CS231n's", a_norm.std(axis=1),
                                [0.99999995, 0.99999999, 1.0, 0.99999969], 1e-7)

            gamma = np.asarray([3.0, 3.0, 3.0])
            beta = np.asarray([5.0, 5.0, 5.0])
            # Now means should be close to beta and stds close to gamma.
            print("After layer normalization (gamma=", gamma, ", beta=", beta, ")")
            a_norm, _ = layernorm_forward(a, gamma, beta, {"mode": "train"})
            print_mean_std(a_norm, axis=1)
            nbu.check_rel_error("layernorm_forward means vs beta", a_norm.mean(axis=1), [5.0] * 4, 1e-8)
            nbu.check_rel_error("layernorm_forward stds vs CS231n's", a_norm.std(axis=1),
                                [2.99999985, 2.99999998, 2.99999999, 2.99999907], 1e-7)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D = 4, 5
            x = 5 * rs.randn(N, D) + 12
            gamma = rs.randn(D)
            beta = rs.randn(D)
            dout = rs.randn(N, D)

            ln_param = {}
            fx = lambda x: layernorm_forward(x, gamma, beta, ln_param)[0]  # noqa: E731
            fg = lambda a: layernorm_forward(x, a, beta, ln_param)[0]  # noqa: E731
            fb = lambda b: layernorm_forward(x, gamma, b, ln_param)[0]  # noqa: E731

            dx_num = eval_numerical_gradient_array(fx, x, dout)
            da_num = eval_numerical_gradient_array(fg, gamma.copy(), dout)
            db_num = eval_numerical_gradient_array(fb, beta.copy(), dout)

            _, cache = layernorm_forward(x, gamma, beta, ln_param)
            dx, dgamma, dbeta = layernorm_backward(dout, cache)

            # You should expect to see relative errors between 1e-12 and 1e-8.
            nbu.check_rel_error("layernorm_backward dx", dx_num, dx, 1e-8)
            nbu.check_rel_error("layernorm_backward dgamma", da_num, dgamma, 1e-8)
            nbu.check_rel_error("layernorm_backward dbeta", db_num, dbeta, 1e-8)
            """),
        code(r"""
            # The layer norm network: a gradient check with the inputs of the batch norm check.
            rs = np.random.RandomState(231)
            N, D, H1, H2, C = 2, 15, 20, 30, 10
            X = rs.randn(N, D)
            y = rs.randint(C, size=(N,))
            model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, reg=1.1, weight_scale=5e-2,
                                      dtype=np.float64, normalization="layernorm")
            for i, (fan_in, fan_out) in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
                model.params[f"W{i}"] = 5e-2 * rs.randn(fan_in, fan_out)
            loss, grads = model.loss(X, y)
            print("Initial loss:", loss)
            numeric = nbu.numeric_grads(model, X, y)
            # Errors should be around e-4 or less for W, e-6 or less for b, gamma and beta.
            nbu.check_grads("layernorm net reg=1.1", grads, numeric, 1e-5,
                            bounds={name: 1e-3 for name in numeric if name.startswith("W")})
            """),
        md(r"""
            ### Layer normalization and batch size

            The batch size experiment again, with layer normalization.
            """),
        code(r"""
            ln_solvers_bsize, solver_bsize, batch_sizes = run_batchsize_experiments("layernorm")

            plt.subplot(2, 1, 1)
            plot_training_history("Training accuracy (Layer Normalization)", "Epoch", solver_bsize, ln_solvers_bsize,
                                  lambda x: x.train_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
            plt.subplot(2, 1, 2)
            plot_training_history("Validation accuracy (Layer Normalization)", "Epoch", solver_bsize, ln_solvers_bsize,
                                  lambda x: x.val_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
            plt.gcf().set_size_inches(15, 10)
            plt.show()
            """),
        md(r"""
            **Inline Question 3.** When is layer normalization likely to work poorly, and why?

            1. Using it in a very deep network
            2. Having a very small dimension of features
            3. Having a high regularization term
            """),
        answer(r"""
            2, and to a lesser degree 3. Layer normalization estimates a mean and a variance from
            the features of one example: with very few features those estimates are as noisy as
            batch statistics of a tiny batch (and with one feature the output is always `beta`).
            A high regularization term keeps `gamma` small, which scales every normalized layer
            down and underfits. Depth is no problem: normalizing every layer is what helps deep
            networks train.
            """),
    ]


def dropout():
    return [
        md(r"""
            # Dropout

            Dropout [1] regularizes a network by randomly setting some output activations to zero
            during the forward pass. Here you implement it as `dropout_forward` /
            `dropout_backward` in `assignment/layers.py`, add the `dropout_keep_ratio` option to
            `FullyConnectedNet`, and see what it does to overfitting.

            `dropout_param["p"]` is the probability of **keeping** each unit, and the dropout is
            *inverted*: kept units are divided by `p` at training time, so that test time needs no
            change. Masks come from `dropout_param["rng"]` (a generator; models pass their own) or,
            for gradient checks, from a fixed `dropout_param["seed"]`: never from numpy's global
            random state.

            [1] Geoffrey E. Hinton et al., "Improving neural networks by preventing co-adaptation of
            feature detectors", arXiv 2012.
            """),
        HOW_CHECKS_WORK,
        SETUP,
        code(r"""
            import matplotlib.pyplot as plt
            import numpy as np

            from assignment.classifiers.fc_net import FullyConnectedNet
            from assignment.data_utils import get_data
            from assignment.gradient_check import eval_numerical_gradient_array
            from assignment.layers import dropout_backward, dropout_forward
            from assignment.solver import Solver
            """, PLOT_DEFAULTS),
        code(r"""
            data = get_data()
            for key, value in data.items():
                print(f"{key}: {value.shape} {value.dtype}")
            """),
        md(r"""
            ## Dropout: forward

            In train mode each unit is kept with probability `p` and scaled by `1 / p`; in test
            mode the layer returns its input. CS231n draws the masks from numpy's global stream
            right after the inputs; passing the same `RandomState` as `dropout_param["rng"]` does
            the same here.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(500, 500) + 10

            for p in [0.25, 0.4, 0.7]:
                out, _ = dropout_forward(x, {"mode": "train", "p": p, "rng": rs})
                out_test, _ = dropout_forward(x, {"mode": "test", "p": p})

                print("Running tests with p = ", p)
                print("Mean of input: ", x.mean())
                print("Mean of train-time output: ", out.mean())
                print("Mean of test-time output: ", out_test.mean())
                print("Fraction of train-time output set to zero: ", (out == 0).mean())
                print("Fraction of test-time output set to zero: ", (out_test == 0).mean())
                # About 1 - p of the units are dropped, the mean is kept, test mode changes nothing.
                nbu.check_below(f"dropout_forward p={p} train", "distance of the zero fraction to 1 - p",
                                abs((out == 0).mean() - (1 - p)), 0.01)
                nbu.check_rel_error(f"dropout_forward p={p} train mean vs input mean", out.mean(), x.mean(), 1e-2)
                nbu.check_rel_error(f"dropout_forward p={p} test output vs input", out_test, x, 1e-15)
                print()
            """),
        md(r"""
            ## Dropout: backward

            With a `seed`, every forward pass draws the same mask, so the numerical gradient sees
            one function.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(10, 10) + 10
            dout = rs.randn(*x.shape)

            dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
            out, cache = dropout_forward(x, dropout_param)
            dx = dropout_backward(dout, cache)
            dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)

            # Error should be around e-10 or less.
            nbu.check_rel_error("dropout_backward dx", dx, dx_num, 1e-9)
            """),
        md(r"""
            **Inline Question 1.** What happens if we do not divide the values being passed through
            inverse dropout by `p` in the dropout layer? Why does that happen?
            """),
        answer(r"""
            Then the expected output at training time is `p * x`, while at test time (no units
            dropped) it is `x`: the next layer sees activations `1 / p` times larger at test time
            than it was trained on, and its outputs are off. Either the kept units are scaled by
            `1 / p` during training (inverted dropout, as here) or the outputs are multiplied by
            `p` at test time.
            """),
        md(r"""
            ## Fully connected networks with dropout

            `FullyConnectedNet(..., dropout_keep_ratio=p)` adds a dropout layer after every ReLU;
            `p = 1` means no dropout. With a `seed` the model fixes its mask, for the gradient check.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, D, H1, H2, C = 2, 15, 20, 30, 10
            X = rs.randn(N, D)
            y = rs.randint(C, size=(N,))

            for dropout_keep_ratio in [1, 0.75, 0.5]:
                print("Running check with dropout = ", dropout_keep_ratio)
                model = FullyConnectedNet([H1, H2], input_dim=D, num_classes=C, weight_scale=5e-2, dtype=np.float64,
                                          dropout_keep_ratio=dropout_keep_ratio, seed=123)
                for i, (fan_in, fan_out) in enumerate([(D, H1), (H1, H2), (H2, C)], start=1):
                    model.params[f"W{i}"] = 5e-2 * rs.randn(fan_in, fan_out)

                loss, grads = model.loss(X, y)
                print("Initial loss: ", loss)
                if dropout_keep_ratio == 1:
                    nbu.check_rel_error("dropout net keep=1 initial loss vs CS231n's", loss, 2.300479089768492, 1e-10)

                # Relative errors should be around e-6 or less. Note that it's fine if for
                # dropout_keep_ratio=1 you have W2 error be on the order of e-5.
                numeric = nbu.numeric_grads(model, X, y, h=1e-5)
                nbu.check_grads(f"dropout net keep={dropout_keep_ratio}", grads, numeric, 1e-5,
                                bounds={"W2": 1e-4} if dropout_keep_ratio == 1 else None)
                print()
            """),
        md(r"""
            ## Regularization experiment

            Two networks with one hidden layer of 500 units on 500 training images: one without
            dropout, one keeping a quarter of the hidden units. Compare their training and
            validation accuracies over time.
            """),
        code(r"""
            num_train = 500
            small_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }

            solvers = {}
            dropout_choices = [1, 0.25]
            for dropout_keep_ratio in dropout_choices:
                model = FullyConnectedNet([500], input_dim=28 * 28, dropout_keep_ratio=dropout_keep_ratio,
                                          weight_scale=5e-2, seed=0)
                if model.use_dropout:
                    # The seed fixes one mask (for gradient checks); to train, draw a fresh mask on
                    # every pass from the model's own generator.
                    del model.dropout_param["seed"]
                    model.dropout_param["rng"] = model.rng
                print(dropout_keep_ratio)

                solver = Solver(model, small_data, num_epochs=nbu.budget(25, 15), batch_size=100, update_rule="adam",
                                optim_config={"learning_rate": 1e-3}, verbose=True, print_every=100)
                solver.train()
                solvers[dropout_keep_ratio] = solver
                print()
            """),
        code(r"""
            # Plot train and validation accuracies of the two models.
            plt.subplot(2, 1, 1)
            for dropout_keep_ratio in dropout_choices:
                plt.plot(solvers[dropout_keep_ratio].train_acc_history, "o",
                         label=f"{dropout_keep_ratio:.2f} dropout_keep_ratio")
            plt.title("Train accuracy")
            plt.xlabel("Epoch")
            plt.ylabel("Accuracy")
            plt.legend(ncol=2, loc="lower right")

            plt.subplot(2, 1, 2)
            for dropout_keep_ratio in dropout_choices:
                plt.plot(solvers[dropout_keep_ratio].val_acc_history, "o",
                         label=f"{dropout_keep_ratio:.2f} dropout_keep_ratio")
            plt.title("Val accuracy")
            plt.xlabel("Epoch")
            plt.ylabel("Accuracy")
            plt.legend(ncol=2, loc="lower right")

            plt.gcf().set_size_inches(15, 10)
            plt.show()

            # The gap between training and validation accuracy: dropout should make it smaller.
            gaps = {k: solvers[k].train_acc_history[-1] - solvers[k].val_acc_history[-1] for k in dropout_choices}
            print("train - val accuracy at the end:", {k: round(v, 3) for k, v in gaps.items()})
            nbu.check_below("dropout keep=0.25 against none", "train-val gap minus the gap without dropout",
                            gaps[0.25] - gaps[1], 0.0, fmt=".3f")
            """),
        md(r"""
            **Inline Question 2.** Compare the validation and training accuracies with and
            without dropout -- what do your results suggest about dropout as a regularizer?
            """),
        answer(r"""
            Without dropout the network fits the 500 training images perfectly while its
            validation accuracy stalls around 80%: it overfits. With a keep ratio of 0.25 the
            training accuracy rises more slowly and stays lower, while the validation accuracy
            ends within a point or two of the other, so the gap between them is smaller. Dropout
            acts as a regularizer: each pass trains a different thinned network that cannot rely
            on any one unit, and the full network at test time averages them. On this short run
            it mostly slows down memorization; with longer training (or a wider network) the
            unregularized net keeps overfitting and dropout's validation accuracy overtakes it.
            """),
        md(r"""
            **Inline Question 3.** Suppose we are training a deep fully connected network for
            image classification, with dropout after hidden layers (parameterized by keep
            probability p). If we are concerned about overfitting, how should we modify p (if at
            all) when we decide to decrease the size of the hidden layers (that is, the number of
            nodes in each layer)?
            """),
        answer(r"""
            Increase `p` (keep more units). A smaller layer has less capacity and overfits less by
            itself; and what matters for the next layer is the expected number of kept units,
            `p * H`: with fewer units `H`, the same `p` leaves too few to carry the signal, so the
            network underfits. To keep a similar amount of regularization and information flow,
            `p` should grow as `H` shrinks.
            """),
    ]


def convolutional_networks():
    return [
        md(r"""
            # Convolutional networks

            So far the networks were fully connected. Here you implement the layers of
            convolutional networks, check them, compare them with their fast twins, and train
            two convolutional networks on real images:

            - `conv_forward_naive`, `conv_backward_naive`, `max_pool_forward_naive`,
              `max_pool_backward_naive`, `spatial_batchnorm_*` and `spatial_groupnorm_*` in
              `assignment/layers.py`;
            - `ThreeLayerConvNet.loss` in `assignment/classifiers/cnn.py`;
            - `DeepConvNet`, trained with the fast layers of `assignment/fast_layers.pyx` (Cython)
              and, where CuPy and a CUDA device are present, on the GPU.
            """),
        HOW_CHECKS_WORK,
        SETUP,
        code(r"""
            import math

            import matplotlib.pyplot as plt
            import numpy as np

            from assignment import fast_layers
            from assignment.classifiers.cnn import DeepConvNet, ThreeLayerConvNet
            from assignment.data_utils import get_data
            from assignment.gradient_check import eval_numerical_gradient_array, rel_error
            from assignment.layer_utils import (
                conv_relu_backward,
                conv_relu_forward,
                conv_relu_pool_backward,
                conv_relu_pool_forward,
            )
            from assignment.layers import (
                conv_backward_naive,
                conv_forward_naive,
                max_pool_backward_naive,
                max_pool_forward_naive,
                spatial_batchnorm_backward,
                spatial_batchnorm_forward,
                spatial_groupnorm_backward,
                spatial_groupnorm_forward,
            )
            from assignment.solver import Solver, plot_history
            """, PLOT_DEFAULTS),
        code(r"""
            data = get_data()
            for key, value in data.items():
                print(f"{key}: {value.shape} {value.dtype}")
            """),
        md(r"""
            ## Convolution: naive forward pass

            Implement `conv_forward_naive`. Efficiency does not matter here: write it in the way
            you find clearest. Remember that the output size is
            `H' = 1 + (H + 2 * pad - HH) / stride` and that the filter is not flipped
            (cross-correlation).
            """),
        code(r"""
            x_shape = (2, 3, 4, 4)
            w_shape = (3, 3, 4, 4)
            x = np.linspace(-0.1, 0.5, num=np.prod(x_shape)).reshape(x_shape)
            w = np.linspace(-0.2, 0.3, num=np.prod(w_shape)).reshape(w_shape)
            b = np.linspace(-0.1, 0.2, num=3)

            conv_param = {"stride": 2, "pad": 1}
            out, _ = conv_forward_naive(x, w, b, conv_param)
            correct_out = np.array([[[[-0.08759809, -0.10987781],
                                       [-0.18387192, -0.2109216 ]],
                                      [[ 0.21027089,  0.21661097],
                                       [ 0.22847626,  0.23004637]],
                                      [[ 0.50813986,  0.54309974],
                                       [ 0.64082444,  0.67101435]]],
                                     [[[-0.98053589, -1.03143541],
                                       [-1.19128892, -1.24695841]],
                                      [[ 0.69108355,  0.66880383],
                                       [ 0.59480972,  0.56776003]],
                                      [[ 2.36270298,  2.36904306],
                                       [ 2.38090835,  2.38247847]]]])

            # Compare your output to ours; difference should be around e-8
            nbu.check_rel_error("conv_forward_naive out", out, correct_out, 1e-7)
            """),
        md(r"""
            ## Aside: image processing via convolutions

            A convolution with hand-made filters on two pictures shipped with the package (a
            photograph of Grace Hopper and a gift box, both from matplotlib's sample data): the
            first filter turns the image grey (0.3 R + 0.6 G + 0.1 B, its centre tap only), the
            second finds horizontal edges in the blue channel (a Sobel filter).
            """),
        code(r"""
            x, names = nbu.load_filter_images()  # (2, 3, 160, 160), values in [0, 255]

            # Two filters, each 3x3 over the 3 colour channels.
            w = np.zeros((2, 3, 3, 3))
            # The first filter converts the image to grayscale.
            w[0, 0, :, :] = [[0, 0, 0], [0, 0.3, 0], [0, 0, 0]]
            w[0, 1, :, :] = [[0, 0, 0], [0, 0.6, 0], [0, 0, 0]]
            w[0, 2, :, :] = [[0, 0, 0], [0, 0.1, 0], [0, 0, 0]]
            # The second filter detects horizontal edges in the blue channel.
            w[1, 2, :, :] = [[1, 2, 1], [0, 0, 0], [-1, -2, -1]]
            # No bias for the grayscale filter; 128 for the edges, so that no output is negative.
            b = np.array([0.0, 128.0])

            out, _ = conv_forward_naive(x, w, b, {"stride": 1, "pad": 1})

            fig, axes = plt.subplots(2, 3, figsize=(10, 7))
            for i, name in enumerate(names):
                nbu.imshow_no_ax(axes[i, 0], x[i].transpose(1, 2, 0), normalize=False, title=f"Original: {name}")
                nbu.imshow_no_ax(axes[i, 1], out[i, 0], title="Grayscale")
                nbu.imshow_no_ax(axes[i, 2], out[i, 1], title="Edges")
            fig.tight_layout()
            plt.show()

            # The same two outputs computed directly with numpy.
            grey = 0.3 * x[:, 0] + 0.6 * x[:, 1] + 0.1 * x[:, 2]
            blue = np.pad(x[:, 2], ((0, 0), (1, 1), (1, 1)))
            edges = (blue[:, :-2, :-2] + 2 * blue[:, :-2, 1:-1] + blue[:, :-2, 2:]
                     - blue[:, 2:, :-2] - 2 * blue[:, 2:, 1:-1] - blue[:, 2:, 2:] + 128)
            nbu.check_rel_error("conv_forward_naive grayscale filter", out[:, 0], grey, 1e-12)
            nbu.check_rel_error("conv_forward_naive edge filter", out[:, 1], edges, 1e-12)
            """),
        md(r"""
            ## Convolution: naive backward pass

            Implement `conv_backward_naive`; again, clarity over speed.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(4, 3, 5, 5)
            w = rs.randn(2, 3, 3, 3)
            b = rs.randn(2,)
            dout = rs.randn(4, 2, 5, 5)
            conv_param = {"stride": 1, "pad": 1}

            dx_num = eval_numerical_gradient_array(lambda x: conv_forward_naive(x, w, b, conv_param)[0], x, dout)
            dw_num = eval_numerical_gradient_array(lambda w: conv_forward_naive(x, w, b, conv_param)[0], w, dout)
            db_num = eval_numerical_gradient_array(lambda b: conv_forward_naive(x, w, b, conv_param)[0], b, dout)

            out, cache = conv_forward_naive(x, w, b, conv_param)
            dx, dw, db = conv_backward_naive(dout, cache)

            # Your errors should be around e-8 or less.
            nbu.check_rel_error("conv_backward_naive dx", dx, dx_num, 1e-7)
            nbu.check_rel_error("conv_backward_naive dw", dw, dw_num, 1e-7)
            nbu.check_rel_error("conv_backward_naive db", db, db_num, 1e-7)
            """),
        md(r"""
            ## Max pooling: naive forward and backward
            """),
        code(r"""
            x_shape = (2, 3, 4, 4)
            x = np.linspace(-0.3, 0.4, num=np.prod(x_shape)).reshape(x_shape)
            pool_param = {"pool_width": 2, "pool_height": 2, "stride": 2}

            out, _ = max_pool_forward_naive(x, pool_param)

            correct_out = np.array([[[[-0.26315789, -0.24842105],
                                      [-0.20421053, -0.18947368]],
                                     [[-0.14526316, -0.13052632],
                                      [-0.08631579, -0.07157895]],
                                     [[-0.02736842, -0.01263158],
                                      [ 0.03157895,  0.04631579]]],
                                    [[[ 0.09052632,  0.10526316],
                                      [ 0.14947368,  0.16421053]],
                                     [[ 0.20842105,  0.22315789],
                                      [ 0.26736842,  0.28210526]],
                                     [[ 0.32631579,  0.34105263],
                                      [ 0.38526316,  0.4       ]]]])

            # Compare your output with ours. Difference should be on the order of e-8.
            nbu.check_rel_error("max_pool_forward_naive out", out, correct_out, 1e-7)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(3, 2, 8, 8)
            dout = rs.randn(3, 2, 4, 4)
            pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

            dx_num = eval_numerical_gradient_array(lambda x: max_pool_forward_naive(x, pool_param)[0], x, dout)

            out, cache = max_pool_forward_naive(x, pool_param)
            dx = max_pool_backward_naive(dout, cache)

            # Your error should be on the order of e-12
            nbu.check_rel_error("max_pool_backward_naive dx", dx, dx_num, 1e-11)
            """),
        md(r"""
            ## Fast layers

            The naive layers are too slow to train with. `assignment/fast_layers.pyx` (Cython, built
            by `pip install -e .`) holds fast twins with the same signatures: the convolution lowers
            each receptive field into a column (im2col) and makes the whole layer one matrix product;
            pooling runs a compiled loop. They must agree with your naive layers.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(100, 3, 31, 31)
            w = rs.randn(25, 3, 3, 3)
            b = rs.randn(25,)
            dout = rs.randn(100, 25, 16, 16)
            conv_param = {"stride": 2, "pad": 1}

            t_naive, (out_naive, cache_naive) = nbu.best_time(lambda: conv_forward_naive(x, w, b, conv_param))
            t_fast, (out_fast, cache_fast) = nbu.best_time(lambda: fast_layers.conv_forward_fast(x, w, b, conv_param))
            print("Testing conv_forward_fast:")
            print(f"Naive: {t_naive:.4f}s")
            print(f"Fast: {t_fast:.4f}s")
            print(f"Speedup: {t_naive / t_fast:.1f}x")
            nbu.check_rel_error("conv_forward_fast out vs naive", out_naive, out_fast, 1e-8)

            t_naive, (dx_naive, dw_naive, db_naive) = nbu.best_time(lambda: conv_backward_naive(dout, cache_naive))
            t_fast, (dx_fast, dw_fast, db_fast) = nbu.best_time(
                lambda: fast_layers.conv_backward_fast(dout, cache_fast))
            print("\nTesting conv_backward_fast:")
            print(f"Naive: {t_naive:.4f}s")
            print(f"Fast: {t_fast:.4f}s")
            print(f"Speedup: {t_naive / t_fast:.1f}x")
            # Relative errors should be around e-9 or less.
            nbu.check_rel_error("conv_backward_fast dx vs naive", dx_naive, dx_fast, 1e-8)
            nbu.check_rel_error("conv_backward_fast dw vs naive", dw_naive, dw_fast, 1e-8)
            nbu.check_rel_error("conv_backward_fast db vs naive", db_naive, db_fast, 1e-8)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(100, 3, 32, 32)
            dout = rs.randn(100, 3, 16, 16)
            pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

            t_naive, (out_naive, cache_naive) = nbu.best_time(lambda: max_pool_forward_naive(x, pool_param))
            t_fast, (out_fast, cache_fast) = nbu.best_time(lambda: fast_layers.max_pool_forward_fast(x, pool_param))
            print("Testing pool_forward_fast:")
            print(f"Naive: {t_naive:.4f}s")
            print(f"Fast: {t_fast:.4f}s")
            print(f"Speedup: {t_naive / t_fast:.1f}x")
            # Should be close to 0.0.
            nbu.check_rel_error("max_pool_forward_fast out vs naive", out_naive, out_fast, 1e-12)

            t_naive, dx_naive = nbu.best_time(lambda: max_pool_backward_naive(dout, cache_naive))
            t_fast, dx_fast = nbu.best_time(lambda: fast_layers.max_pool_backward_fast(dout, cache_fast))
            print("\nTesting pool_backward_fast:")
            print(f"Naive: {t_naive:.4f}s")
            print(f"Fast: {t_fast:.4f}s")
            print(f"Speedup: {t_naive / t_fast:.1f}x")
            nbu.check_rel_error("max_pool_backward_fast dx vs naive", dx_naive, dx_fast, 1e-12)
            """),
        md(r"""
            **Inline Question 1.** The im2col convolution copies every input pixel up to nine times
            (for 3x3 filters) before it multiplies anything, yet it is much faster than the loops.
            Why?
            """),
        answer(r"""
            After the copy, the whole layer is one large matrix product, which BLAS runs at close
            to the processor's peak: blocked for the caches, vectorized with SIMD instructions and
            spread over the cores. The copy itself is a linear pass over memory, cheap compared
            with the `F * C * HH * WW` multiply-adds per output pixel. The naive version pays the
            Python interpreter's overhead at every output position and multiplies many small,
            strided slices that use the caches and SIMD units poorly.
            """),
        md(r"""
            ## Convolutional "sandwich" layers

            `assignment/layer_utils.py` chains conv - ReLU - pool and conv - ReLU out of your naive
            layers; each backward runs the parts in reverse.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(2, 3, 16, 16)
            w = rs.randn(3, 3, 3, 3)
            b = rs.randn(3,)
            dout = rs.randn(2, 3, 8, 8)
            conv_param = {"stride": 1, "pad": 1}
            pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

            out, cache = conv_relu_pool_forward(x, w, b, conv_param, pool_param)
            dx, dw, db = conv_relu_pool_backward(dout, cache)

            dx_num = eval_numerical_gradient_array(lambda x: conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0],
                                                   x, dout)
            dw_num = eval_numerical_gradient_array(lambda w: conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0],
                                                   w, dout)
            db_num = eval_numerical_gradient_array(lambda b: conv_relu_pool_forward(x, w, b, conv_param, pool_param)[0],
                                                   b, dout)

            # Relative errors should be around e-8 or less
            nbu.check_rel_error("conv_relu_pool dx", dx_num, dx, 1e-7)
            nbu.check_rel_error("conv_relu_pool dw", dw_num, dw, 1e-7)
            nbu.check_rel_error("conv_relu_pool db", db_num, db, 1e-7)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            x = rs.randn(2, 3, 8, 8)
            w = rs.randn(3, 3, 3, 3)
            b = rs.randn(3,)
            dout = rs.randn(2, 3, 8, 8)
            conv_param = {"stride": 1, "pad": 1}

            out, cache = conv_relu_forward(x, w, b, conv_param)
            dx, dw, db = conv_relu_backward(dout, cache)

            dx_num = eval_numerical_gradient_array(lambda x: conv_relu_forward(x, w, b, conv_param)[0], x, dout)
            dw_num = eval_numerical_gradient_array(lambda w: conv_relu_forward(x, w, b, conv_param)[0], w, dout)
            db_num = eval_numerical_gradient_array(lambda b: conv_relu_forward(x, w, b, conv_param)[0], b, dout)

            # Relative errors should be around e-8 or less
            nbu.check_rel_error("conv_relu dx", dx_num, dx, 1e-7)
            nbu.check_rel_error("conv_relu dw", dw_num, dw, 1e-7)
            nbu.check_rel_error("conv_relu db", db_num, db, 1e-7)
            """),
        md(r"""
            ## Three-layer convolutional network

            Implement `ThreeLayerConvNet.loss` in `assignment/classifiers/cnn.py`: conv - relu -
            2x2 max pool - affine - relu - affine - softmax.

            ### Sanity check the loss

            With small random weights and no regularization the loss should be about `log(C)`;
            with regularization it should go up slightly.
            """),
        code(r"""
            model = ThreeLayerConvNet(seed=0)

            rs = np.random.RandomState(231)
            N = 50
            X = rs.randn(N, 3, 32, 32)
            y = rs.randint(10, size=N)

            loss, grads = model.loss(X, y)
            print("Initial loss (no regularization): ", loss)
            nbu.check_rel_error("ThreeLayerConvNet initial loss vs log(10)", loss, math.log(10), 1e-2)

            model.reg = 0.5
            loss_reg, grads = model.loss(X, y)
            print("Initial loss (with regularization): ", loss_reg)
            nbu.check_at_least("ThreeLayerConvNet reg=0.5", "loss increase", loss_reg - loss, 1e-3, fmt=".4f")
            """),
        md(r"""
            ### Gradient check

            A small network in float64 (the fast layers run in any float dtype).
            """),
        code(r"""
            num_inputs = 2
            input_dim = (3, 16, 16)
            reg = 0.0
            num_classes = 10
            rs = np.random.RandomState(231)
            X = rs.randn(num_inputs, *input_dim)
            y = rs.randint(num_classes, size=num_inputs)

            model = ThreeLayerConvNet(num_filters=3, filter_size=3, input_dim=input_dim, hidden_dim=7,
                                      dtype=np.float64, reg=reg, seed=0)
            loss, grads = model.loss(X, y)
            numeric = nbu.numeric_grads(model, X, y, h=1e-6)
            # Errors should be small, but correct implementations may have relative errors up to
            # the order of e-2.
            nbu.check_grads("ThreeLayerConvNet", grads, numeric, 1e-1)
            """),
        md(r"""
            ### Overfit small data

            A network that can learn should overfit 100 training images: very high training
            accuracy, much lower validation accuracy. (Our pixels are scaled to [0, 1], CS231n's to
            [0, 255], so the initial weights here are ten times larger than CS231n's.)
            """),
        code(r"""
            num_train = 100
            small_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }

            model = ThreeLayerConvNet(input_dim=(1, 28, 28), weight_scale=1e-1, seed=0)
            solver = Solver(model, small_data, num_epochs=15, batch_size=50, update_rule="adam",
                            optim_config={"learning_rate": 1e-3}, print_every=5)
            solver.train()
            nbu.check_at_least("ThreeLayerConvNet on 100 examples", "training accuracy", max(solver.train_acc_history),
                               0.9)
            plot_history(solver, title="ThreeLayerConvNet overfitting 100 images")
            """),
        md(r"""
            ### Train the network

            One epoch over the embedded training set (the progress bar shows the minibatches).
            """),
        code(r"""
            num_train = nbu.budget(5000, 1000)
            train_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }
            model = ThreeLayerConvNet(input_dim=(1, 28, 28), weight_scale=0.01, hidden_dim=500, reg=0.001, seed=0)
            solver = Solver(model, train_data, num_epochs=1, batch_size=50, update_rule="adam",
                            optim_config={"learning_rate": 1e-3}, print_every=20)
            solver.train()
            nbu.check_at_least("ThreeLayerConvNet after one epoch", "validation accuracy", solver.best_val_acc,
                               nbu.budget(0.7, 0.6))
            """),
        md(r"""
            ### Visualize the filters

            The 32 first-layer filters of the trained network, each 7x7.
            """),
        code(r"""
            grid = nbu.visualize_grid(model.params["W1"].transpose(0, 2, 3, 1))
            plt.figure(figsize=(5, 5))
            plt.imshow(grid[:, :, 0].astype("uint8"), cmap="gray")
            plt.axis("off")
            plt.gcf().set_size_inches(5, 5)
            plt.show()
            """),
        md(r"""
            ## Spatial batch normalization

            For images of shape (N, C, H, W), batch normalization computes one mean and variance
            per channel, over the N examples and the H x W positions. Implement
            `spatial_batchnorm_forward` and `spatial_batchnorm_backward` (they can call your
            `batchnorm_*` functions after a transpose and reshape).
            """),
        code(r"""
            # Check the training-time forward pass by checking means and variances of features
            # both before and after spatial batch normalization.
            rs = np.random.RandomState(231)
            N, C, H, W = 2, 3, 4, 5
            x = 4 * rs.randn(N, C, H, W) + 10

            print("Before spatial batch normalization:")
            print("  shape: ", x.shape)
            print("  means: ", x.mean(axis=(0, 2, 3)))
            print("  stds: ", x.std(axis=(0, 2, 3)))

            # Means should be close to zero and stds close to one
            gamma, beta = np.ones(C), np.zeros(C)
            bn_param = {"mode": "train"}
            out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
            print("After spatial batch normalization:")
            print("  shape: ", out.shape)
            print("  means: ", out.mean(axis=(0, 2, 3)))
            print("  stds: ", out.std(axis=(0, 2, 3)))
            nbu.check_below("spatial_batchnorm_forward gamma=1 beta=0 means", "largest |mean|",
                            np.abs(out.mean(axis=(0, 2, 3))).max(), 1e-8)
            nbu.check_rel_error("spatial_batchnorm_forward gamma=1 beta=0 stds vs CS231n's", out.std(axis=(0, 2, 3)),
                                [0.99999962, 0.99999951, 0.9999996], 1e-7)

            # Means should be close to beta and stds close to gamma
            gamma, beta = np.asarray([3, 4, 5]), np.asarray([6, 7, 8])
            out, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)
            print("After spatial batch normalization (nontrivial gamma, beta):")
            print("  shape: ", out.shape)
            print("  means: ", out.mean(axis=(0, 2, 3)))
            print("  stds: ", out.std(axis=(0, 2, 3)))
            nbu.check_rel_error("spatial_batchnorm_forward means vs beta", out.mean(axis=(0, 2, 3)), [6.0, 7.0, 8.0],
                                1e-8)
            nbu.check_rel_error("spatial_batchnorm_forward stds vs CS231n's", out.std(axis=(0, 2, 3)),
                                [2.99999885, 3.99999804, 4.99999798], 1e-7)
            """),
        code(r"""
            # Check the test-time forward pass by running the training-time forward pass many
            # times to warm up the running averages, and then checking the means and variances of
            # activations after a test-time forward pass.
            rs = np.random.RandomState(231)
            N, C, H, W = 10, 4, 11, 12

            bn_param = {"mode": "train"}
            gamma = np.ones(C)
            beta = np.zeros(C)
            for _ in range(50):
                x = 2.3 * rs.randn(N, C, H, W) + 13
                spatial_batchnorm_forward(x, gamma, beta, bn_param)
            bn_param["mode"] = "test"
            x = 2.3 * rs.randn(N, C, H, W) + 13
            a_norm, _ = spatial_batchnorm_forward(x, gamma, beta, bn_param)

            # Means should be close to zero and stds close to one, but will be noisier than
            # training-time forward passes.
            print("After spatial batch normalization (test-time):")
            print("  means: ", a_norm.mean(axis=(0, 2, 3)))
            print("  stds: ", a_norm.std(axis=(0, 2, 3)))
            nbu.check_rel_error("spatial_batchnorm_forward test mode means vs CS231n's", a_norm.mean(axis=(0, 2, 3)),
                                [-0.08034406, 0.07562881, 0.05716371, 0.04378383], 1e-6)
            nbu.check_rel_error("spatial_batchnorm_forward test mode stds vs CS231n's", a_norm.std(axis=(0, 2, 3)),
                                [0.96718744, 1.0299714, 1.02887624, 1.00585577], 1e-6)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, C, H, W = 2, 3, 4, 5
            x = 5 * rs.randn(N, C, H, W) + 12
            gamma = rs.randn(C)
            beta = rs.randn(C)
            dout = rs.randn(N, C, H, W)

            bn_param = {"mode": "train"}
            fx = lambda x: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
            fg = lambda a: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731
            fb = lambda b: spatial_batchnorm_forward(x, gamma, beta, bn_param)[0]  # noqa: E731

            dx_num = eval_numerical_gradient_array(fx, x, dout)
            da_num = eval_numerical_gradient_array(fg, gamma, dout)
            db_num = eval_numerical_gradient_array(fb, beta, dout)

            # You should expect errors of magnitudes between 1e-12~1e-06
            _, cache = spatial_batchnorm_forward(x, gamma, beta, bn_param)
            dx, dgamma, dbeta = spatial_batchnorm_backward(dout, cache)
            nbu.check_rel_error("spatial_batchnorm_backward dx", dx_num, dx, 1e-6)
            nbu.check_rel_error("spatial_batchnorm_backward dgamma", da_num, dgamma, 1e-6)
            nbu.check_rel_error("spatial_batchnorm_backward dbeta", db_num, dbeta, 1e-6)
            """),
        md(r"""
            ## Spatial group normalization

            Group normalization [1] splits the C channels of each example into G contiguous groups
            and normalizes each group over its channels and positions, then scales and shifts each
            channel by `gamma` and `beta` of shape (1, C, 1, 1). Like layer normalization it does
            not depend on the batch; unlike it, it does not force all channels to share one mean.
            Implement `spatial_groupnorm_forward` and `spatial_groupnorm_backward`.

            [1] Yuxin Wu and Kaiming He, "Group Normalization", ECCV 2018.
            """),
        code(r"""
            # Check the training-time forward pass by checking means and variances of features
            # both before and after spatial group normalization.
            rs = np.random.RandomState(231)
            N, C, H, W = 2, 6, 4, 5
            G = 2
            x = 4 * rs.randn(N, C, H, W) + 10
            x_g = x.reshape((N * G, -1))
            print("Before spatial group normalization:")
            print("  shape: ", x.shape)
            print("  means: ", x_g.mean(axis=1))
            print("  stds: ", x_g.std(axis=1))

            # Means should be close to zero and stds close to one
            gamma, beta = np.ones((1, C, 1, 1)), np.zeros((1, C, 1, 1))
            bn_param = {"mode": "train"}

            out, _ = spatial_groupnorm_forward(x, gamma, beta, G, bn_param)
            out_g = out.reshape((N * G, -1))
            print("After spatial group normalization:")
            print("  shape: ", out.shape)
            print("  means: ", out_g.mean(axis=1))
            print("  stds: ", out_g.std(axis=1))
            nbu.check_below("spatial_groupnorm_forward means", "largest |mean|", np.abs(out_g.mean(axis=1)).max(), 1e-8)
            nbu.check_rel_error("spatial_groupnorm_forward stds vs CS231n's", out_g.std(axis=1),
                                [0.99999963, 0.99999948, 0.99999973, 0.99999968], 1e-7)
            """),
        code(r"""
            rs = np.random.RandomState(231)
            N, C, H, W = 2, 6, 4, 5
            G = 2
            x = 5 * rs.randn(N, C, H, W) + 12
            gamma = rs.randn(1, C, 1, 1)
            beta = rs.randn(1, C, 1, 1)
            dout = rs.randn(N, C, H, W)

            gn_param = {}
            fx = lambda x: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
            fg = lambda a: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731
            fb = lambda b: spatial_groupnorm_forward(x, gamma, beta, G, gn_param)[0]  # noqa: E731

            dx_num = eval_numerical_gradient_array(fx, x, dout)
            da_num = eval_numerical_gradient_array(fg, gamma, dout)
            db_num = eval_numerical_gradient_array(fb, beta, dout)

            _, cache = spatial_groupnorm_forward(x, gamma, beta, G, gn_param)
            dx, dgamma, dbeta = spatial_groupnorm_backward(dout, cache)
            # You should expect errors of magnitudes between 1e-12 and 1e-07.
            nbu.check_rel_error("spatial_groupnorm_backward dx", dx_num, dx, 1e-7)
            nbu.check_rel_error("spatial_groupnorm_backward dgamma", da_num, dgamma, 1e-7)
            nbu.check_rel_error("spatial_groupnorm_backward dbeta", db_num, dbeta, 1e-7)
            """),
        md(r"""
            **Inline Question 2.** Layer normalization normalizes all C x H x W values of an
            example together; group normalization normalizes groups of channels. Why might group
            normalization suit convolutional networks better than layer normalization? And why is
            either one preferable to spatial batch normalization when each GPU sees only one or two
            images per step?
            """),
        answer(r"""
            The channels of a convolutional layer are different detectors whose activations have
            very different scales and frequencies: a dark image fires few of them. Layer norm
            forces all channels of an example to share one mean and variance, so a few strong
            channels set the normalization for all the others. Group norm only ties together
            channels of one group, which tend to behave alike, and still does not depend on the
            batch. Spatial batch norm estimates its statistics from the examples of the batch; with
            one or two images per step they are noisy (the same problem as the small batches of
            `BatchNormalization.ipynb`), while group and layer norm compute the same thing for any
            batch size, in training and at test time.
            """),
        md(r"""
            ## A deeper network with the fast layers

            `DeepConvNet` (six 3x3 convolutions in three conv-conv-pool blocks, then affine - relu -
            dropout - affine) runs on a table of layers picked by `backend`: your naive ones or the
            fast twins. Both must give the same loss and gradients; the fast table should be far
            quicker.
            """),
        code(r"""
            rs = np.random.RandomState(231)
            X = data["X_train"][:20].astype(np.float64)
            y = data["y_train"][:20]
            results = {}
            for backend in ("naive", "fast"):
                model = DeepConvNet(input_dim=(1, 28, 28), dtype=np.float64, seed=0, backend=backend)
                model.dropout_param["seed"] = 0  # the same dropout mask for both
                seconds, (loss, grads) = nbu.best_time(lambda m=model: m.loss(X, y), repeat=2)
                results[backend] = (seconds, loss, grads)
                print(f"{backend:5s}: loss {loss:.6f}, forward + backward of 20 images in {seconds * 1e3:.1f} ms")
            print(f"Speedup of the fast layers: {results['naive'][0] / results['fast'][0]:.1f}x")
            nbu.check_rel_error("DeepConvNet fast vs naive loss", results["fast"][1], results["naive"][1], 1e-10)
            fast_grads, naive_grads = results["fast"][2], results["naive"][2]
            nbu.check_below("DeepConvNet fast vs naive gradients", "largest relative error",
                            max(rel_error(fast_grads[k], naive_grads[k]) for k in fast_grads), 1e-8)
            """),
        md(r"""
            ### Train DeepConvNet on the embedded data
            """),
        code(r"""
            num_train = nbu.budget(5000, 1000)
            train_data = {
                "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train],
                "X_val": data["X_val"], "y_val": data["y_val"],
            }
            deep_model = DeepConvNet(input_dim=(1, 28, 28), seed=0)  # float32, fast layers
            deep_solver = Solver(deep_model, train_data, num_epochs=nbu.budget(10, 2), batch_size=50,
                                 update_rule="adam", optim_config={"learning_rate": 1e-3}, lr_decay=0.9, print_every=50)
            deep_solver.train()
            print(f"training throughput: {np.mean(deep_solver.throughput_history):.0f} images/s")
            nbu.check_at_least("DeepConvNet", "best validation accuracy", deep_solver.best_val_acc,
                               nbu.budget(0.84, 0.55))
            test_acc = deep_solver.check_accuracy(data["X_test"], data["y_test"])
            print(f"test accuracy: {test_acc:.3f}")
            plot_history(deep_solver, title="DeepConvNet, fast layers")
            """),
        md(r"""
            ### On the GPU

            With CuPy installed (`pip install -e '.[gpu]'`) and a CUDA device, `model.to("gpu")`
            moves the parameters to the device and switches to the GPU twins of
            `assignment/gpu_layers.py`; the data must live there too. Without them this cell says
            it is skipped.
            """),
        code(r"""
            available, device = nbu.gpu_status()
            if not available:
                print(f"GPU cell skipped: {device}")
            else:
                import cupy

                print(f"Training on {device}")
                gpu_data = {key: cupy.asarray(value) for key, value in train_data.items()}
                gpu_model = DeepConvNet(input_dim=(1, 28, 28), seed=0).to("gpu")

                # The same loss as on the CPU, for the same weights and batch (float32).
                cpu_model = DeepConvNet(input_dim=(1, 28, 28), seed=0, dropout_keep_ratio=1)
                gpu_check = DeepConvNet(input_dim=(1, 28, 28), seed=0, dropout_keep_ratio=1).to("gpu")
                cpu_loss, _ = cpu_model.loss(train_data["X_train"][:50], train_data["y_train"][:50])
                gpu_loss, _ = gpu_check.loss(gpu_data["X_train"][:50], gpu_data["y_train"][:50])
                nbu.check_rel_error("DeepConvNet GPU vs CPU loss", float(gpu_loss), float(cpu_loss), 1e-4)

                gpu_solver = Solver(gpu_model, gpu_data, num_epochs=nbu.budget(10, 2), batch_size=50,
                                    update_rule="adam", optim_config={"learning_rate": 1e-3}, lr_decay=0.9,
                                    print_every=50)
                gpu_solver.train()
                print(f"GPU training throughput: {np.mean(gpu_solver.throughput_history):.0f} images/s "
                      f"(CPU: {np.mean(deep_solver.throughput_history):.0f} images/s)")
                plot_history(gpu_solver, title=f"DeepConvNet on {device}")
            """),
    ]


CELLS = {
    "LinearClassifiers": linear_classifiers,
    "FullyConnectedNets": fully_connected_nets,
    "BatchNormalization": batch_normalization,
    "Dropout": dropout,
    "ConvolutionalNetworks": convolutional_networks,
}


def build(name):
    """The notebook ``name`` as an nbformat NotebookNode, without outputs, with stable cell ids."""
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": dict(KERNELSPEC),
        "language_info": {"name": "python", "pygments_lexer": "ipython3"},
    }
    for i, (kind, source) in enumerate(CELLS[name]()):
        cell = nbformat.v4.new_markdown_cell(source) if kind == "md" else nbformat.v4.new_code_cell(source)
        cell.id = f"{name[:20].lower()}-{i:03d}"
        nb.cells.append(cell)
    nbformat.validate(nb)
    return nb


def render(nb):
    return nbformat.writes(nb) + "\n"


def path_of(name):
    return ROOT / f"{name}.ipynb"


def write_all():
    for name in NOTEBOOKS:
        path_of(name).write_text(render(build(name)))
        print(f"wrote {path_of(name).relative_to(ROOT)}")


def check_all():
    stale = [name for name in NOTEBOOKS
             if not path_of(name).is_file() or path_of(name).read_text() != render(build(name))]
    for name in stale:
        print(f"{name}.ipynb differs from its cells in scripts/build_notebooks.py; "
              "run python scripts/build_notebooks.py")
    return not stale


def execute_all(names, fast, figures_dir, timeout):
    sys.path.insert(0, str(ROOT))
    from assignment import notebook_utils

    env = {"ASSIGNMENT_FAST_NOTEBOOKS": "1"} if fast else {}
    failed = []
    for name in names:
        path = path_of(name)
        print(f"executing {path.name} ...", flush=True)
        try:
            nb = notebook_utils.execute_notebook(path, cwd=ROOT, timeout=timeout, env=env)
        except Exception as e:  # noqa: BLE001 - reported, then the next notebook runs
            print(f"  {path.name} FAILED: {type(e).__name__}: {str(e)[-2000:]}")
            failed.append(name)
            continue
        nbformat.write(nb, path)
        checks = notebook_utils.parse_check_lines(notebook_utils.notebook_text(nb))
        bad = [c["line"] for c in checks if not c["ok"]]
        print(f"  {len(checks)} checks, {len(bad)} not ok" + "".join(f"\n    {line}" for line in bad))
        if bad:
            failed.append(name)
        if figures_dir:
            out = Path(figures_dir)
            out.mkdir(parents=True, exist_ok=True)
            for k, png in enumerate(notebook_utils.notebook_figures(nb), start=1):
                (out / f"{name}_{k:02d}.png").write_bytes(png)
    return not failed


def make_images():
    """Two pictures for the convolution demo, from matplotlib's bundled sample data.

    - grace_hopper.jpg (512x600 photograph of Rear Admiral Grace Hopper, a U.S. Navy photo
      in the public domain): the top 512x512 square.
    - Minduka_Present_Blue_Pack.png (128x128 clip art of a gift box by Minduka, from
      openclipart.org, public domain): composited on white.
    Both resized to IMAGE_SIZE x IMAGE_SIZE with Lanczos filtering, stored as uint8 RGB.
    """
    import numpy as np
    from matplotlib import cbook
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = Image.open(f).convert("RGB")
    side = min(hopper.size)
    hopper = hopper.crop((0, 0, side, side))
    with cbook.get_sample_data("Minduka_Present_Blue_Pack.png") as f:
        present = Image.open(f).convert("RGBA")
    white = Image.new("RGBA", present.size, (255, 255, 255, 255))
    white.alpha_composite(present)
    present = white.convert("RGB")
    images = np.stack(
        [np.asarray(im.resize((IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS), dtype=np.uint8) for im in (hopper, present)]
    )
    path = ROOT / "assignment" / "data" / "notebook_images.npz"
    np.savez_compressed(path, images=images, names=np.array(["grace_hopper", "present"]))
    print(f"wrote {path.relative_to(ROOT)}: {images.shape} {images.dtype}, {path.stat().st_size} bytes")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="compare the stored notebooks with their sources")
    group.add_argument("--execute", action="store_true", help="execute the notebooks in place")
    group.add_argument("--images", action="store_true", help="rebuild assignment/data/notebook_images.npz")
    p.add_argument("--fast", action="store_true", help="with --execute: small training budgets")
    p.add_argument("--figures", metavar="DIR", help="with --execute: write every displayed PNG into DIR")
    p.add_argument("--timeout", type=int, default=1800, help="with --execute: seconds per cell (default 1800)")
    p.add_argument("names", nargs="*", help=f"notebooks to execute (default: all of {', '.join(NOTEBOOKS)})")
    args = p.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        p.error(f"unknown notebooks {unknown}; choose from {list(NOTEBOOKS)}")
    if args.check:
        return 0 if check_all() else 1
    if args.execute:
        return 0 if execute_all(args.names or NOTEBOOKS, args.fast, args.figures, args.timeout) else 1
    if args.images:
        make_images()
        return 0
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
