# %% [markdown]
# # Convolutional networks
#
# So far the networks were fully connected. Here you implement the layers of
# convolutional networks, check them, compare them with their fast twins, and train
# two convolutional networks on real images:
#
# - `conv_forward_naive`, `conv_backward_naive`, `max_pool_forward_naive`,
#   `max_pool_backward_naive`, `avg_pool_forward_naive`, `avg_pool_backward_naive`,
#   `spatial_batchnorm_*` and `spatial_groupnorm_*` in
#   `assignment/layers.py`;
# - `ThreeLayerConvNet.loss` in `assignment/classifiers/cnn.py`;
# - `DeepConvNet`, trained with the fast layers of `assignment/fast_layers.pyx` (Cython)
#   and, where CuPy and a CUDA device are present, on the GPU.

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
    avg_pool_backward_naive,
    avg_pool_forward_naive,
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

plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"

# %%
data = get_data()
for key, value in data.items():
    print(f"{key}: {value.shape} {value.dtype}")

# %% [markdown]
# ## Convolution: naive forward pass
#
# Implement `conv_forward_naive`. Efficiency does not matter here: write it in the way
# you find clearest. Remember that the output size is
# `H' = 1 + (H + 2 * pad - HH) / stride` and that the filter is not flipped
# (cross-correlation).

# %%
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

# %% [markdown]
# ## Aside: image processing via convolutions
#
# A convolution with hand-made filters on two pictures shipped with the package (a
# photograph of Grace Hopper and a gift box, both from matplotlib's sample data): the
# first filter turns the image grey (0.3 R + 0.6 G + 0.1 B, its centre tap only), the
# second finds horizontal edges in the blue channel (a Sobel filter).

# %%
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

# %% [markdown]
# ## Convolution: naive backward pass
#
# Implement `conv_backward_naive`; again, clarity over speed.

# %%
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

# %% [markdown]
# ## Max pooling: naive forward and backward

# %%
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

# %%
rs = np.random.RandomState(231)
x = rs.randn(3, 2, 8, 8)
dout = rs.randn(3, 2, 4, 4)
pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}

dx_num = eval_numerical_gradient_array(lambda x: max_pool_forward_naive(x, pool_param)[0], x, dout)

out, cache = max_pool_forward_naive(x, pool_param)
dx = max_pool_backward_naive(dout, cache)

# Your error should be on the order of e-12
nbu.check_rel_error("max_pool_backward_naive dx", dx, dx_num, 1e-11)

# %% [markdown]
# ## Average pooling: naive forward and backward
#
# `avg_pool_forward_naive` takes the mean of each window instead of its maximum, with the same
# `pool_param` (windows may overlap and need not be square); its backward spreads each
# window's upstream derivative evenly over the window. Nielsen's `network3` offers it next to
# max pooling. The expected output is computed another way: a window of a 2-D array is a
# sum of shifted copies, one per position in the window.

# %%
rs = np.random.RandomState(231)
x = rs.randn(2, 3, 7, 8)
pool_param = {"pool_height": 3, "pool_width": 2, "stride": 1}
out, _ = avg_pool_forward_naive(x, pool_param)

H_out, W_out = 7 - 3 + 1, 8 - 2 + 1
shifted = [x[:, :, a : a + H_out, b : b + W_out] for a in range(3) for b in range(2)]
nbu.check_rel_error("avg_pool_forward_naive out", out, sum(shifted) / 6, 1e-7)

# %%
rs = np.random.RandomState(231)
x = rs.randn(3, 2, 7, 7)
pool_param = {"pool_height": 3, "pool_width": 3, "stride": 2}
dout = rs.randn(3, 2, 3, 3)

dx_num = eval_numerical_gradient_array(lambda x: avg_pool_forward_naive(x, pool_param)[0], x, dout)
_, cache = avg_pool_forward_naive(x, pool_param)
dx = avg_pool_backward_naive(dout, cache)

# Overlapping windows: the error should be on the order of e-11 or less.
nbu.check_rel_error("avg_pool_backward_naive dx", dx, dx_num, 1e-9)

# %% [markdown]
# ## Fast layers
#
# The naive layers are too slow to train with. `assignment/fast_layers.pyx` (Cython, built
# by `pip install -e .`) holds fast twins with the same signatures: the convolution lowers
# each receptive field into a column (im2col) and makes the whole layer one matrix product;
# pooling runs a compiled loop. They must agree with your naive layers.

# %%
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

# %%
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

# %% [markdown]
# **Inline Question 1.** The im2col convolution copies every input pixel up to nine times
# (for 3x3 filters) before it multiplies anything, yet it is much faster than the loops.
# Why?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# After the copy, the whole layer is one large matrix product, which BLAS runs at close
# to the processor's peak: blocked for the caches, vectorized with SIMD instructions and
# spread over the cores. The copy itself is a linear pass over memory, cheap compared
# with the `F * C * HH * WW` multiply-adds per output pixel. The naive version pays the
# Python interpreter's overhead at every output position and multiplies many small,
# strided slices that use the caches and SIMD units poorly.
# ### END SOLUTION

# %% [markdown]
# ## Convolutional "sandwich" layers
#
# `assignment/layer_utils.py` chains conv - ReLU - pool and conv - ReLU out of your naive
# layers; each backward runs the parts in reverse.

# %%
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

# %%
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

# %% [markdown]
# ## Three-layer convolutional network
#
# Implement `ThreeLayerConvNet.loss` in `assignment/classifiers/cnn.py`: conv - relu -
# 2x2 max pool - affine - relu - affine - softmax.
#
# ### Sanity check the loss
#
# With small random weights and no regularization the loss should be about `log(C)`;
# with regularization it should go up slightly.

# %%
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

# %% [markdown]
# ### Gradient check
#
# A small network in float64 (the fast layers run in any float dtype).

# %%
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

# %% [markdown]
# ### Overfit small data
#
# A network that can learn should overfit 100 training images: very high training
# accuracy, much lower validation accuracy. (Our pixels are scaled to [0, 1], CS231n's to
# [0, 255], so the initial weights here are ten times larger than CS231n's.)

# %%
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

# %% [markdown]
# ### Train the network
#
# One epoch over the embedded training set (the progress bar shows the minibatches).

# %%
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

# %% [markdown]
# ### Visualize the filters
#
# The 32 first-layer filters of the trained network, each 7x7.

# %%
grid = nbu.visualize_grid(model.params["W1"].transpose(0, 2, 3, 1))
plt.figure(figsize=(5, 5))
plt.imshow(grid[:, :, 0].astype("uint8"), cmap="gray")
plt.axis("off")
plt.gcf().set_size_inches(5, 5)
plt.show()

# %% [markdown]
# ## Spatial batch normalization
#
# For images of shape (N, C, H, W), batch normalization computes one mean and variance
# per channel, over the N examples and the H x W positions. Implement
# `spatial_batchnorm_forward` and `spatial_batchnorm_backward` (they can call your
# `batchnorm_*` functions after a transpose and reshape).

# %%
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

# %%
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

# %%
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

# %% [markdown]
# ## Spatial group normalization
#
# Group normalization [1] splits the C channels of each example into G contiguous groups
# and normalizes each group over its channels and positions, then scales and shifts each
# channel by `gamma` and `beta` of shape (1, C, 1, 1). Like layer normalization it does
# not depend on the batch; unlike it, it does not force all channels to share one mean.
# Implement `spatial_groupnorm_forward` and `spatial_groupnorm_backward`.
#
# [1] Yuxin Wu and Kaiming He, "Group Normalization", ECCV 2018.

# %%
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

# %%
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

# %% [markdown]
# **Inline Question 2.** Layer normalization normalizes all C x H x W values of an
# example together; group normalization normalizes groups of channels. Why might group
# normalization suit convolutional networks better than layer normalization? And why is
# either one preferable to spatial batch normalization when each GPU sees only one or two
# images per step?

# %% [markdown]
# **Your answer:**
#
# ### BEGIN SOLUTION
# The channels of a convolutional layer are different detectors whose activations have
# very different scales and frequencies: a dark image fires few of them. Layer norm
# forces all channels of an example to share one mean and variance, so a few strong
# channels set the normalization for all the others. Group norm only ties together
# channels of one group, which tend to behave alike, and still does not depend on the
# batch. Spatial batch norm estimates its statistics from the examples of the batch; with
# one or two images per step they are noisy (the same problem as the small batches of
# `BatchNormalization.ipynb`), while group and layer norm compute the same thing for any
# batch size, in training and at test time.
# ### END SOLUTION

# %% [markdown]
# ## A deeper network with the fast layers
#
# `DeepConvNet` (six 3x3 convolutions in three conv-conv-pool blocks, then affine - relu -
# dropout - affine) runs on a table of layers picked by `backend`: your naive ones or the
# fast twins. Both must give the same loss and gradients; the fast table should be far
# quicker.

# %%
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

# %% [markdown]
# ### Train DeepConvNet on the embedded data

# %%
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

# %% [markdown]
# ### On the GPU
#
# With CuPy installed (`pip install -e '.[gpu]'`) and a CUDA device, `model.to("gpu")`
# moves the parameters to the device and switches to the GPU twins of
# `assignment/gpu_layers.py`; the data must live there too. Without them this cell says
# it is skipped.

# %%
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
