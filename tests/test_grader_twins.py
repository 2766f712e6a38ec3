"""Twin regions: working equivalents of student code in given files, replaced in the student release.

- the markers (``### BEGIN TWIN[: <statement>]`` ... ``### END TWIN``) and the leak check's
  plumbing lines, one at a time;
- the release: no forbidden twin line under the student tree, a planted one is found, and the
  old tree (the twins without markers) fails the check;
- the released student tree, installed once per session (``installed_student``): its twins of
  student code raise the student's own ``NotImplementedError`` (they delegate to the naive
  layers) while its convolution and pooling twins still work; with the solution's ``layers.py``
  copied in, every delegated twin returns what the instructor's twin returns. Both on the
  compiled CPU twins the install built and on the numpy fallback (ASSIGNMENT_FAST_LAYERS=numpy).
"""

import json
import shutil
import subprocess
from types import SimpleNamespace

import numpy as np
import pytest
from fast_backends import BACKENDS
from grader_fixtures import REPO, SOLUTION, installed_student, released, workdir

from assignment import fast_layers, gpu_layers
from grader import markers
from grader.release import binary_files, find_leaks, forbidden_lines, region_lines, released_files

# ----------------------------------------------------------------------------------------------
# markers
# ----------------------------------------------------------------------------------------------

TWIN_CODE = '''import numpy as np


### BEGIN TWIN
def _kernel(x):
    return np.maximum(x, 0)


### END TWIN


def relu(x):
    """Given to students."""
    ### BEGIN TWIN: return naive(x)
    y = _kernel(x)
    return y
    ### END TWIN


def naive(x):
    ### BEGIN SOLUTION
    return x * (x > 0)
    ### END SOLUTION
'''


def test_strip_code_replaces_twin_regions_by_their_statement_or_nothing():
    text, removed = markers.strip_code(TWIN_CODE, where="m.py")
    assert [name for name, _ in removed] == ["naive"]  # the solution regions only
    assert "_kernel" not in text and "np.maximum" not in text and "### " not in text
    assert '    """Given to students."""\n    return naive(x)\n' in text
    # The module-level region leaves two blank lines between the import and relu, not four.
    assert "import numpy as np\n\n\ndef relu(x):" in text
    namespace = {}
    exec(compile(text, "m.py", "exec"), namespace)
    with pytest.raises(NotImplementedError, match="^naive: "):
        namespace["relu"](np.ones(2))
    assert [name for name, _ in markers.twin_regions_removed(TWIN_CODE, "m.py")] == ["m.py", "relu"]
    assert markers.has_twins(TWIN_CODE) and markers.has_regions(TWIN_CODE)
    assert markers.has_twins("### BEGIN TWIN: return 1\n") and not markers.has_regions("### BEGIN TWIN\n")


def test_twin_regions_in_cython_source():
    pyx = ("cdef void _k(double* x) noexcept nogil:\n    x[0] = 0\n\n\n"
           "def f(x):\n    \"\"\"Doc.\"\"\"\n    ### BEGIN TWIN: return layers.f(x)\n"
           "    cdef double v = 1\n    return v\n    ### END TWIN\n")
    text, removed = markers.strip_code(pyx, where="m.pyx")
    assert removed == []
    assert text.endswith('    """Doc."""\n    return layers.f(x)\n') and "cdef double v" not in text
    regions = markers.find_twin_regions(pyx.splitlines(), "m.pyx")
    assert [(r.begin, r.end, r.indent, r.replacement) for r in regions] == [(6, 9, "    ", "return layers.f(x)")]


@pytest.mark.parametrize("bad, message", [
    ("### BEGIN TWIN\nx = 1\n", "BEGIN TWIN never closed"),
    ("x = 1\n### END TWIN\n", "END TWIN without a BEGIN TWIN"),
    ("### BEGIN SOLUTION\n### BEGIN TWIN\n### END TWIN\n### END SOLUTION\n", "BEGIN TWIN inside the region"),
    ("### BEGIN TWIN\n### BEGIN SOLUTION\n### END SOLUTION\n### END TWIN\n", "BEGIN SOLUTION inside the region"),
    ("### BEGIN TWIN\nx = 1\n### END SOLUTION\n", "END SOLUTION closes the TWIN region"),
    ("### BEGIN SOLUTION\nx = 1\n### END TWIN\n", "END TWIN closes the SOLUTION region"),
    ("def f():\n    ### BEGIN TWIN: return 1\n    x = 1\n### END TWIN\n", "END TWIN indented unlike"),
    ("### BEGIN TWIN:   \n### END TWIN\n", "empty replacement"),
    ("### BEGIN TWINS\n### END TWIN\n", "malformed twin marker"),
    ("### BEGIN TWIN\n### END TWIN: x\n", "malformed twin marker"),
])
def test_malformed_twin_regions_raise(bad, message):
    with pytest.raises(markers.MarkerError, match=message):
        markers.find_all_regions(bad.splitlines())
    with pytest.raises(markers.MarkerError):
        markers.strip_code(bad)


def test_a_released_py_whose_replacement_does_not_compile_is_refused():
    from grader.release import strip_file

    bad = b"def f(x):\n    ### BEGIN TWIN: return (x\n    return x\n    ### END TWIN\n"
    with pytest.raises(SyntaxError):
        strip_file("assignment/m.py", bad)
    assert strip_file("assignment/m.pyx", bad)[0].decode().endswith("    return (x\n")  # Cython builds check .pyx
    assert strip_file("assignment/fast/m.pxi", bad)[0].decode().endswith("    return (x\n")  # and the .pxi it includes


def test_notebooks_refuse_twin_regions():
    nb = json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                "source": "### BEGIN TWIN\nx = 1\n### END TWIN\n"}],
                     "metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    with pytest.raises(markers.MarkerError, match="twin region in a notebook"):
        markers.strip_notebook(nb, name="N.ipynb")
    with pytest.raises(markers.MarkerError, match="twin region in a notebook"):
        markers.notebook_regions(nb, name="N.ipynb")


def test_plumbing_lines_compute_nothing():
    for line in ("N, C, H, W = x.shape", "x, w, b = cache", "N = x.shape[0]", "N, C = x.shape[:2]",
                 "if pool:", "elif y is None:", 'if mode == "train":', 'if y.dtype.kind not in "iu":',
                 "if not self.use_dropout:", "for name, grad in grads.items():", "for key in params:",
                 "return scores", "return out, cache", "cdef Py_ssize_t i, j", "cdef real v",
                 "cdef real[:, :, ::1] cols", "cdef const real* src", "caches = []", "grads = {}",
                 "drop_cache = None", "shape = ()"):
        assert markers.is_plumbing_line(line), line
    for line in ("out = np.maximum(x, 0)", "dx = dout * (x > 0)", "N = x.shape[i]", "x = 1", "return f(x)",
                 "if x > 0:", "if x: y = f(x)", "for i in range(N):", "dx /= N", "margins[rows, y] = 0",
                 "mean, var = running_mean, running_var", "return x + 1", "xp = array_module(x)",
                 "for name, grad in grads.items(): w -= grad", "if (", "not python at all (",
                 "cdef real v = x[i]", "cdef void _k(double* x) noexcept nogil:", 'cdef extern from "simd.h":',
                 "cdef class Pool:", "cdef real m = max(a, b)", "caches = [cache]", "grads = {'W': dw}",
                 "x = 0", "flags = [None]"):
        assert not markers.is_plumbing_line(line), line
    assert markers.is_trivial_line("with nogil:") and not markers.is_trivial_line("with open(path) as f:")


# ----------------------------------------------------------------------------------------------
# the release and the leak check
# ----------------------------------------------------------------------------------------------

TWIN_FILES = ("assignment/_fast_numpy.py", "assignment/fast/elementwise.pxi", "assignment/fast_layers.pyx",
              "assignment/gpu_layers.py")
# The files whose twins, released without their markers, the leak check catches line by line (the numpy
# fallback's twins are written differently from the solution, so only their markers keep them out).
LINE_TWIN_FILES = ("assignment/fast/elementwise.pxi", "assignment/fast_layers.pyx", "assignment/gpu_layers.py")
# The Cython extension's sources: the .pyx map and the .pxi files it includes (one module when compiled).
CYTHON_FILES = ("assignment/fast_layers.pyx", "assignment/fast/threads.pxi", "assignment/fast/elementwise.pxi",
                "assignment/fast/im2col.pxi", "assignment/fast/winograd.pxi", "assignment/fast/pooling.pxi")


def _student_text_lines(student):
    binaries = set(binary_files(student))
    for path in sorted(student.rglob("*")):
        rel = path.relative_to(student).as_posix()
        if not path.is_file() or rel in binaries:
            continue
        text = path.read_text()
        lines = markers.notebook_lines(text) if path.suffix == ".ipynb" else text.splitlines()
        for n, line in enumerate(lines, 1):
            yield rel, n, markers.normalize_line(line)


def test_twin_regions_are_marked_and_replaced():
    ctx = released()
    assert sorted(ctx.twins) == list(TWIN_FILES)
    assert len(ctx.twins["assignment/gpu_layers.py"]) == 23
    assert len(ctx.twins["assignment/fast_layers.pyx"]) == 2  # conv_relu_forward_cpu, conv_relu_backward_cpu
    assert len(ctx.twins["assignment/fast/elementwise.pxi"]) == 5  # ReLU fwd/bwd, their kernels, 2 fused kernels
    numpy_twins = {name for name, _ in ctx.twins["assignment/_fast_numpy.py"]}
    assert numpy_twins == {f"{op}_{d}_cpu" for op in ("relu", "conv_relu") for d in ("forward", "backward")}
    student_numpy = (ctx.student / "assignment" / "_fast_numpy.py").read_text()
    for kept in ("    return layers.relu_forward(x)\n", "    return layers.relu_backward(dout, cache)\n",
                 "    return _conv_then_relu(x, w, b, conv_param)\n",
                 "    return _relu_then_conv_backward(dout, cache)\n",
                 "def conv_forward_cpu(", "def _im2col(", "def _col2im(", "def max_pool_backward_cpu("):
        assert kept in student_numpy, kept
    for gone in ("TWIN", "np.maximum(out, 0, out=out)", "dout.astype(x.dtype, copy=False) * (x > 0)"):
        assert gone not in student_numpy, gone
    gpu_twins = {name for name, _ in ctx.twins["assignment/gpu_layers.py"]}
    for op in ("affine_forward", "affine_backward", "relu_forward", "relu_backward", "softmax_loss", "svm_loss",
               "sigmoid_cross_entropy_loss",
               "batchnorm_forward", "batchnorm_backward", "spatial_batchnorm_forward", "spatial_batchnorm_backward",
               "layernorm_forward", "layernorm_backward", "spatial_groupnorm_forward", "spatial_groupnorm_backward",
               "dropout_forward", "dropout_backward"):
        assert f"{op}_gpu" in gpu_twins, op
    assert not any(name.startswith(("conv_", "max_pool_")) for name in gpu_twins)
    student_gpu = (ctx.student / "assignment" / "gpu_layers.py").read_text()
    student_cython = "".join((ctx.student / rel).read_text() for rel in CYTHON_FILES)
    for gone in ("def _normalize(", "def _normalized_dx(", "def _norm_grads(", "def _check_scores(", "TWIN"):
        assert gone not in student_gpu, gone
    assert "return _on_host(layers.batchnorm_forward, x, gamma, beta, bn_param)" in student_gpu
    assert "def conv_forward_gpu(" in student_gpu and "def _col2im_table(" in student_gpu
    for gone in ("_relu_fwd", "_relu_bwd", "TWIN", "0 if v <= 0 else v", "(1 if y[i] > 0 else 0)",
                 "_conv_forward_winograd(x, w, b, conv_param, True)"):
        assert gone not in student_cython, gone
    for kept in ("    return layers.relu_forward(x)\n", "    return layers.relu_backward(dout, cache)\n",
                 "    return _conv_then_relu(x, w, b, conv_param)\n",
                 "    return _relu_then_conv_backward(dout, cache)\n",
                 "cdef void _relu_inplace(real* a, Py_ssize_t n) noexcept nogil:\n",
                 "def conv_forward_cpu(", "cdef void _im2col_img(", "def avg_pool_forward_fast(",
                 'include "fast/elementwise.pxi"\n', '#include "simd.h"\n'):
        assert kept in student_cython + (ctx.student / "assignment" / "fast" / "simd_pool.h").read_text(), kept
    assert "gpu_layers.py" not in ctx.student_modules  # a file with twin regions only stays given


def test_no_forbidden_twin_line_appears_under_the_student_tree():
    ctx = released()
    twins = region_lines(REPO, kinds=(markers.TWIN,))
    forbidden = {norm for norm, _, _, excused in twins if excused is None}
    assert len(forbidden) > 120  # the kernels and the math of 30 twin regions (132 distinct lines)
    for answer in ("loss = -log_probs[rows, y].sum() / N", "mask = ((rng.random(x.shape) < p) / p).astype(x.dtype)",
                   "dx = g * inv_std if mode == \"test\" else _normalized_dx(g, x_hat, inv_std, 0)",
                   "dx[i] = dout[i] * (1 if x[i] > 0 else 0) # a product, as dout * (x > 0): NaN * 0 is NaN",
                   "out, conv_cache = _conv_forward_im2col(x, w, b, conv_param, True)",
                   "inv_std = 1 / xp.sqrt(var + eps)"):
        assert answer in forbidden, answer
    assert forbidden <= set(forbidden_lines(REPO))
    student_lines = list(_student_text_lines(ctx.student))
    assert [(rel, n, line) for rel, n, line in student_lines if line in forbidden] == []
    # What is excused is what the student tree shows elsewhere anyway: argument checks of the
    # student's own layers.py, code the kept twins share, and lines that compute nothing.
    shown = {line for _, _, line in student_lines}
    for norm, where, _, excused in twins:
        assert excused in (None, "trivial", "plumbing", "scaffolding", f"kept in {where}"), (norm, excused)
        if excused in ("scaffolding", f"kept in {where}"):
            assert norm in shown, norm


def test_the_leak_check_finds_a_planted_twin_line(tmp_path):
    ctx = released()
    forbidden = forbidden_lines(REPO)
    planted = next(line for line, where in sorted(forbidden.items()) if where == "assignment/gpu_layers.py")
    copy = tmp_path / "student"
    shutil.copytree(ctx.student, copy)
    solver = copy / "assignment" / "solver.py"
    solver.write_text(solver.read_text() + f"\n# given code that copies a twin:\n    {planted}\n")
    leaks = find_leaks(REPO, copy)
    assert [(p, line.strip(), w) for p, _, line, w in leaks] == [("assignment/solver.py", planted,
                                                                  "assignment/gpu_layers.py")]


def _without_twin_markers(text):
    return "".join(line for line in text.splitlines(keepends=True)
                   if not line.strip().startswith((markers.TWIN_BEGIN, markers.TWIN_END)))


def test_the_leak_check_fails_the_tree_without_twin_markers(tmp_path):
    """The old tree: the same twins released whole, unmarked. The check used to excuse their
    answer lines because they occurred in given code; now only the student's own scaffolding,
    the region's own file and plumbing excuse a line."""
    ctx = released()
    old_root = tmp_path / "old"
    for rel in released_files(REPO):
        target = old_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if rel in LINE_TWIN_FILES:
            target.write_text(_without_twin_markers((REPO / rel).read_text()))
        else:
            shutil.copyfile(REPO / rel, target)
    assert not any(markers.has_twins((old_root / rel).read_text()) for rel in LINE_TWIN_FILES)
    old_student = tmp_path / "student"
    shutil.copytree(ctx.student, old_student)
    for rel in LINE_TWIN_FILES:
        shutil.copyfile(old_root / rel, old_student / rel)
    leaks = find_leaks(old_root, old_student)
    leaked = {(p, line.strip()) for p, _, line, _ in leaks}
    assert ("assignment/gpu_layers.py", "loss = -log_probs[rows, y].sum() / N") in leaked
    assert ("assignment/gpu_layers.py", "positive[rows, y] = -positive.sum(axis=1)") in leaked
    assert ("assignment/fast_layers.pyx", "return out, (conv_cache, out)") in leaked
    assert ("assignment/fast/elementwise.pxi", "return np.maximum(x, 0), x") in leaked
    assert {p for p, _ in leaked} == set(LINE_TWIN_FILES)


# ----------------------------------------------------------------------------------------------
# _on_host, with a stand-in device (no GPU needed)
# ----------------------------------------------------------------------------------------------


class _DeviceArray(np.ndarray):
    """Looks like a CuPy array to assignment.devices (its module is cupy's); .get() copies to the host."""

    def get(self):
        return np.array(self.view(np.ndarray))


_DeviceArray.__module__ = "cupy._standin"


class _DeviceGenerator:
    def __init__(self, seed=None):
        self.rng = np.random.default_rng(None if seed is None else seed + 1000)  # not numpy's stream

    def random(self, shape):
        return _device(self.rng.random(shape))


_DeviceGenerator.__module__ = "cupy.random._standin"


def _device(a):
    return np.array(a).view(_DeviceArray)


@pytest.fixture
def standin_device(monkeypatch):
    xp = SimpleNamespace(asarray=_device, random=SimpleNamespace(default_rng=_DeviceGenerator))
    real = gpu_layers.array_module
    monkeypatch.setattr(gpu_layers, "array_module",
                        lambda *arrays: xp if any(isinstance(a, _DeviceArray) for a in arrays) else real(*arrays))
    return xp


def _host_only(fn, seen):
    """fn, recording the types of the arrays it is given (positional, and inside dicts)."""
    def wrapped(*args):
        for a in args:
            values = a.values() if isinstance(a, dict) else [a]
            seen.extend(type(v) for v in values if isinstance(v, np.ndarray))
        return fn(*args)
    return wrapped


def test_on_host_moves_arrays_and_keeps_running_stats_on_the_device(standin_device):
    from assignment import layers

    rng = np.random.default_rng(0)
    x, gamma, beta = rng.standard_normal((6, 3)), rng.standard_normal(3), rng.standard_normal(3)
    bn_param = {"mode": "train", "momentum": 0.7,
                "running_mean": _device(np.ones(3)), "running_var": _device(np.ones(3))}
    seen = []
    out, cache = gpu_layers._on_host(_host_only(layers.batchnorm_forward, seen), _device(x), _device(gamma),
                                     _device(beta), bn_param)
    assert seen and all(t is np.ndarray for t in seen)  # the naive layer saw host arrays only
    assert type(out) is _DeviceArray and all(type(c) is not _DeviceArray for c in cache)
    assert type(bn_param["running_mean"]) is _DeviceArray and type(bn_param["running_var"]) is _DeviceArray
    want_param = {"mode": "train", "momentum": 0.7, "running_mean": np.ones(3), "running_var": np.ones(3)}
    want_out, _ = layers.batchnorm_forward(x, gamma, beta, want_param)
    np.testing.assert_array_equal(out, want_out)
    np.testing.assert_array_equal(bn_param["running_mean"], want_param["running_mean"])
    np.testing.assert_array_equal(bn_param["running_var"], want_param["running_var"])
    dx, dgamma, dbeta = gpu_layers._on_host(layers.batchnorm_backward_alt, _device(np.ones((6, 3))), cache)
    assert {type(dx), type(dgamma), type(dbeta)} == {_DeviceArray}
    loss, dscores = gpu_layers._on_host(layers.softmax_loss, _device(x), _device(np.array([0, 1, 2, 0, 1, 2])))
    assert isinstance(loss, float) and type(dscores) is _DeviceArray


def test_on_host_draws_dropout_masks_on_the_device(standin_device):
    from assignment import layers

    x = _device(np.full((20, 30), 2.0))
    seeded = {"mode": "train", "p": 0.5, "seed": 4}
    out, cache = gpu_layers._on_host(layers.dropout_forward, x, seeded)
    keep = _DeviceGenerator(4).random(x.shape) < 0.5  # the device generator's draws, not numpy's seed stream
    np.testing.assert_array_equal(np.asarray(out) != 0, keep)
    assert seeded == {"mode": "train", "p": 0.5, "seed": 4}
    dx = gpu_layers._on_host(layers.dropout_backward, _device(np.ones(x.shape)), cache)
    assert type(dx) is _DeviceArray
    np.testing.assert_array_equal(np.asarray(dx) != 0, keep)
    device_rng = _DeviceGenerator(9)
    param = {"mode": "train", "p": 0.5, "rng": device_rng}
    out, _ = gpu_layers._on_host(layers.dropout_forward, x, param)
    assert param["rng"] is device_rng
    np.testing.assert_array_equal(np.asarray(out) != 0, _DeviceGenerator(9).random(x.shape) < 0.5)


def test_on_host_is_the_plain_call_on_numpy():
    from assignment import layers

    x = np.arange(6.0).reshape(2, 3) - 2
    out, cache = gpu_layers._on_host(layers.relu_forward, x)
    assert cache is x and type(out) is np.ndarray
    param = {"mode": "train", "p": 0.5, "seed": 1}
    _, (cache_param, _) = gpu_layers._on_host(layers.dropout_forward, x, param)
    assert cache_param is param


# ----------------------------------------------------------------------------------------------
# the released student tree, installed
# ----------------------------------------------------------------------------------------------

# Run by this process with the instructor's modules and by the student tree's own Python with its
# modules: every twin of student code (forward and backward, both files), then the convolution
# and pooling twins. run_all returns ({key: output array}, {key: NotImplementedError message}).
# A backward whose forward raised gets a cache in the naive layout, so that it is reached too.
TWIN_CALLS = r'''
import numpy as np


def run_all(gl, fl, a):
    outputs, errors = {}, {}

    def call(key, fn, *args):
        try:
            result = fn(*args)
        except NotImplementedError as e:
            errors[key] = str(e)
            return None
        for i, r in enumerate(result if isinstance(result, tuple) else (result,)):
            if isinstance(r, (np.ndarray, float)):
                outputs[f"{key}/{i}"] = np.asarray(r)
        return result

    def pair(key, forward, backward, args, dout, fallback_cache):
        r = call(f"{key}_forward", forward, *args)
        call(f"{key}_backward", backward, dout, r[1] if r else fallback_cache)

    x, w, b, dout = a["x"], a["w"], a["b"], a["dout"]
    # affine: a GPU twin only (the naive layer serves as the fast one)
    pair("affine_gpu", gl.affine_forward_gpu, gl.affine_backward_gpu, (x, w, b), dout, (x, w, b))
    for name, m in (("gpu", gl), ("cpu", fl), ("fast", fl)):
        pair(f"relu_{name}", getattr(m, f"relu_forward_{name}"), getattr(m, f"relu_backward_{name}"),
             (a["r"],), a["dr"], a["r"])
        pair(f"conv_relu_{name}", getattr(m, f"conv_relu_forward_{name}"), getattr(m, f"conv_relu_backward_{name}"),
             (a["xc"], a["wc"], a["bc"], {"stride": 1, "pad": 1}), a["dcr"],
             ((a["xc"], a["wc"], a["bc"], {"stride": 1, "pad": 1}), a["dcr"]))
    call("softmax_loss_gpu", gl.softmax_loss_gpu, a["scores"], a["labels"])
    call("svm_loss_gpu", gl.svm_loss_gpu, a["scores"], a["labels"])

    xb, gamma, beta, db = a["xb"], a["gamma"], a["beta"], a["db"]
    bn_cache = ("train", xb, gamma, np.ones(xb.shape[1]))
    for mode_key, param in (("new", {"mode": "train"}),
                            ("running", {"mode": "train", "momentum": 0.8, "eps": 1e-3,
                                         "running_mean": a["rm"].copy(), "running_var": a["rv"].copy()})):
        pair(f"batchnorm_{mode_key}", gl.batchnorm_forward_gpu, gl.batchnorm_backward_gpu, (xb, gamma, beta, param),
             db, bn_cache)
        for stat in ("running_mean", "running_var"):
            if stat in param:
                outputs[f"batchnorm_{mode_key}/bn_param/{stat}"] = np.asarray(param[stat])
        param["mode"] = "test"
        pair(f"batchnorm_{mode_key}_test", gl.batchnorm_forward_gpu, gl.batchnorm_backward_gpu,
             (xb, gamma, beta, param), db, bn_cache)

    xs, gs, bs, ds = a["xs"], a["gs"], a["bs"], a["ds"]
    param = {"mode": "train", "momentum": 0.6}
    pair("spatial_batchnorm", gl.spatial_batchnorm_forward_gpu, gl.spatial_batchnorm_backward_gpu,
         (xs, gs, bs, param), ds, (xs.shape, bn_cache))
    for stat in ("running_mean", "running_var"):
        if stat in param:
            outputs[f"spatial_batchnorm/bn_param/{stat}"] = np.asarray(param[stat])

    pair("layernorm", gl.layernorm_forward_gpu, gl.layernorm_backward_gpu, (xb, gamma, beta, {"eps": 1e-4}), db,
         (xb, gamma, np.ones((xb.shape[0], 1))))
    xg, gg, bg = a["xg"], a["gg"], a["bg"]
    pair("spatial_groupnorm", gl.spatial_groupnorm_forward_gpu, gl.spatial_groupnorm_backward_gpu,
         (xg, gg, bg, 3, {}), a["dg"], (3, xg, gg, np.ones((xg.shape[0], 3, 1))))

    for key, param in (("seed", {"mode": "train", "p": 0.6, "seed": 3}),
                       ("rng", {"mode": "train", "p": 0.3, "rng": np.random.default_rng(11)}),
                       ("test", {"mode": "test", "p": 0.6})):
        pair(f"dropout_{key}", gl.dropout_forward_gpu, gl.dropout_backward_gpu, (xb, param), db,
             (param, np.ones(xb.shape)))
        if "rng" in param:
            outputs[f"dropout_{key}/next_draw"] = np.asarray(param["rng"].random(3))

    cp, pp = {"stride": 2, "pad": 1}, {"pool_height": 2, "pool_width": 2, "stride": 2}
    for name, m in (("gpu", gl), ("fast", fl)):
        pair(f"conv_{name}", getattr(m, f"conv_forward_{name}"), getattr(m, f"conv_backward_{name}"),
             (a["xc"], a["wc"], a["bc"], cp), a["dc"], None)
        pair(f"max_pool_{name}", getattr(m, f"max_pool_forward_{name}"), getattr(m, f"max_pool_backward_{name}"),
             (a["xq"], pp), a["dp"], None)
    pair("avg_pool_fast", fl.avg_pool_forward_fast, fl.avg_pool_backward_fast, (a["xq"], pp), a["dp"], None)
    return outputs, errors
'''

# The naive function each twin of student code hands its work to (the NotImplementedError names it).
DELEGATES = {
    "affine_gpu_forward": "affine_forward",
    "affine_gpu_backward": "affine_backward",
    **{f"relu_{n}_forward": "relu_forward" for n in ("gpu", "cpu", "fast")},
    **{f"relu_{n}_backward": "relu_backward" for n in ("gpu", "cpu", "fast")},
    **{f"conv_relu_{n}_forward": "relu_forward" for n in ("gpu", "cpu", "fast")},
    **{f"conv_relu_{n}_backward": "relu_backward" for n in ("gpu", "cpu", "fast")},
    "softmax_loss_gpu": "softmax_loss",
    "svm_loss_gpu": "svm_loss",
    **{f"batchnorm_{k}_forward": "batchnorm_forward" for k in ("new", "running", "new_test", "running_test")},
    **{f"batchnorm_{k}_backward": "batchnorm_backward_alt" for k in ("new", "running", "new_test", "running_test")},
    "spatial_batchnorm_forward": "spatial_batchnorm_forward",
    "spatial_batchnorm_backward": "spatial_batchnorm_backward",
    "layernorm_forward": "layernorm_forward",
    "layernorm_backward": "layernorm_backward",
    "spatial_groupnorm_forward": "spatial_groupnorm_forward",
    "spatial_groupnorm_backward": "spatial_groupnorm_backward",
    **{f"dropout_{k}_forward": "dropout_forward" for k in ("seed", "rng", "test")},
    **{f"dropout_{k}_backward": "dropout_backward" for k in ("seed", "rng", "test")},
}

CHILD = r'''
import json, sys
import numpy as np
import assignment
from assignment import fast_layers, gpu_layers

tree, calls, inputs, outputs, errors, backend = sys.argv[1:]
assert assignment.__file__.startswith(tree), assignment.__file__
assert fast_layers.BACKEND == backend, (fast_layers.BACKEND, fast_layers.REASON)
namespace = {}
exec(open(calls).read(), namespace)
with np.load(inputs) as z:
    a = {k: z[k] for k in z.files}
out, err = namespace["run_all"](gpu_layers, fast_layers, a)
np.savez(outputs, **out)
open(errors, "w").write(json.dumps(err))
'''


def _inputs():
    rng = np.random.default_rng(2024)
    n = rng.standard_normal
    return {
        "x": n((4, 3, 2)), "w": n((6, 5)), "b": n(5), "dout": n((4, 5)),
        "r": np.concatenate([n(9), [0.0, 0.0, -1.0]]).reshape(3, 4), "dr": n((3, 4)),
        "scores": n((6, 4)) * 3, "labels": rng.integers(0, 4, 6),
        "xb": 2 * n((8, 5)) + 1, "gamma": n(5), "beta": n(5), "db": n((8, 5)), "rm": n(5), "rv": rng.random(5) + 0.5,
        "xs": n((3, 4, 2, 3)), "gs": n(4), "bs": n(4), "ds": n((3, 4, 2, 3)),
        "xg": n((2, 6, 3, 2)), "gg": n((1, 6, 1, 1)), "bg": n((1, 6, 1, 1)), "dg": n((2, 6, 3, 2)),
        "xc": n((2, 3, 7, 7)), "wc": n((4, 3, 3, 3)), "bc": n(4), "dc": n((2, 4, 4, 4)), "dcr": n((2, 4, 7, 7)),
        "xq": n((2, 3, 6, 6)), "dp": n((2, 3, 3, 3)),
    }


def _instructor_run():
    namespace = {}
    exec(TWIN_CALLS, namespace)
    return namespace["run_all"](gpu_layers, fast_layers, _inputs())


def _student_run(tree, name, backend):
    """run_all in ``tree`` with the installed student venv's Python, on the ``backend`` CPU twins
    ("cython": the extension the install built; "numpy": the fallback); (outputs, errors)."""
    _, python, env = installed_student()
    work = workdir() / f"twins-{name}-{backend}"
    work.mkdir(exist_ok=True)
    (work / "calls.py").write_text(TWIN_CALLS)
    np.savez(work / "inputs.npz", **_inputs())
    run = subprocess.run([str(python), "-c", CHILD, str(tree), str(work / "calls.py"), str(work / "inputs.npz"),
                          str(work / "outputs.npz"), str(work / "errors.json"), backend],
                         env=dict(env, ASSIGNMENT_FAST_LAYERS=backend), cwd=tree, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with np.load(work / "outputs.npz") as z:
        outputs = {k: z[k] for k in z.files}
    return outputs, json.loads((work / "errors.json").read_text())


def _assert_same(got, want, keys):
    for key in sorted(keys):
        g, w = np.asarray(got[key]), np.asarray(want[key])
        assert g.shape == w.shape and g.dtype == w.dtype, (key, g.shape, w.shape, g.dtype, w.dtype)
        scale = max(1.0, float(np.max(np.abs(w)))) if w.size else 1.0
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-10 * scale, err_msg=key)


@pytest.mark.parametrize("backend", BACKENDS)
def test_student_twins_call_the_student_layers_and_conv_pool_twins_still_work(backend):
    tree, _, _ = installed_student()
    outputs, errors = _student_run(tree, "stubs", backend)
    assert set(errors) == set(DELEGATES)
    for key, naive in DELEGATES.items():
        assert errors[key].startswith(f"{naive}: not implemented yet"), (key, errors[key])
    want, want_errors = _instructor_run()
    assert want_errors == {}
    conv_pool = {k for k in want if k.startswith(("conv_gpu", "conv_fast", "max_pool_", "avg_pool_"))}
    assert len(conv_pool) == 2 * 6 + 2  # conv: out, dx, dw, db; max pool: out, dx (gpu, fast); avg pool (fast)
    # What else came back are the params' own arrays (running statistics, the generator's next draw).
    assert {k for k in outputs if "/bn_param/" not in k and not k.endswith("/next_draw")} == conv_pool
    _assert_same(outputs, want, conv_pool)


@pytest.mark.parametrize("backend", BACKENDS)
def test_solved_student_twins_match_the_instructor_twins(backend):
    tree, _, _ = installed_student()
    solved = workdir() / f"solved-tree-{backend}"
    if solved.exists():
        shutil.rmtree(solved)
    shutil.copytree(tree, solved, symlinks=True)  # with the extension built by the install
    shutil.copyfile(SOLUTION / "layers.py", solved / "assignment" / "layers.py")
    outputs, errors = _student_run(solved, "solved", backend)
    assert errors == {}
    want, _ = _instructor_run()
    assert set(outputs) == set(want)
    for must in ("batchnorm_running/bn_param/running_mean", "batchnorm_new/bn_param/running_var",
                 "spatial_batchnorm/bn_param/running_mean", "dropout_rng/next_draw", "dropout_seed_forward/0",
                 "softmax_loss_gpu/0", "affine_gpu_backward/1", "conv_relu_cpu_forward/0",
                 "conv_relu_fast_backward/2"):
        assert must in want, must
    _assert_same(outputs, want, want)
