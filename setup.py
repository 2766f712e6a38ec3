"""Builds the Cython fast layers; everything else lives in pyproject.toml.

The extension is optional: where no C compiler works (or Cython is missing), the install goes on
without it and ``assignment.fast_layers`` serves its pure-numpy fallback (``fast_layers.BACKEND``
says which). ``assignment/fast_layers.pyx`` compiles to the private module
``assignment._fast_cython``; ``assignment/fast_layers.py`` is the module everybody imports.

The .pyx is a map: it ``include``s the algorithms from ``assignment/fast/*.pxi`` and declares the
AVX2 kernels of the C headers ``assignment/fast/*.h`` (``cdef extern from "simd.h"``), so that
folder is on the C include path, and every file in it is a dependency: editing one rebuilds the
extension.
"""

import glob
import sys

import numpy as np
from setuptools import Extension, setup

if sys.platform == "darwin":
    compile_args, link_args = ["-O3"], []
else:
    compile_args, link_args = ["-O3", "-fopenmp"], ["-fopenmp"]

FAST_DIR = "assignment/fast"  # the .pxi files the .pyx includes and the C headers it declares

extensions = [
    Extension(
        "assignment._fast_cython",
        ["assignment/fast_layers.pyx"],
        depends=sorted(glob.glob(f"{FAST_DIR}/*.pxi") + glob.glob(f"{FAST_DIR}/*.h")),
        include_dirs=[np.get_include(), FAST_DIR],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        extra_compile_args=compile_args,
        extra_link_args=link_args,
    )
]


def ext_modules():
    """The Cython extension, translated to C under build/ (no C file lands in the package); none without Cython."""
    try:
        from Cython.Build import cythonize
    except ImportError:
        print("warning: Cython is not installed; the compiled fast layers are skipped (the numpy fallback runs)",
              file=sys.stderr)
        return []
    modules = cythonize(
        extensions,
        build_dir="build/cython",
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
    for ext in modules:
        # A failed compile or link is then a warning, not a failed install. Set here, on cythonize's
        # extensions: it copies the compile settings of ours but not ``optional``.
        ext.optional = True
    return modules


setup(ext_modules=ext_modules())
