"""A class in shards: `grade --shard I/N`, `grader merge`, the worker-uid blocks, the released grade.sbatch.

The Slurm cluster itself (the array job and the merge job for real, and two graders at once on one
host) is tests/test_fleet_slurm.py (`make test-fleets`).
"""

import csv
import functools
import json
import os
import random
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from grader_fixtures import REPO, SOLUTION, grader_python, released, workdir
from grader_fixtures.mutants import make_submission

from grader import sandbox, shard, uidblock

PY = sys.executable


def _grader(*args, cwd=REPO, env=None, timeout=600):
    return subprocess.run([PY, "-m", "grader", *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def _copy_modules(source, dest, modules):
    for rel in modules:
        (dest / "assignment" / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(source) / rel, dest / "assignment" / rel)
    return dest


# ----------------------------------------------------------------------------------------------
# --shard: the split and the stems
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["0/4", "5/4", "1/0", "a/b", "2", "1/2/3", "-1/4", "1/-4", "", " /4"])
def test_bad_shard_is_an_argparse_error_naming_the_argument(text):
    with pytest.raises(ValueError):
        shard.parse_shard(text)
    proc = _grader("grade", "--autograder", released().autograder, "--out", workdir() / "never", f"--shard={text}",
                   SOLUTION)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "argument --shard" in proc.stderr and repr(text) in proc.stderr, proc.stderr
    assert not (workdir() / "never").exists()


def test_parse_shard_is_one_based():
    assert shard.parse_shard("1/4") == (1, 4)
    assert shard.parse_shard("4/4") == (4, 4)
    assert shard.parse_shard("1/1") == (1, 1)


def _class_paths(root, n):
    paths = []
    for k in range(n):
        path = root / f"group{k % 3}" / f"student{k:02d}"  # names sort differently from paths, on purpose
        path.mkdir(parents=True, exist_ok=True)
        paths.append(path)
    return paths


def test_split_ignores_the_order_of_the_list_and_balances(tmp_path):
    paths = _class_paths(tmp_path, 23)
    rng = random.Random(7)
    reference = None
    for _ in range(5):
        order = paths[:]
        rng.shuffle(order)
        by_path = {str(p): s for p, s in zip(order, shard.assign(order, 4), strict=True)}
        reference = reference or by_path
        assert by_path == reference
        # Relative and absolute spellings of the same submissions split the same way.
        relative = [os.path.relpath(p) for p in order]
        assert [by_path[str(p)] for p in order] == shard.assign(relative, 4)
    sizes = sorted(list(reference.values()).count(i) for i in range(1, 5))
    assert sizes == [5, 6, 6, 6]
    assert set(reference.values()) == {1, 2, 3, 4}


def test_every_submission_is_in_exactly_one_shard():
    paths = [f"/x/s{k}" for k in range(10)]
    for count in (1, 3, 10, 12):
        numbers = shard.assign(paths, count)
        assert sorted(numbers) == sorted((k % count) + 1 for k in range(10))
        assert all(1 <= n <= count for n in numbers)


def _record(out):
    return json.loads((Path(out) / "shard.json").read_text())


def test_shard_stems_are_the_unsharded_stems(tmp_path):
    """Submissions without any module need no worker: the stems and records come at once."""
    subs = tmp_path / "subs"
    paths = []
    for name in ("alice", "bob", "carol", "dave", "eve"):
        paths.append(subs / "a" / name)
    paths += [subs / "b" / "alice", subs / "c" / "alice", subs / "b" / "bob"]  # the same names: -2, -3
    for p in paths:
        p.mkdir(parents=True)
    zipped = subs / "b" / "carol.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr("notes.txt", "nothing graded here")
    paths.append(zipped)
    paths.reverse()  # not sorted: stems follow the list's order, shards do not
    ag = released().autograder
    whole = _grader("grade", "--autograder", ag, "--out", tmp_path / "whole", "-j", "2", *paths)
    assert whole.returncode == 0, whole.stderr
    unsharded = {row["submission"] for row in csv.DictReader(open(tmp_path / "whole" / "grades.csv"))}
    assert len(unsharded) == len(paths)
    stems, seen = {}, set()
    for i in (1, 2, 3):
        out = tmp_path / f"s{i}"
        proc = _grader("grade", "--autograder", ag, "--out", out, "--shard", f"{i}/3", *paths)
        assert proc.returncode == 0, proc.stderr
        record = _record(out)
        assert (record["shard"], record["of"], record["submissions"], record["complete"]) == (i, 3, len(paths), True)
        for entry in record["assigned"]:
            assert entry["stem"] not in seen
            seen.add(entry["stem"])
            stems[entry["path"]] = entry["stem"]
            assert (out / entry["stem"] / "results.json").exists()
        graded = {row["submission"] for row in csv.DictReader(open(out / "grades.csv"))}
        assert graded == {e["stem"] for e in record["assigned"]}
    whole_rows = list(csv.DictReader(open(tmp_path / "whole" / "grades.csv")))
    assert [stems[str(p)] for p in paths] == [row["submission"] for row in whole_rows]
    assert {"alice", "alice-2", "alice-3", "bob", "bob-2", "carol", "carol-2"} <= seen


# ----------------------------------------------------------------------------------------------
# merge
# ----------------------------------------------------------------------------------------------


@functools.cache
def small_class():
    """(paths, whole output, [shard outputs]): six submissions graded once unsharded (-j 2), once as 3 shards."""
    ctx = released()
    base = workdir() / "shards-class"
    if base.exists():
        shutil.rmtree(base)
    subs = base / "subs"
    paths = [_copy_modules(SOLUTION, subs / "solution", ctx.student_modules),
             _copy_modules(ctx.student / "assignment", subs / "stubs", ctx.student_modules)]
    for name in ("affine_no_bias", "adam_no_bias_correction"):
        paths.append(make_submission(SOLUTION, ctx.student_modules, subs / name, name))
    paths.append(_copy_modules(SOLUTION, subs / "again" / "solution", ["layers.py"]))  # stem solution-2
    broken = subs / "broken.zip"
    broken.write_bytes(b"PK\x03\x04 cut short")
    paths.append(broken)
    whole = base / "whole"
    proc = _grader("grade", "--autograder", ctx.autograder, "--out", whole, "-j", "2", *paths)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shards = []
    for i in (1, 2, 3):
        out = base / f"shard-{i}"
        proc = _grader("grade", "--autograder", ctx.autograder, "--out", out, "-j", "2", "--shard", f"{i}/3", *paths)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        shards.append(out)
    return paths, whole, shards


def _json(path):
    return json.loads(Path(path).read_text())


def _strip_timing(data):
    return {k: v for k, v in data.items() if k not in ("seconds", "isolation", "runs", "execution_time")}


def test_merge_equals_the_unsharded_grade(tmp_path):
    paths, whole, shards = small_class()
    merged = tmp_path / "merged"
    proc = _grader("merge", "--out", merged, *reversed(shards))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "merged 3 shard(s) of 6 submission(s)" in proc.stdout
    assert (merged / "grades.csv").read_text() == (whole / "grades.csv").read_text()
    assert (merged / "cases.jsonl").read_text() == (whole / "cases.jsonl").read_text()
    got, want = _json(merged / "summary.json"), _json(whole / "summary.json")
    assert _strip_timing(got) == _strip_timing(want)
    for line in {_record(s)["isolation"] for s in shards}:
        assert line in got["isolation"]
    stems = [row["submission"] for row in csv.DictReader(open(whole / "grades.csv"))]
    assert stems == ["solution", "stubs", "affine_no_bias", "adam_no_bias_correction", "solution-2", "broken"]
    for stem in stems:
        for name in ("results.json", "report.json"):
            assert _strip_timing(_json(merged / stem / name)) == _strip_timing(_json(whole / stem / name)), (stem, name)
    scores = {s["stem"]: s["score"] for s in got["submissions"]}
    assert scores["solution"] == sum(c.points for c in released().cases) and scores["stubs"] == 0
    # The class statistics are those of all six, not of one shard.
    stats = got["cases"]["affine_forward.h1"]
    assert stats["n"] == 6 and 0 < stats["pass_rate"] < 1
    # A merge again into the same directory replaces it.
    again = _grader("merge", "--out", merged, *shards)
    assert again.returncode == 0, again.stderr
    assert (merged / "grades.csv").read_text() == (whole / "grades.csv").read_text()


def _copies(tmp_path):
    _, _, shards = small_class()
    copies = []
    for s in shards:
        dest = tmp_path / s.name
        shutil.copytree(s, dest)
        copies.append(dest)
    return copies


def _refused(tmp_path, *shard_dirs, extra=()):
    merged = tmp_path / "merged"
    proc = _grader("merge", "--out", merged, *extra, *shard_dirs)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: merge refused: "), proc.stderr
    assert lines[0].endswith("(nothing was merged)")
    assert not merged.exists()
    return lines[0]


def test_merge_refuses_a_missing_shard(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    assert "shard 2 of 3 missing (given: 1, 3)" in _refused(tmp_path, s1, s3)
    assert "shards 1, 3 of 3 missing (given: 2)" in _refused(tmp_path, s2)


def test_merge_refuses_a_duplicated_shard(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    twin = tmp_path / "shard-2-again"
    shutil.copytree(s2, twin)
    line = _refused(tmp_path, s1, s2, twin, s3)
    assert f"shard 2/3 given 2 times ({s2}, {twin})" in line


def test_merge_refuses_an_incomplete_shard(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    victim = _record(s2)["assigned"][0]["stem"]
    (s2 / victim / "results.json").unlink()
    line = _refused(tmp_path, s1, s2, s3)
    assert f"shard 2/3 ({s2}) is incomplete: 1 submission(s) assigned to it have no results.json/report.json " \
           f"({victim})" in line
    shutil.rmtree(s3 / _record(s3)["assigned"][0]["stem"])
    line = _refused(tmp_path, s1, s2, s3)
    assert f"shard 2/3 ({s2}) is incomplete" in line and f"shard 3/3 ({s3}) is incomplete" in line


def test_merge_refuses_an_unfinished_shard(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    record = _record(s3)
    record["complete"] = False
    (s3 / "shard.json").write_text(json.dumps(record))
    assert f"shard 3/3 ({s3}) did not finish grading" in _refused(tmp_path, s1, s2, s3)


def test_merge_refuses_shards_of_another_release_or_class(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    record = _record(s3)
    record["autograder_id"] = "0" * 20
    (s3 / "shard.json").write_text(json.dumps(record))
    assert "graded with another autograder (another release)" in _refused(tmp_path, s1, s2, s3)
    record = _record(s2)
    record["list_id"] = "1" * 20
    (s2 / "shard.json").write_text(json.dumps(record))
    assert "graded from another list of submissions" in _refused(tmp_path, s1, s2)


def test_merge_refuses_another_autograder_and_plain_results(tmp_path):
    from grader.release import release

    other = release(tmp_path / "other-release", root=REPO, hidden_seed="another-secret", echo=lambda *a: None)
    s1, s2, s3 = _copies(tmp_path)
    line = _refused(tmp_path, s1, s2, s3, extra=("--autograder", other.autograder))
    assert f"the autograder {other.autograder} is not the one the shards were graded with" in line
    _, whole, _ = small_class()
    assert f"{whole} is not a shard output (no shard.json" in _refused(tmp_path, s1, whole, s3)
    assert f"{tmp_path / 'nowhere'} does not exist" in _refused(tmp_path, s1, tmp_path / "nowhere", s3)


def test_merge_refuses_to_write_over_other_things(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine")
    proc = _grader("merge", "--out", busy, s1, s2, s3)
    assert proc.returncode == 2 and "holds other things" in proc.stderr
    assert sorted(p.name for p in busy.iterdir()) == ["thesis.tex"]
    proc = _grader("merge", "--out", s1, s1, s2, s3)
    assert proc.returncode == 2 and "is one of the shard outputs" in proc.stderr


def test_an_unsharded_grade_into_a_shard_output_is_no_longer_a_shard(tmp_path):
    s1, s2, s3 = _copies(tmp_path)
    empty = tmp_path / "empty-submission"
    empty.mkdir()
    proc = _grader("grade", "--autograder", released().autograder, "--out", s2, empty)
    assert proc.returncode == 0, proc.stderr
    assert not (s2 / "shard.json").exists()
    assert f"{s2} is not a shard output" in _refused(tmp_path, s1, s2, s3)


# ----------------------------------------------------------------------------------------------
# Worker uid blocks
# ----------------------------------------------------------------------------------------------

HOLDER = textwrap.dedent("""
    import sys
    from grader import uidblock
    claim = uidblock.claim(base=int(sys.argv[2]), lock_dir=sys.argv[1])
    print(claim.base, flush=True)
    sys.stdin.read()  # hold the block until the test closes stdin (or kills this process)
""")


class Holder:
    """Another process holding a block of uids in ``lock_dir``."""

    def __init__(self, lock_dir, base=61000):
        self.proc = subprocess.Popen([PY, "-c", HOLDER, str(lock_dir), str(base)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError(f"the holder failed: {self.proc.stderr.read()}")
        self.base = int(line)

    def release(self):
        self.proc.stdin.close()
        self.proc.wait(10)

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)


@pytest.fixture
def lock_dir(tmp_path):
    path = tmp_path / "locks"
    path.mkdir(mode=0o755)
    path.chmod(0o755)
    return path


def test_two_processes_claim_different_blocks(lock_dir):
    a, b = Holder(lock_dir), Holder(lock_dir)
    try:
        assert {a.base, b.base} == {61000, 61100}
        assert sorted(p.name for p in lock_dir.iterdir()) == ["uids-61000-61099.lock", "uids-61100-61199.lock"]
    finally:
        a.release()
        b.release()


def test_a_held_block_is_skipped_and_a_freed_one_taken(lock_dir):
    a = Holder(lock_dir)
    b = Holder(lock_dir)
    try:
        claim = uidblock.claim(base=61000, lock_dir=lock_dir)
        assert (claim.base, claim.last) == (61200, 61299)
        os.close(claim.fd)
        a.release()
        claim = uidblock.claim(base=61000, lock_dir=lock_dir)
        assert claim.base == 61000
        os.close(claim.fd)
    finally:
        b.release()


def test_a_dead_holders_block_is_claimed_again(lock_dir):
    holder = Holder(lock_dir)
    assert holder.base == 61000
    holder.kill()  # SIGKILL: no clean-up ran, the kernel dropped the lock
    claim = uidblock.claim(base=61000, lock_dir=lock_dir)
    assert claim.base == 61000
    os.close(claim.fd)


def test_blocks_are_aligned_whatever_base_is_asked(lock_dir):
    a = Holder(lock_dir, base=61000)
    b = Holder(lock_dir, base=61050)  # would overlap 61050-61099 if taken literally
    c = Holder(lock_dir, base=60950)
    try:
        blocks = sorted(h.base for h in (a, b, c))
        assert blocks == [61000, 61100, 61200]
        assert uidblock.blocks_from(61050)[:2] == [61100, 61200]
        assert uidblock.blocks_from(65400) == [65400]
        assert uidblock.blocks_from(65450) == []  # a block never reaches 65534 (nobody)
    finally:
        for h in (a, b, c):
            h.release()


def test_no_free_block_refuses_in_one_line(lock_dir):
    held = [uidblock.claim(base=61000, lock_dir=lock_dir, count=2) for _ in range(2)]
    with pytest.raises(uidblock.NoFreeBlock) as info:
        uidblock.claim(base=61000, lock_dir=lock_dir, count=2)
    message = str(info.value)
    assert "\n" not in message
    assert f"no free block of worker uids: all 2 blocks of 100 from 61000 to 61199 are held by other graders " \
           f"on this host (locks in {lock_dir})" in message
    assert isinstance(info.value, sandbox.Unavailable)  # grade prints it as one line, exit 2
    for c in held:
        os.close(c.fd)


def test_a_lock_directory_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(uidblock.NoFreeBlock, match="must belong to uid .* and be writable by it only"):
        uidblock.claim(lock_dir=shared)
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(uidblock.NoFreeBlock, match="is not a directory"):
        uidblock.claim(lock_dir=link)


def test_bad_base_in_the_environment_is_refused():
    assert uidblock.requested_base({}) == 61000
    assert uidblock.requested_base({"GRADER_WORKER_UID_BASE": "62000"}) == 62000
    for text in ("lots", "12", "70000"):
        with pytest.raises(uidblock.NoFreeBlock, match="GRADER_WORKER_UID_BASE must be"):
            uidblock.requested_base({"GRADER_WORKER_UID_BASE": text})


def test_slot_uids_and_the_instructor_line_follow_the_claim(lock_dir, monkeypatch):
    """sandbox.slot_uid claims this process's block on first use; WORKER_UID_BASE and describe() follow it."""
    monkeypatch.setattr(uidblock, "LOCK_DIR", lock_dir)
    monkeypatch.setattr(uidblock, "_current", None)
    monkeypatch.setattr(sandbox, "WORKER_UID_BASE", sandbox.WORKER_UID_BASE)
    monkeypatch.delenv("GRADER_WORKER_UID_BASE", raising=False)
    holder = Holder(lock_dir)
    try:
        assert holder.base == 61000
        assert sandbox.slot_uid(0) == 61100 and sandbox.slot_uid(7) == 61107
        assert sandbox.WORKER_UID_BASE == 61100
        assert uidblock.current().base == 61100  # claimed once: the same block every time
        iso = sandbox.Isolation("bwrap", uid_drop=True, contain=True, landlock_abi=7)
        assert "uid 61100" in iso.describe()
        with pytest.raises(sandbox.Unavailable, match="outside this grader's block of 100 uids"):
            sandbox.slot_uid(100)
    finally:
        os.close(uidblock.current().fd)
        holder.release()


def test_grade_refuses_more_workers_than_a_block_holds(monkeypatch, tmp_path):
    from grader import grade as grade_module

    iso = sandbox.Isolation("container", uid_drop=True, contain=True, landlock_abi=7)
    monkeypatch.setattr(sandbox, "detect", lambda *args, **kwargs: iso)
    with pytest.raises(sandbox.Unavailable, match=r"-j 101 needs more worker uids than a block holds \(100\)"):
        grade_module.grade(released().autograder, tmp_path / "out", [SOLUTION], jobs=101, echo=lambda *a: None)
    assert not (tmp_path / "out").exists()


# ----------------------------------------------------------------------------------------------
# Two graders at once on one host, default settings
# ----------------------------------------------------------------------------------------------

TWO_GRADER_ARGS = ("-j", "2", "--case-timeout", "4", "--group-timeout", "60")


def readable_python():
    """The system's Python with numpy and pyseccomp, where a worker uid can read it: container mode then drops the uid
    (the dev venv's interpreter lives under /root, 0700)."""
    return grader_python(readable=True)


def _grade_command(mode):
    """``python -m grader grade`` in ``mode``: ``auto`` (full mode here: bubblewrap's own pid namespace per
    worker), or ``container`` (Landlock + seccomp + the uid drop, no namespaces: every worker is a process of
    the host's pid namespace, as in a Docker container or where user namespaces are blocked)."""
    if mode == "auto":
        return [PY, "-m", "grader", "grade"]
    return [str(readable_python()), "-m", "grader", "grade", "--sandbox", "container"]


SLOW = """

_{name}_at_speed = {name}


def {name}(w, dw, config=None):  # correct, and slow: 0.5 s a call, as the worker uid
    import time

    time.sleep(0.5)
    return _{name}_at_speed(w, dw, config)
"""


def _make_slow(dest):
    """The solution, with every update rule correct but slow: its optim worker runs student code (as the worker
    uid) for 5 s, 0.5 s a case."""
    dest = _copy_modules(SOLUTION, dest, released().student_modules)
    path = dest / "assignment" / "optim.py"
    path.write_text(path.read_text() + "".join(SLOW.format(name=name) for name in
                                               ("sgd_momentum", "nesterov", "adagrad", "rmsprop", "adam")))
    return dest


def _two_classes(base):
    """Two classes (for graders A and B), each with correct but slow submissions (5 s in a worker running
    student code, as its uid), crashes (one that kills itself), a daemon."""
    from grader_fixtures.hostile import make_crash, make_hostile, make_shared_crash

    ctx = released()
    modules, stub_optim = ctx.student_modules, ctx.student / "assignment" / "optim.py"
    marker = f"grader-two-daemon-{os.getpid()}-{random.getrandbits(48):x}"
    classes = {}
    picks = {"a": ("crash_kill_self", "softmax_kill_self", "bn_unbiased_var"),
             "b": ("crash_segfault", "softmax_exit", "adam_t_after_use")}
    for who, (crash, shared_crash, mutant) in picks.items():
        subs = base / f"subs-{who}"
        results = base / f"{who}-alone"
        paths = [make_hostile(SOLUTION, modules, stub_optim, subs / "daemon", "daemon", RESULTS=results,
                              MARKER=marker),
                 make_crash(SOLUTION, modules, subs / "kill_self", crash),
                 make_shared_crash(SOLUTION, modules, subs / "softmax_crash", shared_crash),
                 make_submission(SOLUTION, modules, subs / "mutant", mutant),
                 _copy_modules(SOLUTION, subs / "solution", modules),
                 _copy_modules(ctx.student / "assignment", subs / "stubs", modules)]
        # The slow ones at other places in each list, so that the two graders are not in step.
        for position, stem in ((0, "slow_1"), (4, "slow_2")) if who == "a" else ((2, "slow_1"), (7, "slow_2")):
            paths.insert(position, _make_slow(subs / stem))
        classes[who] = paths
    return classes, marker


def _workers_running(graders, seen, stop):
    """Sample /proc until ``stop`` is set: at each instant, which of ``graders`` ({name: pid}) had a worker
    (a descendant running as a worker uid, 61000 and up) alive."""
    while not stop.is_set():
        parents, worker_uid = {}, set()
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/status") as f:
                        fields = dict(line.split(":", 1) for line in f if ":" in line)
                    parents[int(entry)] = int(fields["PPid"])
                    if int(fields["Uid"].split()[0]) >= uidblock.DEFAULT_BASE:
                        worker_uid.add(int(entry))
                except (OSError, KeyError, ValueError):
                    continue
        busy = set()
        for pid in worker_uid:
            ancestor, hops = parents.get(pid), 0
            while ancestor and hops < 10:
                for name, grader_pid in graders.items():
                    if ancestor == grader_pid:
                        busy.add(name)
                ancestor, hops = parents.get(ancestor), hops + 1
        seen.append(frozenset(busy))
        stop.wait(0.02)


def _results_of(out, stems):
    """Every submission's results.json without its timing (what a student reads), and each case's score and
    reason from its report.json (what the instructor reads: "timeout" and "killed" fail alike)."""
    found = {}
    for stem in stems:
        data = _json(out / stem / "results.json")
        data.pop("execution_time")
        data["cases"] = [(c["name"], c["score"], c["passed"], c["reason"], c["error"])
                         for c in _json(out / stem / "report.json")["cases"]]
        found[stem] = data
    return found


EXPECTED_MODE = {"auto": "isolation: full: bubblewrap", "container": "isolation: container mode: Landlock"}


@pytest.mark.parametrize("mode", ["auto", "container"])
def test_two_graders_at_once_each_get_what_they_get_alone(tmp_path, mode):
    """Two `grade` commands at once on one host, neither given GRADER_WORKER_UID_BASE: each claims its own uid
    block, so neither's clean-up (every process of its uids, after every run) kills the other's workers. In
    container mode nothing else would stop it: no pid namespace sets the two graders' workers apart."""
    import threading

    ag = released().autograder
    classes, marker = _two_classes(tmp_path)
    env = {k: v for k, v in os.environ.items() if k != "GRADER_WORKER_UID_BASE"}
    command = _grade_command(mode)
    stems = {who: [p.name for p in paths] for who, paths in classes.items()}

    def grade(who, label):
        return subprocess.Popen([*command, "--autograder", str(ag), "--out", str(tmp_path / f"{who}-{label}"),
                                 *TWO_GRADER_ARGS, *map(str, classes[who])],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env)

    alone = {}
    for who in classes:
        proc = grade(who, "alone")
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, out + err
        assert out.startswith(EXPECTED_MODE[mode]) and "uid 6" in out.splitlines()[0], out.splitlines()[0]
        alone[who] = _results_of(tmp_path / f"{who}-alone", stems[who])
    procs = {who: grade(who, "together") for who in classes}
    seen, stop = [], threading.Event()
    monitor = threading.Thread(target=_workers_running, args=({w: p.pid for w, p in procs.items()}, seen, stop),
                               daemon=True)
    monitor.start()
    try:
        outputs = {who: proc.communicate(timeout=600) for who, proc in procs.items()}
    finally:
        stop.set()
        monitor.join(10)
    for who, proc in procs.items():
        assert proc.returncode == 0, outputs[who]
    firsts = {who: out.splitlines()[0] for who, (out, _) in outputs.items()}
    if sandbox.is_root():  # the uid drop: the two graders held different blocks, and ran workers at once
        bases = {who: int(re.search(r"uid (\d+)\+slot", line).group(1)) for who, line in firsts.items()}
        assert abs(bases["a"] - bases["b"]) >= uidblock.BLOCK_SIZE, firsts
        # They overlapped: both had workers alive at one instant, for a good share of the samples.
        both = sum(busy == {"a", "b"} for busy in seen)
        assert both >= 10, f"the two graders ran workers at the same time in {both} of {len(seen)} samples"
    for who in classes:
        assert _results_of(tmp_path / f"{who}-together", stems[who]) == alone[who], who
    total = sum(c.points for c in released().cases)
    assert alone["a"]["solution"]["score"] == total and alone["b"]["stubs"]["score"] == 0
    assert {alone[who][f"slow_{k}"]["score"] for who in classes for k in (1, 2)} == {total}
    crashed = sum(c.points for c in released().cases if c.target.endswith(".sgd_momentum"))
    assert {alone[who]["kill_self"]["score"] for who in classes} == {total - crashed}  # only the crashed function
    leftovers = [entry for entry in os.listdir("/proc") if entry.isdigit() and _has_marker(entry, marker)]
    assert leftovers == [], "processes of submissions outlived the graders"


def _has_marker(pid, marker):
    for what in ("cmdline", "environ"):
        try:
            with open(f"/proc/{pid}/{what}", "rb") as f:
                if marker.encode() in f.read():
                    return True
        except OSError:
            pass
    return False


# ----------------------------------------------------------------------------------------------
# The released grade.sbatch, without a cluster (tests/test_fleet_slurm.py runs it on one)
# ----------------------------------------------------------------------------------------------


def _sbatch():
    return released().out / "slurm" / "grade.sbatch"


def test_release_writes_the_slurm_job():
    path = _sbatch()
    text = path.read_text()
    assert stat.S_IMODE(path.stat().st_mode) == 0o755
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    assert "#SBATCH --array=1-4\n" in text
    assert f'AUTOGRADER="${{AUTOGRADER:-{released().autograder}}}"' in text
    assert 'SHARDS="${SHARDS:-4}"' in text
    assert "@AUTOGRADER@" not in text and "@SHARDS@" not in text
    readme = (path.parent / "README.md").read_text()
    assert "bash grade.sbatch" in readme and str(released().autograder) in readme


FAKE_SBATCH = """#!/bin/bash
# Records its arguments (one per line, then a blank line) and answers a job id, as `sbatch --parsable` does.
printf '%s\\n' "$@" >> "$FAKE_SBATCH_LOG"
echo >> "$FAKE_SBATCH_LOG"
n=$(grep -c '^$' "$FAKE_SBATCH_LOG")
echo "$((100 + n));testcluster"
"""


def test_sbatch_submits_the_array_then_the_merge_after_it(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    (tmp_path / "subs").mkdir()
    log = tmp_path / "sbatch.log"
    env = dict(os.environ, PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_SBATCH_LOG=str(log),
               SUBMISSIONS=str(tmp_path / "subs"), RESULTS=str(tmp_path / "results"), SHARDS="3",
               SBATCH_ARGS="--partition=grading --qos=class")
    proc = subprocess.run(["bash", str(_sbatch())], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "array job: 101\nmerge job: 102\n" in proc.stdout
    array, merge = [block.splitlines() for block in log.read_text().strip("\n").split("\n\n")]
    assert "--array=1-3" in array and array[-1] == str(_sbatch())
    assert "--partition=grading" in array and "--qos=class" in array
    assert "--dependency=afterok:101" in merge and "--kill-on-invalid-dep=yes" in merge
    assert not any(a.startswith("--array") for a in merge)
    wrap = [a for a in merge if a.startswith("--wrap=")]
    assert wrap == [f"--wrap=bash {_sbatch()} merge "]
    assert (tmp_path / "results" / "logs").is_dir()


def test_sbatch_tasks_grade_their_shards_and_the_merge_joins_them(tmp_path):
    """The file's own task and merge steps, run as Slurm would run them (on empty submissions: no workers)."""
    subs = tmp_path / "subs"
    for name in ("ann", "ben", "cy"):
        (subs / name).mkdir(parents=True)
    env = dict(os.environ, SUBMISSIONS=str(subs), RESULTS=str(tmp_path / "results"), SHARDS="2", PYTHON=PY)
    for i in (1, 2):
        proc = subprocess.run(["bash", str(_sbatch())], capture_output=True, text=True, cwd=tmp_path,
                              env=dict(env, SLURM_ARRAY_TASK_ID=str(i), SLURM_CPUS_PER_TASK="1"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        record = _record(tmp_path / "results" / f"shard-{i}")
        assert (record["shard"], record["of"], record["complete"]) == (i, 2, True)
        assert record["autograder"] == str(released().autograder)
    proc = subprocess.run(["bash", str(_sbatch()), "merge"], capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "results" / "merged" / "grades.csv")))
    assert [r["submission"] for r in rows] == ["ann", "ben", "cy"]
    bad = subprocess.run(["bash", str(_sbatch())], capture_output=True, text=True, cwd=tmp_path,
                         env=dict(env, SLURM_ARRAY_TASK_ID="3"))
    assert bad.returncode == 2 and "array task 3 is outside 1-2: use --array=1-2" in bad.stderr
    missing = subprocess.run(["bash", str(_sbatch())], capture_output=True, text=True, cwd=tmp_path,
                             env=dict(env, AUTOGRADER=str(tmp_path / "nowhere")))
    assert missing.returncode == 2 and f"no autograder in {tmp_path / 'nowhere'}" in missing.stderr
