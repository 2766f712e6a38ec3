#!/bin/sh
# PrairieLearn external grading: grade /grade/student into /grade/results/results.json (as root,
# in the grading container). The work is done by `python -m grader.prairielearn`, from the course's
# serverFilesCourse/assignment_grader/; this script only makes sure a results file exists when it
# ends, and exits 0 whenever one was written.
#   GRADER_PL_ROOT    the /grade directory (default /grade; tests run this outside a container)
#   GRADER_PL_PYTHON  the interpreter (default the image's venv)
ROOT="${GRADER_PL_ROOT:-/grade}"
PY="${GRADER_PL_PYTHON:-/opt/assignment-grader/venv/bin/python}"
AG="$ROOT/serverFilesCourse/assignment_grader"
status=1
if [ -f "$AG/grader/prairielearn.py" ]; then
    (cd "$AG" && PYTHONPATH="$AG" exec "$PY" -m grader.prairielearn --root "$ROOT" "$@")
    status=$?
else
    echo "entrypoint: no $AG/grader/prairielearn.py: copy the release's serverFilesCourse/assignment_grader" \
         "into the course's serverFilesCourse/ and list \"assignment_grader/\" in info.json's serverFilesCourse"
fi
if [ "$status" -ne 0 ] || [ ! -s "$ROOT/results/results.json" ]; then
    echo "entrypoint: the grader exited with status $status without results; writing the neutral result"
    mkdir -p "$ROOT/results" || exit 1
    cat > "$ROOT/results/results.json.tmp" <<'JSON' || exit 1
{"gradable": false, "score": 0.0, "message": "The autograder could not grade this submission, so this attempt was not counted. Please tell the course staff.", "format_errors": ["The autograder could not grade this submission."], "output": "", "tests": []}
JSON
    mv -f "$ROOT/results/results.json.tmp" "$ROOT/results/results.json" || exit 1
fi
exit 0
