"""``assignment.fast_layers``: which CPU twins it serves, its one warning, and ASSIGNMENT_FAST_LAYERS.

- The normal run serves the compiled twins: a broken build fails here rather than passing every
  contract test on the numpy fallback unnoticed. With ASSIGNMENT_FAST_LAYERS=numpy (CI's second
  run) it serves the fallback.
- Both sets of twins have every public name; the façade's names are the served module's functions,
  and the models' "fast" table takes them.
- In a fresh interpreter, with the extension blocked by the variable or failing to import: BACKEND is
  "numpy", exactly one warning says why and how to get the compiled twins, and a ThreeLayerConvNet
  trains a step on the fallback.
- A wrong value of the variable, or ``cython`` where the extension does not import, is an error that
  names the variable.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assignment import _fast_numpy, fast_layers, layers, registry

REPO = Path(__file__).resolve().parents[1]
PUBLIC = tuple(f"{op}_{d}_{kind}" for op in ("conv", "conv_relu", "max_pool", "avg_pool", "relu")
               for d in ("forward", "backward") for kind in ("fast", "cpu"))


def _python(code, **env_vars):
    """Run ``code`` in a fresh interpreter with ASSIGNMENT_FAST_LAYERS (and PYTHONWARNINGS) unset
    unless given in ``env_vars``; returns the CompletedProcess."""
    env = {k: v for k, v in os.environ.items() if k not in ("ASSIGNMENT_FAST_LAYERS", "PYTHONWARNINGS")}
    env.update(env_vars)
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_normal_run_serves_the_compiled_twins():
    if os.environ.get(fast_layers.ENV_VAR, "").strip().lower() == "numpy":
        assert (fast_layers.BACKEND, fast_layers.CYTHON) == ("numpy", None)
        assert fast_layers.REASON == "blocked by ASSIGNMENT_FAST_LAYERS=numpy"
        return
    assert fast_layers.BACKEND == "cython", (
        f"the compiled fast layers are not in use ({fast_layers.REASON}): build them with "
        f"`pip install --no-build-isolation -e .`, or run with ASSIGNMENT_FAST_LAYERS=numpy to test the fallback alone")
    assert fast_layers.REASON is None and fast_layers.IMPL is fast_layers.CYTHON
    assert fast_layers.describe() == "fast layers: cython (compiled)"


def test_the_facade_is_the_python_module():
    # A compiled assignment/fast_layers*.so left by an older build would be imported instead of fast_layers.py.
    assert Path(fast_layers.__file__).name == "fast_layers.py", (
        f"{fast_layers.__file__} shadows assignment/fast_layers.py: delete it (make clean)")


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_name_is_the_served_twin(name):
    assert getattr(fast_layers, name) is getattr(fast_layers.IMPL, name)
    assert callable(getattr(_fast_numpy, name))
    if fast_layers.CYTHON is not None:
        assert callable(getattr(fast_layers.CYTHON, name))


def test_the_fast_table_takes_the_served_twins():
    ops = registry.get_ops("fast")
    assert ops.conv_forward is fast_layers.IMPL.conv_forward_fast
    assert ops.max_pool_backward is fast_layers.IMPL.max_pool_backward_fast
    assert ops.conv_relu_forward is fast_layers.IMPL.conv_relu_forward_fast


def test_the_naive_affine_layer_serves_as_the_fast_one():
    # It measured faster than a threaded Cython twin (BENCHMARKS.md), so there is none.
    for module in (fast_layers, _fast_numpy) + ((fast_layers.CYTHON,) if fast_layers.CYTHON else ()):
        assert not hasattr(module, "affine_forward_fast") and not hasattr(module, "affine_backward_cpu")
    ops = registry.get_ops("fast")
    assert (ops.affine_forward, ops.affine_backward) == (layers.affine_forward, layers.affine_backward)


def test_the_extension_source_is_a_map_with_c_in_headers():
    """fast_layers.pyx holds the dispatchers and includes the algorithms from assignment/fast/*.pxi;
    the AVX2 code lives in real headers there, never in Cython strings."""
    pyx = (REPO / "assignment" / "fast_layers.pyx").read_text()
    fast = REPO / "assignment" / "fast"
    order = ("threads.pxi", "elementwise.pxi", "im2col.pxi", "winograd.pxi", "pooling.pxi")
    assert len(pyx.splitlines()) <= 400
    assert [line.split('"')[1] for line in pyx.splitlines() if line.startswith("include ")] == [
        f"fast/{name}" for name in order]
    assert sorted(p.name for p in fast.glob("*.pxi")) == sorted(order)
    lines = []
    for path in [REPO / "assignment" / "fast_layers.pyx", *fast.glob("*.pxi")]:
        text = path.read_text()
        assert "cdef extern from *" not in text, path
        lines += text.splitlines()
    headers = {line.split('"')[1] for line in lines if line.startswith('cdef extern from "')}
    assert headers == {p.name for p in fast.glob("*.h")} == {"simd.h", "simd_winograd.h", "simd_pool.h"}


def test_twins_names_each_backend():
    assert fast_layers.twins("numpy") is _fast_numpy
    if fast_layers.CYTHON is None:
        with pytest.raises(ImportError, match="not in use"):
            fast_layers.twins("cython")
    else:
        assert fast_layers.twins("cython") is fast_layers.CYTHON
    with pytest.raises(ValueError, match="'cython' or 'numpy'"):
        fast_layers.twins("gpu")


TRAIN_A_STEP = r"""
import numpy as np
from assignment import fast_layers, registry          # imported again: no second warning
from assignment import optim
from assignment.classifiers.cnn import ThreeLayerConvNet

print("BACKEND", fast_layers.BACKEND)
print(fast_layers.describe())
model = ThreeLayerConvNet(input_dim=(1, 8, 8), num_filters=4, filter_size=3, hidden_dim=12, num_classes=3,
                          weight_scale=0.1, dtype=np.float32, seed=0)
assert model.ops.conv_forward is fast_layers.NUMPY.conv_forward_fast
rng = np.random.default_rng(0)
X = rng.standard_normal((6, 1, 8, 8)).astype(np.float32)
y = rng.integers(0, 3, 6)
loss0, grads = model.loss(X, y)
for name in model.params:
    model.params[name], _ = optim.sgd(model.params[name], grads[name], {"learning_rate": 0.5})
    assert model.params[name].dtype == np.float32, name
loss1, _ = model.loss(X, y)
print("LOSS", loss0, loss1)
assert loss1 < loss0
"""


def test_blocked_by_the_variable_the_fallback_warns_once_and_trains():
    run = _python(TRAIN_A_STEP, ASSIGNMENT_FAST_LAYERS="numpy")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BACKEND numpy" in run.stdout
    assert "fast layers: numpy fallback (blocked by ASSIGNMENT_FAST_LAYERS=numpy)" in run.stdout
    assert run.stderr.count("FastLayersFallbackWarning: assignment.fast_layers: running the pure-numpy") == 1, (
        run.stderr)
    assert "blocked by ASSIGNMENT_FAST_LAYERS=numpy. Unset ASSIGNMENT_FAST_LAYERS to use the compiled twins." in (
        run.stderr)


def test_without_the_extension_the_fallback_says_why_and_how_to_get_it():
    code = "import sys\nsys.modules['assignment._fast_cython'] = None  # as if it never built\n" + TRAIN_A_STEP
    run = _python(code)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "BACKEND numpy" in run.stdout
    assert run.stderr.count("FastLayersFallbackWarning: assignment.fast_layers: running the pure-numpy") == 1, (
        run.stderr)
    assert "the compiled extension assignment._fast_cython did not import (ModuleNotFoundError: " in run.stderr
    assert "install a C compiler" in run.stderr and "pip install -e ." in run.stderr


def test_the_compiled_twins_import_without_a_warning():
    if fast_layers.CYTHON is None and os.environ.get(fast_layers.ENV_VAR, "").strip().lower() != "numpy":
        pytest.fail(f"the compiled fast layers are not in use: {fast_layers.REASON}")
    run = _python("from assignment import fast_layers; print(fast_layers.BACKEND)", ASSIGNMENT_FAST_LAYERS="cython")
    assert run.returncode == 0 and run.stdout.strip() == "cython", run.stderr
    assert "Warning" not in run.stderr


def test_cython_where_the_extension_does_not_import_is_an_error():
    code = "import sys\nsys.modules['assignment._fast_cython'] = None\nimport assignment.fast_layers\n"
    run = _python(code, ASSIGNMENT_FAST_LAYERS="cython")
    assert run.returncode == 1
    assert "ImportError: ASSIGNMENT_FAST_LAYERS=cython requires the compiled fast layers" in run.stderr


def test_a_wrong_value_of_the_variable_names_it():
    run = _python("import assignment.fast_layers", ASSIGNMENT_FAST_LAYERS="fortran")
    assert run.returncode == 1
    assert "ValueError: ASSIGNMENT_FAST_LAYERS must be one of auto, cython, numpy (or unset), got 'fortran'" in (
        run.stderr)
