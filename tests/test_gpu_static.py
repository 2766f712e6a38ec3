"""The GPU twins checked as far as a machine without a GPU allows (see docs/gpu.md, "Checked without a GPU").

Two checks run here with CuPy installed (the ``dev`` extra installs it) and no device:

- **Names**: every attribute chain rooted at the module names ``xp``, ``cupy`` and ``cp`` in the
  files that drive CuPy (``xp.lib.stride_tricks.as_strided``, ``xp.cuda.Device().id``, ...) is
  resolved with ``getattr`` against the installed ``cupy``; a misspelled or removed name fails
  here, naming file:line, instead of on the first GPU run. The check is only sound where those
  names are modules, so it also fails when one of them is bound to anything else in these files.
  Methods called on arrays (``x.reshape``, ``.astype``) are NOT checked: which names hold CuPy
  arrays is not decidable from the source.
- **Kernels**: the package has no kernel source of its own (no RawKernel, ElementwiseKernel,
  ReductionKernel: a test below fails if one appears, so that it gets compiled here too). The CUDA
  that runs on a device is what CuPy generates for the ufuncs the twins call. CuPy's public path
  (calling the ufunc) asks the device for its id before generating anything, so the source is
  built here with CuPy's own pieces: each ufunc's own loop (routine, preamble) for the float32 and
  float64 types the twins use, CuPy's elementwise code generator, its headers and its compiler
  options. It is compiled for sm_90 (H100/H200) to a cubin with NVRTC (through CuPy's compiler
  module) and with ``nvcc`` where the machine has it, and the cubin's ELF header must say sm_90.
  Reductions (sum, mean, max, argmax), indexing, concatenate, pad and the random generator are
  kernels CuPy builds in its own code paths, out of reach without a device: not compiled here.
"""

import ast
import os
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# The files that use CuPy through a module variable.
CUPY_FILES = [
    "assignment/gpu_layers.py",
    "assignment/devices.py",
    "assignment/checks.py",
    "assignment/notebook_utils.py",
    "assignment/classifiers/base.py",
    "assignment/classifiers/network.py",
    "assignment/solver.py",
    "assignment/train.py",
    "benchmarks/bench_gpu_layers.py",
]
ROOTS = {"xp", "cupy", "cp"}
# Calls whose result is the cupy (or numpy) module: the only values these names may be bound to.
MODULE_SOURCES = {"array_module", "require_cupy", "cupy_device"}
ARCH = 90


def _cupy():
    return pytest.importorskip("cupy", reason="CuPy is not installed (the dev extra installs cupy-cuda12x)")


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def _binds_module(value):
    """True when the expression ``value`` evaluates to a module (cupy or numpy) by construction."""
    if isinstance(value, ast.Name) and value.id in {"np", "numpy", "cupy", "cp"}:
        return True
    if isinstance(value, ast.Call):
        f = value.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
        if name in MODULE_SOURCES:
            return True
        if name in {"importorskip", "import_module"} and value.args:
            arg = value.args[0]
            return isinstance(arg, ast.Constant) and arg.value in {"cupy", "numpy"}
    return False


def _chain(node):
    """``xp.a.b`` -> ("xp", ["a", "b"]); ``xp.a.B().c`` -> ("xp", ["a", "B", "()", "c"]); else None."""
    parts = []
    while True:
        if isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and parts:
            parts.append("()")
            node = node.func
        elif isinstance(node, ast.Name):
            return (node.id, parts[::-1]) if parts else None
        else:
            return None


def _resolve(module, parts):
    """None when every name of ``parts`` resolves from ``module``, else the dotted name that does not.

    After a call (``"()"``) the chain continues only on a class: an attribute of the instance must
    then be one of the class (a property, a method, a Cython field). After a call of anything else
    the rest is not checked (its result's type is unknown).
    """
    obj, seen = module, [module.__name__]
    for part in parts:
        if part == "()":
            if not isinstance(obj, type):
                return None
            seen.append("()")
            continue
        seen.append(part)
        if not hasattr(obj, part):
            return ".".join(seen).replace(".()", "()")
        obj = getattr(obj, part)
    return None


def check_cupy_names(source, filename, cupy):
    """Problems (strings "file:line: ...") found in ``source``: unresolvable names, and roots bound
    to something that is not a module (which would make the check unsound)."""
    tree = ast.parse(source, filename)
    problems = []
    inner = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            inner.add(id(node.value))  # a.b of a.b.c: checked as part of a.b.c
            if isinstance(node.value, ast.Call):
                inner.add(id(node.value.func))  # a.B of a.B().c: checked as part of a.B().c
    for node in ast.walk(tree):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        # Bindings of the roots.
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name) and t.id in ROOTS and not _binds_module(node.value):
                        problems.append(f"{where}: {t.id} is bound to {ast.unparse(node.value)}, not a module")
        elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.NamedExpr)):
            t = node.target
            if isinstance(t, ast.Name) and t.id in ROOTS and not _binds_module(node.value):
                problems.append(f"{where}: {t.id} is bound to a non-module value")
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension, ast.withitem)):
            target = node.optional_vars if isinstance(node, ast.withitem) else node.target
            for t in ast.walk(target) if target is not None else ():
                if isinstance(t, ast.Name) and t.id in ROOTS:
                    problems.append(f"{where}: {t.id} is a loop or with target, not a module")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                if isinstance(node, ast.Import):
                    if alias.name.split(".")[0] == "cupy":
                        missing = _resolve(cupy, alias.name.split(".")[1:])
                        if missing:
                            problems.append(f"{where}: import {alias.name}: {missing} does not exist in CuPy")
                    elif bound in ROOTS:
                        problems.append(f"{where}: {bound} is bound to the module {alias.name}")
                elif node.module and node.module.split(".")[0] == "cupy":
                    missing = _resolve(cupy, [*node.module.split(".")[1:], alias.name])
                    if missing:
                        problems.append(f"{where}: from {node.module} import {alias.name}: {missing} does not exist")
                elif bound in ROOTS:
                    problems.append(f"{where}: {bound} is imported from {node.module}, not cupy")
        # Uses of the roots.
        elif isinstance(node, ast.Attribute) and id(node) not in inner:
            chain = _chain(node)
            if chain and chain[0] in ROOTS:
                missing = _resolve(cupy, chain[1])
                if missing:
                    problems.append(f"{where}: {missing} does not exist (in {ast.unparse(node)})")
    return problems


def _cupy_names(source, filename):
    """Every dotted name rooted at xp/cupy/cp in ``source`` (to show that the check sees them)."""
    names = set()
    for node in ast.walk(ast.parse(source, filename)):
        chain = _chain(node) if isinstance(node, ast.Attribute) else None
        if chain and chain[0] in ROOTS:
            names.add(".".join(chain[1]).replace(".()", "()"))
    return names


@pytest.mark.parametrize("path", CUPY_FILES)
def test_every_cupy_name_exists(path):
    cupy = _cupy()
    problems = check_cupy_names((ROOT / path).read_text(), path, cupy)
    assert not problems, f"names CuPy {cupy.__version__} does not have:\n" + "\n".join(problems)


def test_the_name_check_sees_the_twins_names():
    # Not vacuous: the names the twins depend on are among those checked.
    names = _cupy_names((ROOT / "assignment/gpu_layers.py").read_text(), "gpu_layers.py")
    for expected in ("lib.stride_tricks.as_strided", "take_along_axis", "random.default_rng", "cuda.Device().id"):
        assert expected in names, f"{expected} not found among {sorted(names)}"


def test_the_name_check_catches_a_misspelling():
    cupy = _cupy()
    good = "def f(x):\n    xp = array_module(x)\n    return xp.take_along_axis(x, x, axis=1), xp.cuda.Device().id\n"
    assert check_cupy_names(good, "good.py", cupy) == []
    bad = good.replace("take_along_axis", "take_along_axes").replace("Device().id", "Device().idx")
    problems = sorted(check_cupy_names(bad, "bad.py", cupy))
    assert problems == [
        "bad.py:3: cupy.cuda.Device().idx does not exist (in xp.cuda.Device().idx)",
        "bad.py:3: cupy.take_along_axes does not exist (in xp.take_along_axes)",
    ]
    unsound = "def f(x):\n    xp = np.pad(x, 1)\n    return xp.shape\n"
    assert check_cupy_names(unsound, "unsound.py", cupy) == ["unsound.py:2: xp is bound to np.pad(x, 1), not a module"]


# ---------------------------------------------------------------------------------------------
# Kernels
# ---------------------------------------------------------------------------------------------

KERNEL_CONSTRUCTORS = {"RawKernel", "RawModule", "ElementwiseKernel", "ReductionKernel", "fuse", "jit"}

# The Python operators on arrays in the twins, and the CuPy ufunc each one launches.
OPERATOR_UFUNCS = {
    ast.Add: "add", ast.Sub: "subtract", ast.Mult: "multiply", ast.Div: "true_divide",
    ast.FloorDiv: "floor_divide", ast.Pow: "power", ast.Mod: "remainder", ast.USub: "negative",
    ast.Lt: "less", ast.LtE: "less_equal", ast.Gt: "greater", ast.GtE: "greater_equal",
    ast.Eq: "equal", ast.NotEq: "not_equal", ast.Invert: "invert",
    ast.BitAnd: "bitwise_and", ast.BitOr: "bitwise_or",
}
# CuPy routines the twins call that launch a ufunc of CuPy's internals: (module, name).
ROUTINE_UFUNCS = {"where": ("cupy._sorting.search", "_where_ufunc")}
TWIN_DTYPES = {np.dtype(np.float32), np.dtype(np.float64)}


def test_the_package_has_no_kernel_source_of_its_own():
    # The compile test below covers CuPy's generated kernels only. A RawKernel or ElementwiseKernel
    # added to the package must be compiled here too: this fails until that is done.
    found = []
    for path in sorted(str(p.relative_to(ROOT)) for p in (ROOT / "assignment").rglob("*.py")):
        for node in ast.walk(ast.parse((ROOT / path).read_text(), path)):
            if isinstance(node, ast.Attribute) and node.attr in KERNEL_CONSTRUCTORS:
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cupy"):
                found += [f"{path}:{node.lineno}: {a.name}" for a in node.names if a.name in KERNEL_CONSTRUCTORS]
    assert not found, "kernel sources that tests/test_gpu_static.py does not compile yet:\n" + "\n".join(found)


def _twin_ufuncs(cupy):
    """The CuPy ufuncs that assignment/gpu_layers.py launches, by name: its xp.<ufunc> calls, the
    ufuncs behind its array operators, and those behind the routines of ROUTINE_UFUNCS."""
    import importlib

    tree = ast.parse((ROOT / "assignment/gpu_layers.py").read_text())
    ufuncs = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "xp":
            obj = getattr(cupy, node.attr, None)
            if isinstance(obj, cupy.ufunc):
                ufuncs[node.attr] = obj
            elif node.attr in ROUTINE_UFUNCS:
                module, name = ROUTINE_UFUNCS[node.attr]
                ufuncs[node.attr] = getattr(importlib.import_module(module), name)
        ops = []
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.AugAssign)):
            ops = [node.op]
        elif isinstance(node, ast.Compare):
            ops = node.ops
        for op in ops:
            if type(op) in OPERATOR_UFUNCS:
                name = OPERATOR_UFUNCS[type(op)]
                ufuncs[name] = getattr(cupy, name)
    return ufuncs


def _kernel_sources(cupy):
    """[(kernel name, CUDA source)] for each twin ufunc's loops over float32 or float64 (with bool
    where the loop takes or gives one), as CuPy's generator writes them for 1-d contiguous arrays."""
    from cupy._core import _carray, _kernel, core

    header = "".join(f"#include <{h}>\n" for h in core._cupy_header_list)
    sources = []
    for ufunc in _twin_ufuncs(cupy).values():
        for op in ufunc._ops.ops:
            types = [np.dtype(t) for t in (*op.in_types, *op.out_types)]
            if not (set(types) & TWIN_DTYPES) or not set(types) <= TWIN_DTYPES | {np.dtype(bool)}:
                continue
            if not isinstance(op.routine, str):
                continue
            name = f"{ufunc.name}__{'_'.join(t.name for t in types)}"
            kernel = cupy.ElementwiseKernel(
                ", ".join(f"{np.dtype(t).name} in{i}" for i, t in enumerate(op.in_types)),
                ", ".join(f"{np.dtype(t).name} out{i}" for i, t in enumerate(op.out_types)),
                op.routine, name, preamble=ufunc._preamble, loop_prep=ufunc._loop_prep,
            )
            arginfos = tuple(_kernel._ArgInfo(1, cupy.ndarray, t, 1, True, True) for t in types)  # 1: an ndarray
            arginfos += (_kernel._ArgInfo(2, _carray.Indexer, None, 1, True, True),)  # 2: the indexer
            # The typedefs a ufunc loop's routine may name (in0_type, out0_type), as the ufunc path writes them.
            type_map = _kernel._TypeMap(
                tuple((f"in{i}_type", np.dtype(t)) for i, t in enumerate(op.in_types))
                + tuple((f"out{i}_type", np.dtype(t)) for i, t in enumerate(op.out_types))
            )
            code = _kernel._get_elementwise_kernel_code(
                arginfos, type_map, kernel.params, kernel.operation, kernel.name, kernel.preamble,
                loop_prep=ufunc._loop_prep,
            )
            sources.append((name, header + code))
    return sources


def _cubin_sm(cubin):
    """The SM a CUDA cubin is for, read from its ELF header (ABI 7: NVRTC 12, ABI 8: CUDA 13)."""
    assert cubin[:4] == b"\x7fELF", "not an ELF file"
    abi = cubin[8]
    flags = struct.unpack_from("<I", cubin, 0x30)[0]
    if abi == 7:
        return flags & 0xFF
    if abi == 8:
        return (flags >> 8) & 0xFF
    raise AssertionError(f"unknown cubin ABI version {abi} (e_flags {flags:#x}): teach _cubin_sm to read it")


def _compiler_options(core):
    # What CuPy passes for a ufunc kernel: its include paths and --std=c++17 (core.compile_with_cache),
    # -ftz=true (compiler._compile_with_cache_cuda).
    return (*core.assemble_cupy_compiler_options(("--std=c++17",)), "-ftz=true")


@pytest.fixture(scope="module")
def kernel_sources():
    cupy = _cupy()
    sources = _kernel_sources(cupy)
    names = {name.split("__")[0] for name, _ in sources}
    # Not vacuous: the elementwise math of the twins is there.
    for expected in ("cupy_exp", "cupy_log", "cupy_sqrt", "cupy_maximum", "cupy_where", "cupy_add", "cupy_less"):
        assert expected in names, f"{expected} missing from {sorted(names)}"
    return sources


def test_the_twins_kernels_compile_for_sm90_with_nvrtc(kernel_sources):
    cupy = _cupy()
    from cupy._core import core
    from cupy.cuda import compiler, nvrtc

    try:
        version = nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001 - libnvrtc missing: the dev extra's nvidia-cuda-nvrtc-cu12 provides it
        pytest.skip(f"NVRTC cannot be loaded ({type(exc).__name__}: {exc})")
    # compiler.compile_using_nvrtc(arch=...) still asks the device for its id (a memo per device), so
    # the program is built with the class it uses, and the options it adds: the arch, cubin output,
    # and --device-as-default-execution-space.
    options = (*_compiler_options(core), f"-arch=sm_{ARCH}", "--device-as-default-execution-space")
    failures = []
    for name, source in kernel_sources:
        try:
            cubin, _ = compiler._NVRTCProgram(source, f"{name}.cu", method="cubin").compile(options)
        except compiler.CompileException as exc:
            failures.append(f"{name}: {exc}")
            continue
        assert _cubin_sm(cubin) == ARCH, f"{name}: cubin for sm_{_cubin_sm(cubin)}"
    assert not failures, f"NVRTC {version} (CuPy {cupy.__version__}):\n" + "\n".join(failures)


def _nvcc():
    path = os.environ.get("NVCC") or shutil.which("nvcc") or "/usr/local/cuda/bin/nvcc"
    return path if Path(path).exists() else None


def test_the_twins_kernels_compile_for_sm90_with_nvcc(kernel_sources):
    cupy = _cupy()
    from cupy._core import core
    from cupy.cuda import compiler

    if _nvcc() is None:
        pytest.skip("nvcc is not on this machine (PATH, $NVCC, /usr/local/cuda/bin)")
    os.environ.setdefault("NVCC", _nvcc())
    failures = []
    for name, source in kernel_sources:
        try:
            cubin = compiler.compile_using_nvcc(source, _compiler_options(core), arch=str(ARCH), filename=f"{name}.cu")
        except compiler.CompileException as exc:
            failures.append(f"{name}: {exc}")
            continue
        assert _cubin_sm(cubin) == ARCH, f"{name}: cubin for sm_{_cubin_sm(cubin)}"
    assert not failures, f"{_nvcc()} (CuPy {cupy.__version__}):\n" + "\n".join(failures)


def test_a_broken_kernel_does_not_compile():
    # The compile tests can fail: a kernel with an undefined function is refused by NVRTC.
    cupy = _cupy()
    from cupy._core import core
    from cupy.cuda import compiler, nvrtc

    try:
        nvrtc.getVersion()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"NVRTC cannot be loaded ({type(exc).__name__}: {exc})")
    (name, source), *_ = _kernel_sources(cupy)
    broken = source.replace("out0 = ", "out0 = no_such_function() + ", 1)
    assert broken != source
    options = (*_compiler_options(core), f"-arch=sm_{ARCH}", "--device-as-default-execution-space")
    with pytest.raises(compiler.CompileException, match="no_such_function"):
        compiler._NVRTCProgram(broken, f"{name}.cu", method="cubin").compile(options)
