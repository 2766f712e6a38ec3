"""Grading throughput: a class of 200 submissions graded with -j 2, in seconds per submission.

    python benchmarks/bench_grader.py                 # 200 submissions, -j 2, writes benchmarks/grader_results.md
    python benchmarks/bench_grader.py -n 40 --no-write

The class: copies of the solution and, every tenth submission, one of the mutants of
tests/grader_fixtures/mutants.py (so the batch also scores failures). One release (fixed
hidden secret) in a temporary directory, then ``python -m grader grade -j 2`` on the class
through the command line, timed end to end (start-up, staging, every worker, every report).
It checks that no result was lost: one results.json per submission, one row each in
grades.csv, and the expected score for every copy of the solution.

Peers measured in the same run, on the first ``--peer-sample`` submissions: the same grading
in container mode (``--sandbox container``: Landlock + seccomp, no bubblewrap), and the bare work (the same worker
on the same cases, one plain subprocess per case group, no sandbox, no scoring, serially).
"""

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

from grader_fixtures.mutants import MUTANTS, make_submission  # noqa: E402

from assignment.io_utils import atomic_open  # noqa: E402
from grader import cases as cases_module  # noqa: E402
from grader import reference, sandbox  # noqa: E402
from grader.grade import Autograder  # noqa: E402
from grader.release import release  # noqa: E402
from grader.stage import build_stage  # noqa: E402

RESULTS_MD = REPO / "benchmarks" / "grader_results.md"


def make_class(root, ag, n):
    paths = []
    names = sorted(MUTANTS)
    for i in range(n):
        dest = root / f"student{i:03d}"
        if i % 10 == 9:
            make_submission(REPO / "assignment", ag.student_modules, dest, names[(i // 10) % len(names)])
        else:
            for rel in ag.student_modules:
                (dest / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(REPO / "assignment" / rel, dest / "assignment" / rel)
        paths.append(dest)
    return paths


def grade_cli(autograder, out, paths, jobs, mode):
    cmd = [sys.executable, "-m", "grader", "grade", "--autograder", str(autograder), "--out", str(out), "-j",
           str(jobs), "--sandbox", mode, *map(str, paths)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"grading failed ({proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return seconds, proc.stdout


def check_nothing_lost(out, paths, ag):
    total = sum(c.points for c in ag.cases)
    with open(out / "grades.csv", newline="") as f:
        rows = {r["submission"]: r for r in csv.DictReader(f)}
    assert len(rows) == len(paths), f"{len(rows)} rows for {len(paths)} submissions"
    for i, path in enumerate(paths):
        result = json.loads((out / path.name / "results.json").read_text())
        if i % 10 != 9:
            assert result["score"] == total, (path.name, result["score"])
        assert float(rows[path.name]["score"]) == result["score"]
    return total


def bare_work(ag, paths):
    """The same worker, same cases, plain subprocesses, serially: the work without the grader around it."""
    start = time.perf_counter()
    for path in paths:
        with tempfile.TemporaryDirectory(prefix="bench-bare-") as tmp:
            files = {rel: (path / "assignment" / rel).read_bytes() for rel in ag.student_modules}
            stage = build_stage(Path(tmp) / "stage", ag.given_dir, ag.given, files)
            for group, group_cases in ag.groups.items():
                inputs = ag.inputs(group)
                try:
                    reference.run_plain(stage, group_cases, inputs)
                except RuntimeError:
                    pass  # a mutant's failing case: the work was done all the same
    return time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="submissions in the class (default 200)")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="workers at once (default 2)")
    parser.add_argument("--peer-sample", type=int, default=20, help="submissions the peers are measured on")
    parser.add_argument("--no-write", action="store_true", help=f"print only; do not write {RESULTS_MD.name}")
    args = parser.parse_args(argv)

    iso = sandbox.detect("auto")
    with tempfile.TemporaryDirectory(prefix="bench-grader-") as tmp:
        tmp = Path(tmp)
        os.chmod(tmp, 0o755)
        ctx = release(tmp / "release", root=REPO, hidden_seed="bench", echo=lambda *a: None)
        ag = Autograder(ctx.autograder)
        paths = make_class(tmp / "class", ag, args.n)
        load = os.getloadavg()
        seconds, stdout = grade_cli(ctx.autograder, tmp / "results", paths, args.jobs, iso.mode)
        total = check_nothing_lost(tmp / "results", paths, ag)
        sample = paths[: args.peer_sample]
        degraded_s, _ = grade_cli(ctx.autograder, tmp / "results-container", sample, args.jobs, "container")
        bare_s = bare_work(ag, sample)

    per = seconds / args.n
    per_degraded = degraded_s / len(sample)
    per_bare = bare_s / len(sample)
    n_cases = len(ag.cases)
    n_groups = len(cases_module.GROUPS)
    rows = "\n".join([
        f"| grade, {iso.mode}, -j {args.jobs} | {args.n} | {seconds:.1f} s | **{per:.3f} s** | 1.00 |",
        f"| peer: grade, container mode (`--sandbox container`), -j {args.jobs} | {len(sample)} | {degraded_s:.1f} s "
        f"| {per_degraded:.3f} s | {per_degraded / per:.2f} |",
        f"| peer: the bare work (same worker, plain subprocesses, serial, no scoring) | {len(sample)} | {bare_s:.1f} s "
        f"| {per_bare:.3f} s | {per_bare / per:.2f} |",
    ])
    command = f"python benchmarks/bench_grader.py -n {args.n} -j {args.jobs} --peer-sample {args.peer_sample}"
    body = f"""## Grading a class (`python -m grader grade -j {args.jobs}`)

{args.n} submissions ({args.n - args.n // 10} copies of the solution, {args.n // 10} mutants), {n_cases} cases
({total:g} points) in {n_groups} case groups, one sandboxed worker per group and submission; measured end to end
through the command line, every result checked (one results.json and one grades.csv row per submission, full
marks for every copy of the solution: no result lost). {iso.describe()[:1].upper() + iso.describe()[1:]}.

| what | submissions | wall time | per submission | ratio |
| --- | ---: | ---: | ---: | ---: |
{rows}

Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average
{load[0]:.2f} at the start (other work on the machine counts). Command:

    {command}
"""
    print(body)
    print(stdout.strip().splitlines()[-1])
    if not args.no_write:
        with atomic_open(RESULTS_MD, "w") as f:
            f.write(body)
        print(f"wrote {RESULTS_MD}")


if __name__ == "__main__":
    main()
