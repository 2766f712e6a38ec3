"""Dropout's two kinds, beyond the table's checks: statistics, the default, bad kinds."""

import numpy as np
import pytest

from assignment import layers


@pytest.mark.parametrize("p", [0.25, 0.7])
def test_vanilla_keeps_units_unscaled_and_scales_by_p_at_test_time(p):
    x = np.random.default_rng(0).standard_normal((400, 500)) + 3
    out, (_, mask) = layers.dropout_forward(x, {"p": p, "mode": "train", "kind": "vanilla", "seed": 1})
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - p) < 0.01
    np.testing.assert_array_equal(out, x * mask)
    test_out, _ = layers.dropout_forward(x, {"p": p, "mode": "test", "kind": "vanilla"})
    np.testing.assert_allclose(test_out, p * x, rtol=1e-15)
    assert out.mean() == pytest.approx(test_out.mean(), rel=0.02)  # the same expectation in both modes


def test_inverted_is_the_default_kind():
    x = np.random.default_rng(0).standard_normal((20, 30))
    param = {"p": 0.6, "mode": "train", "seed": 4}
    default, _ = layers.dropout_forward(x, param)
    inverted, _ = layers.dropout_forward(x, {**param, "kind": "inverted"})
    np.testing.assert_array_equal(default, inverted)
    vanilla, _ = layers.dropout_forward(x, {**param, "kind": "vanilla"})
    np.testing.assert_allclose(default, vanilla / 0.6, rtol=1e-15)  # the same mask, scaled


@pytest.mark.parametrize("mode", ["train", "test"])
@pytest.mark.parametrize("kind", ["Vanilla", "standard", None])
def test_an_unknown_kind_is_a_value_error(kind, mode):
    with pytest.raises(ValueError, match=r"dropout_param\['kind'\] must be 'inverted' or 'vanilla'"):
        layers.dropout_forward(np.ones((2, 2)), {"p": 0.5, "mode": mode, "kind": kind})


def test_vanilla_test_mode_backward_scales_by_p():
    dout = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    _, cache = layers.dropout_forward(np.ones((3, 4), np.float32), {"p": 0.3, "mode": "test", "kind": "vanilla"})
    dx = layers.dropout_backward(dout, cache)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, np.float32(0.3) * dout, rtol=1e-7)
