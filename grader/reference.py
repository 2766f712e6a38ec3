"""Reference values: the instructor's solution run on every case, at release time.

The solution runs through the very worker that will run the students' code (same recipes,
same staging: the solution's student-owned modules on top of the given ones, fast twins
stubbed out), in a plain subprocess: the solution is trusted. Every case must succeed and
produce finite values, or the release stops.

Files written under ``OUT/autograder/`` (directories 0700, files 0600, so that a worker
running under another uid cannot read them even without bubblewrap):

- ``inputs/<group>.npz``: the arrays of every case of the group, keyed ``<case name>:<argument>``;
- ``reference/<group>.npz``: the solution's outputs, keyed ``<case name>:<output>``.

The parent reads a group's reference file only after a worker of that group has exited.
"""

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from grader import sandbox
from grader.caserecord import load_group, split_by_case  # noqa: F401 - re-exported
from grader.stage import build_stage


def run_plain(stage, cases, inputs, timeout=600):
    """Run the worker on ``cases`` without a sandbox (trusted code only); returns {case name: {output: array}}."""
    with tempfile.TemporaryDirectory(prefix="grader-ref-") as tmp:
        run_dir = Path(tmp)
        (run_dir / "out").mkdir()
        entries, arrays = [], {}
        for i, case in enumerate(cases):
            cid = f"c{i:03d}"
            entries.append({"id": cid, "recipe": case.recipe, "params": case.call_params})
            for name, value in inputs[case.name].items():
                arrays[f"{cid}.{name}"] = value
        (run_dir / "plan.json").write_text(json.dumps({"cases": entries}))
        np.savez(run_dir / "inputs.npz", **arrays)
        env = sandbox.worker_env(run_dir / "out")
        syspath = [arg for path in sandbox.worker_syspath() for arg in ("--syspath", path)]
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-B", str(sandbox.WORKER_PATH), "--stage", str(stage), "--io", str(run_dir),
             *syspath],
            capture_output=True, text=True, timeout=timeout, env=env, cwd=tmp,
        )
        out_path = run_dir / "out" / "outputs.npz"
        if proc.returncode != 0 or not out_path.exists():
            raise RuntimeError(f"the worker failed on the solution (status {proc.returncode}):\n{proc.stdout[-3000:]}"
                               f"{proc.stderr[-3000:]}")
        with np.load(out_path, allow_pickle=False) as data:
            raw = {k: data[k] for k in data.files}
    if "__done__" not in raw:
        raise RuntimeError("the worker did not finish the solution's cases")
    results = {}
    for i, case in enumerate(cases):
        prefix = f"c{i:03d}."
        outs = {k[len(prefix):]: v for k, v in raw.items() if k.startswith(prefix)}
        if "__error__" in outs:
            raise RuntimeError(f"the solution fails case {case.name}:\n{outs['__error__']}")
        for name, value in outs.items():
            if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
                raise RuntimeError(f"the solution's output {name!r} of case {case.name} is not finite")
        results[case.name] = {k: np.asarray(v, dtype=np.float64) if v.dtype.kind in "fiub" else v
                              for k, v in outs.items()}
    return results


def _private(path):
    os.chmod(path, 0o600)


def write_group_files(out_dir, group, cases, inputs, reference):
    """inputs/<group>.npz and reference/<group>.npz, readable by their owner only."""
    out_dir = Path(out_dir)
    for sub in ("inputs", "reference"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(out_dir / sub, 0o700)
    arrays = {f"{c.name}:{k}": v for c in cases for k, v in inputs[c.name].items()}
    with open(out_dir / "inputs" / f"{group}.npz", "wb") as f:
        np.savez_compressed(f, **arrays)
    _private(out_dir / "inputs" / f"{group}.npz")
    refs = {f"{c.name}:{k}": v for c in cases for k, v in reference[c.name].items()}
    with open(out_dir / "reference" / f"{group}.npz", "wb") as f:
        np.savez_compressed(f, **refs)
    _private(out_dir / "reference" / f"{group}.npz")


def compute(solution_package, student_modules, given, cases_by_group, inputs):
    """Run the solution on every group: {case name: {output: array}}."""
    solution_package = Path(solution_package)
    sources = {rel: (solution_package / rel).read_bytes() for rel in student_modules}
    reference = {}
    with tempfile.TemporaryDirectory(prefix="grader-solution-") as tmp:
        stage = build_stage(Path(tmp) / "stage", solution_package, given, sources)
        for cases in cases_by_group.values():
            reference.update(run_plain(stage, cases, inputs))
    return reference
