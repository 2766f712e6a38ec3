# %% [markdown]
# # From a sigmoid neuron to a convolutional network
#
# Michael Nielsen's `network3` (*Neural Networks and Deep Learning*, chapter 6) builds networks
# from three kinds of layer and trains them with plain minibatch SGD.
# `assignment/classifiers/network.py` offers the same API on your layers: `Network`,
# `FullyConnectedLayer`, `ConvPoolLayer`, `SoftmaxLayer`, and the activations `sigmoid`, `tanh`,
# `ReLU` and `linear`. This notebook
#
# 1. trains the chapter's progression of networks, from one sigmoid hidden layer to two
#    convolutional layers with ReLU and dropout, on Fashion-MNIST;
# 2. trains a single sigmoid neuron to compute AND, with the one function you write for this
#    notebook: `sigmoid_cross_entropy_loss` in `assignment/layers.py`;
# 3. looks at what the weight initialization does to the activations of a deep network, and to
#    its first training steps.
#
# Everything else runs on the layers of the other notebooks (affine, sigmoid, ReLU,
# convolution, max pooling, dropout, softmax). Check lines and budgets work as there: one
# line per check, ending in `ok`, `TOO LARGE` or `TOO SMALL`; training cells take
# `nbu.budget(full, small)`, the small one when `CI` or `ASSIGNMENT_FAST_NOTEBOOKS` is set.

# %%
# Run this first. autoreload re-imports your edits to assignment/*.py without a kernel restart.
# %load_ext autoreload
# %autoreload 2
# %matplotlib inline

from assignment import notebook_utils as nbu

nbu.setup_notebook()

# %%
import time

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from assignment import layers
from assignment.classifiers.network import (
    ConvPoolLayer,
    FullyConnectedLayer,
    Network,
    ReLU,
    SoftmaxLayer,
    sigmoid,
)
from assignment.data_utils import load_embedded
from assignment.gradient_check import eval_numerical_gradient
from assignment.layers import sigmoid_cross_entropy_loss

plt.rcParams["figure.figsize"] = (10.0, 8.0)
plt.rcParams["image.interpolation"] = "nearest"
plt.rcParams["image.cmap"] = "gray"

# %% [markdown]
# ## The data, as `network3` wants it
#
# `network3` reads `mnist.pkl.gz`: three pairs `(X, y)`, with `X` of shape (N, 784) (each
# 28x28 image flattened row by row), pixels scaled to [0, 1], and `y` the integer labels. The
# package ships a Fashion-MNIST subset (`load_embedded`: 5000 training, 1000 validation and
# 1000 test images, as uint8 of shape (N, 28, 28)); this cell turns it into the same pairs.

# %%
fmnist = load_embedded()


def network3_pair(images, labels):
    """uint8 images (N, 28, 28) and labels (N,) -> (X float32 (N, 784) in [0, 1], y int64 (N,))."""
    X = images.reshape(images.shape[0], -1).astype(np.float32) / np.float32(255)
    return X, labels.astype(np.int64)


training_data = network3_pair(fmnist["X_train"], fmnist["y_train"])
validation_data = network3_pair(fmnist["X_val"], fmnist["y_val"])
test_data = network3_pair(fmnist["X_test"], fmnist["y_test"])
for name, (X, y) in [("training", training_data), ("validation", validation_data), ("test", test_data)]:
    print(f"{name}: X {X.shape} {X.dtype} in [{X.min():g}, {X.max():g}], y {y.shape} {y.dtype}")
print("classes:", ", ".join(fmnist["class_names"]))

# %% [markdown]
# ## 1. The chapter's networks
#
# Five networks, each one step from the previous, as in the chapter:
#
# 1. one fully connected layer of 100 sigmoid units, then a softmax; eta 0.1, minibatches of 10;
# 2. a convolution-and-pooling layer in front (20 filters of 5x5, max-pool 2x2);
# 3. a second one (40 filters of 5x5 over the 20 channels);
# 4. ReLU in every layer instead of sigmoid, with eta 0.03 and L2 regularization `lmbda` 0.1;
# 5. dropout of half the inputs of the fully connected layer (`p_dropout=0.5`).
#
# They are built as the chapter builds them. `image_shape[0]` is the minibatch size, which
# Theano needed and this `Network` ignores (any batch size runs).

# %%
mini_batch_size = 10


def seed_networks():
    """The five networks, freshly initialized: a list of (name, network, eta, lmbda)."""
    net1 = Network([
        FullyConnectedLayer(n_in=784, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net2 = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2)),
        FullyConnectedLayer(n_in=20 * 12 * 12, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net3 = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2)),
        ConvPoolLayer(image_shape=(mini_batch_size, 20, 12, 12), filter_shape=(40, 20, 5, 5), poolsize=(2, 2)),
        FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net4 = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        ConvPoolLayer(image_shape=(mini_batch_size, 20, 12, 12), filter_shape=(40, 20, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=ReLU),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    net5 = Network([
        ConvPoolLayer(image_shape=(mini_batch_size, 1, 28, 28), filter_shape=(20, 1, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        ConvPoolLayer(image_shape=(mini_batch_size, 20, 12, 12), filter_shape=(40, 20, 5, 5), poolsize=(2, 2),
                      activation_fn=ReLU),
        FullyConnectedLayer(n_in=40 * 4 * 4, n_out=100, activation_fn=ReLU, p_dropout=0.5),
        SoftmaxLayer(n_in=100, n_out=10)], mini_batch_size)
    return [("1: FC 100, sigmoid", net1, 0.1, 0.0),
            ("2: + conv-pool 20", net2, 0.1, 0.0),
            ("3: + conv-pool 40", net3, 0.1, 0.0),
            ("4: ReLU, lmbda 0.1", net4, 0.03, 0.1),
            ("5: + dropout 0.5", net5, 0.03, 0.1)]


print(seed_networks()[-1][1])

# %% [markdown]
# The chapter trains on 50,000 MNIST images for 60 epochs. Here the full budget is 30 epochs
# on the 5000 training images of the subset, a few minutes in all; the small budget, 2 epochs
# on the first 2000. The same five networks trained on the whole of Fashion-MNIST (50,000
# images to train, 10,000 to validate, the 10,000 test images) are in the course's benchmark
# report, section "Seed networks", next to the same networks in PyTorch.

# %%
epochs = nbu.budget(30, 2)
num_train = nbu.budget(5000, 2000)
train_subset = (training_data[0][:num_train], training_data[1][:num_train])
print(f"{epochs} epochs on {num_train} training images")

results = {}
for name, net, eta, lmbda in seed_networks():
    start = time.perf_counter()
    results[name] = net.SGD(train_subset, epochs, mini_batch_size, eta, validation_data, test_data, lmbda=lmbda,
                            verbose=False, progress=True)
    results[name]["seconds"] = time.perf_counter() - start

# %%
# train acc: at the best epoch, on 1000 training images (the Solver's sample); the network holds that epoch's weights.
print(f"{'network':<22}{'best val acc':>13}{'epoch':>7}{'test acc':>10}{'train acc':>11}{'seconds':>9}")
for name, r in results.items():
    train_acc = r["solver"].train_acc_history[r["best_epoch"]]
    print(f"{name:<22}{r['best_validation_accuracy']:>13.3f}{r['best_epoch']:>7}{r['test_accuracy']:>10.3f}"
          f"{train_acc:>11.3f}{r['seconds']:>9.1f}")

fig, (ax_val, ax_loss) = plt.subplots(1, 2, figsize=(14, 5))
for name, r in results.items():
    solver = r["solver"]
    ax_val.plot(range(len(solver.val_acc_history)), solver.val_acc_history, "o-", ms=3, label=name)
    per_epoch = [chunk.mean() for chunk in np.array_split(np.asarray(solver.loss_history), epochs)]
    ax_loss.plot(range(1, epochs + 1), per_epoch, "o-", ms=3, label=name)
ax_val.set(xlabel="epoch (0: before training)", ylabel="validation accuracy", title="Validation accuracy")
ax_loss.set(xlabel="epoch", ylabel="mean training loss", title="Training loss, mean over each epoch")
ax_val.legend()
for ax in (ax_val, ax_loss):
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
plt.tight_layout()
plt.show()

# The shallow sigmoid net and the ReLU net learn within the first epoch; both are well above chance (0.1).
for name in ("1: FC 100, sigmoid", "4: ReLU, lmbda 0.1"):
    nbu.check_at_least(f"network {name}", "best validation accuracy", results[name]["best_validation_accuracy"],
                       nbu.budget(0.8, 0.6))

# %% [markdown]
# **What the full-budget run shows.** The five networks end close together: best validation
# accuracy 0.85 to 0.88, test accuracy 0.81 to 0.84. On 5000 Fashion-MNIST images the steps of
# the progression are not the clear gains the chapter reports on 50,000 MNIST images. They
# differ in how they start and in how closely they fit the training images:
#
# - Network 3, with two sigmoid conv-pool layers, stays at chance (0.10) for two epochs, its
#   training loss flat at ln 10 = 2.30, then climbs from epoch 3; it trails the others until
#   about epoch 20.
# - The ReLU network (4) is at 0.80 by epoch 4 and at its best, 0.863, at epoch 13.
# - Networks 1 and 4 fit the training images most closely (training accuracy 0.94 and 0.93
#   at their best epoch, 0.06 to 0.08 above validation). With dropout (5) the gap is 0.02
#   (0.887 against 0.868), and its training loss, measured on the thinned networks, stays
#   the highest.

# %% [markdown]
# ## 2. One sigmoid neuron: AND
#
# A single neuron with weights `w` (shape (2,)) and bias `b` outputs `sigmoid(w . x + b)`. Its
# cost on targets t in {0, 1} is the cross-entropy
#
# $$C = -\frac{1}{N} \sum_i \left[ t_i \log p_i + (1 - t_i) \log(1 - p_i) \right]$$
#
# with `p_i = sigmoid(w . x_i + b)`, and its derivative with respect to the score
# `s_i = w . x_i + b` is `(p_i - t_i) / N`.
# Implement `sigmoid_cross_entropy_loss(x, y)` in `assignment/layers.py`: `x` holds the
# scores, `y` the 0/1 targets, and it returns `(loss, dx)`. Compute it without overflow:
# with `log(1 + exp(-|x|))`, a score of 1000 gives a finite loss.

# %%
rs = np.random.RandomState(231)
x = rs.randn(8)
y = rs.randint(2, size=8)
loss, dx = sigmoid_cross_entropy_loss(x, y)

p = 1 / (1 + np.exp(-x))
direct = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
dx_num = eval_numerical_gradient(lambda s: sigmoid_cross_entropy_loss(s, y)[0], x, verbose=False)

# Errors should be around e-15 for the loss and e-10 or less for the gradient.
nbu.check_rel_error("sigmoid_cross_entropy_loss loss vs the direct formula", loss, direct, 1e-13)
nbu.check_rel_error("sigmoid_cross_entropy_loss dx", dx, dx_num, 1e-9)
large, _ = sigmoid_cross_entropy_loss(np.array([1000.0, -1000.0]), np.array([0, 1]))
_ = nbu.check_rel_error("sigmoid_cross_entropy_loss of scores +-1000 with the wrong targets", large, 1000.0, 1e-12)

# %% [markdown]
# Now plain gradient descent on the four inputs of AND, from `w = 0`, `b = 0`: the gradient of
# the cost with respect to `w` is `X.T @ dscores`, with respect to `b` the sum of `dscores`.

# %%
X_and = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
t_and = np.array([0, 0, 0, 1])

w, b = np.zeros(2), 0.0
eta, steps = 1.0, 2000
costs = []
for _ in range(steps):
    scores = X_and @ w + b
    cost, dscores = sigmoid_cross_entropy_loss(scores, t_and)
    costs.append(cost)
    w -= eta * (X_and.T @ dscores)
    b -= eta * dscores.sum()

plt.figure(figsize=(7, 4))
plt.semilogy(costs)
plt.xlabel("step")
plt.ylabel("cross-entropy cost")
plt.title("A sigmoid neuron learning AND (eta 1)")
plt.grid(alpha=0.3)
plt.show()

outputs, _ = layers.sigmoid_forward(X_and @ w + b)
print(f"w = {w}, b = {b:.3f}, cost after {steps} steps: {costs[-1]:.2e}")
for (x1, x2), t, out in zip(X_and.astype(int), t_and, outputs, strict=True):
    name = f"AND({x1}, {x2})"
    if t:
        nbu.check_at_least(name, "sigmoid output", out, 0.95)
    else:
        nbu.check_below(name, "sigmoid output", out, 0.05, fmt=".4f")

# %% [markdown]
# ## 3. Weight initialization
#
# `network3` draws a layer's weights with standard deviation `sqrt(1/n_out)`, CS231n's nets
# with a fixed `weight_scale`. What does the scale do to a deep network? The classic
# experiment: push 1000 random inputs (500 standard normal values each) through five fully
# connected layers of 500 units, biases zero, and look at each layer's activations, for
# weights drawn as `std * N(0, 1)` with
#
# - std 0.01, a small constant;
# - std 1;
# - Xavier (Glorot): `1 / sqrt(fan_in)`, which makes the variance of `w . x` that of one input;
# - He: `sqrt(2 / fan_in)`, twice that variance, for ReLU, which zeroes half of its inputs.

# %%
INITS = {
    "std 0.01": lambda fan_in: 0.01,
    "std 1": lambda fan_in: 1.0,
    "Xavier": lambda fan_in: 1 / np.sqrt(fan_in),
    "He": lambda fan_in: np.sqrt(2 / fan_in),
}
ACTIVATIONS = {"sigmoid": layers.sigmoid_forward, "ReLU": layers.relu_forward}
num_layers, width = 5, 500

inputs = np.random.default_rng(0).standard_normal((1000, width))
activations = {}  # (activation, init) -> list of the 5 layers' outputs, each (1000, 500)
for act_name, act_forward in ACTIVATIONS.items():
    for init_name, std_of in INITS.items():
        rng = np.random.default_rng(1)
        a, outs = inputs, []
        for _ in range(num_layers):
            w = std_of(a.shape[1]) * rng.standard_normal((a.shape[1], width))
            z, _ = layers.affine_forward(a, w, np.zeros(width))
            a, _ = act_forward(z)
            outs.append(a)
        activations[act_name, init_name] = outs

# std: over every unit and input; across inputs: each unit's std over the 1000 inputs, averaged over units.
for what, measure in [("std", lambda a: a.std()), ("std across inputs", lambda a: a.std(axis=0).mean())]:
    print(f"{what:<24}" + "".join(f"{f'layer {k}':>11}" for k in range(1, num_layers + 1)))
    for (act_name, init_name), outs in activations.items():
        print(f"  {act_name + ', ' + init_name:<22}" + "".join(f"{measure(a):>11.3g}" for a in outs))
    print()

# %%
for act_name in ACTIVATIONS:
    fig, axes = plt.subplots(len(INITS), num_layers, figsize=(14, 9), sharex="row")
    for row, init_name in enumerate(INITS):
        outs = activations[act_name, init_name]
        # ReLU: the positive values (about half are 0), on one x range per row, so that growth and decay show.
        values = [a.ravel() if act_name == "sigmoid" else a[a > 0] for a in outs]
        top = 1.0 if act_name == "sigmoid" else max(v.max() for v in values)
        for k, (a, v) in enumerate(zip(outs, values, strict=True)):
            ax = axes[row, k]
            ax.hist(v, bins=50, range=(0, top), color="C0")
            ax.set_yticks([])
            ax.tick_params(labelsize=7)
            ax.locator_params(axis="x", nbins=4)
            ax.set_title(f"layer {k + 1}: std {a.std():.2g}", fontsize=9)
            if k == 0:
                ax.set_ylabel(init_name)
    what = "activations" if act_name == "sigmoid" else "positive activations (about half are 0)"
    fig.suptitle(f"{act_name}: each layer's {what}, 1000 inputs x 500 units; one row per initialization")
    plt.tight_layout()
    plt.show()

# %%
relu, sig = activations["ReLU", "std 0.01"], activations["sigmoid", "std 0.01"]
relu_he, sig_1 = activations["ReLU", "He"], activations["sigmoid", "std 1"]
nbu.check_below("ReLU, std 0.01", "std of layer 5's activations", relu[-1].std(), 1e-3)
nbu.check_at_least("ReLU, He", "std of layer 5 / std of layer 1", relu_he[-1].std() / relu_he[0].std(), 0.5)
nbu.check_below("sigmoid, std 0.01", "layer 5's std across inputs", sig[-1].std(axis=0).mean(), 1e-4)
_ = nbu.check_at_least("sigmoid, std 1", "fraction of layer 5 below 0.05 or above 0.95",
                       np.mean((sig_1[-1] < 0.05) | (sig_1[-1] > 0.95)), 0.5)

# %% [markdown]
# **What the pictures show.**
#
# - *Sigmoid, std 0.01*: in every layer the activations sit in a narrow peak at 0.5 (std
#   0.03). Across the 1000 inputs a unit varies by 0.055 in layer 1 and by 5e-7 in layer 5:
#   from layer 2 on, what spread remains is between units, not between inputs, and every
#   input gives the network the same activations.
# - *Sigmoid, std 1*: the activations pile up at 0 and 1 (85% of layer 5 is below 0.05 or
#   above 0.95): the units are saturated, where the sigmoid's slope is close to 0.
# - *Sigmoid, Xavier and He*: one bump around 0.5 (std 0.12 and 0.17), neither collapsed nor
#   saturated, but the variation across inputs still shrinks, by about 4x per layer with
#   Xavier and 3x with He (0.21 to 6e-4, 0.26 to 3e-3); the jagged histograms of layers 4
#   and 5 are 500 units, each nearly constant.
# - *ReLU, std 0.01*: the positive activations shrink about 6-fold per layer, to a std of
#   8e-5 at layer 5. *ReLU, std 1*: they grow about 15-fold per layer, to 8e5.
# - *ReLU, Xavier*: the std falls by about 1/sqrt(2) per layer, 0.58 to 0.14. *ReLU, He*: it
#   stays at 0.8 in all five layers, though its variation across inputs falls from 0.83 to 0.44.
#
# Does it matter for training? A 5-layer network of `FullyConnectedLayer`s (four hidden layers
# of 100 units, then a softmax) on the Fashion-MNIST images, each initialization written over
# the `Network`'s own (every `W` drawn as above, every `b` zero), then plain SGD: minibatches of
# 50, eta 0.1.

# %%
train_steps = nbu.budget(500, 100)
X_train, y_train = training_data
X_val, y_val = validation_data

init_losses = {}
for act_name, act in [("sigmoid", sigmoid), ("ReLU", ReLU)]:
    for init_name, std_of in INITS.items():
        net = Network([FullyConnectedLayer(n_in=784, n_out=100, activation_fn=act)]
                      + [FullyConnectedLayer(n_in=100, n_out=100, activation_fn=act) for _ in range(3)]
                      + [SoftmaxLayer(n_in=100, n_out=10)], 50)
        rng = np.random.default_rng(1)
        for k in range(1, 6):
            fan_in, fan_out = net.params[f"W{k}"].shape
            net.params[f"W{k}"] = (std_of(fan_in) * rng.standard_normal((fan_in, fan_out))).astype(np.float32)
            net.params[f"b{k}"] = np.zeros(fan_out, dtype=np.float32)
        batches = np.random.default_rng(2)
        losses = []
        with np.errstate(over="ignore", invalid="ignore"):  # ReLU at std 1 overflows: it shows as inf or nan
            for _ in range(train_steps):
                idx = batches.choice(X_train.shape[0], 50, replace=False)
                loss, grads = net.loss(X_train[idx], y_train[idx])
                losses.append(loss)
                for name in net.params:
                    net.params[name] -= 0.1 * grads[name]
            val_acc = net.accuracy(X_val, y_val)
        init_losses[act_name, init_name] = losses
        print(f"{act_name + ', ' + init_name:<18} loss at step 1: {losses[0]:>10.4g}, "
              f"mean of the last 10 of {train_steps}: {np.mean(losses[-10:]):>7.3f}, validation accuracy {val_acc:.3f}")

# %%
he_loss = np.mean(init_losses["ReLU", "He"][-10:])
small_loss = np.mean(init_losses["ReLU", "std 0.01"][-10:])
nbu.check_below("ReLU, He, 5 layers", f"mean loss of the last 10 of {train_steps} steps", he_loss, 1.5, fmt=".3f")
_ = nbu.check_at_least("ReLU, std 0.01, 5 layers", f"mean loss of the last 10 of {train_steps} steps (ln 10 = 2.303)",
                       small_loss, 2.2)

# %% [markdown]
# **What the table shows** (the full budget, 500 steps). With ReLU, Xavier and He both train:
# losses of 0.50 and 0.46, validation accuracy 0.81 and 0.78. At std 0.01 the loss stays at
# ln 10 and the accuracy at chance; at std 1 the first loss is 5e4 and the run ends in nan.
# The sigmoid nets at std 0.01 and Xavier do not move from ln 10 in 500 steps, and He has just
# started (2.24, accuracy 0.32). The one sigmoid net that learns here is the saturated one, std
# 1 (0.78, accuracy 0.69), the only sigmoid row of the first table whose layer 5 still varies
# with the input (0.22).
