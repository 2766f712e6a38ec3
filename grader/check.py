"""``python -m grader check``: a student's self-check on the public cases.

Run inside the student tree (the directory holding ``assignment/`` and ``grader/``). It stages
the tree's ``assignment`` package the way the grader does (fast twins stubbed out), runs the
public cases in worker processes with rlimits and timeouts (no sandbox: it is your own code
on your own machine), and compares with the instructor's values using the grader's own
comparator. Hidden cases, with other seeds and shapes, are not here.
"""

import json
import re
import tempfile
from pathlib import Path

from grader import runner, sandbox
from grader.caserecord import Case, load_group
from grader.compare import feedback
from grader.stage import build_stage, given_modules

HIDDEN_NOTE = ("These are the public cases only. The grader also runs hidden cases with other seeds and other shapes "
               "(N = 1, non-square inputs and kernels, stride 2, pad 0 and 2, ties, several optimizer steps, "
               "regularization): passing here does not guarantee passing there.")


def data_dir():
    return Path(__file__).resolve().parent


def tree_root():
    return data_dir().parent


def public_case_names():
    path = data_dir() / "public_cases.json"
    if not path.exists():
        return []
    return [d["name"] for d in json.loads(path.read_text())["cases"]]


def load_public():
    here = data_dir()
    path = here / "public_cases.json"
    if not path.exists():
        raise FileNotFoundError(
            f"no public cases in {here}: run the check inside the assignment folder you were given, the one "
            f"holding assignment/, grader/ and the notebooks")
    cases = [Case.from_json(d) for d in json.loads(path.read_text())["cases"]]
    return cases, load_group(here / "public_inputs.npz"), load_group(here / "public_expected.npz")


def run_public(root=None, jobs=2, limits=None):
    """{case name: (case, CaseResult)} for every public case, run on the tree at ``root``."""
    root = Path(root or tree_root())
    if not (root / "assignment").is_dir():
        raise FileNotFoundError(f"{root} has no assignment/ folder: pass --tree the student tree that holds "
                                f"assignment/ (and grader/)")
    cases, inputs, expected = load_public()
    limits = limits or sandbox.Limits(case_timeout=60.0, group_timeout=600.0, memory_mb=4096)
    iso = sandbox.Isolation("unsafe", uid_drop=False, notes=["self-check on the student's own machine"])
    package = root / "assignment"
    with tempfile.TemporaryDirectory(prefix="grader-check-") as tmp:
        stage = build_stage(Path(tmp) / "stage", package, given_modules(package, []), {})
        groups = {}
        for case in cases:
            groups.setdefault(case.group, []).append(case)
        tasks = [runner.Task(key=group, stage=stage, cases=group_cases,
                             inputs={c.name: inputs[c.name] for c in group_cases},
                             reference=lambda case: expected[case.name])
                 for group, group_cases in groups.items()]
        work = Path(tmp) / "work"
        work.mkdir()
        runner.Runner(iso, limits, jobs, work).run(tasks)
    results = {}
    for task in tasks:
        for case in task.cases:
            results[case.name] = (case, task.results[case.name])
    return {c.name: results[c.name] for c in cases}


def public_meta():
    """The public cases' record: the student modules, the grade's scale, each case's notebook, the cases."""
    return json.loads((data_dir() / "public_cases.json").read_text())


def in_tree(text, root=None):
    """Traceback lines that name ``assignment/...`` name the file in the student's tree instead."""
    root = Path(root or tree_root())
    return text.replace('File "assignment/', f'File "{root / "assignment"}/')


def explain(case, result, root=None):
    return in_tree(feedback(case, result), root)


def _todo_functions(results):
    """{function: file} of the TODOs that raised, in case order (from ``not implemented: f (file, line n)``)."""
    out = {}
    for _, result in results.values():
        match = re.match(r"not implemented: (\S+)(?: \(([^,]+), line \d+\))?", result.reason or "")
        if match:
            out.setdefault(match.group(1), match.group(2))
    return out


def summary(results, meta, echo=print):
    """The lines after the per-case table: points on the grade's scale, what is left, and where to check it."""
    passed = sum(r.passed for _, r in results.values())
    points = sum(r.score for _, r in results.values())
    public = sum(c.points for c, _ in results.values())
    grade = meta.get("grade_max_score", public)
    echo(f"Public cases: {passed} of {len(results)} pass, {points:g} of their {public:g} points. "
         f"The grade is out of {grade:g} points: these {public:g} and {grade - public:g} from hidden cases.")
    failing = {}
    for name, (_, result) in results.items():
        if not result.passed:
            failing.setdefault(meta.get("notebooks", {}).get(name, "(no notebook)"), []).append(name)
    if failing:
        order = meta.get("notebook_order", [])
        echo("Still failing, by the notebook whose check cells cover them (in the order of the work):")
        for notebook in sorted(failing, key=lambda n: order.index(n) if n in order else len(order)):
            echo(f"  {notebook}: {', '.join(failing[notebook])}")
    by_file = {}
    for function, where in _todo_functions(results).items():
        by_file.setdefault(where or "?", []).append(function)
    if by_file:
        echo("Not implemented yet (the TODOs these cases ran into):")
        for where, functions in by_file.items():
            echo(f"  {where}: {', '.join(functions)}")
    echo(HIDDEN_NOTE)
    return passed == len(results)


def main(verbose=False, root=None, echo=print):
    root = Path(root or tree_root())
    results = run_public(root)
    for name, (case, result) in results.items():
        mark = "PASS" if result.passed else "FAIL"
        err = f"error {result.error:.1e}" if result.error is not None else ""
        echo(f"  {mark} {name:<34} {err:<16} {'' if result.passed else result.reason}")
        if verbose and not result.passed:
            echo("      " + explain(case, result, root).replace("\n", "\n      "))
    ok = summary(results, public_meta(), echo)
    if not ok and not verbose:
        echo("For each failure's hint, errors and traceback: python -m grader check -v")
    return 0 if ok else 1
