"""Update rules: sgd, sgd_momentum, nesterov, adagrad, rmsprop, adam.

The CS231n reference values for sgd_momentum, rmsprop and adam (checks 9-11) live in
test_cs231n_values.py. Here every rule is checked:

- against a hand-derived recurrence written out in this file, over several steps;
- against ``torch.optim`` where its semantics match ours (skipped without torch):
  * ``SGD`` (no momentum): identical.
  * ``SGD(nesterov=True)``: torch keeps a buffer ``buf = mu * buf + g`` and steps
    ``w -= lr * (g + mu * buf)``; with ``v = -lr * buf`` this is exactly our
    ``v = mu * v - lr * dw; w += -mu * v_prev + (1 + mu) * v`` (both equal
    ``w + mu * v_new - lr * dw``) as long as lr is constant. Same for ``SGD(momentum=mu)``
    and ``sgd_momentum`` (``w += v``).
  * ``Adagrad``: identical with ``lr_decay=0``, ``initial_accumulator_value=0`` and
    ``eps`` set to ours (torch's default eps is 1e-10, ours 1e-8).
  * ``RMSprop``: identical with ``alpha = decay_rate``, ``centered=False``, no momentum.
  * ``Adam``: identical (``t`` incremented before use, bias-corrected; torch divides
    sqrt(v) by sqrt(1 - beta2**t) before adding eps, which is the same number).
- for defaults, a config created when None, state written back into the dict passed in and
  that dict returned, w and dw never modified, dtype kept, and UPDATE_RULES.
"""

import numpy as np
import pytest

from assignment import optim

RULES = ["sgd", "sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam"]

DEFAULTS = {
    "sgd": {"learning_rate": 1e-2},
    "sgd_momentum": {"learning_rate": 1e-2, "momentum": 0.9},
    "nesterov": {"learning_rate": 1e-2, "momentum": 0.9},
    "adagrad": {"learning_rate": 1e-2, "epsilon": 1e-8},
    "rmsprop": {"learning_rate": 1e-2, "decay_rate": 0.99, "epsilon": 1e-8},
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
}
STATE = {
    "sgd": [],
    "sgd_momentum": ["velocity"],
    "nesterov": ["velocity"],
    "adagrad": ["cache"],
    "rmsprop": ["cache"],
    "adam": ["m", "v", "t"],
}


def test_update_rules_table():
    assert set(optim.UPDATE_RULES) == set(RULES)
    for name in RULES:
        assert optim.UPDATE_RULES[name] is getattr(optim, name)


# --------------------------------------------------------------------------------------
# Hand-derived recurrences (written independently of optim.py, from the CS231n notes)


def reference_steps(rule, w, grads, hp):
    """Run ``rule`` by hand over ``grads`` from ``w`` with hyperparameters ``hp``."""
    w = w.copy()
    lr = hp["learning_rate"]
    v = np.zeros_like(w)
    cache = np.zeros_like(w)
    m = np.zeros_like(w)
    t = 0
    for g in grads:
        if rule == "sgd":
            w = w - lr * g
        elif rule == "sgd_momentum":
            v = hp["momentum"] * v - lr * g
            w = w + v
        elif rule == "nesterov":
            # Look-ahead form: w + mu * v_new - lr * g
            v = hp["momentum"] * v - lr * g
            w = w + hp["momentum"] * v - lr * g
        elif rule == "adagrad":
            cache = cache + g * g
            w = w - lr * g / (np.sqrt(cache) + hp["epsilon"])
        elif rule == "rmsprop":
            cache = hp["decay_rate"] * cache + (1 - hp["decay_rate"]) * g * g
            w = w - lr * g / (np.sqrt(cache) + hp["epsilon"])
        elif rule == "adam":
            t += 1
            m = hp["beta1"] * m + (1 - hp["beta1"]) * g
            cache = hp["beta2"] * cache + (1 - hp["beta2"]) * g * g
            mhat = m / (1 - hp["beta1"] ** t)
            vhat = cache / (1 - hp["beta2"] ** t)
            w = w - lr * mhat / (np.sqrt(vhat) + hp["epsilon"])
    return w


def gradients(rng, shape, steps=5):
    return [rng.standard_normal(shape) for _ in range(steps)]


@pytest.mark.parametrize("rule", RULES)
def test_rule_matches_hand_derived_recurrence_with_defaults(rule, rng):
    w0 = rng.standard_normal((3, 4))
    grads = gradients(rng, (3, 4))
    want = reference_steps(rule, w0, grads, DEFAULTS[rule])
    w, config = w0.copy(), None
    for g in grads:
        w, config = optim.UPDATE_RULES[rule](w, g, config)
    np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("rule", RULES)
def test_rule_uses_the_hyperparameters_it_is_given(rule, rng):
    hp = {
        "learning_rate": 0.05,
        "momentum": 0.5,
        "epsilon": 1e-3,
        "decay_rate": 0.8,
        "beta1": 0.7,
        "beta2": 0.95,
    }
    hp = {k: v for k, v in hp.items() if k in DEFAULTS[rule]}
    w0 = rng.standard_normal(6)
    grads = gradients(rng, 6, steps=4)
    want = reference_steps(rule, w0, grads, hp)
    w, config = w0.copy(), dict(hp)
    for g in grads:
        w, config = optim.UPDATE_RULES[rule](w, g, config)
    np.testing.assert_allclose(w, want, rtol=1e-12, atol=1e-14)
    for key, value in hp.items():
        assert config[key] == value, key


def test_nesterov_differs_from_plain_momentum(rng):
    # Guard against nesterov silently being sgd_momentum: after two steps they differ.
    w = rng.standard_normal(5)
    g1, g2 = rng.standard_normal(5), rng.standard_normal(5)
    a, ca = optim.nesterov(w, g1)
    a, _ = optim.nesterov(a, g2, ca)
    b, cb = optim.sgd_momentum(w, g1)
    b, _ = optim.sgd_momentum(b, g2, cb)
    assert not np.allclose(a, b)


def test_nesterov_cs231n_notes_form(rng):
    # The form in the CS231n notes: v_prev = v; v = mu*v - lr*dw; w += -mu*v_prev + (1+mu)*v.
    w, dw, v = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(4)
    config = {"learning_rate": 0.1, "momentum": 0.8, "velocity": v.copy()}
    next_w, config = optim.nesterov(w, dw, config)
    v_new = 0.8 * v - 0.1 * dw
    np.testing.assert_allclose(config["velocity"], v_new, rtol=1e-14)
    np.testing.assert_allclose(next_w, w - 0.8 * v + 1.8 * v_new, rtol=1e-13, atol=1e-15)


# --------------------------------------------------------------------------------------
# torch.optim where the semantics match


def torch_steps(rule, w0, grads, hp, initial_state=None):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.tensor(w0.copy()))
    lr = hp["learning_rate"]
    if rule == "sgd":
        opt = torch.optim.SGD([p], lr=lr, foreach=False)
    elif rule in ("sgd_momentum", "nesterov"):
        opt = torch.optim.SGD([p], lr=lr, momentum=hp["momentum"], nesterov=rule == "nesterov", foreach=False)
        if initial_state is not None:  # our velocity v is torch's buffer times -lr
            opt.state[p]["momentum_buffer"] = torch.tensor(-initial_state["velocity"] / lr)
    elif rule == "adagrad":
        opt = torch.optim.Adagrad([p], lr=lr, eps=hp["epsilon"], foreach=False)
    elif rule == "rmsprop":
        opt = torch.optim.RMSprop([p], lr=lr, alpha=hp["decay_rate"], eps=hp["epsilon"], foreach=False)
    elif rule == "adam":
        opt = torch.optim.Adam(
            [p], lr=lr, betas=(hp["beta1"], hp["beta2"]), eps=hp["epsilon"], foreach=False
        )
        if initial_state is not None:
            opt.state[p].update(
                step=torch.tensor(float(initial_state["t"])),
                exp_avg=torch.tensor(initial_state["m"].copy()),
                exp_avg_sq=torch.tensor(initial_state["v"].copy()),
            )
    for g in grads:
        p.grad = torch.tensor(g.copy())
        opt.step()
    return p.detach().numpy().copy()


@pytest.mark.parametrize("rule", RULES)
def test_rule_matches_torch_optim(rule, rng):
    w0 = rng.standard_normal((4, 3))
    grads = gradients(rng, (4, 3), steps=6)
    want = torch_steps(rule, w0, grads, DEFAULTS[rule])
    w, config = w0.copy(), {}
    for g in grads:
        w, config = optim.UPDATE_RULES[rule](w, g, config)
    np.testing.assert_allclose(w, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("rule", ["sgd_momentum", "nesterov"])
def test_momentum_rules_with_given_velocity_match_torch(rule, rng):
    w0, v0 = rng.standard_normal(5), rng.standard_normal(5)
    grads = gradients(rng, 5, steps=3)
    hp = {"learning_rate": 0.03, "momentum": 0.6}
    want = torch_steps(rule, w0, grads, hp, {"velocity": v0})
    w, config = w0.copy(), {**hp, "velocity": v0.copy()}
    for g in grads:
        w, config = optim.UPDATE_RULES[rule](w, g, config)
    np.testing.assert_allclose(w, want, rtol=1e-10, atol=1e-12)


def test_adam_resumed_state_matches_torch(rng):
    w0, m0, v0 = rng.standard_normal(5), rng.standard_normal(5), rng.random(5)
    grads = gradients(rng, 5, steps=2)
    want = torch_steps("adam", w0, grads, DEFAULTS["adam"], {"t": 5, "m": m0, "v": v0})
    w, config = w0.copy(), {"m": m0.copy(), "v": v0.copy(), "t": 5}
    for g in grads:
        w, config = optim.adam(w, g, config)
    np.testing.assert_allclose(w, want, rtol=1e-10, atol=1e-12)
    assert config["t"] == 7


# --------------------------------------------------------------------------------------
# config handling, defaults, state, no mutation, dtype


@pytest.mark.parametrize("rule", RULES)
def test_config_created_when_none_with_defaults_and_state(rule, rng):
    w, dw = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    _, config = optim.UPDATE_RULES[rule](w, dw)
    assert isinstance(config, dict)
    for key, value in DEFAULTS[rule].items():
        assert config[key] == value, key
    for key in STATE[rule]:
        assert key in config, key
        if key != "t":
            assert np.shape(config[key]) == w.shape, key


@pytest.mark.parametrize("rule", RULES)
def test_state_written_back_into_the_dict_passed_in(rule, rng):
    w, dw = rng.standard_normal(4), rng.standard_normal(4)
    config = {}
    _, returned = optim.UPDATE_RULES[rule](w, dw, config)
    assert returned is config
    for key in STATE[rule]:
        assert key in config, key
    # A second call (another gradient) continues from that state: it equals a call with a
    # fresh dict only for stateless sgd.
    dw2 = rng.standard_normal(4)
    w2, _ = optim.UPDATE_RULES[rule](w, dw2, config)
    w2_fresh, _ = optim.UPDATE_RULES[rule](w, dw2, {})
    assert np.allclose(w2, w2_fresh) == (rule == "sgd")


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inputs_untouched_and_dtype_kept(rule, dtype, rng):
    w, dw = rng.standard_normal((3, 2)).astype(dtype), rng.standard_normal((3, 2)).astype(dtype)
    w0, dw0 = w.copy(), dw.copy()
    state = {"velocity": np.ones_like(w)} if "velocity" in STATE[rule] else {}
    state0 = {k: v.copy() for k, v in state.items()}
    next_w, config = optim.UPDATE_RULES[rule](w, dw, dict(state))
    np.testing.assert_array_equal(w, w0)
    np.testing.assert_array_equal(dw, dw0)
    for k, v in state.items():
        np.testing.assert_array_equal(v, state0[k])
    assert next_w.dtype == dtype and next_w.shape == w.shape
    assert not np.array_equal(next_w, w)


def test_adam_increments_t_before_use():
    # First step from t = 0 with bias correction moves every weight by about lr (sign of dw).
    w, dw = np.zeros(3), np.array([0.5, -2.0, 1e-3])
    next_w, config = optim.adam(w, dw)
    assert config["t"] == 1
    np.testing.assert_allclose(next_w, -1e-3 * np.sign(dw), rtol=1e-4)
    next_w, config = optim.adam(next_w, dw, config)
    assert config["t"] == 2


def test_sgd_momentum_with_zero_momentum_is_sgd(rng):
    w, dw = rng.standard_normal(4), rng.standard_normal(4)
    a, _ = optim.sgd_momentum(w, dw, {"momentum": 0.0, "learning_rate": 0.2})
    b, _ = optim.sgd(w, dw, {"learning_rate": 0.2})
    np.testing.assert_allclose(a, b, rtol=1e-15)
