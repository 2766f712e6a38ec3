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


def gradescope_results(sub_result, iso_line, hidden_visibility="visible"):
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
        "output": submission_text(sub_result, iso_line),
        "stdout_visibility": "hidden",
        "extra_data": {"stem": sub_result["stem"], "max_score": float(sub_result["max_score"]),
                       "isolation": iso_line, "degraded_isolation": sub_result["degraded"]},
        "tests": tests,
    }


def submission_text(sub_result, iso_line):
    lines = [f"Score: {sub_result['score']:g} / {sub_result['max_score']:g} "
             f"({sub_result['passed']} of {len(sub_result['cases'])} cases passed).",
             f"The grader ran your code in a sandbox ({iso_line})."]
    if sub_result["missing"]:
        lines.append("Not found in your submission: " + ", ".join(sub_result["missing"])
                     + " (looked for assignment/<file>, <file> and the bare file name).")
    if sub_result["error"]:
        lines.append(f"Your submission could not be read: {sub_result['error']}")
    for note in sub_result["notes"][:10]:
        lines.append(f"Note: {note}")
    lines.append("Hidden cases use other inputs and shapes than the public ones; their feedback is limited.")
    return "\n".join(lines)


def instructor_report(sub_result, iso_line):
    return {
        "stem": sub_result["stem"],
        "path": str(sub_result["path"]),
        "score": sub_result["score"],
        "max_score": sub_result["max_score"],
        "isolation": iso_line,
        "degraded_isolation": sub_result["degraded"],
        "found": sub_result["found_at"],
        "missing": sub_result["missing"],
        "notes": sub_result["notes"],
        "error": sub_result["error"],
        "seconds": round(sub_result["seconds"], 3),
        "cases": [{"name": c.name, "target": c.target, "group": c.group, "visibility": c.visibility,
                   "points": c.points, "score": r.score, "passed": r.passed, "reason": r.reason,
                   "error": _num(r.error), "detail": r.detail} for c, r in sub_result["cases"]],
        "runs": sub_result["runs"],
    }


def text_line(sub_result):
    pct = 100.0 * sub_result["score"] / sub_result["max_score"] if sub_result["max_score"] else 0.0
    failed = [c.name for c, r in sub_result["cases"] if not r.passed]
    tail = f"  failed: {', '.join(failed[:6])}{' ...' if len(failed) > 6 else ''}" if failed else ""
    missing = f"  missing: {', '.join(sub_result['missing'])}" if sub_result["missing"] else ""
    return f"{sub_result['stem']}: {sub_result['score']:g} / {sub_result['max_score']:g} ({pct:.1f}%){missing}{tail}"


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


def write_submission(out_dir, sub_result, iso_line, hidden_visibility):
    target = out_dir / sub_result["stem"]
    write_json(target / "results.json", gradescope_results(sub_result, iso_line, hidden_visibility))
    write_json(target / "report.json", instructor_report(sub_result, iso_line))


def write_batch(out_dir, sub_results, cases, iso_line, degraded, seconds):
    stats = class_stats(sub_results)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["submission", "score", "max_score", "percent", "passed", "cases", "isolation", "missing",
                     "error", *[f"case:{c.name}" for c in cases]])
    for sub in sub_results:
        scores = {c.name: r.score for c, r in sub["cases"]}
        pct = 100.0 * sub["score"] / sub["max_score"] if sub["max_score"] else 0.0
        writer.writerow([sub["stem"], f"{sub['score']:g}", f"{sub['max_score']:g}", f"{pct:.2f}", sub["passed"],
                         len(sub["cases"]), "degraded" if degraded else "bwrap", ";".join(sub["missing"]),
                         sub["error"], *[f"{scores.get(c.name, 0.0):g}" for c in cases]])
    with atomic_open(out_dir / "grades.csv", "w") as f:
        f.write(buf.getvalue())
    with atomic_open(out_dir / "cases.jsonl", "w") as f:
        for sub in sub_results:
            for case, res in sub["cases"]:
                row = {"submission": sub["stem"], "case": case.name, "target": case.target, "group": case.group,
                       "visibility": case.visibility, "points": case.points, "score": res.score,
                       "passed": res.passed, "reason": res.reason, "error": _num(res.error),
                       "bucket": bucket(res.error) if res.error is not None else None,
                       "degraded_isolation": degraded, "class": stats[case.name]}
                f.write(json.dumps(row, sort_keys=True) + "\n")
    write_json(out_dir / "summary.json", {
        "isolation": iso_line, "degraded_isolation": degraded, "seconds": round(seconds, 3),
        "submissions": [{"stem": s["stem"], "score": s["score"], "max_score": s["max_score"]} for s in sub_results],
        "cases": stats,
    })
    return stats
