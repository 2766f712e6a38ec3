# %% [markdown]
# # Dropout
#
# Dropout [1] regularizes a network by randomly setting some output activations to zero
# during the forward pass. Here you implement it as `dropout_forward` /
# `dropout_backward` in `assignment/layers.py`, add the `dropout_keep_ratio` option to
# `FullyConnectedNet`, and see what it does to overfitting.
#
# `dropout_param["p"]` is the probability of **keeping** each unit, and the dropout is
# *inverted*: kept units are divided by `p` at training time, so that test time needs no
# change. Masks come from `dropout_param["rng"]` (a generator; models pass their own) or,
# for gradient checks, from a fixed `dropout_param["seed"]`: never from numpy's global
# random state.
#
# [1] Geoffrey E. Hinton et al., "Improving neural networks by preventing co-adaptation of
# feature detectors", arXiv 2012.

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

from assignment.classifiers.fc_net import FullyConnectedNet
from assignment.data_utils import get_data
from assignment.gradient_check import eval_numerical_gradient_array
from assignment.layers import dropout_backward, dropout_forward
from assignment.solver import Solver

plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"

# %%
data = get_data()
for key, value in data.items():
    print(f"{key}: {value.shape} {value.dtype}")

# %% [markdown]
# ## Dropout: forward
#
# In train mode each unit is kept with probability `p` and scaled by `1 / p`; in test
# mode the layer returns its input. CS231n draws the masks from numpy's global stream
# right after the inputs; passing the same `RandomState` as `dropout_param["rng"]` does
# the same here.

# %%
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

# %% [markdown]
# ## Dropout: backward
#
# With a `seed`, every forward pass draws the same mask, so the numerical gradient sees
# one function.

# %%
rs = np.random.RandomState(231)
x = rs.randn(10, 10) + 10
dout = rs.randn(*x.shape)

dropout_param = {"mode": "train", "p": 0.2, "seed": 123}
out, cache = dropout_forward(x, dropout_param)
dx = dropout_backward(dout, cache)
dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)

# Error should be around e-10 or less.
nbu.check_rel_error("dropout_backward dx", dx, dx_num, 1e-9)

# %% [markdown]
# ## Vanilla dropout
#
# The original dropout (and Nielsen's `network3`) does not scale at train time: with
# `dropout_param["kind"] = "vanilla"` the kept units pass unchanged, and at test time every
# unit is multiplied by `p` instead, so that the next layer sees the same expected input in
# both modes. The default kind, `"inverted"`, is the one above.

# %%
rs = np.random.RandomState(231)
x = rs.randn(500, 500) + 10
for p in (0.25, 0.6):
    out, cache = dropout_forward(x, {"mode": "train", "p": p, "kind": "vanilla", "seed": 7})
    out_test, _ = dropout_forward(x, {"mode": "test", "p": p, "kind": "vanilla"})
    kept = out != 0
    nbu.check_rel_error(f"vanilla dropout p={p}: kept units unscaled", out[kept], x[kept], 1e-15)
    nbu.check_rel_error(f"vanilla dropout p={p}: train mean vs test mean", out.mean(), out_test.mean(), 1e-2)
    nbu.check_rel_error(f"vanilla dropout p={p}: test output is p * x", out_test, p * x, 1e-15)

dropout_param = {"mode": "train", "p": 0.4, "kind": "vanilla", "seed": 123}
x, dout = rs.randn(10, 10), rs.randn(10, 10)
_, cache = dropout_forward(x, dropout_param)
dx_num = eval_numerical_gradient_array(lambda xx: dropout_forward(xx, dropout_param)[0], x, dout)
nbu.check_rel_error("vanilla dropout_backward dx", dropout_backward(dout, cache), dx_num, 1e-9)

# %% [markdown]
# **Inline Question 1.** What happens if we do not divide the values being passed through
# inverse dropout by `p` in the dropout layer? Why does that happen?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# Then the expected output at training time is `p * x`, while at test time (no units
# dropped) it is `x`: the next layer sees activations `1 / p` times larger at test time
# than it was trained on, and its outputs are off. Either the kept units are scaled by
# `1 / p` during training (inverted dropout, as here) or the outputs are multiplied by
# `p` at test time.
# ### END SOLUTION

# %% [markdown]
# ## Fully connected networks with dropout
#
# `FullyConnectedNet(..., dropout_keep_ratio=p)` adds a dropout layer after every ReLU;
# `p = 1` means no dropout. With a `seed` the model fixes its mask, for the gradient check.

# %%
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

# %% [markdown]
# ## Regularization experiment
#
# Two networks with one hidden layer of 500 units on 500 training images: one without
# dropout, one keeping a quarter of the hidden units. Compare their training and
# validation accuracies over time.

# %%
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

# %%
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

# %% [markdown]
# **Inline Question 2.** Compare the validation and training accuracies with and
# without dropout -- what do your results suggest about dropout as a regularizer?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# Without dropout the network fits the 500 training images perfectly while its
# validation accuracy stalls around 80%: it overfits. With a keep ratio of 0.25 the
# training accuracy rises more slowly and stays lower, while the validation accuracy
# ends within a point or two of the other, so the gap between them is smaller. Dropout
# acts as a regularizer: each pass trains a different thinned network that cannot rely
# on any one unit, and the full network at test time averages them. On this short run
# it mostly slows down memorization; with longer training (or a wider network) the
# unregularized net keeps overfitting and dropout's validation accuracy overtakes it.
# ### END SOLUTION

# %% [markdown]
# **Inline Question 3.** Suppose we are training a deep fully connected network for
# image classification, with dropout after hidden layers (parameterized by keep
# probability p). If we are concerned about overfitting, how should we modify p (if at
# all) when we decide to decrease the size of the hidden layers (that is, the number of
# nodes in each layer)?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# Increase `p` (keep more units). A smaller layer has less capacity and overfits less by
# itself; and what matters for the next layer is the expected number of kept units,
# `p * H`: with fewer units `H`, the same `p` leaves too few to carry the signal, so the
# network underfits. To keep a similar amount of regularization and information flow,
# `p` should grow as `H` shrinks.
# ### END SOLUTION
