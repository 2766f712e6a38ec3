"""``OUT/slurm/``: a class graded on a Slurm cluster, written by ``python -m grader release``.

- ``grade.sbatch``: one file for the whole job. ``bash grade.sbatch`` (on a login node) submits
  an array job of ``SHARDS`` tasks, task ``I`` grading ``--shard I/SHARDS`` of the submissions
  into ``RESULTS/shard-I/``, and a merge job (``sbatch --dependency=afterok:<array job>``) that
  runs ``python -m grader merge`` into ``RESULTS/merged/`` once every task has succeeded. Run by
  Slurm as an array task (``SLURM_ARRAY_TASK_ID`` set) it grades its shard; ``bash grade.sbatch
  merge`` merges. Its settings are shell variables at its top, each overridable from the
  environment, which sbatch hands on to the jobs.
- ``README.md``: how to use it, and what to do when a task fails.
"""

import os
from pathlib import Path

SHARDS = 4

GRADE_SBATCH = r"""#!/bin/bash
# Grade a class on a Slurm cluster: an array job, one task per shard of the class, then a merge job
# that starts once every task has succeeded (sbatch --dependency=afterok). Written by
# `python -m grader release`; README.md beside it says more.
#
#   bash grade.sbatch          submit both: the array job (SHARDS tasks) and the dependent merge job
#   bash grade.sbatch merge    merge the shards here and now (e.g. after rerunning a failed task)
#   sbatch grade.sbatch        the array job alone (the #SBATCH lines below), without the merge job
#
# Task I runs `python -m grader grade --shard I/SHARDS` (1-based, as Slurm numbers array tasks) on
# every entry of SUBMISSIONS into RESULTS/shard-I; the merge writes RESULTS/merged (grades.csv,
# cases.jsonl, summary.json, one directory per submission) or refuses, naming the missing or
# incomplete shard. Each setting below may also come from the environment (SHARDS=8 bash grade.sbatch).
#SBATCH --job-name=grade
#SBATCH --array=1-4
#SBATCH --cpus-per-task=2
#SBATCH --time=02:00:00
#SBATCH --output=grade-%A_%a.out

# ---- settings -----------------------------------------------------------------------------------
AUTOGRADER="${AUTOGRADER:-@AUTOGRADER@}"  # the release's autograder/, on a filesystem every node sees
SUBMISSIONS="${SUBMISSIONS:-$PWD/submissions}"  # one entry per submission: a directory or a .zip
RESULTS="${RESULTS:-$PWD/results}"  # shard-1 ... shard-SHARDS, merged, logs
SHARDS="${SHARDS:-@SHARDS@}"  # array tasks; `sbatch grade.sbatch` alone uses the --array line above
JOBS="${JOBS:-}"  # workers per task (grade -j); empty: the task's CPUs (SLURM_CPUS_PER_TASK)
PYTHON="${PYTHON:-python3}"  # with numpy and pyseccomp, installed where other users can read it (/usr, /opt)
GRADE_ARGS="${GRADE_ARGS:-}"  # more options for grade, e.g. --case-timeout 15 --group-timeout 100
SBATCH_ARGS="${SBATCH_ARGS:-}"  # more options for both sbatch calls, e.g. --partition=grading --account=cs231n
# --------------------------------------------------------------------------------------------------

set -euo pipefail

die() {
    echo "grade.sbatch: $*" >&2
    exit 2
}

check_settings() {
    [[ "$SHARDS" =~ ^[1-9][0-9]*$ ]] || die "SHARDS must be a whole number of at least 1, got '$SHARDS'"
    [ -f "$AUTOGRADER/manifest.json" ] || die "no autograder in $AUTOGRADER (set AUTOGRADER: the release's autograder/)"
    command -v "$PYTHON" >/dev/null || die "no Python '$PYTHON' (set PYTHON)"
}

grade_task() {
    local i="$SLURM_ARRAY_TASK_ID" grade_args=()
    (( i >= 1 && i <= SHARDS )) || die "array task $i is outside 1-$SHARDS: use --array=1-$SHARDS (or set SHARDS)"
    [ -d "$SUBMISSIONS" ] || die "no submissions directory $SUBMISSIONS (set SUBMISSIONS)"
    shopt -s nullglob
    local subs=("$SUBMISSIONS"/*)
    [ "${#subs[@]}" -gt 0 ] || die "no submissions in $SUBMISSIONS"
    read -r -a grade_args <<< "$GRADE_ARGS"
    echo "grade.sbatch: task $i of $SHARDS on $(hostname): ${#subs[@]} submissions given, shard $i/$SHARDS of them"
    cd "$AUTOGRADER"  # `python -m grader` is then the autograder's own grader, whatever else is installed
    exec "$PYTHON" -m grader grade --autograder "$AUTOGRADER" --out "$RESULTS/shard-$i" \
        -j "${JOBS:-${SLURM_CPUS_PER_TASK:-1}}" --shard "$i/$SHARDS" ${grade_args[@]+"${grade_args[@]}"} "${subs[@]}"
}

merge_shards() {
    local dirs=() i
    for (( i = 1; i <= SHARDS; i++ )); do dirs+=("$RESULTS/shard-$i"); done
    cd "$AUTOGRADER"
    exec "$PYTHON" -m grader merge --out "$RESULTS/merged" --autograder "$AUTOGRADER" "${dirs[@]}"
}

submit() {
    command -v sbatch >/dev/null || die "sbatch not found: submit from a Slurm login node"
    local self sbatch_args=() array merge
    self="$(realpath -- "${BASH_SOURCE[0]}")"
    read -r -a sbatch_args <<< "$SBATCH_ARGS"
    # Absolute paths, exported: every job sees the settings this command saw.
    AUTOGRADER="$(realpath -m -- "$AUTOGRADER")"
    SUBMISSIONS="$(realpath -m -- "$SUBMISSIONS")"
    RESULTS="$(realpath -m -- "$RESULTS")"
    [ -d "$SUBMISSIONS" ] || die "no submissions directory $SUBMISSIONS (set SUBMISSIONS)"
    export AUTOGRADER SUBMISSIONS RESULTS SHARDS JOBS PYTHON GRADE_ARGS
    mkdir -p "$RESULTS/logs"
    array="$(sbatch --parsable --export=ALL --array="1-$SHARDS" --output="$RESULTS/logs/grade-%A_%a.out" \
        ${sbatch_args[@]+"${sbatch_args[@]}"} "$self")"
    array="${array%%;*}"  # --parsable prints "jobid" or "jobid;cluster"
    # --wrap: a one-line job script, so that the #SBATCH lines above (--array) do not apply to the merge.
    merge="$(sbatch --parsable --export=ALL --job-name=grade-merge --dependency="afterok:$array" \
        --kill-on-invalid-dep=yes --cpus-per-task=1 --output="$RESULTS/logs/merge-%j.out" \
        ${sbatch_args[@]+"${sbatch_args[@]}"} --wrap="$(printf '%q ' bash "$self" merge)")"
    merge="${merge%%;*}"
    echo "grade.sbatch: array job $array ($SHARDS tasks into $RESULTS/shard-*) and merge job $merge" \
         "(after every task succeeded, into $RESULTS/merged); logs in $RESULTS/logs"
    echo "array job: $array"
    echo "merge job: $merge"
}

check_settings
case "${1:-}" in
    merge) merge_shards ;;
    "")
        if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then grade_task; else submit; fi ;;
    *) die "unknown argument '$1' (use: bash grade.sbatch, or bash grade.sbatch merge)" ;;
esac
"""

README = """# Grading a class on a Slurm cluster

`grade.sbatch` grades every submission in a directory as an array job of `SHARDS` tasks, one
shard of the class each, then merges the shards once every task has succeeded.

1. Put the release's `autograder/` where every node can read it (a shared filesystem), and the
   submissions in one directory, one entry each (a directory or a `.zip`).
2. Edit the settings at the top of `grade.sbatch` (or set them in the environment): `AUTOGRADER`
   (now `@AUTOGRADER@`), `SUBMISSIONS`, `RESULTS`, `SHARDS` (@SHARDS@), `PYTHON` (an interpreter with
   numpy and pyseccomp, installed where other users can read it, e.g. under `/usr` or `/opt`,
   so that the workers can run as their own uids), `SBATCH_ARGS` (`--partition`, `--account`).
3. On a login node: `bash grade.sbatch`. It prints the array job's id and the merge job's id.

Task `I` runs `python -m grader grade --shard I/SHARDS` (1-based, as Slurm numbers array tasks)
on every entry of `SUBMISSIONS` into `RESULTS/shard-I/`, with `-j` = the task's CPUs
(`--cpus-per-task`, 2 in the file). The merge job (`--dependency=afterok`) runs `python -m
grader merge` into `RESULTS/merged/`: `grades.csv`, `cases.jsonl`, `summary.json` with the class
statistics of every submission, and each submission's `results.json` and `report.json`. Logs go to
`RESULTS/logs/`.

Several tasks may run on one node at once: each grader claims its own block of worker uids under
a lock (`/run/lock/assignment-grader/`), so no grader's clean-up can kill another's workers.

**When a task fails**, the merge job is cancelled (`--kill-on-invalid-dep=yes`). Read its log,
run that task again (`sbatch --array=I grade.sbatch`, with the same settings), then merge with
`bash grade.sbatch merge`. The merge refuses, and names the shard, while a shard is missing, was
graded from another list of submissions or another release, or lacks a submission's results.
"""


def write_slurm(out_dir, autograder_dir, shards=SHARDS):
    """Write ``out_dir/grade.sbatch`` and ``out_dir/README.md``; returns a line for the release's log."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    values = {"@AUTOGRADER@": str(Path(autograder_dir).resolve()), "@SHARDS@": str(int(shards))}
    for name, text, mode in (("grade.sbatch", GRADE_SBATCH, 0o755), ("README.md", README, 0o644)):
        for key, value in values.items():
            text = text.replace(key, value)
        (out_dir / name).write_text(text)
        os.chmod(out_dir / name, mode)
    return f"slurm: {out_dir / 'grade.sbatch'} ({shards} array tasks, then the merge)"
