"""Write the student notebooks from their jupytext sources, check them, or execute a copy.

    python scripts/build_notebooks.py              # notebooks/<Name>.py -> <Name>.ipynb (top level, no outputs)
    python scripts/build_notebooks.py --check      # exit 1 if a stored .ipynb differs from its source
    python scripts/build_notebooks.py --execute    # execute copies in build/notebooks/ (outputs kept, for reading)
    python scripts/build_notebooks.py --execute --fast --figures DIR [--into DIR] [Name ...]

The sources are percent-format Python (``# %%`` code cells, ``# %% [markdown]`` cells, IPython
magics commented out as ``# %load_ext ...``); jupytext reads them. The top-level notebooks are
what the release ships to students: cells only, stable ids, one kernelspec, no outputs and no
jupytext metadata. ``--execute`` never touches them: it writes each notebook, built from its
source, into a scratch folder and executes it there with nbclient, in a kernel of this
interpreter whose working directory is the repository root.
"""

import argparse
import os
import sys
from pathlib import Path

import jupytext
import nbformat

from grader import cases

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "notebooks"
SCRATCH = ROOT / "build" / "notebooks"
# In the order a student works through them: the grader's list, which the student README and
# `grader check` follow too.
NOTEBOOKS = tuple(name.removesuffix(".ipynb") for name in cases.NOTEBOOKS)
METADATA = {
    "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"},
    "language_info": {"name": "python", "pygments_lexer": "ipython3"},
}
NEW_CELL = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell}


def source_of(name):
    return SOURCES / f"{name}.py"


def path_of(name):
    return ROOT / f"{name}.ipynb"


def build(name):
    """The notebook ``name`` from its source: an nbformat NotebookNode, no outputs, stable cell ids."""
    text = jupytext.read(source_of(name), fmt="py:percent")
    nb = nbformat.v4.new_notebook(metadata=nbformat.from_dict(METADATA))
    for i, cell in enumerate(text.cells):
        if cell.cell_type not in NEW_CELL:
            raise ValueError(f"{source_of(name)}: cell {i} is a {cell.cell_type} cell; use code or markdown")
        new = NEW_CELL[cell.cell_type](cell.source)  # the source's cell metadata is not kept
        new.id = f"{name[:20].lower()}-{i:03d}"
        nb.cells.append(new)
    nbformat.validate(nb)
    return nb


def render(nb):
    return nbformat.writes(nb) + "\n"


def write_all():
    for name in NOTEBOOKS:
        path_of(name).write_text(render(build(name)))
        print(f"wrote {path_of(name).name}")


def check_all():
    stale = [name for name in NOTEBOOKS
             if not path_of(name).is_file() or path_of(name).read_text() != render(build(name))]
    for name in stale:
        print(f"{name}.ipynb differs from notebooks/{name}.py; run python scripts/build_notebooks.py")
    return not stale


def execute_all(names, into, fast, figures_dir, timeout):
    """Execute fresh copies of ``names`` in ``into``; True when every run finished and every check is ok."""
    sys.path.insert(0, str(ROOT))
    from assignment import notebook_utils

    into = Path(into)
    into.mkdir(parents=True, exist_ok=True)
    pythonpath = os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)
    env = {"PYTHONPATH": pythonpath, **({"ASSIGNMENT_FAST_NOTEBOOKS": "1"} if fast else {})}
    failed = []
    for name in names:
        path = into / f"{name}.ipynb"
        path.write_text(render(build(name)))
        print(f"executing {path} ...", flush=True)
        try:
            nb = notebook_utils.execute_notebook(path, cwd=ROOT, timeout=timeout, env=env)
        except Exception as e:  # noqa: BLE001 - reported, then the next notebook runs
            print(f"  {name} FAILED: {type(e).__name__}: {str(e)[-2000:]}")
            failed.append(name)
            continue
        nbformat.write(nb, path)
        checks = notebook_utils.parse_check_lines(notebook_utils.notebook_text(nb))
        bad = [c["line"] for c in checks if not c["ok"]]
        print(f"  {len(checks)} checks, {len(bad)} not ok" + "".join(f"\n    {line}" for line in bad))
        if bad:
            failed.append(name)
        if figures_dir:
            out = Path(figures_dir)
            out.mkdir(parents=True, exist_ok=True)
            for k, png in enumerate(notebook_utils.notebook_figures(nb), start=1):
                (out / f"{name}_{k:02d}.png").write_bytes(png)
    return not failed


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = p.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="compare the stored notebooks with their sources")
    group.add_argument("--execute", action="store_true", help="execute copies of the notebooks in a scratch folder")
    p.add_argument("--into", metavar="DIR", default=SCRATCH,
                   help=f"with --execute: the scratch folder (default {SCRATCH.relative_to(ROOT)})")
    p.add_argument("--fast", action="store_true", help="with --execute: small training budgets")
    p.add_argument("--figures", metavar="DIR", help="with --execute: write every displayed PNG into DIR")
    p.add_argument("--timeout", type=int, default=1800, help="with --execute: seconds per cell (default 1800)")
    p.add_argument("names", nargs="*", help=f"notebooks to execute (default: all of {', '.join(NOTEBOOKS)})")
    args = p.parse_args(argv)
    unknown = sorted(set(args.names) - set(NOTEBOOKS))
    if unknown:
        p.error(f"unknown notebooks {unknown}; choose from {list(NOTEBOOKS)}")
    if not args.execute and (args.names or args.fast or args.figures or args.into != SCRATCH):
        p.error("names, --into, --fast and --figures go with --execute")
    into = Path(args.into).resolve()
    if args.execute and into == ROOT:
        p.error("--into must not be the repository root: the tracked notebooks stay clean")
    if args.check:
        return 0 if check_all() else 1
    if args.execute:
        return 0 if execute_all(args.names or NOTEBOOKS, into, args.fast, args.figures, args.timeout) else 1
    write_all()
    return 0


if __name__ == "__main__":
    sys.exit(main())
