"""Scoring in the trusted parent: CS231n's relative error with a floor, per case.

For arrays ``got`` and ``want`` of one shape,

    error = max_i |got_i - want_i| / max(floor, |got_i| + |want_i|)
    floor = max(case.floor, case.floor_rel * max_i |want_i|)

which is CS231n's ``rel_error`` (``floor = 1e-8``) with the floor raised in proportion to the
largest expected magnitude, so that entries that should be ~0 (where two correct formulas
differ by rounding) do not dominate. A case passes when every output's error is at most
``case.tolerance``; it then earns all its points, otherwise none.

Before any arithmetic, each output must exist, have exactly the expected shape, a numeric
dtype of the expected kind (a float array where a float is expected) and finite values: NaN
or inf is a wrong answer, never a crash. ``after_<x>`` outputs (inputs echoed after the call)
must equal the inputs: a call that modifies its input fails with that reason.
"""

import re
from dataclasses import dataclass, field

import numpy as np

# Error buckets shown for hidden cases (instead of numbers and places).
BUCKETS = ((1e-9, "below 1e-9"), (1e-6, "1e-9 to 1e-6"), (1e-3, "1e-6 to 1e-3: close, check a constant or a dtype"),
           (1e-1, "1e-3 to 0.1: partly right"), (float("inf"), "above 0.1: far off"))


def bucket(error):
    if error is None or not np.isfinite(error):
        return "no comparable output"
    for bound, label in BUCKETS:
        if error < bound:
            return label
    return BUCKETS[-1][1]


def rel_errors(got, want, floor=1e-8, floor_rel=0.0):
    """Elementwise relative errors (float64 array of the shape), with the floor above."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    scale = float(np.max(np.abs(want))) if want.size else 0.0
    denom = np.maximum(max(floor, floor_rel * scale), np.abs(got) + np.abs(want))
    return np.abs(got - want) / denom


def rel_error(got, want, floor=1e-8, floor_rel=0.0):
    errors = rel_errors(got, want, floor, floor_rel)
    return float(errors.max()) if errors.size else 0.0


@dataclass
class OutputCheck:
    name: str
    ok: bool
    error: float | None = None
    reason: str = ""
    where: str = ""  # public cases only: the index where the error is largest, with both values


@dataclass
class CaseResult:
    name: str
    passed: bool
    score: float
    max_score: float
    reason: str  # "" when passed; else a short named reason
    error: float | None = None
    detail: str = ""  # longer text (exception, per-output errors); public detail only for public cases
    checks: list = field(default_factory=list)


def _where(errors, got, want):
    index = np.unravel_index(int(np.argmax(errors)), errors.shape) if errors.ndim else ()
    idx = tuple(int(i) for i in index)
    got_v, want_v = float(np.asarray(got)[idx]), float(np.asarray(want)[idx])
    return f"largest at index {idx}: got {got_v:.10g}, expected {want_v:.10g}"


def check_output(name, got, want, case):
    """One output of a case against its reference."""
    if got is None:
        return OutputCheck(name, False, reason=f"output {name!r} missing")
    if got.shape != want.shape:
        return OutputCheck(name, False, reason=f"output {name!r} has shape {got.shape}, expected {want.shape}")
    if want.dtype.kind == "f" and got.dtype.kind != "f":
        return OutputCheck(name, False, reason=f"output {name!r} has dtype {got.dtype}, expected floating point")
    if got.dtype.kind not in "fiub":
        return OutputCheck(name, False, reason=f"output {name!r} has dtype {got.dtype}")
    gotf = got.astype(np.float64)
    if not np.all(np.isfinite(gotf)):
        bad = "NaN" if np.any(np.isnan(gotf)) else "inf"
        return OutputCheck(name, False, reason=f"output {name!r} holds {bad}")
    errors = rel_errors(gotf, want, case.floor, case.floor_rel)
    error = float(errors.max()) if errors.size else 0.0
    if name.startswith("after_"):
        if error > 0:
            return OutputCheck(name, False, error, reason=f"the call modified its input {name[len('after_'):]!r}")
        return OutputCheck(name, True, 0.0)
    where = _where(errors, gotf, want) if errors.size else ""
    ok = error <= case.tolerance
    return OutputCheck(name, ok, error, reason="" if ok else f"output {name!r} is wrong", where=where)


_STUB_MESSAGE = re.compile(r"^NotImplementedError: ([\w.<>]+): not implemented yet")
_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')


def not_implemented_reason(worker_error):
    """``not implemented: <function> (<file>, line <n>)``: the function whose TODO raised, not the case's target.

    A model case that runs into a stubbed layer names the layer. The function comes from the
    stub's message (``"<qualname>: not implemented yet ..."``) or else from the innermost frame;
    the file and line from the innermost frame of the student's files, as the worker reports them.
    """
    lines = worker_error.splitlines()
    match = _STUB_MESSAGE.match(lines[0]) if lines else None
    frames = [m for m in map(_FRAME.match, lines) if m]
    function = match.group(1) if match else (frames[-1].group(3) if frames else None)
    if function is None:
        return "not implemented (NotImplementedError)"
    where = f" ({frames[-1].group(1)}, line {frames[-1].group(2)})" if frames else ""
    return f"not implemented: {function}{where}"


def score_case(case, got, want, worker_error=None, run_failure=None):
    """A CaseResult from the outputs the parent validated (``got``) and the reference (``want``).

    - got: {output name: ndarray} for this case (already size/dtype-checked by the loader)
    - want: {output name: ndarray}, the reference outputs
    - worker_error: the text the worker recorded when the call raised
    - run_failure: a named reason when the worker never finished this case (timeout, crash ...)
    """
    if run_failure:
        return CaseResult(case.name, False, 0.0, case.points, run_failure)
    if worker_error is not None:
        first = worker_error.splitlines()[0] if worker_error else "an exception"
        kind = first.split(":", 1)[0]
        if kind == "NotImplementedError":
            reason = not_implemented_reason(worker_error)
        elif kind == "MemoryError":
            reason = "memory exhausted (MemoryError)"
        else:
            reason = f"raised {first[:300]}"
        return CaseResult(case.name, False, 0.0, case.points, reason, detail=worker_error)
    checks = [check_output(name, got.get(name), ref, case) for name, ref in sorted(want.items())]
    errors = [c.error for c in checks if c.error is not None and not c.name.startswith("after_")]
    worst = max(errors) if errors else None
    failed = [c for c in checks if not c.ok]
    if not failed:
        return CaseResult(case.name, True, case.points, case.points, "", worst, checks=checks)
    structural = [c for c in failed if c.error is None or c.name.startswith("after_")]
    reason = (structural or failed)[0].reason
    if not structural:
        reason = f"wrong answer: error {worst:.2e} above the tolerance {case.tolerance:.0e}"
    return CaseResult(case.name, False, 0.0, case.points, reason, worst, checks=checks)


def feedback(case, result):
    """The text a student reads for one case: full for public cases, limited for hidden ones."""
    lines = []
    status = "passed" if result.passed else "failed"
    if case.hidden:
        lines.append(f"Hidden case {status}.")
        if result.error is not None:
            lines.append(f"Relative error: {bucket(result.error)} (tolerance {case.tolerance:.0e}).")
        if not result.passed:
            lines.append(f"Why: {_hidden_reason(result.reason)}")
            lines.append(f"Hint: {case.hint}")
        return "\n".join(lines)
    lines.append(f"Public case {status}: {case.target}.")
    if result.error is not None:
        lines.append(f"Relative error {result.error:.3e} (tolerance {case.tolerance:.0e}).")
    if not result.passed:
        lines.append(f"Why: {result.reason}")
        lines.append(f"Hint: {case.hint}")
    for c in result.checks:
        if c.name.startswith("after_"):
            if not c.ok:
                lines.append(f"  {c.reason}")
            continue
        if c.error is not None:
            mark = "ok" if c.ok else "WRONG"
            lines.append(f"  {c.name}: error {c.error:.3e} [{mark}] {c.where}")
        elif c.reason:
            lines.append(f"  {c.reason}")
    if result.detail:
        lines.append("Output of the failing call:")
        lines.append(result.detail.strip())
    return "\n".join(lines)


def _hidden_reason(reason):
    """A hidden case's reason without numbers that come from its inputs (shapes stay out too)."""
    if "has shape" in reason:
        return reason.split(" has shape")[0] + " has the wrong shape"
    if reason.startswith("raised "):
        return reason.split(":", 1)[0]
    if reason.startswith("wrong answer"):
        return "wrong answer (see the error bucket)"
    return reason
