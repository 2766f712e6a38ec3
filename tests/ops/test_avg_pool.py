"""Average pooling, beyond the table's checks: values by an independent formula, gradient mass, errors."""

import numpy as np
import pytest

from assignment import layers


def _shift_sum_mean(x, ph, pw, s):
    """The mean of every window as a sum of ph * pw strided, shifted copies of x."""
    N, C, H, W = x.shape
    Ho, Wo = 1 + (H - ph) // s, 1 + (W - pw) // s
    rows, cols = s * (Ho - 1) + 1, s * (Wo - 1) + 1
    total = sum(x[:, :, a : a + rows : s, b : b + cols : s] for a in range(ph) for b in range(pw))
    return total / (ph * pw)


@pytest.mark.parametrize(("shape", "ph", "pw", "s"), [((2, 3, 8, 8), 2, 2, 2), ((1, 2, 7, 9), 3, 3, 2),
                                                      ((2, 1, 5, 6), 2, 3, 1), ((1, 1, 4, 4), 4, 4, 1)])
@pytest.mark.parametrize("dtype", (np.float32, np.float64), ids=lambda d: np.dtype(d).name)
def test_forward_is_the_mean_of_each_window(shape, ph, pw, s, dtype):
    x = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    out, _ = layers.avg_pool_forward_naive(x, {"pool_height": ph, "pool_width": pw, "stride": s})
    assert out.dtype == dtype
    np.testing.assert_allclose(out, _shift_sum_mean(x, ph, pw, s), rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_backward_spreads_each_window_evenly_and_overlaps_add():
    """3x3 windows at stride 1 on a 4x4 input: the centre 2x2 lies in all four windows."""
    x = np.zeros((1, 1, 4, 4))
    _, cache = layers.avg_pool_forward_naive(x, {"pool_height": 3, "pool_width": 3, "stride": 1})
    dx = layers.avg_pool_backward_naive(np.ones((1, 1, 2, 2)), cache)
    coverage = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]]) / 9
    np.testing.assert_allclose(dx[0, 0], coverage, rtol=1e-15)
    assert dx.sum() == pytest.approx(4.0)  # the gradient's total mass is dout's


@pytest.mark.parametrize(("param", "match"), [
    ({"pool_height": 2, "pool_width": 2, "stride": 3}, "does not tile"),
    ({"pool_height": 9, "pool_width": 2, "stride": 1}, "pool"),
    ({"pool_width": 2, "stride": 2}, "pool_height"),
])
def test_bad_pool_param_is_a_value_error_like_max_pool(param, match):
    x = np.zeros((1, 1, 6, 6))
    with pytest.raises(ValueError, match=match) as avg:
        layers.avg_pool_forward_naive(x, param)
    with pytest.raises(ValueError) as mx:
        layers.max_pool_forward_naive(x, param)
    assert str(avg.value) == str(mx.value)
