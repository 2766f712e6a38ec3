"""The fast CPU twins of the naive layers: compiled (Cython) where the build made them, else pure numpy.

Everybody imports this module (the models through ``assignment.registry.get_ops``, the registry, the tests,
the notebooks)::

    from assignment import fast_layers
    out, cache = fast_layers.conv_forward_fast(x, w, b, conv_param)

Public names, the naive contract (same arguments, caches, gradient shapes and dtypes, same
``ValueError`` on bad input), each dispatching CuPy arrays to ``assignment.gpu_layers``:

- ``conv_forward_fast`` / ``conv_backward_fast``, ``conv_relu_forward_fast`` / ``conv_relu_backward_fast``
- ``max_pool_forward_fast`` / ``max_pool_backward_fast``, ``avg_pool_forward_fast`` / ``avg_pool_backward_fast``
- ``relu_forward_fast`` / ``relu_backward_fast``
- the same names with ``_cpu`` instead of ``_fast``: the CPU twins alone, without the dispatch

There is no affine twin: ``layers.affine_forward`` is one GEMM and measured faster than a threaded
Cython one, so the naive affine layer serves as the fast one (its row in ``assignment.registry``
says so, and ``registry.get_ops("fast")`` takes the naive function for it).

Which twins serve them:

- ``assignment._fast_cython``, compiled from ``fast_layers.pyx`` (and the ``assignment/fast/``
  files it includes) by ``pip install`` where a C compiler works (the fast ones);
- otherwise ``assignment._fast_numpy``, pure numpy (no compiler needed; slower, same results).
  Importing this module then warns once (``FastLayersFallbackWarning``), saying why and how to
  get the compiled twins.

``BACKEND`` is ``"cython"`` or ``"numpy"``; ``REASON`` says why the compiled twins are not in use
(None when they are); ``describe()`` is the one line the demo and the notebooks print.

The environment variable ``ASSIGNMENT_FAST_LAYERS`` chooses, when this module is first imported:
unset or ``auto`` takes the compiled twins when they import; ``numpy`` blocks them (to test the
fallback, as a machine without a compiler runs it); ``cython`` requires them (ImportError if they
do not import).
"""

import importlib
import os
import warnings

from assignment import _fast_numpy

ENV_VAR = "ASSIGNMENT_FAST_LAYERS"
CHOICES = ("auto", "cython", "numpy")
INSTALL_HINT = ("To get the compiled twins, install a C compiler (gcc or clang; on Windows, the Visual Studio "
                "Build Tools) and reinstall the package from its folder: pip install -e .")


class FastLayersFallbackWarning(UserWarning):
    """The compiled fast layers are not in use: ``assignment.fast_layers`` serves the numpy twins."""


def _choice():
    """The value of ASSIGNMENT_FAST_LAYERS, checked ("auto" when unset or empty)."""
    value = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise ValueError(f"{ENV_VAR} must be one of {', '.join(CHOICES)} (or unset), got {os.environ[ENV_VAR]!r}")
    return value


def _first_line(exc):
    """``Type: first line of the message`` of an exception, at most 200 characters of message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200] if text else ''}"


def _load_compiled(choice):
    """(the compiled module, None), or (None, why it is not used)."""
    if choice == "numpy":
        return None, f"blocked by {ENV_VAR}=numpy"
    try:
        compiled = importlib.import_module("assignment._fast_cython")
    except (ImportError, OSError) as exc:
        why = f"the compiled extension assignment._fast_cython did not import ({_first_line(exc)})"
        if choice == "cython":
            raise ImportError(f"{ENV_VAR}=cython requires the compiled fast layers, but {why}. {INSTALL_HINT}") from exc
        return None, why
    return compiled, None


def _warn_fallback(reason):
    """The one warning of a process that runs the numpy twins: why, and how to get the compiled ones."""
    how = f"Unset {ENV_VAR} to use the compiled twins." if reason.startswith("blocked by") else INSTALL_HINT
    message = f"assignment.fast_layers: running the pure-numpy fast layers (same results, slower): {reason}. {how}"
    warnings.warn(message, FastLayersFallbackWarning, stacklevel=2)


CYTHON, REASON = _load_compiled(_choice())
NUMPY = _fast_numpy
IMPL = CYTHON if CYTHON is not None else NUMPY
BACKEND = "cython" if CYTHON is not None else "numpy"

if CYTHON is None:  # once per process: a module's top level runs once
    _warn_fallback(REASON)


def describe():
    """The line the demo and the notebooks print: ``fast layers: cython (compiled)``, or
    ``fast layers: numpy fallback (<why>)``."""
    if BACKEND == "cython":
        return "fast layers: cython (compiled)"
    return f"fast layers: numpy fallback ({REASON})"


def twins(backend):
    """The module of one backend's twins, ``"cython"`` or ``"numpy"``, for tests and benchmarks.

    Raises ImportError, saying why, when the compiled twins are asked for and not in use.
    """
    if backend == "numpy":
        return NUMPY
    if backend == "cython":
        if CYTHON is None:
            raise ImportError(f"the compiled fast layers are not in use: {REASON}")
        return CYTHON
    raise ValueError(f"backend must be 'cython' or 'numpy', got {backend!r}")


def __getattr__(name):
    """A twin by name (``conv_forward_fast``, ``max_pool_backward_cpu``, ...), from the backend in use.

    No list of operations here: the operation table (``assignment.registry``) names the twins, and
    a name the backend lacks raises AttributeError, as a missing twin must.
    """
    if name.endswith(_TWIN_SUFFIXES) and not name.startswith("_"):
        return getattr(IMPL, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | {n for n in dir(IMPL) if n.endswith(_TWIN_SUFFIXES) and not n.startswith("_")})


_TWIN_SUFFIXES = ("_fast", "_cpu")
