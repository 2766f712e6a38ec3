"""Reports, all computed and written by the trusted parent, each file atomically.

Per submission ``RESULTS/<stem>/``:
- ``results.json``: Gradescope's format (https://gradescope-autograders.readthedocs.io/en/latest/specs/):
  top-level ``score``, ``execution_time``, ``output``, ``stdout_visibility``, ``extra_data`` and
  ``tests``, each test with exactly ``name``, ``score``, ``max_score``, ``status`` ("passed" or
  "failed"), ``visibility`` and ``output`` (what the student reads: full feedback for public
  cases; pass/fail, an error bucket and the hint for hidden ones, never inputs or values);
- ``report.json``: the instructor's view: every case with its reason, error and the
  worker's (capped) output per run.

Per batch ``RESULTS/``:
- ``grades.csv``: one row per submission (score, max, percent, isolation, missing files, one
  column per case);
- ``cases.jsonl``: one row per (submission, case), each carrying the class-wide statistics of
  its case (pass rate, mean score, median and 90th-percentile error, most frequent reasons);
- ``summary.json``: the batch: isolation, timing, per-case statistics.
"""

import csv
import io
import json
import math
from collections import Counter

from grader._atomic import atomic_open, write_json
from grader.compare import bucket, feedback

GRADESCOPE_VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


def _num(x):
    return None if x is None or not math.isfinite(x) else float(x)


def test_name(case):
    return f"[{case.visibility}] {case.name}: {case.target}"


def gradescope_results(sub_result, hidden_visibility="visible"):
    tests = []
    for case, res in sub_result["cases"]:
        tests.append({
            "name": test_name(case),
            "score": float(res.score),
            "max_score": float(case.points),
            "status": "passed" if res.passed else "failed",
            "visibility": "visible" if not case.hidden else hidden_visibility,
            "output": feedback(case, res),
        })
    return {
        "score": float(sub_result["score"]),
        "execution_time": int(round(sub_result["seconds"])),
        "output": submission_text(sub_result),
        "stdout_visibility": "hidden",
        "extra_data": {"stem": sub_result["stem"], "max_score": float(sub_result["max_score"])},
        "tests": tests,
    }


def submission_errors(sub_result):
    """The submission's own problems, one line each: unreadable upload, modules that fail to import."""
    lines = []
    if sub_result["error"]:
        lines.append(sub_result["error"])
    for module, error in sub_result.get("module_errors", {}).items():
        lines.append(f"{module}: {error}")
    return lines


def submission_text(sub_result):
    """What the student reads at the top: the score, one neutral line on the sandbox, their submission's problems."""
    lines = [f"Score: {sub_result['score']:g} / {sub_result['max_score']:g} "
             f"({sub_result['passed']} of {len(sub_result['cases'])} cases passed).",
             sub_result["student_line"]]
    if sub_result["missing"]:
        lines.append("Not found in your submission: " + ", ".join(sub_result["missing"])
                     + " (looked for assignment/<file>, <file> and the bare file name).")
    if sub_result["error"]:
        lines.append(f"Your submission could not be read: {sub_result['error']}")
    for module, error in sub_result.get("module_errors", {}).items():
        lines.append(f"assignment/{module} could not be imported: {error}")
    for note in sub_result["notes"][:10]:
        lines.append(f"Note: {note}")
    lines.append("Hidden cases use other inputs and shapes than the public ones; their feedback is limited.")
    return "\n".join(lines)


def instructor_report(sub_result):
    return {
        "stem": sub_result["stem"],
        "path": str(sub_result["path"]),
        "score": sub_result["score"],
        "max_score": sub_result["max_score"],
        "isolation": sub_result["isolation"],
        "isolation_mode": sub_result["isolation_mode"],
        "student_line": sub_result["student_line"],
        "found": sub_result["found_at"],
        "missing": sub_result["missing"],
        "notes": sub_result["notes"],
        "error": sub_result["error"],
        "module_errors": sub_result.get("module_errors", {}),
        "seconds": round(sub_result["seconds"], 3),
        "cases": [{"name": c.name, "target": c.target, "group": c.group, "visibility": c.visibility,
                   "points": c.points, "score": r.score, "passed": r.passed, "reason": r.reason,
                   "error": _num(r.error), "detail": r.detail} for c, r in sub_result["cases"]],
        "runs": sub_result["runs"],
    }


def from_report(data, cases_by_name):
    """A submission's result rebuilt from its ``report.json`` (a regrade into the same results directory keeps it)."""
    from grader.compare import CaseResult

    pairs = []
    for row in data["cases"]:
        case = cases_by_name.get(row["name"])
        if case is None:
            continue
        pairs.append((case, CaseResult(row["name"], bool(row["passed"]), float(row["score"]), case.points,
                                       row.get("reason") or "", row.get("error"), row.get("detail") or "")))
    return {"stem": data["stem"], "path": data["path"], "score": float(data["score"]),
            "max_score": float(data["max_score"]), "passed": sum(r.passed for _, r in pairs), "cases": pairs,
            "isolation": data.get("isolation", ""), "isolation_mode": data.get("isolation_mode", ""),
            "student_line": data.get("student_line", ""), "found_at": data.get("found", {}),
            "missing": data.get("missing", []), "notes": data.get("notes", []), "error": data.get("error", ""),
            "module_errors": data.get("module_errors", {}), "seconds": float(data.get("seconds", 0.0)),
            "runs": data.get("runs", {}), "earlier": True}


def text_line(sub_result):
    pct = 100.0 * sub_result["score"] / sub_result["max_score"] if sub_result["max_score"] else 0.0
    failed = [c.name for c, r in sub_result["cases"] if not r.passed]
    tail = f"  failed: {', '.join(failed[:6])}{' ...' if len(failed) > 6 else ''}" if failed else ""
    missing = f"  missing: {', '.join(sub_result['missing'])}" if sub_result["missing"] else ""
    errors = submission_errors(sub_result)
    error = f"  error: {' | '.join(errors)}" if errors else ""
    return (f"{sub_result['stem']}: {sub_result['score']:g} / {sub_result['max_score']:g} ({pct:.1f}%)"
            f"{error}{missing}{tail}")


def class_stats(sub_results):
    """{case name: statistics over every submission of the batch}."""
    per_case = {}
    for sub in sub_results:
        for case, res in sub["cases"]:
            per_case.setdefault(case.name, []).append(res)
    stats = {}
    for name, results in per_case.items():
        n = len(results)
        errors = sorted(r.error for r in results if r.error is not None and math.isfinite(r.error))
        reasons = Counter(_reason_kind(r.reason) for r in results if not r.passed)
        stats[name] = {
            "n": n,
            "pass_rate": sum(r.passed for r in results) / n if n else 0.0,
            "mean_score": sum(r.score for r in results) / n if n else 0.0,
            "median_error": errors[len(errors) // 2] if errors else None,
            "p90_error": errors[min(len(errors) - 1, int(0.9 * len(errors)))] if errors else None,
            "top_reasons": dict(reasons.most_common(3)),
        }
    return stats


def _reason_kind(reason):
    return reason.split(":", 1)[0][:80] if reason else ""


def write_submission(out_dir, sub_result, hidden_visibility):
    target = out_dir / sub_result["stem"]
    write_json(target / "results.json", gradescope_results(sub_result, hidden_visibility))
    write_json(target / "report.json", instructor_report(sub_result))


def write_batch(out_dir, sub_results, cases, iso_line, unsafe, seconds):
    stats = class_stats(sub_results)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "score", "max_score", "percent", "passed", "cases", "isolation", "missing",
                     "error", *[f"case:{c.name}" for c in cases]])
    for sub in sub_results:
        scores = {c.name: r.score for c, r in sub["cases"]}
        pct = 100.0 * sub["score"] / sub["max_score"] if sub["max_score"] else 0.0
        writer.writerow([sub["stem"], f"{sub['score']:g}", f"{sub['max_score']:g}", f"{pct:.2f}", sub["passed"],
                         len(sub["cases"]), sub["isolation_mode"], ";".join(sub["missing"]),
                         " | ".join(submission_errors(sub)), *[f"{scores.get(c.name, 0.0):g}" for c in cases]])
    with atomic_open(out_dir / "grades.csv", "w") as f:
        f.write(buf.getvalue())
    with atomic_open(out_dir / "cases.jsonl", "w") as f:
        for sub in sub_results:
            for case, res in sub["cases"]:
                row = {"submission": sub["stem"], "case": case.name, "target": case.target, "group": case.group,
                       "visibility": case.visibility, "points": case.points, "score": res.score,
                       "passed": res.passed, "reason": res.reason, "error": _num(res.error),
                       "bucket": bucket(res.error) if res.error is not None else None,
                       "isolation": sub["isolation_mode"], "class": stats[case.name]}
                f.write(json.dumps(row, sort_keys=True) + "\n")
    write_json(out_dir / "summary.json", {
        "isolation": iso_line, "unsafe_isolation": unsafe, "seconds": round(seconds, 3),
        "submissions": [{"stem": s["stem"], "score": s["score"], "max_score": s["max_score"],
                         "isolation": s["isolation_mode"], "graded_earlier": bool(s.get("earlier")),
                         "error": " | ".join(submission_errors(s))} for s in sub_results],
        "cases": stats,
    })
    return stats
