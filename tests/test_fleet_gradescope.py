"""Gradescope in a real Docker daemon (issue 24): the release's autograder.zip built by its setup.sh and
run_autograder run per submission, as Gradescope runs them.

- The image: the cached Debian bookworm root (``tests/fleet_docker.py``), the zip unzipped into
  /autograder/source, ``setup.sh`` run as root, as Gradescope's image build does.
- Each submission: a fresh container, root, ``--network none --memory 768m --cpus 0.5``, Docker's
  default seccomp profile; ``/autograder/run_autograder`` from /autograder; then what Gradescope reads
  (``/autograder/results/results.json``), and the processes still alive after it returned.
- The submissions: the solution, the released stubs, the solution without layers.py and with the
  stub layers.py (twins), the *partial* submission (the solution with the stub optim.py) and two
  attacks added to it: a memory bomb and a daemon that rewrites results.json after run_autograder
  returned. Every attack earns exactly what its honest twin earns; every honest submission earns, test
  by test, what the host's grader gives it on the same release.
- No Landlock: the same image under a seccomp profile that is Docker's default with the landlock_*
  system calls answering ENOSYS (``tests/fleet_data/seccomp-no-landlock.json``), as on a kernel older
  than 5.13: the grader must say it uses its seccomp mode and grade the solution and the stubs as in
  the default profile.
- Python 3.10: run_autograder once on Ubuntu jammy (Gradescope's default Ubuntu 22.04 image).

If the Docker daemon cannot start, every test here fails saying why; none skips.
"""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import fleet_docker as fd
import pytest
from grader_fixtures import SOLUTION, released, workdir
from grader_fixtures.hostile import copy_solution, make_hostile, make_partial

pytestmark = pytest.mark.fleet

MARKER = f"fleet-daemon-{uuid.uuid4().hex}"
NO_LANDLOCK = (f"seccomp={fd.NO_LANDLOCK_PROFILE}",)
DOCTOR = "cd /autograder/source && /autograder/venv/bin/python -m grader doctor"

# A daemon made for Gradescope: double-forked, in its own session, it rewrites Gradescope's results.json
# (and every results.json under /autograder/results) for 30 s, so that if it outlived run_autograder,
# Gradescope would read its file.
GRADESCOPE_DAEMON = r'''
import os, sys, time
_code = """
import glob, json, time
fake = {"score": 1000.0, "output": "pwned", "tests": [{"name": "pwned", "score": 1000.0, "max_score": 1.0,
        "status": "passed"}]}
end = time.time() + 30
while time.time() < end:
    for path in {"/autograder/results/results.json", *glob.glob("/autograder/results/**/results.json",
                                                                 recursive=True)}:
        try:
            with open(path, "w") as f:
                json.dump(fake, f)
        except OSError:
            pass
    time.sleep(0.05)
"""
try:
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                os.execv(sys.executable, [sys.executable, "-c", _code, "$MARKER"])
            finally:
                os._exit(0)
        os._exit(0)
    print("attack: daemon started", flush=True)
except OSError as exc:
    print(f"attack: fork refused ({exc})", flush=True)
time.sleep(0.2)
'''


def total_points():
    return sum(c.points for c in released().cases)


@functools.cache
def submissions():
    """{name: directory} of every submission graded here."""
    ctx = released()
    base = workdir() / "fleet-gradescope"
    if base.exists():
        shutil.rmtree(base)
    stub_optim = ctx.student / "assignment" / "optim.py"
    subs = {
        "solution": copy_solution(SOLUTION, ctx.student_modules, base / "solution"),
        "stubs": copy_solution(ctx.student / "assignment", ctx.student_modules, base / "stubs"),
        "partial": make_partial(SOLUTION, ctx.student_modules, stub_optim, base / "partial"),
        "memory_bomb": make_hostile(SOLUTION, ctx.student_modules, stub_optim, base / "memory_bomb", "memory_bomb"),
    }
    subs["no_layers"] = copy_solution(SOLUTION, ctx.student_modules, base / "no_layers")
    (subs["no_layers"] / "assignment" / "layers.py").unlink()
    subs["stub_layers"] = copy_solution(SOLUTION, ctx.student_modules, base / "stub_layers")
    shutil.copyfile(ctx.student / "assignment" / "layers.py", subs["stub_layers"] / "assignment" / "layers.py")
    subs["daemon"] = make_partial(SOLUTION, ctx.student_modules, stub_optim, base / "daemon")
    optim = subs["daemon"] / "assignment" / "optim.py"
    optim.write_text(optim.read_text() + "\n\n# ---- attack: daemon ----\n"
                     + GRADESCOPE_DAEMON.replace("$MARKER", MARKER))
    return subs


HONEST = ("solution", "stubs", "partial", "stub_layers")


@functools.cache
def host_grades():
    """{name: the Gradescope results.json the host's grader writes} for the honest submissions (the same release)."""
    ctx = released()
    out = workdir() / "fleet-gradescope-host"
    if out.exists():
        shutil.rmtree(out)
    subs = submissions()
    proc = subprocess.run([sys.executable, "-m", "grader", "grade", "--autograder", str(ctx.autograder), "--out",
                           str(out), "-j", "2", *(str(subs[n]) for n in HONEST)],
                          capture_output=True, text=True, timeout=600, cwd=str(fd.FLEET_DATA.parents[1]))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {n: json.loads((out / n / "results.json").read_text()) for n in HONEST}


@functools.cache
def image(root="bookworm"):
    d = fd.daemon()
    host_grades()  # the host's grade first, while no container runs (its CPU is then the containers' alone)
    tag, log = fd.gradescope_image(d, root, released().autograder / "autograder.zip")
    return d, tag, log


@functools.cache
def run(name, profile="default", root="bookworm"):
    d, tag, _ = image(root)
    opts = NO_LANDLOCK if profile == "no-landlock" else ()
    out = workdir() / "fleet-gradescope-runs" / f"{root}-{profile}-{name}"
    return fd.gradescope_run(d, tag, submissions()[name], out, f"{root}-{profile}-{name}", security_opts=opts)


@functools.cache
def doctor(profile):
    d, tag, _ = image()
    status, output = fd.run_in(d, tag, DOCTOR, security_opts=NO_LANDLOCK if profile == "no-landlock" else ())
    print(f"--- python -m grader doctor in the Gradescope container ({profile} seccomp profile) ---\n{output}")
    return status, output


def case_rows(results):
    return [(t["name"], t["score"], t["max_score"], t["status"]) for t in results["tests"]]


def grader_results(r):
    """The results.json the grader wrote for the submission (run_autograder copies it to Gradescope's)."""
    return json.loads((r.out / "results" / "grader" / "submission" / "results.json").read_text())


def check_run(r):
    """What holds for every run: run_autograder exited 0, Gradescope's results.json is the grader's, nothing
    outlived run_autograder, and the container had Gradescope's seccomp filter and root's Docker capabilities."""
    assert r.exit_status == 0, r.stdout[-3000:]
    assert r.results is not None, f"no /autograder/results/results.json; run_autograder said:\n{r.stdout[-3000:]}"
    assert r.results == grader_results(r)
    assert r.processes == [], f"processes alive after run_autograder returned: {r.processes}"
    assert "Seccomp:\t2" in r.status, r.status  # a seccomp filter (Docker's profile) was on
    assert "pwned" not in json.dumps(r.results)


# ----------------------------------------------------------------------------------------------
# The image and the default profile
# ----------------------------------------------------------------------------------------------


def test_the_daemon_runs_docker_with_its_default_seccomp_profile():
    info = fd.docker_info(fd.daemon())
    assert any("name=seccomp" in opt for opt in info["SecurityOptions"]), info["SecurityOptions"]
    assert info["ServerVersion"].startswith("20.10"), info["ServerVersion"]


def test_setup_sh_builds_an_image_whose_doctor_finds_container_mode():
    _, _, log = image()
    assert "`grade` would use: isolation: container mode" in log, log[-3000:]
    status, output = doctor("default")
    assert status == 0, output
    last = [line for line in output.splitlines() if line.startswith("`grade` would use:")]
    assert last and "container mode: Landlock ABI" in last[0] and "uid 61000+slot" in last[0], output


@pytest.mark.parametrize("name", HONEST)
def test_an_honest_submission_earns_what_the_host_gives_it(name):
    r = run(name)
    check_run(r)
    assert r.mode_line.startswith("isolation: container mode"), r.stdout[:2000]
    assert case_rows(r.results) == case_rows(host_grades()[name])
    assert r.results["score"] == host_grades()[name]["score"]
    print(f"--- {name}: {r.results['score']} / {total_points()} in {r.seconds:.1f} s ---")


def test_the_solution_earns_full_marks_and_the_stubs_nothing():
    assert run("solution").results["score"] == total_points()
    assert all(t["status"] == "passed" for t in run("solution").results["tests"])
    stubs = run("stubs").results
    assert stubs["score"] == 0 and all(t["status"] == "failed" for t in stubs["tests"])
    assert len(stubs["tests"]) == len(released().cases)
    # What the student reads: the sandbox is named, the instructor's isolation line is not.
    assert "Your code ran in the grader's sandbox." in stubs["output"]
    assert "isolation" not in json.dumps(stubs)
    excerpt = dict(stubs, tests=stubs["tests"][:2])
    print("--- the stubs' /autograder/results/results.json (default profile; first 2 tests) ---\n"
          + json.dumps(excerpt, indent=1))


def test_a_missing_module_earns_what_its_stub_earns():
    missing, stub = run("no_layers"), run("stub_layers")
    check_run(missing)
    assert missing.results["score"] == stub.results["score"]
    assert case_rows(missing.results) == case_rows(stub.results)
    assert 0 < missing.results["score"] <= total_points() - sum(c.points for c in released().cases
                                                                 if c.module == "layers.py")
    assert "layers.py" in missing.results["output"]


@pytest.mark.parametrize("attack", ["memory_bomb", "daemon"])
def test_an_attack_earns_what_its_honest_twin_earns(attack):
    r, twin = run(attack), run("partial")
    check_run(r)
    assert r.results["score"] == twin.results["score"], r.report()["cases"]
    optim = {c.name for c in released().cases if c.module == "optim.py"}
    # Outside optim.py (where the attack lives) every test is the twin's, test by test.
    assert [t for t in case_rows(r.results) if t[0].split(": ")[0].split()[-1] not in optim] == \
           [t for t in case_rows(twin.results) if t[0].split(": ")[0].split()[-1] not in optim]
    assert MARKER not in "\n".join(cmd for _, cmd in r.processes)


def test_a_memory_bomb_loses_its_cases_to_the_memory_limit_not_to_the_oom_killer():
    """Both bombs (adam fills 64 MiB blocks, rmsprop asks for 8 TiB at once) meet the worker's own limit, which
    run_autograder keeps under the container's 768 MiB: a MemoryError, never the kernel's OOM killer (found
    here: with the grader's default 1024 MiB, adam's worker was SIGKILLed by the OOM killer instead)."""
    r = run("memory_bomb")
    bombs = [c for c in r.report()["cases"] if c["target"].rsplit(".", 1)[-1] in ("adam", "rmsprop")]
    reasons = " | ".join(c["reason"] or "" for c in bombs)
    assert bombs and all(c["reason"] == "memory exhausted (MemoryError)" for c in bombs), reasons
    print(f"--- the memory bomb's optim cases: {reasons} ---")


def test_a_daemon_cannot_rewrite_the_results():
    r = run("daemon")
    report = r.report()
    assert "optim.py" not in report["module_errors"], report["module_errors"]
    said = "\n".join(run["output"] for run in report["runs"]["optim"])
    # The attack ran: its module imported and tried to fork (the seccomp filter refuses new processes).
    assert "attack: fork refused" in said or "attack: daemon started" in said, said[-2000:]
    print(f"--- the daemon attack, in its worker's output: {said.strip().splitlines()[0]} ---")
    assert r.results == grader_results(r)
    assert r.results["score"] == run("partial").results["score"]
    assert all(t["name"] != "pwned" for t in r.results["tests"])


# ----------------------------------------------------------------------------------------------
# No Landlock: the seccomp mode
# ----------------------------------------------------------------------------------------------


def test_the_no_landlock_profile_is_dockers_default_with_landlock_answering_enosys():
    default = json.loads(fd.DEFAULT_PROFILE.read_text())
    assert json.loads(fd.NO_LANDLOCK_PROFILE.read_text()) == fd.no_landlock_profile(default)
    allowed = {n for rule in default["syscalls"] if rule["action"] == "SCMP_ACT_ALLOW" for n in rule["names"]}
    assert set(fd.LANDLOCK_SYSCALLS) <= allowed  # Docker's default lets Landlock through


def test_without_landlock_doctor_names_the_seccomp_mode():
    status, output = doctor("no-landlock")
    assert status == 0, output
    last = [line for line in output.splitlines() if line.startswith("`grade` would use:")]
    assert last and "seccomp mode" in last[0], output
    assert "Landlock is not available" in output


@pytest.mark.parametrize("name", ["solution", "stubs"])
def test_without_landlock_the_grader_uses_the_seccomp_mode_and_scores_as_with_it(name):
    r = run(name, "no-landlock")
    check_run(r)
    assert r.mode_line.startswith("isolation: seccomp mode"), r.stdout[:2000]
    assert r.report()["isolation"].startswith("isolation: seccomp mode")
    assert case_rows(r.results) == case_rows(run(name).results)
    assert r.results["score"] == run(name).results["score"]
    if name == "solution":
        excerpt = dict(r.results, tests=r.results["tests"][:2])
        print("--- the solution's /autograder/results/results.json (no-Landlock profile; first 2 tests) ---\n"
              + json.dumps(excerpt, indent=1) + f"\n--- run_autograder's stdout ---\n{r.stdout}")


# ----------------------------------------------------------------------------------------------
# Python 3.10: Gradescope's default Ubuntu 22.04
# ----------------------------------------------------------------------------------------------


def test_run_autograder_on_ubuntu_jammy_python_3_10_gives_the_solution_full_marks():
    d, tag, log = image("jammy")
    status, version = fd.run_in(d, tag, "/autograder/venv/bin/python -V")
    assert status == 0 and version.strip().startswith("Python 3.10."), version
    r = run("solution", root="jammy")
    check_run(r)
    assert r.results["score"] == total_points()
    assert case_rows(r.results) == case_rows(host_grades()["solution"])
    assert r.mode_line.startswith("isolation: container mode"), r.stdout[:2000]


# ----------------------------------------------------------------------------------------------
# A grader on the host next to graders in containers
# ----------------------------------------------------------------------------------------------


def test_a_grader_on_the_host_never_kills_a_containers_process_of_its_worker_uid():
    """Each container's grader claims its worker uids in its own /run/lock, so a grader on the host uses the
    same ones; its sweep (``sandbox.kill_uid``) must kill its own processes of a uid and spare a container's
    (found here: a host grader running beside these containers killed the solution's worker in one).
    The uid is outside every grader's uid blocks, so that no grader running here now is disturbed."""
    from grader import sandbox

    uid = 65000
    d, tag, _ = image()
    hold = f"import os, time; os.setresuid({uid}, {uid}, {uid}); time.sleep(120)"
    cname = f"fleet-uid-{uuid.uuid4().hex[:12]}"
    d.docker("run", "-d", "--name", cname, *fd.GRADESCOPE_LIMITS, tag, "/autograder/venv/bin/python", "-c", hold)
    host = subprocess.Popen([sys.executable, "-c", hold])
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(_processes_of(uid)) < 2:
            time.sleep(0.1)
        assert len(_processes_of(uid)) == 2, _processes_of(uid)
        assert sandbox.kill_uid(uid) >= 1  # (a count per round: the unreaped host process counts again)
        assert host.wait(10) == -signal.SIGKILL
        state = json.loads(d.docker("inspect", "--format", "{{json .State}}", cname).stdout)
        assert state["Running"], state
        assert len(_processes_of(uid)) == 1  # the container's, alive
    finally:
        host.kill()
        host.wait()
        d.docker("rm", "-f", cname, check=False)


def _processes_of(uid):
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/status") as f:
                if any(line.startswith("Uid:") and int(line.split()[1]) == uid for line in f):
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found
