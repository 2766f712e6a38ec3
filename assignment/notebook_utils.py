"""Small helpers the notebooks call: check lines, training budgets, pictures, and a runner.

Every check in a notebook prints exactly one line through :func:`check_rel_error`,
:func:`check_below` or :func:`check_at_least`, of the form::

    conv_forward_naive out: relative error 2.21e-08 (should be below 1e-07) ok
    overfit 50 examples: train accuracy 1.00 (should be at least 1) ok

The bound is the one the cell states in words (CS231n's "should be around e-8" becomes
"below 1e-07": at most that order of magnitude). A failing line ends in ``TOO LARGE`` or
``TOO SMALL`` instead of ``ok``. :func:`parse_check_lines` reads the lines back; the
project's notebook tests execute every notebook with :func:`execute_notebook` and fail on a
line that is not ``ok``.

Budgets: training cells ask :func:`budget` for their size. It returns the small value when
the environment variable ``CI`` or ``ASSIGNMENT_FAST_NOTEBOOKS`` is set (to anything but
"", "0", "false" or "no"), the full one otherwise.
"""

import math
import os
import re
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from assignment.gradient_check import eval_numerical_gradient, rel_error

FAST_ENV_VARS = ("ASSIGNMENT_FAST_NOTEBOOKS", "CI")
IMAGES_PATH = Path(__file__).resolve().parent / "data" / "notebook_images.npz"

CHECK_LINE = re.compile(
    r"^(?P<name>.+?): (?P<what>.+) (?P<value>\S+) "
    r"\(should be (?P<relation>below|at least) (?P<bound>\S+)\) (?P<verdict>ok|TOO LARGE|TOO SMALL)$"
)


# ---------------------------------------------------------------------------------------------
# Budgets
# ---------------------------------------------------------------------------------------------


def _truthy(value):
    return value is not None and value.strip().lower() not in ("", "0", "false", "no")


def fast_mode():
    """True when CI or ASSIGNMENT_FAST_NOTEBOOKS asks for small training budgets."""
    return any(_truthy(os.environ.get(name)) for name in FAST_ENV_VARS)


def budget(full, fast):
    """``fast`` under CI / ASSIGNMENT_FAST_NOTEBOOKS, ``full`` otherwise."""
    return fast if fast_mode() else full


def setup_notebook():
    """Call once at the top of a notebook, before importing the Solver.

    Prints which fast layers run (``fast layers: cython (compiled)``, or
    ``fast layers: numpy fallback (<why>)``) and which training budget the notebook runs with.
    Without ipywidgets, tqdm's notebook detection warns "IProgress not found" and falls back to
    a text progress bar; the fallback is fine, so the warning is silenced here (install
    ipywidgets for widget bars).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*IProgress not found.*")
        import tqdm.auto  # noqa: F401 - imported once here, so the Solver's import is quiet

    from assignment import fast_layers

    print(fast_layers.describe())
    if fast_mode():
        which = [name for name in FAST_ENV_VARS if _truthy(os.environ.get(name))]
        print(f"Training budget: small ({' and '.join(which)} set)")
    else:
        print("Training budget: full (set ASSIGNMENT_FAST_NOTEBOOKS=1 for a quick run)")


# ---------------------------------------------------------------------------------------------
# Check lines
# ---------------------------------------------------------------------------------------------


def _fmt_bound(bound):
    bound = float(bound)
    if bound != 0 and (abs(bound) < 1e-3 or abs(bound) >= 1e4):
        mantissa, exponent = f"{bound:.0e}".split("e")
        if float(mantissa) * 10 ** int(exponent) == bound:
            return f"{bound:.0e}"
        return f"{bound:.1e}"
    return f"{bound:g}"


def _line(name, what, value, relation, bound, ok, fmt):
    value_text = "nan" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, fmt)
    verdict = "ok" if ok else ("TOO LARGE" if relation == "below" else "TOO SMALL")
    line = f"{name}: {what} {value_text} (should be {relation} {_fmt_bound(bound)}) {verdict}"
    print(line)
    return line


def check_below(name, what, value, bound, fmt=".2e"):
    """Print ``name: what value (should be below bound) ok``; returns whether value < bound.

    NaN and inf are never below a bound.
    """
    value = float(value)
    ok = bool(np.isfinite(value) and value < bound)
    _line(name, what, value, "below", bound, ok, fmt)
    return ok


def check_at_least(name, what, value, bound, fmt=".3f"):
    """Print ``name: what value (should be at least bound) ok``; returns whether value >= bound."""
    value = float(value)
    ok = bool(np.isfinite(value) and value >= bound)
    _line(name, what, value, "at least", bound, ok, fmt)
    return ok


def check_rel_error(name, got, want, bound):
    """Print the relative error (``gradient_check.rel_error``) of got against want, with its bound.

    Returns the error. Arrays of different shapes count as an infinite error (the line says
    so), so that a wrong shape fails the check instead of stopping the notebook.
    """
    try:
        error = rel_error(got, want)
    except ValueError:
        print(f"{name}: shapes differ: got {np.shape(got)}, want {np.shape(want)}")
        error = math.inf
    check_below(name, "relative error", error, bound)
    return error


def check_grads(label, analytic, numeric, bound, bounds=None):
    """One ``check_rel_error`` line per parameter name, in sorted order.

    Inputs:
    - label: what is checked, e.g. "FullyConnectedNet reg=0"
    - analytic, numeric: dicts of gradients keyed by parameter name
    - bound: the bound for every name not in ``bounds``
    - bounds: optional {name: bound} for names with a bound of their own

    Returns {name: relative error}.
    """
    bounds = bounds or {}
    return {
        name: check_rel_error(f"{label} {name}", analytic[name], numeric[name], bounds.get(name, bound))
        for name in sorted(numeric)
    }


def numeric_grads(model, X, y, h=1e-5):
    """Numerical gradients of ``model.loss(X, y)[0]`` for every parameter, keyed like ``model.params``.

    Each parameter array is perturbed in place and restored (``eval_numerical_gradient``),
    so the model must hold float64 parameters for the differences to be accurate.
    """
    return {
        name: eval_numerical_gradient(lambda _: model.loss(X, y)[0], model.params[name], verbose=False, h=h)
        for name in sorted(model.params)
    }


def parse_check_lines(text):
    """Every check line in ``text`` as a dict (name, what, value, relation, bound, verdict, ok, line)."""
    found = []
    for line in text.splitlines():
        m = CHECK_LINE.match(line.strip())
        if m:
            d = m.groupdict()
            d["value"] = float(d["value"])
            d["bound"] = float(d["bound"])
            d["ok"] = d["verdict"] == "ok"
            d["line"] = line.strip()
            found.append(d)
    return found


# ---------------------------------------------------------------------------------------------
# Timing and devices
# ---------------------------------------------------------------------------------------------


def best_time(fn, repeat=3):
    """The best wall-clock time of ``repeat`` calls of fn(), in seconds, and fn's last result."""
    best, result = math.inf, None
    for _ in range(max(int(repeat), 1)):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def gpu_status():
    """(True, "<device name>") when CuPy and a CUDA device can be used, else (False, why not)."""
    from assignment.devices import require_cupy

    try:
        cupy = require_cupy()
    except RuntimeError as e:
        return False, str(e)
    try:
        name = cupy.cuda.runtime.getDeviceProperties(0)["name"]
        name = name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001 - the name is cosmetic
        name = "CUDA device 0"
    return True, name


# ---------------------------------------------------------------------------------------------
# Pictures
# ---------------------------------------------------------------------------------------------


def load_filter_images(path=None):
    """The two pictures of the convolution demo, as a float64 array of shape (2, 3, H, W) in [0, 255].

    They ship in ``assignment/data/notebook_images.npz`` (made, with their provenance noted, by
    the notebook build script of the instructor's tree). Returns ``(x, names)``.
    """
    path = Path(path) if path is not None else IMAGES_PATH
    if not path.is_file():
        raise FileNotFoundError(f"{path}: the notebook pictures are missing (reinstall the package)")
    with np.load(path, allow_pickle=False) as z:
        images, names = z["images"], [str(n) for n in z["names"]]
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"{path}: images must be uint8 of shape (N, H, W, 3), got {images.dtype} {images.shape}")
    return images.transpose(0, 3, 1, 2).astype(np.float64), names


def imshow_no_ax(ax, img, normalize=True, title=None):
    """Show an (H, W, 3) or (H, W) image on ``ax`` without axes; normalize stretches it to [0, 255]."""
    img = np.asarray(img, dtype=np.float64)
    if normalize:
        lo, hi = img.min(), img.max()
        img = 255.0 * (img - lo) / (hi - lo if hi > lo else 1.0)
    img = np.clip(img, 0, 255).astype(np.uint8)
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
    ax.axis("off")
    if title:
        ax.set_title(title)


def visualize_grid(Xs, ubound=255.0, padding=1):
    """Tile a batch of images into one grid picture (CS231n's vis_utils.visualize_grid).

    Inputs:
    - Xs: images, of shape (N, H, W, C)
    - ubound: each image is rescaled to [0, ubound]
    - padding: blank pixels between neighbouring images

    Returns:
    - grid: of shape (G * (H + padding) - padding, G * (W + padding) - padding, C), G = ceil(sqrt(N))
    """
    Xs = np.asarray(Xs, dtype=np.float64)
    N, H, W, C = Xs.shape
    G = int(math.ceil(math.sqrt(N)))
    grid = np.zeros((G * (H + padding) - padding, G * (W + padding) - padding, C))
    for k in range(N):
        r, c = divmod(k, G)
        img = Xs[k]
        lo, hi = img.min(), img.max()
        y0, x0 = r * (H + padding), c * (W + padding)
        grid[y0 : y0 + H, x0 : x0 + W] = ubound * (img - lo) / (hi - lo if hi > lo else 1.0)
    return grid


# ---------------------------------------------------------------------------------------------
# Executing notebooks (the notebook tests, and the instructor's notebook runs)
# ---------------------------------------------------------------------------------------------


def _kernel_manager():
    """A kernel manager whose kernel is this interpreter (so the venv's packages are used)."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import KernelManager

    spec = KernelSpec(
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        display_name=f"Python {sys.version_info.major}.{sys.version_info.minor} ({sys.prefix})",
        language="python",
    )

    class ThisInterpreter(KernelSpecManager):
        def get_kernel_spec(self, kernel_name):
            return spec

    return KernelManager(kernel_name="python3", kernel_spec_manager=ThisInterpreter())


def execute_notebook(path, cwd=None, timeout=600, env=None):
    """Execute the notebook at ``path`` top to bottom in a fresh kernel; returns the executed notebook.

    Inputs:
    - path: the .ipynb to run (it is read, not written)
    - cwd: the kernel's working directory (default: the notebook's folder)
    - timeout: seconds allowed per cell
    - env: environment variables to set for the kernel (added to this process's)

    Raises nbclient's CellExecutionError when a cell raises, CellTimeoutError when one runs
    out of time. Needs the dev extra (nbclient, ipykernel).
    """
    import nbformat
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        km=_kernel_manager(),
        timeout=timeout,
        resources={"metadata": {"path": str(cwd or path.parent)}},
    )
    client.execute(env={**os.environ, **(env or {})})
    return nb


def notebook_text(nb):
    """Everything the code cells of an executed notebook printed (streams and text results)."""
    parts = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                parts.append(out.get("text", ""))
            elif out.get("output_type") in ("execute_result", "display_data"):
                parts.append(out.get("data", {}).get("text/plain", ""))
            elif out.get("output_type") == "error":
                parts.append("\n".join(out.get("traceback", [])))
        parts.append("\n")
    return "".join(parts)


def notebook_figures(nb):
    """The PNG images an executed notebook displayed, as a list of bytes, in order."""
    import base64

    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data", {})
            if "image/png" in data:
                found.append(base64.b64decode(data["image/png"]))
    return found
