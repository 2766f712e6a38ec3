"""PrairieLearn external grading: the release's OUT/prairielearn/ and its entrypoint on a fake /grade tree.

The entrypoint runs here as PrairieLearn runs it (as root, where namespaces are refused by a seccomp
filter as under Docker's default profile: ``grader_fixtures/nonamespace.py``), with ``GRADER_PL_ROOT``
in place of ``/grade`` and a venv of the system's Python in place of the image's. Building and running
the image in a real Docker daemon is tests/test_fleet_prairielearn.py's job.
"""

import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from grader_fixtures import REPO, SOLUTION, released, workdir
from test_grader_hostile import LAUNCHER, grader_python

from grader import prairielearn as pl

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the grader's sandbox is Linux-only")

UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# infoQuestion.json (PrairieLearn's schema) allows these keys and no others, at each level.
INFO_KEYS = {"comment", "uuid", "type", "title", "topic", "tags", "clientFiles", "clientTemplates", "template",
             "gradingMethod", "singleVariant", "showCorrectAnswer", "partialCredit", "options",
             "externalGradingOptions", "dependencies", "workspaceOptions", "sharingSets", "sharePublicly",
             "shareSourcePublicly"}
GRADING_KEYS = {"comment", "enabled", "image", "entrypoint", "serverFilesCourse", "timeout", "enableNetworking",
                "environment"}


def course():
    return released().out / "prairielearn"


def check_results(path):
    """The results file against PrairieLearn's contract; returns it parsed."""
    data = Path(path).read_bytes()
    assert len(data) < 1_000_000, f"{path}: {len(data)} bytes"
    results = json.loads(data)
    assert isinstance(results["gradable"], bool)
    assert isinstance(results["message"], str) and results["message"]
    assert isinstance(results["output"], str)
    assert isinstance(results["tests"], list)
    score = results["score"]
    assert isinstance(score, float) and 0.0 <= score <= 1.0
    for t in results["tests"]:
        assert set(t) >= {"name", "points", "max_points", "message", "output"}, t
        assert isinstance(t["name"], str) and t["name"]
        assert isinstance(t["message"], str) and isinstance(t["output"], str)
        assert isinstance(t["points"], float) and isinstance(t["max_points"], float)
        assert 0.0 <= t["points"] <= t["max_points"]
    if results["gradable"]:
        total = sum(t["max_points"] for t in results["tests"])
        assert total > 0
        assert score == pytest.approx(sum(t["points"] for t in results["tests"]) / total)
    else:
        assert results["tests"] == [] and score == 0.0
        errors = results["format_errors"]
        assert errors and all(isinstance(e, str) and e for e in errors)
    return results


def zipped(files):
    """A zip (bytes) of {name in the zip: bytes}."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def modules_of(package):
    return {f"assignment/{rel}": (Path(package) / rel).read_bytes() for rel in released().student_modules}


def job(tmp_path, upload=None, loose=None):
    """A /grade tree as PrairieLearn assembles it; ``upload``: submission.zip's bytes, ``loose``: other files."""
    root = tmp_path / "grade"
    for sub in ("serverFilesCourse", "student", "tests", "data"):
        (root / sub).mkdir(parents=True)
    shutil.copytree(course() / "serverFilesCourse" / pl.SERVER_DIR, root / "serverFilesCourse" / pl.SERVER_DIR)
    (root / "data" / "data.json").write_text(json.dumps({"params": {}, "correct_answers": {},
                                                         "submitted_answers": {}}))
    if upload is not None:
        (root / "student" / pl.UPLOAD).write_bytes(upload)
    for name, data in (loose or {}).items():
        (root / "student" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "student" / name).write_bytes(data)
    return root


def entrypoint(root, *args, flags=(), python=None, env=None):
    """Run the released entrypoint.sh on the job ``root`` under the namespace-refusing launcher."""
    python = python or grader_python(readable=True)
    cmd = [sys.executable, str(LAUNCHER), *flags, "--", "sh", str(course() / "image" / "entrypoint.sh"), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", pl.ROOT_ENV: str(root), "GRADER_PL_PYTHON": str(python),
                               **(env or {})})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout, check_results(root / "results" / "results.json")


# ----------------------------------------------------------------------------------------------
# The release
# ----------------------------------------------------------------------------------------------


def test_release_writes_the_course_files_and_nothing_else():
    base = course()
    found = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
    server = f"serverFilesCourse/{pl.SERVER_DIR}/"
    assert [f for f in found if not f.startswith(server)] == [
        "image/Dockerfile", "image/entrypoint.sh", "image/setup.sh", "image/wheels/README.txt",
        f"questions/{pl.QUESTION}/info.json", f"questions/{pl.QUESTION}/question.html"]
    # The server files are the autograder without Gradescope's files, byte for byte, modes kept.
    ag = released().autograder
    wanted = sorted(p.relative_to(ag).as_posix() for p in ag.rglob("*")
                    if p.is_file() and "__pycache__" not in p.parts and p.name not in pl.GRADESCOPE_ONLY)
    assert sorted(f[len(server):] for f in found if f.startswith(server)) == wanted
    assert {"manifest.json", "cases.json", "grader/prairielearn.py", "grader/grade.py"} <= set(wanted)
    assert any(w.startswith("reference/") for w in wanted) and any(w.startswith("given/assignment/") for w in wanted)
    for rel in wanted:
        copy, original = base / server / rel, ag / rel
        assert copy.read_bytes() == original.read_bytes(), rel
        assert stat.S_IMODE(copy.stat().st_mode) == stat.S_IMODE(original.stat().st_mode), rel
    assert stat.S_IMODE((base / server / "cases.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((base / server / "reference").stat().st_mode) == 0o700
    for name in ("entrypoint.sh", "setup.sh"):
        assert os.access(base / "image" / name, os.X_OK), name


def test_info_json_is_an_external_question_that_prairielearn_accepts():
    info = json.loads((course() / "questions" / pl.QUESTION / "info.json").read_text())
    assert set(info) <= INFO_KEYS
    assert {"uuid", "type", "title", "topic"} <= set(info)  # the schema's required keys
    assert UUID.match(info["uuid"]) and info["type"] == "v3"
    assert isinstance(info["title"], str) and info["title"] and isinstance(info["topic"], str) and info["topic"]
    assert info["gradingMethod"] == "External" and info["singleVariant"] is True
    options = info["externalGradingOptions"]
    assert set(options) <= GRADING_KEYS
    assert options["enabled"] is True and options["image"] == pl.DEFAULT_IMAGE
    assert options["serverFilesCourse"] == [f"{pl.SERVER_DIR}/"]
    assert isinstance(options["timeout"], int) and 1 <= options["timeout"] <= 600
    # The entrypoint is the script the Dockerfile installs, told the same timeout.
    assert options["entrypoint"] == [pl.ENTRYPOINT, "--timeout", str(options["timeout"])]
    dockerfile = (course() / "image" / "Dockerfile").read_text()
    assert f"{pl.IMAGE_DIR}/" in dockerfile and "entrypoint.sh" in dockerfile
    assert pl.ENTRYPOINT == f"{pl.IMAGE_DIR}/entrypoint.sh"


def test_the_uuid_is_the_same_in_every_release(tmp_path):
    first = json.loads((course() / "questions" / pl.QUESTION / "info.json").read_text())
    pl.write_course(tmp_path / "again", released().autograder, released().student_modules, image="org/img:2")
    second = json.loads((tmp_path / "again" / "questions" / pl.QUESTION / "info.json").read_text())
    assert second["uuid"] == first["uuid"] == pl.question_uuid()
    assert second["externalGradingOptions"]["image"] == "org/img:2"
    assert pl.question_uuid("another_question") != first["uuid"]


def test_the_image_name_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(pl.IMAGE_ENV, "course/grader:fall")
    pl.write_course(tmp_path / "out", released().autograder, released().student_modules)
    info = json.loads((tmp_path / "out" / "questions" / pl.QUESTION / "info.json").read_text())
    assert info["externalGradingOptions"]["image"] == "course/grader:fall"


def test_a_new_release_replaces_the_previous_prairielearn_files(tmp_path):
    from grader.release import release

    out = tmp_path / "rel"
    shutil.copytree(released().out, out)
    (out / "prairielearn" / "questions" / "stale").mkdir()
    release(out, root=REPO, hidden_seed="another-secret", echo=lambda *a: None)
    assert not (out / "prairielearn" / "questions" / "stale").exists()
    cases = json.loads((out / "prairielearn" / "serverFilesCourse" / pl.SERVER_DIR / "cases.json").read_text())
    assert cases == json.loads((out / "autograder" / "cases.json").read_text())
    assert cases != json.loads((released().autograder / "cases.json").read_text())  # the new secret's cases


def test_bad_release_arguments_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="600"):
        pl.question_info("img", timeout=900)
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        pl.write_course(tmp_path / "out", tmp_path, ["layers.py"])


def test_question_html_uploads_submission_zip_and_shows_the_tests():
    html = (course() / "questions" / pl.QUESTION / "question.html").read_text()
    upload = re.findall(r"<pl-file-upload\b[^>]*>", html)
    assert upload == ['<pl-file-upload file-names="submission.zip">']
    panel = re.search(r"<pl-submission-panel>(.*?)</pl-submission-panel>", html, re.S)
    assert panel and "<pl-external-grader-results></pl-external-grader-results>" in panel.group(1)
    question = re.search(r"<pl-question-panel>(.*?)</pl-question-panel>", html, re.S).group(1)
    assert "<pl-file-upload" in question
    for rel in released().student_modules:
        assert f"<code>assignment/{rel}</code>" in question
    assert "<!--" not in html


def test_image_files_mirror_gradescope_setup():
    image = course() / "image"
    dockerfile = (image / "Dockerfile").read_text()
    lines = [line for line in dockerfile.splitlines() if line and not line.startswith("#")]
    assert lines[0].startswith("ARG BASE_IMAGE=") and lines[0].split("=", 1)[1]
    assert lines[1] == "FROM ${BASE_IMAGE}"
    assert any(line.startswith("COPY ") and "entrypoint.sh" in line and "setup.sh" in line for line in lines)
    assert "RUN bash /opt/assignment-grader/setup.sh" in lines
    setup = (image / "setup.sh").read_text()
    for needed in ("python3-venv", "bubblewrap", "libseccomp2", '"numpy>=2"', '"pyseccomp>=0.1.2"',
                   f"HERE={pl.IMAGE_DIR}\n", 'python3 -m venv "$HERE/venv"'):
        assert needed in setup, needed
    entry = (image / "entrypoint.sh").read_text()
    assert f"{pl.IMAGE_DIR}/venv/bin/python" in entry and "-m grader.prairielearn" in entry
    for script, shell in (("setup.sh", "bash"), ("entrypoint.sh", "sh")):
        proc = subprocess.run([shell, "-n", str(image / script)], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr


# ----------------------------------------------------------------------------------------------
# The entrypoint on a /grade tree
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flags, mode", [([], "isolation: container mode: Landlock"),
                                         (["--no-landlock"], "isolation: seccomp mode (no Landlock)")],
                         ids=["container", "old-kernel"])
def test_the_solution_scores_one_as_prairielearn_runs_it(tmp_path, flags, mode):
    # Docker's default seccomp profile (no namespaces); on a host kernel without Landlock, too.
    root = job(tmp_path, upload=zipped(modules_of(SOLUTION)))
    stdout, results = entrypoint(root, flags=flags)
    assert results["gradable"] is True and results["score"] == 1.0
    assert len(results["tests"]) == len(released().cases)
    assert all(t["points"] == t["max_points"] and t["message"] == "passed" for t in results["tests"])
    total = sum(c.points for c in released().cases)
    assert results["message"].startswith(f"Score: {total:g} / {total:g} ")
    # The staff's lines (stdout): the isolation that PrairieLearn's containers get.
    assert f"prairielearn: {mode}" in stdout
    # The grader's data was made root's only before grading, all of it.
    for path in (root / "serverFilesCourse" / pl.SERVER_DIR).rglob("*"):
        assert stat.S_IMODE(path.lstat().st_mode) & 0o077 == 0, path


def test_the_stubs_score_zero_and_each_test_says_what_gradescope_says(tmp_path):
    stubs = zipped(modules_of(released().student / "assignment"))
    root = job(tmp_path, upload=stubs)
    _, results = entrypoint(root)
    assert results["gradable"] is True and results["score"] == 0.0
    assert all(t["points"] == 0.0 for t in results["tests"])
    # The same submission graded for Gradescope: every test's text is the same, hidden cases included.
    (tmp_path / "stubs.zip").write_bytes(stubs)
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--autograder", str(released().autograder),
                           "--out", str(tmp_path / "gs"), str(tmp_path / "stubs.zip")],
                          capture_output=True, text=True, timeout=600, cwd=str(REPO))
    assert proc.returncode == 0, proc.stderr
    gs = json.loads((tmp_path / "gs" / "stubs" / "results.json").read_text())
    assert [t["name"] for t in results["tests"]] == [t["name"] for t in gs["tests"]]
    for mine, theirs in zip(results["tests"], gs["tests"], strict=True):
        assert mine["output"] == theirs["output"]
        assert mine["points"] == theirs["score"] and mine["max_points"] == theirs["max_score"]
        assert mine["message"] in theirs["output"]
    hidden = [t for t in results["tests"] if t["name"].startswith("[hidden]")]
    assert hidden and all(t["output"].startswith("Hidden case failed.") for t in hidden)
    assert all(t["message"].startswith("not implemented") for t in hidden)


def test_loose_files_under_student_are_graded_and_missing_ones_named(tmp_path):
    # No submission.zip: the files under /grade/student are the submission (here only layers.py, flat).
    root = job(tmp_path, loose={"layers.py": (SOLUTION / "layers.py").read_bytes()})
    _, results = entrypoint(root)
    assert results["gradable"] is True and 0.0 < results["score"] < 1.0
    assert "Not found in your submission: " in results["output"] and "optim.py" in results["output"]
    layers = [t for t in results["tests"] if ": assignment.layers." in t["name"]]
    assert layers and all(t["points"] == t["max_points"] for t in layers)


def _truncated():
    whole = zipped(modules_of(SOLUTION))
    return whole[: len(whole) // 2]


@pytest.mark.parametrize("upload, loose, expected", [
    (b"\x00" * 3000, None, "not a zip archive"),
    (_truncated(), None, "truncated zip"),
    (b"", None, "is empty"),
    (None, None, "Nothing was uploaded"),
    (zipped({"README.txt": b"my notes\n"}), None, "No file of the assignment was found in submission.zip"),
    (zipped({}), None, "No file of the assignment was found"),
    (None, {"notes/todo.txt": b"later\n"}, "No file of the assignment was found in your upload"),
], ids=["random-bytes", "truncated", "empty-file", "nothing", "zip-without-modules", "empty-zip", "loose-no-module"])
def test_an_upload_that_cannot_be_read_is_not_gradable(tmp_path, upload, loose, expected):
    root = job(tmp_path, upload=upload, loose=loose)
    stdout, results = entrypoint(root)
    assert results["gradable"] is False
    assert expected in results["message"], results["message"]
    assert f"not gradable: {results['message']}" in stdout


def test_a_directory_named_submission_zip_is_not_gradable(tmp_path):
    root = job(tmp_path)
    (root / "student" / pl.UPLOAD).mkdir()
    _, results = entrypoint(root)
    assert results["gradable"] is False and "not a regular file" in results["message"]


def test_a_refusing_grader_gives_a_neutral_result_and_tells_the_staff(tmp_path):
    # No Landlock and no seccomp: nothing can contain student code, so `grade` refuses.
    root = job(tmp_path, upload=zipped(modules_of(SOLUTION)))
    stdout, results = entrypoint(root, flags=["--no-landlock", "--no-seccomp"])
    assert results["gradable"] is False and results["message"] == pl.NEUTRAL
    assert "nothing was graded" in stdout and "seccomp" in stdout
    assert "wrote no results" in stdout


def test_no_autograder_in_server_files_is_a_neutral_result(tmp_path):
    root = job(tmp_path, upload=zipped(modules_of(SOLUTION)))
    (root / "serverFilesCourse" / pl.SERVER_DIR / "manifest.json").unlink()
    stdout, results = entrypoint(root)
    assert results["gradable"] is False and results["message"] == pl.NEUTRAL
    assert "no autograder at" in stdout and "serverFilesCourse" in stdout


def test_the_entrypoint_writes_a_result_even_when_python_fails(tmp_path):
    root = job(tmp_path, upload=zipped(modules_of(SOLUTION)))
    stdout, results = entrypoint(root, python="/bin/false")
    assert results["gradable"] is False and "could not grade" in results["message"]
    assert "without results" in stdout


def _shouting_layers():
    """layers.py whose every function raises an exception of emoji, with frames whose lines are emoji too:
    each public case's feedback is ~4000 astral characters, 12 bytes each in JSON."""
    e = "\U0001F600"
    return (f'def _deep(n):\n    if n:\n        return _deep(n - 1)  # {e * 700}\n'
            f'    raise ValueError("{e * 1200}")\n\n\n'
            'def __getattr__(name):\n    if name.startswith("__"):\n        raise AttributeError(name)\n\n'
            '    def call(*args, **kwargs):\n        return _deep(4)\n\n    return call\n').encode()


def test_oversized_outputs_are_cut_under_one_megabyte(tmp_path):
    root = job(tmp_path, upload=zipped({"assignment/layers.py": _shouting_layers()}))
    stdout, results = entrypoint(root)
    before = int(re.search(r"before: (\d+) bytes", stdout).group(1))
    assert before > 1_000_000  # it needed cutting
    assert (root / "results" / "results.json").stat().st_size < 1_000_000
    assert results["gradable"] is True and results["score"] == 0.0
    assert "shortened" in results["message"] and "1 MB" in results["message"]
    cut = [t for t in results["tests"] if "characters cut here" in t["output"]]
    assert cut and all(t["output"].startswith("Public case failed") for t in cut)


def test_fit_cuts_deterministically_and_only_when_needed():
    small = {"gradable": True, "score": 0.5, "message": "Score", "output": "o",
             "tests": [{"name": "t", "points": 1.0, "max_points": 2.0, "message": "m", "output": "x" * 100}]}
    data, cap = pl.fit(small)
    assert cap is None and json.loads(data) == small
    big = dict(small, tests=[dict(small["tests"][0], name=f"t{i}", output=f"{i}:" + "y" * 50000) for i in range(40)])
    data, cap = pl.fit(big)
    assert len(data) <= pl.LIMIT_BYTES and cap in pl.CUT_STEPS
    assert pl.fit(big) == (data, cap)  # the same input, the same bytes
    again = json.loads(data)
    assert [t["name"] for t in again["tests"]] == [t["name"] for t in big["tests"]]
    assert all(t["output"].startswith(f"{i}:") and t["output"].endswith("y") for i, t in enumerate(again["tests"]))
    assert all(len(t["output"]) < cap + 100 for t in again["tests"])
    assert f"at most {cap} characters" in again["message"]
    assert big["tests"][0]["output"] == "0:" + "y" * 50000  # the input is left alone


def test_a_grader_that_runs_out_of_time_is_killed_with_what_it_started(tmp_path):
    hang = b"while True:\n    pass\n"
    root = job(tmp_path, upload=zipped({"assignment/layers.py": hang, "assignment/optim.py": hang}))
    tmp = workdir() / "pl-timeout-tmp"
    tmp.mkdir(mode=0o755, exist_ok=True)
    tmp.chmod(0o755)
    started = time.monotonic()
    stdout, results = entrypoint(root, "--timeout", "1", env={"TMPDIR": str(tmp)})
    assert time.monotonic() - started < 60
    assert results["gradable"] is False and "did not finish in time" in results["message"]
    assert "did not finish within the job's 1 s timeout" in stdout and "killed after 10 s" in stdout
    left = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and str(tmp).encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                left.append(entry)
        except OSError:
            pass
    assert left == []
