# %% [markdown]
# # Batch normalization
#
# Deep networks train more easily when the inputs of each layer are normalized. Batch
# normalization [1] does it inside the network: at training time it normalizes each
# feature with the mean and variance of the minibatch, then scales and shifts it by
# learned `gamma` and `beta`; it also keeps running averages of the means and variances
# and uses them at test time. Layer normalization [2] normalizes each example over its
# features instead, so it does not depend on the batch.
#
# You implement `batchnorm_forward`, `batchnorm_backward`, `batchnorm_backward_alt`,
# `layernorm_forward` and `layernorm_backward` in `assignment/layers.py` and the
# `normalization` option of `FullyConnectedNet`.
#
# [1] Sergey Ioffe and Christian Szegedy, "Batch Normalization: Accelerating Deep Network
# Training by Reducing Internal Covariate Shift", ICML 2015.
# [2] Jimmy Lei Ba, Jamie Ryan Kiros and Geoffrey E. Hinton, "Layer Normalization", 2016.

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
from assignment.layers import (
    batchnorm_backward,
    batchnorm_backward_alt,
    batchnorm_forward,
    layernorm_backward,
    layernorm_forward,
)
from assignment.solver import Solver

plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"

def print_mean_std(x, axis=0):
    print(f"  means: {x.mean(axis=axis)}")
    print(f"  stds:  {x.std(axis=axis)}")
    print()


# %%
data = get_data()
for key, value in data.items():
    print(f"{key}: {value.shape} {value.dtype}")

# %% [markdown]
# ## Batch normalization: forward
#
# Implement `batchnorm_forward`. In train mode it uses the batch's mean and (biased)
# variance and updates `bn_param["running_mean"]` / `["running_var"]` with momentum; in
# test mode it uses the running statistics.

# %%
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

# %%
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

# %% [markdown]
# ## Batch normalization: backward
#
# Implement `batchnorm_backward` by following the computational graph of the forward
# pass node by node, backwards.

# %%
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

# %% [markdown]
# ## Batch normalization: alternative backward
#
# Work out the derivative on paper and simplify it into one expression for `dx`
# (as the Ioffe and Szegedy paper does); implement it in `batchnorm_backward_alt`. The
# two implementations should compute nearly identical results, the simplified one faster.
# (The networks use `batchnorm_backward_alt`.)

# %%
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

# %% [markdown]
# ## Fully connected networks with batch normalization
#
# Add `normalization="batchnorm"` to `FullyConnectedNet`: a batch norm layer between
# each affine layer and its ReLU (not after the last affine), with `gamma{i}` (ones) and
# `beta{i}` (zeros) in `model.params`, one `bn_param` dict per layer. The sandwich
# `affine_bn_relu_forward` in `assignment/layer_utils.py` may help.

# %%
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

# %% [markdown]
# ## Batch normalization for deep networks
#
# A six-layer network trained with and without batch normalization, from the same
# weights, on 1000 training images.

# %%
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


# %%
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

# %% [markdown]
# ## Batch normalization and initialization
#
# Train the six-layer network with and without batch normalization for a range of weight
# initialization scales, and plot the best accuracies and the final loss against the scale.

# %%
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

# %%
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


# %% [markdown]
# **Inline Question 1.** Describe the results of this experiment. How does the weight
# initialization scale affect models with and without batch normalization differently,
# and why?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# Without batch normalization only a narrow band of scales trains well, around
# `sqrt(2 / fan_in)` (about 0.14 for 50 inputs, the He initialization): below it the
# activations shrink from layer to layer until the scores carry no signal (the loss
# stays at log 10 and the accuracy at chance for every scale under about 3e-3, and the
# network learns little up to 3e-2), above it they grow from layer to layer and the
# loss blows up. With batch normalization each layer's
# pre-activations are renormalized to zero mean and unit variance whatever the scale of
# `W`, so the network learns at every scale tried: it is best over a wide band
# (1e-2 to 1e-1) and degrades gently outside it, where the tiny or huge weights still
# slow the first updates down.
# ### END SOLUTION

# %% [markdown]
# ## Batch normalization and batch size
#
# Batch normalization estimates the statistics from the minibatch: how small can the
# batch be?

# %%
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

# %%
plt.subplot(2, 1, 1)
plot_training_history("Training accuracy (Batch Normalization)", "Epoch", solver_bsize, bn_solvers_bsize,
                      lambda x: x.train_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.subplot(2, 1, 2)
plot_training_history("Validation accuracy (Batch Normalization)", "Epoch", solver_bsize, bn_solvers_bsize,
                      lambda x: x.val_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.gcf().set_size_inches(15, 10)
plt.show()

# %% [markdown]
# **Inline Question 2.** Describe the results of this experiment. What does this imply
# about the relationship between batch normalization and batch size? Why is this
# relationship observed?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# The smaller the batch, the worse batch normalization does: with batches of 5 the
# training and validation accuracies fall behind those of batches of 50 and can drop to
# or below the baseline without normalization. The mean and variance of 5 examples are
# noisy estimates of the statistics the layer should normalize with, so training sees a
# heavily perturbed network, and the running averages used at test time differ from what
# each training batch saw. Batch normalization needs batches large enough for their
# statistics to be reliable.
# ### END SOLUTION

# %% [markdown]
# ## Layer normalization
#
# Layer normalization normalizes each example over its features, with the same formula in
# train and test mode and no running statistics. Implement `layernorm_forward` and
# `layernorm_backward` (a small change from batch norm: transpose), then
# `normalization="layernorm"` in `FullyConnectedNet`.

# %%
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

# %%
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

# %%
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

# %% [markdown]
# ### Layer normalization and batch size
#
# The batch size experiment again, with layer normalization.

# %%
ln_solvers_bsize, solver_bsize, batch_sizes = run_batchsize_experiments("layernorm")

plt.subplot(2, 1, 1)
plot_training_history("Training accuracy (Layer Normalization)", "Epoch", solver_bsize, ln_solvers_bsize,
                      lambda x: x.train_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.subplot(2, 1, 2)
plot_training_history("Validation accuracy (Layer Normalization)", "Epoch", solver_bsize, ln_solvers_bsize,
                      lambda x: x.val_acc_history, bl_marker="-^", bn_marker="-o", labels=batch_sizes)
plt.gcf().set_size_inches(15, 10)
plt.show()

# %% [markdown]
# **Inline Question 3.** When is layer normalization likely to work poorly, and why?
#
# 1. Using it in a very deep network
# 2. Having a very small dimension of features
# 3. Having a high regularization term

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# 2, and to a lesser degree 3. Layer normalization estimates a mean and a variance from
# the features of one example: with very few features those estimates are as noisy as
# batch statistics of a tiny batch (and with one feature the output is always `beta`).
# A high regularization term keeps `gamma` small, which scales every normalized layer
# down and underfits. Depth is no problem: normalizing every layer is what helps deep
# networks train.
# ### END SOLUTION
