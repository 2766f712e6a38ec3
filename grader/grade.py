"""``python -m grader grade``: a batch of submissions, graded in sandboxed workers, scored here.

    python -m grader grade --autograder OUT/autograder --out RESULTS [-j N] SUBMISSION...

For each submission (a directory or a zip: ``grader/submission.py``) the parent builds a stage
(``grader/stage.py``), then runs one task per case group through ``grader/runner.py``, ``-j N``
workers at a time across the whole batch. When a submission's last group is done its
``results.json`` and ``report.json`` are written; when the batch is done, ``grades.csv``,
``cases.jsonl`` and ``summary.json``, and every submission's files are written once more
from the parent's memory (so nothing a worker could have done to the results directory
survives). The exit status is 0 when every submission got its results, whatever it scored.
"""

import json
import os
import secrets
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader import reference as reference_module
from grader import report, runner, sandbox, submission, uidblock
from grader import shard as shard_module
from grader.caserecord import Case
from grader.compare import CaseResult
from grader.stage import build_stage


class Autograder:
    """An ``OUT/autograder`` directory: manifest, cases, inputs, the given modules, reference values."""

    def __init__(self, path):
        self.path = Path(path)
        manifest_path = self.path / "manifest.json"
        if not manifest_path.exists():
            raise FileNotFoundError(f"{self.path} is not an autograder directory (no manifest.json); "
                                    f"make one with: python -m grader release OUT")
        self.manifest = json.loads(manifest_path.read_text())
        self.student_modules = list(self.manifest["student_modules"])
        self.given = list(self.manifest["given_modules"])
        self.given_dir = self.path / "given" / "assignment"
        self.cases = [Case.from_json(d) for d in json.loads((self.path / "cases.json").read_text())]
        self.groups = {}
        for case in self.cases:
            self.groups.setdefault(case.group, []).append(case)
        self._inputs = {}
        self._reference = {}

    def inputs(self, group):
        if group not in self._inputs:
            self._inputs[group] = reference_module.load_group(self.path / "inputs" / f"{group}.npz")
        return self._inputs[group]

    def reference(self, case):
        """A case's reference outputs. Called by the runner only after a worker of its group exited."""
        if case.group not in self._reference:
            self._reference[case.group] = reference_module.load_group(self.path / "reference" / f"{case.group}.npz")
        return self._reference[case.group][case.name]


def _new_result(sub, cases, iso):
    return {"stem": sub.stem, "path": sub.path, "missing": sub.missing, "notes": sub.notes, "error": sub.error,
            "found_at": sub.found_at, "results": {}, "runs": {}, "tasks_left": 0, "started": None,
            "cases_all": cases, "isolation": iso.describe(), "isolation_mode": iso.mode,
            "student_line": iso.student_line(), "module_errors": {}}


def earlier_results(out_dir, cases, skip):
    """Results of submissions graded into ``out_dir`` before (their ``report.json``), except the stems in ``skip``."""
    by_name = {c.name: c for c in cases}
    found = []
    for path in sorted(Path(out_dir).glob("*/report.json")):
        if path.parent.name in skip:
            continue
        try:
            found.append(report.from_report(json.loads(path.read_text()), by_name))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            print(f"warning: ignored {path}: {type(exc).__name__}: {exc}", file=sys.stderr)
    return found


def _finalize(res):
    res["cases"] = [(c, res["results"][c.name]) for c in res["cases_all"]]
    res["score"] = sum(r.score for _, r in res["cases"])
    res["max_score"] = sum(c.points for c in res["cases_all"])
    res["passed"] = sum(r.passed for _, r in res["cases"])
    res["seconds"] = time.monotonic() - res["started"] if res["started"] else 0.0
    return res


def grade(autograder_dir, out_dir, paths, jobs=1, limits=None, sandbox_mode="auto", hidden_visibility="visible",
          echo=print, allow_unsafe=False, shard=None):
    """Grade ``paths``; returns the list of per-submission result dicts (this batch's).

    ``shard``: ``(I, N)``, 1-based, grades only the I-th of N shards of ``paths`` (``grader/shard.py``:
    the split ignores the order of ``paths``, the stems are those of the whole list) and writes
    ``out_dir/shard.json``, the record a merge reads.

    Raises ``sandbox.Unavailable`` (before anything is graded) when no isolation that contains
    student code works here and ``allow_unsafe`` is false.
    """
    t0 = time.monotonic()
    limits = limits or sandbox.Limits()
    ag = Autograder(autograder_dir)
    iso = sandbox.detect(sandbox_mode, limits, allow_unsafe=allow_unsafe)
    if iso.uid_drop and jobs > uidblock.BLOCK_SIZE:
        raise sandbox.Unavailable(f"-j {jobs} needs more worker uids than a block holds ({uidblock.BLOCK_SIZE}): "
                                  f"grade with -j {uidblock.BLOCK_SIZE} or fewer")
    # Stems over the whole list, in its order: a shard names each submission as the whole batch would.
    taken = set()
    stems = [submission.make_stem(path, taken) for path in paths]
    chosen = list(range(len(paths)))
    if shard is not None:
        chosen = [k for k, number in enumerate(shard_module.assign(paths, shard[1])) if number == shard[0]]
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    record = None
    if shard is not None:  # first: until the last write says complete, a merge refuses this shard
        record = shard_module.make_record(shard, ag.path, paths, stems, chosen, None, iso.unsafe)
        shard_module.write_record(out_dir, record)
    else:  # a whole batch graded here: no longer a shard's output
        (out_dir / shard_module.RECORD).unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix="grader-work-"))
    os.chmod(work, 0o711)
    subs, results, tasks = [], [], []
    try:
        for i, k in enumerate(chosen):
            sub = submission.load(paths[k], ag.student_modules, stems[k])
            subs.append(sub)
            res = _new_result(sub, ag.cases, iso)
            results.append(res)
            # An unguessable name: without bubblewrap a worker could otherwise read the submission
            # staged next to its own (the work directory can be traversed, not listed).
            sub_dir = work / secrets.token_hex(16)
            stage = build_stage(sub_dir / "stage", ag.given_dir, ag.given, sub.files, missing=sub.missing)
            # Seccomp mode: each run reads its own copy of the stage (sandbox.private_run), never this one.
            os.chmod(sub_dir, 0o700 if iso.mode == "seccomp" else 0o711)
            for group, cases in ag.groups.items():
                runnable = []
                for case in cases:
                    if case.module in sub.missing:
                        res["results"][case.name] = CaseResult(case.name, False, 0.0, case.points,
                                                               f"{case.module} not found in the submission")
                    else:
                        runnable.append(case)
                if runnable:
                    inputs = ag.inputs(group)
                    tasks.append(runner.Task(key=(i, group), stage=stage, cases=runnable,
                                             inputs={c.name: inputs[c.name] for c in runnable},
                                             reference=ag.reference))
                    res["tasks_left"] += 1
        if iso.mode == "seccomp":
            # No Landlock: the uid drop and file permissions are the file wall. Proved now, as each worker
            # uid, on the very files of this batch; a breach stops the grader before any student code runs.
            # The submissions' own files are secrets too: each is another student's work to every other worker.
            originals = []
            for sub in subs:
                if sub.path.is_dir():
                    originals += [sub.path / where for where in sub.found_at.values()]
                elif sub.path.is_file():
                    originals.append(sub.path)
            iso.proof = sandbox.prove_permissions([sandbox.slot_uid(slot) for slot in range(jobs)], ag.path,
                                                  [out_dir, ag.path, work], secret_files=originals)
        iso_line = iso.describe()
        echo(iso_line)
        if iso.unsafe:
            echo("WARNING: --allow-unsafe: student code runs with rlimits only; every report says so")
        for res in results:
            res["isolation"] = iso_line
        if record is not None:
            record["isolation"] = iso_line
            shard_module.write_record(out_dir, record)
            echo(f"shard {shard[0]}/{shard[1]}: {len(chosen)} of the {len(paths)} submission(s) given")
        for res in results:
            if res["tasks_left"] == 0:
                _done_submission(res, out_dir, hidden_visibility, echo)

        def on_task_done(task):
            i, group = task.key
            res = results[i]
            res["results"].update(task.results)
            for module, error in task.module_errors.items():
                if "was not found in the submission" not in error:  # a missing module is reported as missing
                    res["module_errors"].setdefault(module, error)
            res["runs"][group] = task.logs
            if res["started"] is None or task.started < res["started"]:
                res["started"] = task.started
            res["tasks_left"] -= 1
            if res["tasks_left"] == 0:
                _done_submission(res, out_dir, hidden_visibility, echo)

        work_runner = runner.Runner(iso, limits, jobs, work, on_task_done=on_task_done)
        work_runner.run(tasks)
        seconds = time.monotonic() - t0
        # The parent's word is final: every file written again from memory.
        for res in results:
            report.write_submission(out_dir, res, hidden_visibility)
        earlier = earlier_results(out_dir, ag.cases, skip={res["stem"] for res in results})
        report.write_batch(out_dir, earlier + results, ag.cases, iso_line, iso.unsafe, seconds)
        if record is not None:  # last: a shard is complete only once every other file is written
            record.update(complete=True, seconds=round(seconds, 3))
            shard_module.write_record(out_dir, record)
        total = len(results)
        echo(f"graded {total} submission(s) in {seconds:.1f} s ({seconds / max(total, 1):.2f} s each) with -j {jobs}; "
             f"results in {out_dir}")
        if earlier:
            echo(f"kept {len(earlier)} submission(s) graded into {out_dir} before: grades.csv, cases.jsonl and "
                 f"summary.json cover all {len(earlier) + total}")
        if work_runner.strays_killed:
            echo(f"killed {work_runner.strays_killed} process(es) that submissions left behind")
        if iso.unsafe:
            echo(f"WARNING: graded with UNSAFE isolation (--allow-unsafe): {'; '.join(iso.notes)}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


def _done_submission(res, out_dir, hidden_visibility, echo):
    _finalize(res)
    report.write_submission(out_dir, res, hidden_visibility)
    echo(report.text_line(res))
    sys.stdout.flush()
