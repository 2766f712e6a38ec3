"""The project's atomic writers (``assignment/io_utils.py``), wherever the grader runs.

In the instructor's checkout ``assignment`` is installed and imported as usual. In an
autograder directory (Gradescope's ``/autograder/source``) it is not installed: the same file
is loaded from the autograder's own ``given/`` copy of the package.
"""

import importlib.util
from pathlib import Path

try:
    from assignment.io_utils import atomic_open, write_json, write_npz
except ImportError:  # pragma: no cover - exercised in an autograder directory
    _path = Path(__file__).resolve().parents[1] / "given" / "assignment" / "io_utils.py"
    _spec = importlib.util.spec_from_file_location("_grader_io_utils", _path)
    _module = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_module)
    atomic_open, write_json, write_npz = _module.atomic_open, _module.write_json, _module.write_npz

__all__ = ["atomic_open", "write_json", "write_npz"]
