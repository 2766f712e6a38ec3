"""A class graded on a real Slurm cluster (issue 24): the release's grade.sbatch, as an instructor runs it.

The test starts a single-node Slurm from Debian's packages (``munged``, ``slurmctld``, ``slurmd``), with its
own key, configuration, ports and state in a fresh directory under /var/tmp, and stops it afterwards. If it
cannot start, the test fails and says why (``SlurmError``, with the daemons' logs): it never skips.

Then a class of 200 submissions (solutions, stubs, every mutant of grader_fixtures/mutants.py, hostile
submissions, crashes, a submission without layers.py, an unreadable zip; directories and zips, every name
distinct) is graded as an instructor would: ``bash OUT/slurm/grade.sbatch`` submits the array job (4 tasks,
``--shard I/4`` each) and the merge job after it. The node has this machine's CPUs (2); the test asks for
one CPU per task (``SBATCH_ARGS=--cpus-per-task=1``), so that two graders share the node at once, as array
tasks do on any cluster node, and each runs ``-j 1``. Once the merge job is done, every merged
``results.json`` must equal what ``python -m grader grade -j 2`` gives on the same release and submissions
(the score; each test's name, score and status), and ``grades.csv``, ``cases.jsonl`` and ``summary.json``
the unsharded ones, with the class statistics also recomputed here from the merged results.

The wall times (submit to merge done; ``grade -j 2``) are printed, and written as JSON to
``$GRADER_SLURM_TIMINGS`` when that is set: ``benchmarks/bench_slurm.py`` runs this test so and writes the
BENCHMARKS.md section.
"""

import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from datetime import datetime
from pathlib import Path

import pytest
from grader_fixtures import REPO, SOLUTION, released
from grader_fixtures.hostile import (
    CRASHES,
    SHARED_CRASHES,
    copy_solution,
    make_crash,
    make_hostile,
    make_partial,
    make_shared_crash,
)
from grader_fixtures.mutants import MUTANTS, make_submission

pytestmark = pytest.mark.fleet

PY = sys.executable
CLASS_SIZE = 200
SHARDS = 4
# The same options for both runs. A case that hangs costs the case timeout (twice: the function's other cases
# run again); 10 s is far above what any honest case takes here (well under 1 s), loaded or not.
GRADE_ARGS = ("--case-timeout", "10", "--group-timeout", "120")
HOSTILE = ("write_results_json", "daemon", "kill_parent", "kill_grader", "sleep_children", "fork_bomb",
           "memory_bomb", "exit_early_os", "read_reference", "proc_snoop")
TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo")
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE"}


class SlurmError(AssertionError):
    """The cluster could not be set up or a job did not run: the test fails with this message."""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tail(path, lines=30):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"({path}: {exc.strerror})"


class Cluster:
    """A single-node Slurm of this host: munged, slurmctld and slurmd, started and stopped by us."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="grader-slurm-", dir="/var/tmp"))
        self.root.chmod(0o755)
        self.conf = self.root / "slurm.conf"
        self.logs = self.root / "log"
        self.procs = {}  # name -> Popen, in start order

    @property
    def env(self):
        return dict(os.environ, SLURM_CONF=str(self.conf))

    def _fail(self, why):
        logs = "\n".join(f"--- {p.name}:\n{_tail(p)}" for p in sorted(self.logs.glob("*.log")))
        raise SlurmError(f"single-node Slurm: {why}\n{logs}")

    def _spawn(self, name, argv):
        log = open(self.logs / f"{name}.out.log", "wb")
        self.procs[name] = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                            env=self.env, start_new_session=True)
        log.close()

    def _wait(self, what, ready, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    self._fail(f"{name} exited with status {proc.returncode} while waiting for {what}")
            if ready():
                return
            time.sleep(0.2)
        self._fail(f"timed out after {timeout} s waiting for {what}")

    def start(self):
        missing = [t for t in TOOLS if not shutil.which(t)]
        if missing:
            raise SlurmError(f"{', '.join(missing)} not found: apt-get install slurmctld slurmd slurm-client munge "
                             f"(make fleet-deps does it as root)")
        if os.geteuid() != 0:
            raise SlurmError("the single-node Slurm of this test runs its daemons as root: run the fleet tests as root")
        for name, mode in (("munge", 0o700), ("sock", 0o755), ("log", 0o755), ("state", 0o700), ("spool", 0o755)):
            (self.root / name).mkdir(mode=mode)
            (self.root / name).chmod(mode)
        key = self.root / "munge" / "munge.key"
        made = subprocess.run(["mungekey", "--create", f"--keyfile={key}"], capture_output=True, text=True)
        if made.returncode != 0:
            self._fail(f"mungekey failed: {made.stderr.strip()}")
        sock = self.root / "sock" / "munge.sock"
        self._spawn("munged", ["munged", "--foreground", f"--socket={sock}", f"--key-file={key}",
                               f"--log-file={self.logs / 'munged.log'}", f"--pid-file={self.root / 'munge' / 'pid'}",
                               f"--seed-file={self.root / 'munge' / 'seed'}"])
        self._wait("munged's socket", sock.exists, 20)
        host = socket.gethostname().split(".")[0]
        probe = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, env=self.env)
        node = next((line for line in probe.stdout.splitlines() if line.startswith("NodeName=")), None)
        if probe.returncode != 0 or node is None:
            self._fail(f"slurmd -C did not describe this node: {probe.stdout}{probe.stderr}")
        self.cpus = int(re.search(r"\bCPUs=(\d+)", node).group(1))
        self.conf.write_text("\n".join([
            "ClusterName=gradertest",
            f"SlurmctldHost={host}(127.0.0.1)",
            "SlurmUser=root", "SlurmdUser=root",
            "AuthType=auth/munge", "CredType=cred/munge", f"AuthInfo=socket={sock}",
            f"SlurmctldPort={_free_port()}", f"SlurmdPort={_free_port()}",
            f"StateSaveLocation={self.root / 'state'}", f"SlurmdSpoolDir={self.root / 'spool'}",
            f"SlurmctldPidFile={self.root / 'slurmctld.pid'}", f"SlurmdPidFile={self.root / 'slurmd.pid'}",
            f"SlurmctldLogFile={self.logs / 'slurmctld.log'}", f"SlurmdLogFile={self.logs / 'slurmd.log'}",
            "ProctrackType=proctrack/linuxproc", "TaskPlugin=task/none", "SwitchType=switch/none", "MpiDefault=none",
            "SelectType=select/cons_tres", "SelectTypeParameters=CR_CPU", "SchedulerType=sched/backfill",
            "JobCompType=jobcomp/none", "JobAcctGatherType=jobacct_gather/none",
            "AccountingStorageType=accounting_storage/none",
            "ReturnToService=2", "SlurmctldTimeout=30", "SlurmdTimeout=30", "InactiveLimit=0", "MinJobAge=3600",
            "KillWait=5", "Waittime=0",
            f"{node} NodeAddr=127.0.0.1 State=UNKNOWN",
            f"PartitionName=grade Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO",
        ]) + "\n")
        self._spawn("slurmctld", ["slurmctld", "-D", "-f", str(self.conf)])
        self._spawn("slurmd", ["slurmd", "-D", "-f", str(self.conf)])
        self._wait("the node to be idle (sinfo)", lambda: self.node_state() == "idle", 90)
        return self

    def node_state(self):
        proc = subprocess.run(["sinfo", "-h", "-N", "-o", "%T"], capture_output=True, text=True, env=self.env)
        return proc.stdout.strip() if proc.returncode == 0 else None

    def jobs(self, job_id):
        """Every record (an array job: one per task) of ``job_id`` as {key: value}, from ``scontrol -o show job``."""
        proc = subprocess.run(["scontrol", "-o", "show", "job", str(job_id)], capture_output=True, text=True,
                              env=self.env)
        if proc.returncode != 0:
            raise SlurmError(f"scontrol show job {job_id}: {proc.stderr.strip()}")
        records = []
        for line in proc.stdout.splitlines():
            if line.strip():
                records.append(dict(re.findall(r"(\w+)=(\S*)", line)))
        return records

    def wait_job(self, job_id, timeout):
        """Poll until every record of ``job_id`` is in a final state; returns the records."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.jobs(job_id)
            if records and all(r.get("JobState") in TERMINAL for r in records):
                return records
            if time.monotonic() > deadline:
                self._fail(f"job {job_id} not finished after {timeout} s: "
                           f"{[(r.get('JobId'), r.get('JobState'), r.get('Reason')) for r in records]}")
            time.sleep(0.25)

    def stop(self):
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
        shutil.rmtree(self.root, ignore_errors=True)


def _zip_dir(source, target):
    """``source``'s files in a zip ``target`` (paths relative to ``source``); ``source`` removed."""
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(Path(source).rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(source).as_posix())
    shutil.rmtree(source)
    return target


def _flatten(dest):
    """``dest/assignment/<rel>`` moved to ``dest/<rel>`` (a submission without the package directory)."""
    package = Path(dest) / "assignment"
    for path in sorted(package.rglob("*.py")):
        target = Path(dest) / path.relative_to(package)
        target.parent.mkdir(parents=True, exist_ok=True)
        path.rename(target)
    shutil.rmtree(package)
    return dest


def build_class(subs, marker, results, n=CLASS_SIZE):
    """``n`` submissions under ``subs``, every name distinct; returns {stem: kind}.

    Kinds: ``solution``, ``stub``, ``mutant:NAME``, ``partial`` (the solution with the stub optim.py),
    ``hostile:ATTACK`` (partial + the attack), ``crash:NAME`` and ``shared:NAME`` (grader_fixtures.hostile's
    crash pairs), ``no_layers``, ``broken_zip``.
    """
    ctx = released()
    modules = ctx.student_modules
    stub_dir = ctx.student / "assignment"
    subs.mkdir(parents=True)
    kinds = {}

    def add(stem, kind, path):
        assert stem not in kinds
        kinds[stem] = kind
        return path

    add("partial", "partial", make_partial(SOLUTION, modules, stub_dir / "optim.py", subs / "partial"))
    for attack in HOSTILE:
        add(f"hostile_{attack}", f"hostile:{attack}",
            make_hostile(SOLUTION, modules, stub_dir / "optim.py", subs / f"hostile_{attack}", attack,
                         REFERENCE=ctx.autograder / "reference" / "optim.npz", RESULTS=results, MARKER=marker,
                         PORT=9, SUBMISSIONS=subs, SCOPE="/"))
    for name in CRASHES:
        add(name, f"crash:{name}", make_crash(SOLUTION, modules, subs / name, name))
    for name in SHARED_CRASHES:
        add(name, f"shared:{name}", make_shared_crash(SOLUTION, modules, subs / name, name))
    no_layers = copy_solution(SOLUTION, modules, subs / "no_layers")
    (no_layers / "assignment" / "layers.py").unlink()
    add("no_layers", "no_layers", no_layers)
    (subs / "broken_upload.zip").write_bytes(b"PK\x03\x04 an upload cut short")
    add("broken_upload", "broken_zip", subs / "broken_upload.zip")
    for k, name in enumerate(sorted(MUTANTS)):
        stem = f"mutant_{name}"
        path = make_submission(SOLUTION, modules, subs / stem, name)
        if k % 3 == 1:
            path = _zip_dir(path, subs / f"{stem}.zip")
        elif k % 3 == 2:
            path = _flatten(path)
        add(stem, f"mutant:{name}", path)
    k = 0
    while len(kinds) < n:
        kind = "stub" if k % 5 == 4 else "solution"
        stem = f"student{k:03d}_{kind}"
        path = copy_solution(stub_dir if kind == "stub" else SOLUTION, modules, subs / stem)
        if k % 4 == 1:
            path = _zip_dir(path, subs / f"{stem}.zip")
        elif k % 4 == 3:
            path = _flatten(path)
        add(stem, kind, path)
        k += 1
    return kinds


def _glob_order(subs, env):
    """The submissions in the order grade.sbatch gives them (bash's ``"$SUBMISSIONS"/*``, the jobs' locale)."""
    proc = subprocess.run(["bash", "-c", 'shopt -s nullglob; printf "%s\\0" "$1"/*', "glob", str(subs)],
                          capture_output=True, env=env, check=True)
    return [p for p in proc.stdout.decode().split("\0") if p]


def _marker_processes(marker):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            for what in ("cmdline", "environ"):
                try:
                    with open(f"/proc/{entry}/{what}", "rb") as f:
                        if marker.encode() in f.read():
                            found.append(int(entry))
                            break
                except OSError:
                    pass
    return found


def grade_class(cluster, base, n=CLASS_SIZE):
    """The class graded twice: on Slurm with the release's grade.sbatch, and by ``grade -j 2``."""
    ctx = released()
    if base.exists():
        shutil.rmtree(base)
    base.mkdir(parents=True)
    base.chmod(0o755)
    subs, results, whole = base / "submissions", base / "results", base / "whole"
    marker = f"grader-slurm-daemon-{uuid.uuid4().hex}"
    kinds = build_class(subs, marker, results / "merged", n)
    sbatch = ctx.out / "slurm" / "grade.sbatch"
    env = dict(cluster.env, SUBMISSIONS=str(subs), RESULTS=str(results), PYTHON=PY, SHARDS=str(SHARDS),
               GRADE_ARGS=" ".join(GRADE_ARGS), SBATCH_ARGS="--cpus-per-task=1")
    env.pop("GRADER_WORKER_UID_BASE", None)

    start = time.monotonic()
    submitted = subprocess.run(["bash", str(sbatch)], capture_output=True, text=True, env=env, cwd=base, timeout=60)
    if submitted.returncode != 0:
        raise SlurmError(f"bash grade.sbatch failed ({submitted.returncode}): {submitted.stdout}{submitted.stderr}")
    array_id = re.search(r"^array job: (\d+)$", submitted.stdout, re.M).group(1)
    merge_id = re.search(r"^merge job: (\d+)$", submitted.stdout, re.M).group(1)
    merge = cluster.wait_job(merge_id, timeout=1500)
    slurm_seconds = time.monotonic() - start
    tasks = cluster.wait_job(array_id, timeout=60)
    logs = "\n".join(f"--- {p.name}:\n{_tail(p, 15)}" for p in sorted((results / "logs").glob("*.out")))
    states = [(r.get("JobId"), r.get("ArrayTaskId"), r.get("JobState"), r.get("ExitCode")) for r in tasks + merge]
    if not all(r["JobState"] == "COMPLETED" for r in tasks + merge):
        raise SlurmError(f"the Slurm jobs did not all complete: {states}\n{logs}")
    alive_after_slurm = _marker_processes(marker)

    order = _glob_order(subs, env)
    start = time.monotonic()
    plain = subprocess.run([PY, "-m", "grader", "grade", "--autograder", str(ctx.autograder), "--out", str(whole),
                            "-j", "2", *GRADE_ARGS, *order], capture_output=True, text=True, cwd=REPO,
                           env={k: v for k, v in os.environ.items() if k != "GRADER_WORKER_UID_BASE"}, timeout=1500)
    plain_seconds = time.monotonic() - start
    alive = sorted(set(alive_after_slurm + _marker_processes(marker)))
    for pid in alive:
        try:
            os.kill(pid, 9)
        except OSError:
            pass
    return {"kinds": kinds, "subs": subs, "results": results, "merged": results / "merged", "whole": whole,
            "tasks": tasks, "merge": merge, "plain": plain, "states": states, "logs": logs, "alive": alive,
            "slurm_seconds": slurm_seconds, "plain_seconds": plain_seconds, "order": order, "submitted": submitted}


@pytest.fixture(scope="module")
def cluster():
    c = Cluster()
    try:
        yield c.start()
    finally:
        c.stop()


@pytest.fixture(scope="module")
def graded(cluster, tmp_path_factory):
    run = grade_class(cluster, tmp_path_factory.mktemp("slurm-class"))
    cpus = cluster.cpus
    line = (f"slurm class: {CLASS_SIZE} submissions as {SHARDS} array tasks (1 CPU each, -j 1, on one node of "
            f"{cpus} CPUs): {run['slurm_seconds']:.1f} s from `bash grade.sbatch` to the merge job done; "
            f"`grade -j 2`: {run['plain_seconds']:.1f} s")
    print("\n" + line)
    target = os.environ.get("GRADER_SLURM_TIMINGS")
    if target:
        Path(target).write_text(json.dumps({
            "submissions": CLASS_SIZE, "shards": SHARDS, "node_cpus": cpus, "cpus_per_task": 1,
            "slurm_seconds": round(run["slurm_seconds"], 2), "plain_seconds": round(run["plain_seconds"], 2),
            "grade_args": list(GRADE_ARGS), "kinds": sorted({k.split(":")[0] for k in run["kinds"].values()}),
            "counts": {kind: sum(1 for k in run["kinds"].values() if k.split(":")[0] == kind)
                       for kind in sorted({k.split(":")[0] for k in run["kinds"].values()})},
            "tasks": [{"task": r.get("ArrayTaskId"), "start": r.get("StartTime"), "end": r.get("EndTime")}
                      for r in run["tasks"]],
            "shard_seconds": {str(i): _json(run["results"] / f"shard-{i}" / "shard.json").get("seconds")
                              for i in range(1, SHARDS + 1)},
            "isolation": _json(run["whole"] / "summary.json")["isolation"],
            "example": _json(run["merged"] / "mutant_relu_grad_at_zero" / "results.json"),
        }, indent=1))
    return run


def _json(path):
    return json.loads(Path(path).read_text())


def _tests(results_json):
    return [(t["name"], t["score"], t["max_score"], t["status"]) for t in results_json["tests"]]


def test_the_array_and_the_merge_ran_on_slurm(graded):
    run = graded
    assert run["plain"].returncode == 0, run["plain"].stdout[-3000:] + run["plain"].stderr[-3000:]
    assert sorted(int(r["ArrayTaskId"]) for r in run["tasks"]) == list(range(1, SHARDS + 1)), run["states"]
    assert all(r["ExitCode"] == "0:0" for r in run["tasks"] + run["merge"]), run["states"]
    # The merge job started only after every task had ended.
    ended = max(datetime.fromisoformat(r["EndTime"]) for r in run["tasks"])
    assert datetime.fromisoformat(run["merge"][0]["StartTime"]) >= ended
    records = {i: _json(run["results"] / f"shard-{i}" / "shard.json") for i in range(1, SHARDS + 1)}
    assert all(r["complete"] and r["of"] == SHARDS and r["submissions"] == CLASS_SIZE for r in records.values())
    assert sum(len(r["assigned"]) for r in records.values()) == CLASS_SIZE
    merged = _json(run["merged"] / "merged.json")
    assert sorted(s["shard"] for s in merged["shards"]) == list(range(1, SHARDS + 1))
    assert run["alive"] == [], "processes of submissions outlived the graders"


def test_tasks_sharing_the_node_used_distinct_uid_blocks(graded):
    """Two tasks ran at once on the one node (1 CPU each of 2): their graders held different worker uids."""
    run = graded
    spans, bases = {}, {}
    for r in run["tasks"]:
        i = int(r["ArrayTaskId"])
        spans[i] = (datetime.fromisoformat(r["StartTime"]), datetime.fromisoformat(r["EndTime"]))
        line = _json(run["results"] / f"shard-{i}" / "shard.json")["isolation"]
        found = re.search(r"uid (\d+)\+slot", line)
        assert found, line
        bases[i] = int(found.group(1))
    overlapping = [(a, b) for a in spans for b in spans if a < b
                   and min(spans[a][1], spans[b][1]) > max(spans[a][0], spans[b][0])]
    assert overlapping, f"no two array tasks ran at once: {spans}"
    for a, b in overlapping:
        assert bases[a] != bases[b], (a, b, bases)
        assert abs(bases[a] - bases[b]) >= 100  # blocks of 100 uids: no overlap


def test_every_merged_result_equals_grade_j2(graded):
    run = graded
    stems = sorted(run["kinds"])
    assert sorted(p.name for p in run["merged"].iterdir() if p.is_dir()) == stems
    assert sorted(p.name for p in run["whole"].iterdir() if p.is_dir()) == stems
    differ = []
    for stem in stems:
        got, want = _json(run["merged"] / stem / "results.json"), _json(run["whole"] / stem / "results.json")
        if got["score"] != want["score"] or _tests(got) != _tests(want):
            changed = [(g, w) for g, w in zip(_tests(got), _tests(want), strict=True) if g != w]
            differ.append((stem, got["score"], want["score"], changed[:3]))
        assert len(got["tests"]) == len(released().cases)
    assert differ == [], differ


def test_the_scores_are_the_honest_ones(graded):
    """Independent of the comparison: what each kind of submission must earn."""
    run = graded
    cases = released().cases
    total = sum(c.points for c in cases)
    optim = sum(c.points for c in cases if c.module == "optim.py")
    layers = sum(c.points for c in cases if c.module == "layers.py")
    score = {stem: _json(run["merged"] / stem / "results.json")["score"] for stem in run["kinds"]}
    by_kind = {}
    for stem, kind in run["kinds"].items():
        by_kind.setdefault(kind.split(":")[0], []).append(stem)
    assert {score[s] for s in by_kind["solution"]} == {total}
    assert {score[s] for s in by_kind["stub"]} == {0}
    assert all(score[s] < total for s in by_kind["mutant"])
    assert score["partial"] == total - optim
    assert {s: score[s] for s in by_kind["hostile"]} == {s: total - optim for s in by_kind["hostile"]}
    assert {s: score[s] for s in by_kind["crash"]} == {s: score["crash_twin"] for s in by_kind["crash"]}
    assert {s: score[s] for s in by_kind["shared"]} == {s: score["softmax_twin"] for s in by_kind["shared"]}
    assert score["crash_twin"] < total and score["softmax_twin"] < total
    assert score["no_layers"] <= total - layers and score["broken_upload"] == 0


def test_the_merged_batch_files_equal_the_unsharded_ones(graded):
    run = graded
    merged, whole = run["merged"], run["whole"]
    assert (merged / "grades.csv").read_text() == (whole / "grades.csv").read_text()
    assert (merged / "cases.jsonl").read_text() == (whole / "cases.jsonl").read_text()
    rows = list(csv.DictReader(open(merged / "grades.csv")))
    assert [r["submission"] for r in rows] == [Path(p).name.removesuffix(".zip") for p in run["order"]]
    got, want = _json(merged / "summary.json"), _json(whole / "summary.json")
    assert got["cases"] == want["cases"]
    assert [{k: v for k, v in s.items() if k != "graded_earlier"} for s in got["submissions"]] == \
        [{k: v for k, v in s.items() if k != "graded_earlier"} for s in want["submissions"]]
    assert not any(s["graded_earlier"] for s in got["submissions"])
    # The class statistics again, from the merged results.json files alone.
    per_case = {}
    for stem in run["kinds"]:
        for t in _json(merged / stem / "results.json")["tests"]:
            name = re.match(r"^\[\w+\] (\S+): ", t["name"]).group(1)
            per_case.setdefault(name, []).append(t)
    assert set(per_case) == set(got["cases"])
    for name, tests in per_case.items():
        stats = got["cases"][name]
        assert stats["n"] == CLASS_SIZE
        assert stats["pass_rate"] == pytest.approx(sum(t["status"] == "passed" for t in tests) / CLASS_SIZE, abs=1e-12)
        assert stats["mean_score"] == pytest.approx(sum(t["score"] for t in tests) / CLASS_SIZE, abs=1e-12)
    # Not one shard's statistics: a shard's own pass rate differs from the class's for some case.
    shard1 = _json(run["results"] / "shard-1" / "summary.json")["cases"]
    assert any(shard1[name]["pass_rate"] != got["cases"][name]["pass_rate"] for name in got["cases"])
