"""``python -m grader submit`` (``make submit``): the public check, then ``submission.zip`` to hand in.

Run inside the student tree. The zip holds exactly what the autograder reads, the student-owned
modules as ``assignment/<module>``, plus the top-level notebooks (their inline answers are read by
the course staff, not graded automatically). It is written next to ``assignment/`` through a
temporary file and a rename, so an interrupted run never leaves half a zip behind.
"""

import os
import tempfile
import zipfile
from pathlib import Path

from grader import check

ZIP_NAME = "submission.zip"
DEFAULT_SUBMIT_TO = "the assignment's page on Gradescope, or wherever your course collects it"


def contents(root, meta):
    """[(name in the zip, path on disk)]: the student-owned modules (``meta``: the public cases'
    record), then the notebooks, sorted."""
    root = Path(root)
    missing = [m for m in meta["student_modules"] if not (root / "assignment" / m).is_file()]
    if missing:
        raise FileNotFoundError(f"{root / 'assignment'} lacks {', '.join(missing)}: the grader reads these files")
    files = [(f"assignment/{m}", root / "assignment" / m) for m in meta["student_modules"]]
    files += [(p.name, p) for p in sorted(root.glob("*.ipynb")) if p.is_file()]
    return files


def write_zip(root, files, name=ZIP_NAME):
    """Write ``root/name`` atomically; returns its path."""
    root = Path(root)
    fd, tmp = tempfile.mkstemp(prefix=".submission-", suffix=".zip", dir=root)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as zf:
            for arcname, path in files:
                zf.write(path, arcname)
        os.chmod(tmp, 0o644)
        os.replace(tmp, root / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return root / name


def main(root=None, echo=print):
    root = Path(root or check.tree_root())
    meta = check.public_meta()
    files = contents(root, meta)
    results = check.run_public(root)
    echo("Public check:")
    check.summary(results, meta, echo)
    path = write_zip(root, files)
    modules = [n for n, _ in files if n.startswith("assignment/")]
    notebooks = [n for n, _ in files if n.endswith(".ipynb")]
    echo(f"Wrote {path} ({path.stat().st_size / 1024:.0f} KiB): {', '.join(modules)}; "
         f"{len(notebooks)} notebooks ({', '.join(notebooks)}).")
    echo(f"Upload {path.name} to {meta.get('submit_to') or DEFAULT_SUBMIT_TO}.")
    return 0
