"""PrairieLearn in a real Docker daemon (issue 24): the release's grading image built and run as PrairieLearn
runs an external grader.

- The image: ``docker build`` of the release's ``OUT/prairielearn/image/`` (its Dockerfile and setup.sh
  unchanged) with ``BASE_IMAGE`` = the cached Debian bookworm root (``tests/fleet_docker.py``).
- Each job: a directory laid out as PrairieLearn lays out ``/grade`` (the course's
  ``serverFilesCourse/assignment_grader/`` copied from the release, ``student/submission.zip``,
  ``data/data.json``, an empty ``tests/``), mounted at /grade, the container run as root with
  ``--network none --memory 2g --cpus 0.9 --pids-limit 1024`` and Docker's default seccomp profile, the
  entrypoint that the question's info.json names.
- Checked: ``/grade/results/results.json`` in PrairieLearn's format and under 1 MB, exit status 0; the
  solution's and the stubs' results test by test equal to the host's grade of the same release converted
  the same way (``grader.prairielearn.from_gradescope``); an unreadable zip is ``gradable: false`` with a
  message.

If the Docker daemon cannot start, every test here fails saying why; none skips.
"""

import functools
import io
import json
import shutil
import subprocess
import sys
import zipfile

import fleet_docker as fd
import pytest
from grader_fixtures import SOLUTION, released, workdir
from grader_fixtures.hostile import copy_solution
from test_grader_prairielearn import check_results

from grader import prairielearn as pl

pytestmark = pytest.mark.fleet

REPO = fd.FLEET_DATA.parents[1]


def course():
    return released().out / "prairielearn"


def info():
    return json.loads((course() / "questions" / pl.QUESTION / "info.json").read_text())


@functools.cache
def submissions():
    """{name: directory} of the gradable submissions."""
    ctx = released()
    base = workdir() / "fleet-prairielearn"
    if base.exists():
        shutil.rmtree(base)
    return {"solution": copy_solution(SOLUTION, ctx.student_modules, base / "solution"),
            "stubs": copy_solution(ctx.student / "assignment", ctx.student_modules, base / "stubs")}


def zip_of(directory):
    """submission.zip as `make submit` lays it out: assignment/<module>."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(directory.rglob("*.py")):
            zf.writestr(path.relative_to(directory).as_posix(), path.read_bytes())
    return buf.getvalue()


UPLOADS = {
    "solution": lambda: zip_of(submissions()["solution"]),
    "stubs": lambda: zip_of(submissions()["stubs"]),
    # The first bytes of a zip, then garbage: what a broken upload looks like.
    "unreadable": lambda: b"PK\x03\x04" + b"\x00not a zip file" * 64,
}


@functools.cache
def host_grades():
    """{name: the Gradescope results.json the host's grader writes} for the gradable submissions."""
    out = workdir() / "fleet-prairielearn-host"
    if out.exists():
        shutil.rmtree(out)
    subs = submissions()
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--autograder", str(released().autograder),
                           "--out", str(out), "-j", "2", *(str(p) for p in subs.values())],
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {n: json.loads((out / n / "results.json").read_text()) for n in subs}


@functools.cache
def image():
    d = fd.daemon()
    host_grades()  # the host's grade first, while no container runs (its CPU is then the containers' alone)
    tag, log = fd.prairielearn_image(d, "bookworm", course() / "image")
    return d, tag, log


@functools.cache
def job(name):
    """Grade the upload ``name`` in a fresh /grade; returns the PrairieLearnRun."""
    d, tag, _ = image()
    root = workdir() / "fleet-prairielearn-jobs" / name
    if root.exists():
        shutil.rmtree(root)
    (root / "serverFilesCourse").mkdir(parents=True)
    shutil.copytree(course() / "serverFilesCourse" / pl.SERVER_DIR, root / "serverFilesCourse" / pl.SERVER_DIR)
    (root / "tests").mkdir()
    (root / "data").mkdir()
    (root / "data" / "data.json").write_text(json.dumps({"params": {}, "correct_answers": {},
                                                         "submitted_answers": {"_files": [{"name": pl.UPLOAD}]}}))
    (root / "student").mkdir()
    (root / "student" / pl.UPLOAD).write_bytes(UPLOADS[name]())
    grading = info()["externalGradingOptions"]
    return fd.prairielearn_run(d, tag, root, grading["entrypoint"], grading["timeout"], name)


def test_the_question_names_the_image_entrypoint_and_server_files_this_test_uses():
    grading = info()["externalGradingOptions"]
    assert grading["enabled"] and grading["serverFilesCourse"] == [f"{pl.SERVER_DIR}/"]
    assert grading["entrypoint"][0] == pl.ENTRYPOINT
    assert (course() / "image" / "Dockerfile").read_text().count("ARG BASE_IMAGE") == 1


def test_the_image_builds_from_the_cached_root_and_has_the_grading_tools():
    d, tag, log = image()
    status, output = fd.run_in(d, tag, f"test -x {pl.ENTRYPOINT} && {pl.IMAGE_DIR}/venv/bin/python -c "
                               f"'import numpy, pyseccomp, sys; print(sys.version)' && command -v bwrap",
                               limits=fd.PRAIRIELEARN_LIMITS)
    assert status == 0, output + log[-3000:]


@pytest.mark.parametrize("name", ["solution", "stubs"])
def test_a_submission_gets_the_hosts_grade_in_prairielearns_format(name):
    r = job(name)
    assert r.exit_status == 0, r.output[-4000:]
    assert r.results_bytes is not None, r.output[-4000:]
    assert len(r.results_bytes) < pl.LIMIT_BYTES
    results = _check(r)
    expected = pl.from_gradescope(host_grades()[name])
    assert results["gradable"] is True
    assert results["score"] == expected["score"]
    assert results["tests"] == expected["tests"]
    assert results["message"] == expected["message"]
    # The staff's output names the isolation: namespaces are refused under Docker's profile.
    assert "prairielearn: isolation: container mode" in r.output, r.output[-4000:]
    print(f"--- {name}: score {results['score']} in {r.seconds:.1f} s ({len(r.results_bytes)} bytes); "
          f"the entrypoint's output (the staff's) begins ---\n" + "\n".join(r.output.splitlines()[:6]))


def test_the_solution_scores_one_and_the_stubs_zero():
    solution, stubs = _check(job("solution")), _check(job("stubs"))
    assert solution["score"] == 1.0
    assert all(t["points"] == t["max_points"] for t in solution["tests"])
    assert stubs["score"] == 0.0 and all(t["points"] == 0 for t in stubs["tests"])
    assert len(solution["tests"]) == len(stubs["tests"]) == len(released().cases)
    excerpt = dict(stubs, tests=stubs["tests"][:2])
    print("--- the stubs' /grade/results/results.json (first 2 tests) ---\n" + json.dumps(excerpt, indent=1))


def test_an_unreadable_zip_is_not_gradable_and_says_why():
    r = job("unreadable")
    assert r.exit_status == 0, r.output[-4000:]
    results = _check(r)
    assert results["gradable"] is False and results["tests"] == []
    assert f"{pl.UPLOAD} could not be read" in results["message"], results
    assert "not gradable" in r.output
    print("--- an unreadable zip's /grade/results/results.json ---\n" + json.dumps(results, indent=1))


def _check(r):
    """The results file of a run against PrairieLearn's contract (test_grader_prairielearn.check_results)."""
    path = workdir() / "fleet-prairielearn-results" / f"{id(r)}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(r.results_bytes)
    return check_results(path)
