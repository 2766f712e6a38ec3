"""PrairieLearn external grading: the ``/grade`` contract in, ``/grade/results/results.json`` out.

    python -m grader.prairielearn [--root /grade] [--timeout 300]

The grading image's entrypoint (``grader/prairielearn_files/entrypoint.sh``, installed as
``ENTRYPOINT``) runs this from the course's ``/grade/serverFilesCourse/assignment_grader/``, the
release's ``OUT/prairielearn/serverFilesCourse/assignment_grader/`` (``write_course``). It

1. makes the grader's directory readable by root only (the workers run under their own uids);
2. finds the upload: ``/grade/student/submission.zip``, or else the files under ``/grade/student/``;
3. reads it as ``grade`` would (``grader/submission.py``) and answers ``gradable: false``, with
   the reason for the student, when it cannot be graded: nothing uploaded, ``submission.zip``
   not a regular file, not a zip, truncated, corrupt or too large, or none of the student-owned
   modules in it. Anything else is graded: a module that is missing, does not import or crashes
   loses its own cases, as on Gradescope;
4. runs ``python -m grader grade`` (one worker at a time, the case and group clocks sized from
   the job's timeout) into a private temporary directory;
5. converts that submission's Gradescope ``results.json`` into PrairieLearn's format: ``score``
   = earned / max, one test per case with ``name``, ``points``, ``max_points``, ``message`` (the
   "Why" line, or "passed") and ``output``, both taken from the text Gradescope's results carry
   (``grader/report.py``), so a hidden case shows exactly what it shows there;
6. writes it atomically, under ``LIMIT_BYTES``: when the JSON would be larger, every output is
   cut to the largest of ``CUT_STEPS`` characters (its head and tail, with a marker) that fits, and
   the top-level message says so; the same results are always cut the same way.

When the grader refuses (it cannot contain student code here), fails, or runs out of time, the
student gets ``gradable: false`` with a neutral line and is not charged an attempt; the reason
goes to stdout, which PrairieLearn shows the course staff on the grading job's page (never the
student). The exit status is 0 whenever a results file was written.

``GRADER_PL_ROOT`` (or ``--root``) replaces ``/grade``, so tests run this outside a container.
"""

import argparse
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import traceback
import uuid
from pathlib import Path

from grader import submission
from grader._atomic import atomic_open

ROOT_ENV = "GRADER_PL_ROOT"
DEFAULT_ROOT = "/grade"
SERVER_DIR = "assignment_grader"               # serverFilesCourse/<this>/ holds the autograder
QUESTION = "assignment_submission"             # questions/<this>/
UPLOAD = "submission.zip"                      # what the question's pl-file-upload accepts
IMAGE_ENV = "GRADER_PL_IMAGE"                  # the image info.json names (release time)
DEFAULT_IMAGE = "assignment-grader:latest"
IMAGE_DIR = "/opt/assignment-grader"           # inside the image: the venv and the entrypoint
ENTRYPOINT = f"{IMAGE_DIR}/entrypoint.sh"
TIMEOUT = 300          # info.json's externalGradingOptions.timeout, seconds (PrairieLearn allows at most 600)
MARGIN = 30            # seconds of the timeout kept for starting, converting and writing
LIMIT_BYTES = 1_000_000  # PrairieLearn's 1 MB limit on results.json
CUT_STEPS = (16000, 8000, 4000, 2000, 1000, 500, 250, 100, 0)
GRADESCOPE_ONLY = ("autograder.zip", "setup.sh", "run_autograder")
FILES = Path(__file__).resolve().parent / "prairielearn_files"
# The question's UUID: the same in every release, so that a new release copied over the question keeps
# its submissions and scores in PrairieLearn (a second copy in one course needs a uuid of its own).
UUID_NAMESPACE = uuid.UUID("5d0c7a56-3f0e-4d2b-9a51-2b8f6c1e7a93")

NEUTRAL = ("The autograder could not grade this submission, so this attempt was not counted. "
           "Please tell the course staff.")
MAKE_IT = f"Upload the {UPLOAD} that `make submit` writes in your assignment folder."


# ----------------------------------------------------------------------------------------------
# The release: OUT/prairielearn/
# ----------------------------------------------------------------------------------------------


def question_uuid(question=QUESTION):
    return str(uuid.uuid5(UUID_NAMESPACE, question))


def question_info(image, timeout=TIMEOUT, question=QUESTION):
    """The question's info.json (PrairieLearn's infoQuestion schema: no other keys are allowed)."""
    if not 1 <= int(timeout) <= 600:
        raise ValueError(f"timeout must be 1 to 600 seconds (PrairieLearn's range), got {timeout}")
    return {
        "uuid": question_uuid(question),
        "type": "v3",
        "title": "Assignment: upload your submission.zip",
        "topic": "Autograded assignment",
        "tags": ["autograded", "upload"],
        "singleVariant": True,
        "showCorrectAnswer": False,
        "partialCredit": True,
        "gradingMethod": "External",
        "comment": "Written by `python -m grader release`; see the assignment's docs/prairielearn.md. The "
                   "entrypoint's --timeout must equal externalGradingOptions.timeout.",
        "externalGradingOptions": {
            "enabled": True,
            "image": image,
            "entrypoint": [ENTRYPOINT, "--timeout", str(int(timeout))],
            "serverFilesCourse": [f"{SERVER_DIR}/"],
            "timeout": int(timeout),
        },
    }


def question_html(student_modules):
    items = "\n".join(f"    <li><code>assignment/{m}</code></li>" for m in student_modules)
    text = (FILES / "question.html").read_text()
    if "<!-- FILES -->" not in text:
        raise RuntimeError(f"{FILES / 'question.html'} lost its <!-- FILES --> marker")
    return text.replace("<!-- FILES -->", items)


def _write_text(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def write_course(out_dir, autograder_dir, student_modules, image=None, timeout=TIMEOUT):
    """Write ``out_dir`` (``OUT/prairielearn``) from a finished ``OUT/autograder``; returns a log line.

    - ``serverFilesCourse/assignment_grader/``: the autograder without Gradescope's files
      (``GRADESCOPE_ONLY``), modes kept (the data stays readable by its owner only);
    - ``questions/assignment_submission/``: ``info.json`` and ``question.html``;
    - ``image/``: ``Dockerfile`` (``ARG BASE_IMAGE``), ``setup.sh``, ``entrypoint.sh`` and an
      empty ``wheels/`` (for an offline build).
    """
    out, ag = Path(out_dir), Path(autograder_dir)
    if not (ag / "manifest.json").is_file():
        raise FileNotFoundError(f"{ag} is not an autograder directory (no manifest.json)")
    image = image or os.environ.get(IMAGE_ENV) or DEFAULT_IMAGE
    if out.exists():
        shutil.rmtree(out)
    server = out / "serverFilesCourse" / SERVER_DIR

    def ignore(directory, names):
        top = Path(directory) == ag
        return [n for n in names if n == "__pycache__" or (top and n in GRADESCOPE_ONLY)]

    shutil.copytree(ag, server, ignore=ignore)
    question = out / "questions" / QUESTION
    _write_text(question / "info.json", json.dumps(question_info(image, timeout), indent=2) + "\n")
    _write_text(question / "question.html", question_html(student_modules))
    image_dir = out / "image"
    for name in ("Dockerfile", "setup.sh", "entrypoint.sh"):
        _write_text(image_dir / name, (FILES / name).read_text(), 0o755 if name.endswith(".sh") else 0o644)
    _write_text(image_dir / "wheels" / "README.txt",
                "Wheels put here (numpy and pyseccomp for the base image's Python) are installed without the\n"
                "network: docker build then needs none, given a base image that has python3 (with venv),\n"
                "bubblewrap and libseccomp2.\n")
    return (f"PrairieLearn: question {QUESTION} (image {image}, timeout {timeout} s), "
            f"serverFilesCourse/{SERVER_DIR}, image/ in {out}")


# ----------------------------------------------------------------------------------------------
# Grading inside the container
# ----------------------------------------------------------------------------------------------


def ungradable(message):
    """A result PrairieLearn records as "invalid, not gradable": no points, no attempt used."""
    return {"gradable": False, "score": 0.0, "message": message, "format_errors": [message], "output": "", "tests": []}


def lock_down(ag):
    """Make every file and directory under ``ag`` readable by its owner (root) only; returns staff notes."""
    notes = []
    for dirpath, dirnames, filenames in os.walk(ag):
        for name in [*dirnames, *filenames, None]:
            path = dirpath if name is None else os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
                if not stat.S_ISLNK(st.st_mode) and st.st_mode & 0o077:
                    os.chmod(path, stat.S_IMODE(st.st_mode) & 0o700)
            except OSError as exc:
                notes.append(f"prairielearn: could not make {path} private: {exc}")
    return notes


def find_upload(student_dir):
    """(path to grade, None) or (None, the student's reason why there is nothing to grade)."""
    student_dir = Path(student_dir)
    zipped = student_dir / UPLOAD
    if os.path.lexists(zipped):
        if zipped.is_symlink() or not zipped.is_file():
            return None, f"{UPLOAD} is not a regular file. {MAKE_IT}"
        if zipped.stat().st_size == 0:
            return None, f"{UPLOAD} is empty (0 bytes). {MAKE_IT}"
        return zipped, None
    present = any(files for _, _, files in os.walk(student_dir))  # os.walk follows no symlinked directory
    if not present:
        return None, f"Nothing was uploaded. {MAKE_IT}"
    return student_dir, None


def budget(timeout, groups):
    """(seconds for the whole grade, per-group clock, per-case clock) within the job's ``timeout``."""
    whole = max(10.0, float(timeout) - MARGIN)
    group = max(5.0, min(100.0, (whole - 20.0) / max(1, groups)))
    return whole, group, min(15.0, group / 2)


def kill_marked(marker):
    """SIGKILL every process whose command line contains ``marker`` (this job's private directory); returns how many."""
    killed = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            if marker.encode() in cmdline:
                os.kill(int(entry), signal.SIGKILL)
                killed += 1
        except (OSError, ProcessLookupError):
            continue
    return killed


def run_grader(ag, upload, private, timeout, groups):
    """Run ``python -m grader grade`` on ``upload``; returns (exit status or None on timeout, its output).

    Its results go to ``private/results``, its temporary files (the stages and workers) under
    ``private/tmp``, so that on a timeout every process it left is found by that path and killed.
    """
    whole, group, case = budget(timeout, groups)
    out, tmp = Path(private) / "results", Path(private) / "tmp"
    out.mkdir(mode=0o700)
    tmp.mkdir(mode=0o711)
    os.chmod(tmp, 0o711)  # the workers' uids traverse it to their stages, and cannot list it
    argv = [sys.executable, "-m", "grader", "grade", "--autograder", str(ag), "--out", str(out), "-j", "1",
            "--case-timeout", f"{case:g}", "--group-timeout", f"{group:g}", str(upload)]
    env = dict(os.environ, PYTHONPATH=str(ag), TMPDIR=str(tmp))
    proc = subprocess.Popen(argv, cwd=ag, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        output, _ = proc.communicate(timeout=whole)
        return proc.returncode, output.decode("utf-8", "replace")
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        strays = kill_marked(f"{private}/")
        try:
            output, _ = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a process that escaped still holds the pipe: stop reading
            output = b""
        text = output.decode("utf-8", "replace")
        return None, f"{text}\n(killed after {whole:g} s, with {strays} process(es) it left)"


def _why(output):
    for line in output.splitlines():
        if line.startswith("Why: "):
            return line[len("Why: "):]
    return "failed"


def from_gradescope(gs):
    """PrairieLearn's results from the grader's Gradescope ``results.json`` of one submission."""
    total = float(gs["extra_data"]["max_score"])
    earned = float(gs["score"])
    score = min(1.0, max(0.0, earned / total)) if total > 0 else 0.0
    tests = [{"name": t["name"], "points": float(t["score"]), "max_points": float(t["max_score"]),
              "message": "passed" if t["status"] == "passed" else _why(t["output"]), "output": t["output"]}
             for t in gs["tests"]]
    text = gs["output"]
    return {"gradable": True, "score": score, "message": text.splitlines()[0] if text else "", "output": text,
            "tests": tests}


def encode(results):
    return (json.dumps(results, ensure_ascii=True) + "\n").encode("ascii")


def _cut(text, cap):
    if len(text) <= cap:
        return text
    if cap == 0:
        return f"[{len(text)} characters cut to fit PrairieLearn's 1 MB limit]"
    head = cap // 2
    return (text[:head] + f"\n[... {len(text) - cap} characters cut here to fit PrairieLearn's 1 MB limit ...]\n"
            + text[len(text) - (cap - head):])


def fit(results, limit=LIMIT_BYTES):
    """(JSON bytes under ``limit``, the cap applied or None): outputs and messages cut, largest cap first."""
    data = encode(results)
    if len(data) <= limit:
        return data, None
    for cap in CUT_STEPS:
        trimmed = dict(results, output=_cut(results["output"], cap),
                       tests=[dict(t, message=_cut(t["message"], cap), output=_cut(t["output"], cap))
                              for t in results["tests"]])
        trimmed["message"] = (f"{results['message']} Some outputs were shortened to at most {cap} characters each "
                              f"to keep these results under PrairieLearn's 1 MB limit.")
        data = encode(trimmed)
        if len(data) <= limit:
            return data, cap
    # Only thousands of tests could get here: keep the score, drop the tests.
    data = encode(dict(results, tests=[], output="", message=f"{results['message']} The test list was too large "
                                                             f"for PrairieLearn's 1 MB limit and was left out."))
    return data, 0


def staff_lines(report):
    """What the course staff read in the job's output: the isolation, import errors, every failed case's reason."""
    lines = [f"prairielearn: {report.get('isolation', '')}",
             f"prairielearn: score {report.get('score')} / {report.get('max_score')}"]
    for module, error in report.get("module_errors", {}).items():
        lines.append(f"prairielearn: {module} does not import: {error}"[:400])
    failed = [c for c in report.get("cases", []) if not c.get("passed")]
    for c in failed[:200]:
        lines.append(f"  failed {c['name']}: {c.get('reason', '')}"[:400])
    if len(failed) > 200:
        lines.append(f"  ... and {len(failed) - 200} more failed cases")
    return lines


def grade_upload(root, timeout=TIMEOUT):
    """(PrairieLearn results, staff lines) for the job under ``root``."""
    root = Path(root)
    ag = root / "serverFilesCourse" / SERVER_DIR
    if not (ag / "manifest.json").is_file():
        return ungradable(NEUTRAL), [f"prairielearn: no autograder at {ag} (no manifest.json): copy the release's "
                                     f"serverFilesCourse/{SERVER_DIR} into the course's serverFilesCourse/ and list "
                                     f"\"{SERVER_DIR}/\" in info.json's serverFilesCourse"]
    staff = lock_down(ag)
    manifest = json.loads((ag / "manifest.json").read_text())
    modules = list(manifest["student_modules"])
    upload, problem = find_upload(root / "student")
    if problem is None:
        sub = submission.load(upload, modules, "submission")
        where = UPLOAD if upload.name == UPLOAD else "your upload"
        if sub.error:
            problem = f"{where} could not be read: {sub.error}."
        elif len(sub.missing) == len(modules):
            wanted = ", ".join(f"assignment/{m}" for m in modules)
            problem = f"No file of the assignment was found in {where}: it should hold {wanted}. {MAKE_IT}"
    if problem is not None:
        return ungradable(problem), staff + [f"prairielearn: not gradable: {problem}"]
    private = Path(tempfile.mkdtemp(prefix="grader-pl-"))
    os.chmod(private, 0o711)
    try:
        status, output = run_grader(ag, upload, private, timeout, len(manifest.get("groups", {})) or 5)
        staff += [f"grade: {line}" for line in output[-20000:].splitlines()]
        stem = submission.make_stem(upload, set())
        out = private / "results"
        path = out / stem / "results.json"
        if status is None:
            staff.append(f"prairielearn: grading did not finish within the job's {timeout} s timeout")
            return ungradable("The autograder did not finish in time, so this attempt was not counted. "
                              "Please tell the course staff."), staff
        if not path.is_file():
            staff.append(f"prairielearn: the grader exited with status {status} and wrote no results "
                         f"(a refusal says why above)")
            return ungradable(NEUTRAL), staff
        gs = json.loads(path.read_text())
        if (out / stem / "report.json").is_file():
            staff += staff_lines(json.loads((out / stem / "report.json").read_text()))
        return from_gradescope(gs), staff
    finally:
        shutil.rmtree(private, ignore_errors=True)


def write_results(path, results):
    """Write ``results`` to ``path`` atomically, under the size limit; returns a staff line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.parent.stat().st_uid == os.geteuid():
        os.chmod(path.parent, 0o755)  # nobody else writes here
    raw = len(encode(results))
    data, cap = fit(results)
    with atomic_open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    cut = f"; outputs cut to {cap} characters each (before: {raw} bytes)" if cap is not None else ""
    return f"prairielearn: wrote {path} ({len(data)} bytes{cut})"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m grader.prairielearn", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=None, help=f"the job's directory (default ${ROOT_ENV}, else {DEFAULT_ROOT})")
    parser.add_argument("--timeout", type=int, default=TIMEOUT,
                        help=f"the job's timeout in seconds, as info.json says (default {TIMEOUT})")
    args = parser.parse_args(argv)
    root = Path(args.root or os.environ.get(ROOT_ENV) or DEFAULT_ROOT)
    try:
        results, staff = grade_upload(root, args.timeout)
    except Exception:  # noqa: BLE001 - whatever failed, the student gets a neutral result and staff the traceback
        results, staff = ungradable(NEUTRAL), ["prairielearn: the grader failed:", traceback.format_exc()]
    for line in staff:
        print(line)
    try:
        print(write_results(root / "results" / "results.json", results))
    except OSError as exc:
        print(f"prairielearn: could not write the results: {exc}")
        return 1
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
