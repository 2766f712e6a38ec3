# %% [markdown]
# # Linear classifiers: SVM and softmax
#
# A linear classifier scores an image with one matrix product, `scores = X W + b`, and
# learns `W` by minimizing a loss. Here you check the two losses of
# `assignment/layers.py` that every later network ends with, `svm_loss` and
# `softmax_loss`, then train `LinearSVM` and `Softmax` (`assignment/classifiers/linear.py`)
# on a real subset of Fashion-MNIST with L2 and L1 regularization.

# %% [markdown]
# **How the checks work.** Each check cell runs your code on fixed inputs (CS231n's own: where
# CS231n calls `np.random.seed(231)`, a local `np.random.RandomState(231)` here draws the same
# numbers) and prints one line per quantity through `assignment/notebook_utils.py`:
#
#     conv_forward_naive out: relative error 2.21e-08 (should be below 1e-07) ok
#
# The bound is what the cell says in words: "the error should be around e-8" is printed as
# "below 1e-07", at most that order of magnitude. A line ending in `TOO LARGE` (or
# `TOO SMALL`) points at the part of your code to fix. The relative error is
# `rel_error(x, y) = max |x - y| / max(1e-8, |x| + |y|)` from `assignment/gradient_check.py`.
# The instructor's tests execute this notebook and read the same lines.
#
# **Budgets.** Training cells take `nbu.budget(full, small)`: the small budget when the
# environment variable `CI` or `ASSIGNMENT_FAST_NOTEBOOKS` is set, so that automated runs
# are quick; the full one when you run the notebook yourself.

# %%
# Run this first. autoreload re-imports your edits to assignment/*.py without a kernel restart.
# %load_ext autoreload
# %autoreload 2
# %matplotlib inline

from assignment import notebook_utils as nbu

nbu.setup_notebook()

# %%
import matplotlib.pyplot as plt
import numpy as np

from assignment.classifiers.linear import LinearSVM, Softmax
from assignment.data_utils import get_data, load_embedded
from assignment.gradient_check import eval_numerical_gradient, grad_check_sparse
from assignment.layers import softmax_loss, svm_loss

plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"

# %% [markdown]
# ## The data
#
# The package ships a small real subset of Fashion-MNIST: 5000 training, 1000 validation
# and 1000 test images of 28x28 grey pixels, 10 classes, 10% of each class per split.
# `get_data(flatten=True)` scales them to [0, 1], subtracts the mean training image and
# returns rows of 784 numbers.

# %%
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

# %% [markdown]
# ## The two losses
#
# `svm_loss(x, y)` (multiclass hinge loss, margin 1, the correct class skipped) and
# `softmax_loss(x, y)` (cross-entropy of the softmax) take scores `x` of shape (N, C) and
# labels `y`, and return `(loss, dx)`: the mean loss over the N examples and its gradient.
# The numerical gradient `eval_numerical_gradient` perturbs each score by +-1e-5.

# %%
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

# %% [markdown]
# **Inline Question 1.** The scores above are tiny random numbers. Why is the SVM loss
# then about 9, and the softmax loss about 2.3? What would you suspect if your SVM loss
# came out near 10?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# With all scores close to 0, every wrong class j has margin `s_j - s_y + 1 ~ 1`, so each
# example loses about `C - 1 = 9`. The softmax of nearly equal scores is uniform, so each
# example loses `-log(1/C) = log 10 ~ 2.303`. An SVM loss near 10 means the correct
# class was not skipped: it adds its own margin of exactly 1.
# ### END SOLUTION

# %% [markdown]
# **Inline Question 2.** Once in a while a gradient check of the SVM loss does not match
# in one dimension, although the code is correct. What causes such a discrepancy? Is it
# a reason for concern? Give a one-dimensional example where a gradient check could fail.
# How would the margin change how often this happens?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# The hinge `max(0, m)` has a kink at `m = 0`: it is not differentiable there. When a
# margin lies within `h` of 0 the centred difference straddles the kink and measures the
# average of the two one-sided slopes, while the analytic gradient picks one of them.
# It is no reason for concern: the analytic gradient is right almost everywhere. Example:
# `f(x) = max(0, x)` at `x = 1e-6` with `h = 1e-5` gives a numerical slope near 0.55, the
# analytic one is 1. With scores near 0 every margin is near the margin constant: a
# margin of 1 keeps every hinge far from its kink (this check passes), a margin of 0
# would put all of them at the kink. The smaller the margin compared with the spread of
# the scores, the more often a check straddles a kink.
# ### END SOLUTION

# %% [markdown]
# ## The linear classifiers with regularization
#
# `LinearSVM` and `Softmax` share `LinearClassifier.loss(X, y)`: scores `X W + b`, the data
# loss above, plus a penalty on `W` only: `0.5 * reg * sum(W**2)` (`reg_type="l2"`) or
# `reg * sum(|W|)` (`reg_type="l1"`). `grad_check_sparse` compares the gradient with a
# centred difference at a few random entries of `W`.

# %%
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

# %% [markdown]
# ## Training with SGD
#
# `model.train(X, y, learning_rate, reg, num_iters, batch_size, seed)` runs minibatch
# SGD and returns the loss of every step. Search a few learning rates and regularization
# strengths for each classifier; keep the model with the best validation accuracy. Both
# should reach at least 80% on the validation set.

# %%
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

# %% [markdown]
# The loss curves, and each class's row of learned weights shown as a 28x28 picture: a
# linear classifier learns one template per class.

# %%
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

# %% [markdown]
# ## L1 against L2
#
# The same classifier trained with each penalty. The L1 penalty pushes every weight
# towards zero by the same amount, the L2 penalty in proportion to its size.

# %%
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

# %% [markdown]
# **Inline Question 3.** Which penalty leaves more weights near zero, and why? Why does
# plain SGD with the L1 penalty rarely make a weight *exactly* zero?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# L1: its gradient `reg * sign(w)` has the same size however small `w` is, so every weight
# the data does not need (the border pixels, which are nearly constant) is pulled all the
# way to zero; the L2 gradient `reg * w` fades as `w` shrinks and leaves many small but
# non-zero weights. Plain SGD steps by `lr * reg` and overshoots zero, so those weights
# jitter around zero instead of settling on it; proximal updates (soft thresholding)
# would set them to exactly zero.
# ### END SOLUTION
