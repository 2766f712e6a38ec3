# %% [markdown]
# # Fully connected networks
#
# A network is a stack of layers, each a pair of functions in `assignment/layers.py`:
#
# ```python
# def layer_forward(x, w):
#     z = ...            # intermediate values needed by the backward pass
#     out = ...          # the output
#     cache = (x, w, z)  # what the backward pass will read
#     return out, cache
#
# def layer_backward(dout, cache):
#     x, w, z = cache    # unpack the cache first
#     dx = ...           # derivative of the loss with respect to x
#     dw = ...           # derivative of the loss with respect to w
#     return dx, dw
# ```
#
# You check the affine and ReLU layers and the losses, build `TwoLayerNet` and
# `FullyConnectedNet` (`assignment/classifiers/fc_net.py`) from them, train them with the
# `Solver`, and compare the update rules of `assignment/optim.py`.

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

from assignment.classifiers.fc_net import FullyConnectedNet, TwoLayerNet
from assignment.data_utils import get_data
from assignment.gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from assignment.layer_utils import affine_relu_backward, affine_relu_forward
from assignment.layers import (
    affine_backward,
    affine_forward,
    relu_backward,
    relu_forward,
    sigmoid_backward,
    sigmoid_forward,
    softmax_loss,
    svm_loss,
    tanh_backward,
    tanh_forward,
)
from assignment.optim import adam, rmsprop, sgd_momentum
from assignment.solver import Solver, plot_history

plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"

# %% [markdown]
# ## The data
#
# The embedded Fashion-MNIST subset (5000 training, 1000 validation, 1000 test images),
# scaled to [0, 1] with the mean training image subtracted, as (N, 1, 28, 28) arrays: the
# affine layer flattens each image into a row of 784 numbers.

# %%
data = get_data()
for key, value in data.items():
    print(f"{key}: {value.shape} {value.dtype}")

# %% [markdown]
# ## Affine layer: forward
#
# Implement `affine_forward` in `assignment/layers.py`.

# %%
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

# %% [markdown]
# ## Affine layer: backward
#
# Implement `affine_backward`; the numerical gradient checks it.

# %%
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

# %% [markdown]
# ## ReLU: forward and backward

# %%
x = np.linspace(-0.5, 0.5, num=12).reshape(3, 4)
out, _ = relu_forward(x)
correct_out = np.array([[0.,          0.,          0.,          0.,        ],
                        [0.,          0.,          0.04545455,  0.13636364,],
                        [0.22727273,  0.31818182,  0.40909091,  0.5,       ]])

# The error should be on the order of e-8.
nbu.check_rel_error("relu_forward out", out, correct_out, 1e-7)

# %%
rs = np.random.RandomState(231)
x = rs.randn(10, 10)
dout = rs.randn(*x.shape)

dx_num = eval_numerical_gradient_array(lambda x: relu_forward(x)[0], x, dout)
_, cache = relu_forward(x)
dx = relu_backward(dout, cache)

# The error should be on the order of e-12.
nbu.check_rel_error("relu_backward dx", dx_num, dx, 1e-11)

# %% [markdown]
# ## Sigmoid and tanh: forward and backward
#
# The older nonlinearities, which Nielsen's `network3` uses: `sigmoid_forward` /
# `sigmoid_backward` and `tanh_forward` / `tanh_backward`. Each cache holds the output, since
# both derivatives are functions of it: `out * (1 - out)` and `1 - out ** 2`. The sigmoid must
# survive large inputs: `exp(1000)` overflows, so compute it from `exp(-|x|)`, which lies in
# (0, 1]. The expected values below come from another formula, `sigmoid(x) = (1 + tanh(x / 2)) / 2`,
# and tanh's from its exponentials.

# %%
x = np.linspace(-3.0, 3.0, num=12).reshape(3, 4)
out, _ = sigmoid_forward(x)
nbu.check_rel_error("sigmoid_forward out", out, 0.5 * (1 + np.tanh(x / 2)), 1e-7)

with np.errstate(over="raise", invalid="raise", divide="raise"):
    out, _ = sigmoid_forward(np.array([-1000.0, 0.0, 1000.0]))
nbu.check_rel_error("sigmoid_forward at -1000, 0, 1000", out, np.array([0.0, 0.5, 1.0]), 1e-15)

out, _ = tanh_forward(x)
nbu.check_rel_error("tanh_forward out", out, (np.exp(2 * x) - 1) / (np.exp(2 * x) + 1), 1e-7)

# %%
rs = np.random.RandomState(231)
x = rs.randn(10, 10)
dout = rs.randn(*x.shape)

for name, forward, backward in (("sigmoid", sigmoid_forward, sigmoid_backward), ("tanh", tanh_forward, tanh_backward)):
    dx_num = eval_numerical_gradient_array(lambda x, forward=forward: forward(x)[0], x, dout)
    _, cache = forward(x)
    # The error should be on the order of e-10 or less.
    nbu.check_rel_error(f"{name}_backward dx", dx_num, backward(dout, cache), 1e-8)

# %% [markdown]
# **Inline Question 1.** The ReLU is only one of the nonlinearities used in networks.
# Which of sigmoid, ReLU and Leaky ReLU can give a zero (or nearly zero) gradient during
# backpropagation? What one-dimensional inputs would do it for each?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# Sigmoid and ReLU. The sigmoid saturates: for large |x| (say x = 10 or x = -10) its slope
# `s(x)(1 - s(x))` is about 5e-5, and its largest slope is only 0.25. The ReLU has slope
# exactly 0 for every x < 0, so a unit whose input is negative for all data passes no
# gradient at all ("dead ReLU"). Leaky ReLU keeps a small slope (e.g. 0.01) for x < 0 and
# never gives zero.
# ### END SOLUTION

# %% [markdown]
# ## Sandwich layers
#
# `assignment/layer_utils.py` chains layers that always come together; its backward runs
# the parts in reverse. `affine_relu_forward` / `affine_relu_backward` use your layers.

# %%
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

# %% [markdown]
# ## Loss layers: softmax and SVM
#
# The same two losses as in `LinearClassifiers.ipynb`; every network below ends with
# `softmax_loss`.

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
# ## Two-layer network
#
# `TwoLayerNet` in `assignment/classifiers/fc_net.py`: affine - ReLU - affine - softmax,
# built from your layers. `model.loss(X)` returns scores, `model.loss(X, y)` the loss and
# the gradients. The L2 penalty is `0.5 * reg * sum(W**2)` over the weights only
# (`Model._add_l2` in `assignment/classifiers/base.py`): mind the factor of 0.5.

# %%
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

# %% [markdown]
# ## The Solver
#
# `assignment/solver.py` holds the training loop: minibatches, update rules, a progress
# bar, the loss and accuracy histories, and keeping the parameters that did best on the
# validation set. Use it to train a `TwoLayerNet` on the embedded data to at least 80%
# validation accuracy.

# %%
### BEGIN SOLUTION
model = TwoLayerNet(input_dim=28 * 28, hidden_dim=100, num_classes=10, weight_scale=5e-2, reg=1e-3, seed=0)
solver = Solver(model, data, update_rule="sgd", optim_config={"learning_rate": 2e-1}, lr_decay=0.95,
                num_epochs=nbu.budget(10, 5), batch_size=100, print_every=100)
### END SOLUTION
solver.train()
nbu.check_at_least("TwoLayerNet with the Solver", "best validation accuracy", solver.best_val_acc,
                   nbu.budget(0.8, 0.78))
plot_history(solver, title="TwoLayerNet")

# %% [markdown]
# ## Multilayer network
#
# `FullyConnectedNet(hidden_dims, ...)` stacks `{affine - [batch/layer norm] - relu -
# [dropout]}` for each hidden layer, then affine - softmax. Normalization and dropout come
# in `BatchNormalization.ipynb` and `Dropout.ipynb`; here, the plain network.
#
# The check draws the data and each model's weights from CS231n's stream, so the initial
# losses match CS231n's reference outputs exactly.

# %%
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

# %% [markdown]
# ### Overfitting 50 examples
#
# A network that can learn should reach 100% training accuracy on 50 images within 20
# epochs. Tweak the learning rate and the weight initialization scale of a three-layer
# network (two hidden layers of 100 units) until it does.

# %%
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

# %% [markdown]
# Now a five-layer network (four hidden layers of 100 units), same data and epochs.

# %%
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

# %% [markdown]
# **Inline Question 2.** Did you notice anything about the comparative difficulty of
# training the three-layer network vs. training the five-layer network? In particular,
# which one seemed more sensitive to the initialization scale, and why?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# The five-layer network is much more sensitive. Each layer multiplies the scale of the
# activations (and of the gradients on the way back) by roughly `weight_scale * sqrt(fan_in)`
# (halved by the ReLU); with four hidden layers that factor is raised to a higher power,
# so a slightly too small scale makes the scores and gradients vanish (the loss stays at
# log 10) and a slightly too large one makes them explode. The range of scales that
# trains is narrow, and the learning rate has to be retuned with it.
# ### END SOLUTION

# %% [markdown]
# ## Update rules
#
# So far: plain SGD. Implement the rules of `assignment/optim.py`, each
# `update(w, dw, config) -> (next_w, config)` with its state in `config`.
#
# ### SGD with momentum

# %%
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

# %% [markdown]
# ### RMSProp and Adam
#
# Adam: increment `t` *before* using it, and use the bias-corrected moments.

# %%
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

# %%
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

# %% [markdown]
# ### The update rules compared
#
# The same six-layer network (five hidden layers of 100 units), trained from the same
# initialization with each rule. SGD with momentum should converge faster than SGD;
# RMSProp and Adam faster still.

# %%
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

# %% [markdown]
# **Inline Question 3.** AdaGrad, like Adam, is a per-parameter optimization method
# that uses the update rule
#
# ```
# cache += dw**2
# w += - learning_rate * dw / (np.sqrt(cache) + eps)
# ```
#
# John notices that when he trains a network with AdaGrad, the updates become very
# small, and his network learns slowly. Using your knowledge of the AdaGrad update rule,
# why do you think the updates would become very small? Would Adam have the same issue?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# AdaGrad's `cache` is a running *sum* of squared gradients: it only grows, so the
# effective step `learning_rate / sqrt(cache)` shrinks steadily, roughly like
# `1 / sqrt(t)`, whether or not the parameter still needs to move. Adam (like RMSProp)
# keeps an exponentially decaying *average* of the squared gradients instead: old
# gradients are forgotten, the denominator tracks the recent gradient size, and the step
# does not decay to zero. Its bias correction also keeps the first steps from being tiny.
# ### END SOLUTION

# %% [markdown]
# ## Train a good model
#
# Train the best fully connected model you can on the embedded data (any depth, update
# rule, learning-rate decay and regularization; batch normalization and dropout after
# their notebooks). It should reach at least 84% validation accuracy (5000 training
# images leave little room above 85% for a fully connected network).

# %%
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
