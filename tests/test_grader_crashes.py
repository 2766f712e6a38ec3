"""A crash costs only the cases that crash, even inside a function whose other cases never reach it.

``LinearClassifier.loss`` serves the SVM cases (``layers.svm_loss``) and the softmax cases
(``layers.softmax_loss``). A submission whose ``softmax_loss`` kills its own process (``os._exit``,
SIGKILL to itself, a segfault) must score exactly what its honest twin scores (``softmax_loss``
raising NotImplementedError), and the SVM cases of ``LinearClassifier.loss`` must pass: after a
worker dies, the runner runs the dead function's remaining cases one per fresh worker
(``grader/runner.py``). The batch is graded with ``grader.grade.grade`` in the default mode
(``auto``: bubblewrap where it works).

The runner's bounds are checked on the ``linear`` group alone: a submission that crashes in every
case costs one run per case, and a hang in every case of a function stays inside the group's clock,
with the cases it left "not run: the group's time ran out".
"""

import functools
import shutil
import sys
import time

import pytest
from grader_fixtures import SOLUTION, fast_limits, released, workdir
from grader_fixtures.hostile import SHARED_CRASHES, copy_solution, make_shared_crash

from grader import grade as grade_module
from grader import runner, sandbox, submission
from grader.stage import build_stage

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's sandbox is Linux-only")

SVM_CASES = ("LinearSVM.loss.p1", "LinearSVM.loss.h1")
LOSS_TARGET = "assignment.classifiers.linear.LinearClassifier.loss"


def _quiet(*args):
    pass


@functools.cache
def batch():
    """{stem: result dict of grade.grade} for the shared crashes, their twin and the solution."""
    ctx = released()
    base = workdir() / "crashes"
    if base.exists():
        shutil.rmtree(base)
    paths = [make_shared_crash(SOLUTION, ctx.student_modules, base / "subs" / name, name) for name in SHARED_CRASHES]
    paths.append(copy_solution(SOLUTION, ctx.student_modules, base / "subs" / "solution"))
    results = grade_module.grade(ctx.autograder, base / "results", paths, jobs=2,
                                 limits=fast_limits(group_timeout=60.0), echo=_quiet)
    return {res["stem"]: res for res in results}


def _cases(res):
    return {case.name: (case, result) for case, result in res["cases"]}


def test_the_batch_runs_sandboxed_and_the_twin_loses_what_calls_softmax_loss():
    b = batch()
    solution, twin = b["solution"], b["softmax_twin"]
    assert solution["isolation_mode"] != "unsafe", solution["isolation"]
    assert solution["score"] == solution["max_score"]
    lost = {name for name, (_, r) in _cases(twin).items() if not r.passed}
    assert {"Softmax.loss.p1", "Softmax.loss.h1", "softmax_loss.p1"} <= lost
    assert all(r.reason.startswith("not implemented") for name, (_, r) in _cases(twin).items() if name in lost)
    for name in SVM_CASES:
        assert _cases(twin)[name][1].passed


@pytest.mark.parametrize("crash", sorted(set(SHARED_CRASHES) - {"softmax_twin"}))
def test_a_crash_in_softmax_loss_scores_exactly_its_twin(crash):
    b = batch()
    res, twin = b[crash], b["softmax_twin"]
    cases, twin_cases = _cases(res), _cases(twin)
    for name in SVM_CASES:
        case, result = cases[name]
        assert case.target == LOSS_TARGET
        assert result.passed, (name, result.reason)
    # Case by case: what the twin passes, the crash passes; what the twin loses, the crash loses to its crash.
    for name, (_, result) in cases.items():
        assert result.passed == twin_cases[name][1].passed, (name, result.reason)
        if not result.passed:
            assert result.reason and not result.reason.startswith("not run"), (name, result.reason)
    assert res["score"] == twin["score"], [(n, r.reason) for n, (_, r) in cases.items() if not r.passed]


# --- the runner's bounds, on one group ----------------------------------------------------------


def _linear_task(name, rel, code, limits):
    """The ``linear`` group of the solution with ``code`` appended to ``assignment/<rel>``, run alone."""
    ctx = released()
    base = workdir() / "crash-runs" / name
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    base.chmod(0o755)
    base.parent.chmod(0o755)
    sub_dir = copy_solution(SOLUTION, ctx.student_modules, base / "sub")
    path = sub_dir / "assignment" / rel
    path.write_text(path.read_text() + "\n\n" + code + "\n")
    ag = grade_module.Autograder(ctx.autograder)
    sub = submission.load(sub_dir, ag.student_modules, name)
    stage = build_stage(base / "stage", ag.given_dir, ag.given, sub.files, missing=sub.missing)
    cases = ag.groups["linear"]
    inputs = ag.inputs("linear")
    task = runner.Task(key=name, stage=stage, cases=cases, inputs={c.name: inputs[c.name] for c in cases},
                       reference=ag.reference)
    work = base / "work"
    work.mkdir()
    work.chmod(0o711)
    iso = sandbox.detect("auto", limits)
    start = time.monotonic()
    runner.Runner(iso, limits, 1, work).run([task])
    return task, time.monotonic() - start


def test_a_crash_in_every_case_costs_one_run_per_case():
    # linear.py exits when imported: every run dies before its first case returns.
    task, _ = _linear_task("every_case", "classifiers/linear.py", "import os\nos._exit(3)", fast_limits())
    assert set(task.results) == {c.name for c in task.cases}
    for name, result in task.results.items():
        assert result.reason.startswith("exited early (exit status 3)"), (name, result.reason)
    # Each run that died charged one case with its own reason: exactly one run per case, never more.
    assert len(task.logs) == len(task.cases)


def test_only_the_cases_that_crash_are_charged_within_one_function():
    task, _ = _linear_task("kill_self", "layers.py",
                           "def softmax_loss(x, y):\n    import os, signal\n    os.kill(os.getpid(), signal.SIGKILL)",
                           fast_limits())
    softmax = {c.name for c in task.cases if c.call_params.get("cls") == "Softmax"}
    assert softmax == {"Softmax.loss.p1", "Softmax.loss.h1", "LinearClassifier.train.h1"}
    for name, result in task.results.items():
        if name in softmax:
            assert result.reason.startswith("killed (SIGKILL"), (name, result.reason)
        else:
            assert result.passed, (name, result.reason)
    assert len(task.logs) <= len(task.cases)


def test_a_hang_in_every_case_stays_inside_the_group_clock():
    limits = fast_limits(case_timeout=1.5, group_timeout=2.5)
    task, seconds = _linear_task("hang", "layers.py", "def softmax_loss(x, y):\n    while True:\n        pass", limits)
    assert set(task.results) == {c.name for c in task.cases}
    reasons = {name: result.reason for name, result in task.results.items()}
    assert "timeout" in reasons["Softmax.loss.p1"] or reasons["Softmax.loss.p1"].startswith(
        "not run: the group's time ran out"), reasons
    assert any(r.startswith("not run: the group's time ran out") for r in reasons.values()), reasons
    assert not any("failed" in r for r in reasons.values()), reasons
    assert seconds < limits.group_timeout + 10, seconds
