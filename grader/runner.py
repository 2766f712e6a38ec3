"""Running case groups in sandboxed workers, N at a time, in one single-threaded loop.

A *task* is one case group of one submission: a stage (the ``assignment`` package to import),
the group's cases in order, their input arrays, and a way to get their reference values.
The runner starts one worker per task (``grader/sandbox.py``), watches it, and scores what it
wrote (``grader/compare.py``). Everything happens in the main thread of the trusted parent:
processes are started with ``preexec_fn`` (safe without threads), their output pipes are read
through a selector, and clocks are checked between reads.

Per run:
- the worker gets ``plan.json`` and ``inputs.npz`` for the cases still pending, and writes
  ``out/outputs.npz`` after each case and ``out/progress`` before each;
- the parent keeps a wall clock per case (``Limits.case_timeout``, reset whenever the progress
  index moves) and per group (``Limits.group_timeout``, over all runs of the group); a run past
  either is killed with its whole process group (and its uid's processes);
- after the run ends (exit, crash or kill) and its processes are gone, the parent loads the
  group's reference values, validates the outputs file (``grader/npzsafe.py``) against them,
  and scores each case the worker finished;
- a run that ended before finishing its cases (exit, crash, kill, hang, rejected outputs)
  charges the case it was on with its named reason, and that case only. From then on the
  cases of that case's *function* still without a result run one per fresh worker (``next_plan``):
  a function may die in some of its cases and not in others (``LinearClassifier.loss`` reaches
  ``layers.softmax_loss`` in its softmax cases only), so each case gets its own result or its
  own reason. The cases of the group's other functions keep running batched in one worker, and
  go first, so that a function that hangs in every case cannot spend their time;
- cost: every run that dies charges one case, so a group takes at most one run per case (about
  0.2 s each where every case crashes), a hang at most ``case_timeout`` per case, and the group's
  wall clock bounds it all: when it runs out, the cases without a result get "not run: the
  group's time ran out";
- the grader is the child subreaper of every run: after a run ends, whatever it left behind
  (daemons, children in new sessions) is killed and reaped before its results are scored;
- everything a student reads (errors, output) has the grader's paths replaced by neutral names.
"""

import json
import os
import secrets
import selectors
import shutil
import signal
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from grader import sandbox
from grader.compare import CaseResult, score_case
from grader.npzsafe import Budget, load_npz

MAX_MESSAGE_BYTES = 4 * 4 * 4000 + 1024  # the worker's message strings, as numpy unicode (4 bytes a char)
MAX_OUT_ENTRIES = 100  # files a worker may leave in its output directory (it needs 3)


def read_small(path, limit):
    """At most ``limit`` bytes of a regular file, without following links or blocking on FIFOs; b"" else."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return b""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return b""
        return os.read(fd, limit)
    except OSError:
        return b""
    finally:
        os.close(fd)


def out_dir_within(path, limits):
    """Whether a worker's output directory stays small (it is on the host's disk)."""
    budget = 2 * (limits.fsize_mb << 20)
    entries, size = 0, 0
    stack = [str(path)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    if entries > MAX_OUT_ENTRIES:
                        return False
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        size += entry.stat(follow_symlinks=False).st_blocks * 512
                        if size > budget:
                            return False
        except OSError:
            continue
    return True


class LogBuffer:
    """The first and last ``cap`` bytes of a stream, and how many bytes it had in all."""

    def __init__(self, cap):
        self.cap = cap
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def add(self, chunk):
        self.total += len(chunk)
        room = self.cap - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > self.cap:
                del self.tail[: len(self.tail) - self.cap]

    def text(self):
        head = self.head.decode("utf-8", errors="replace")
        if not self.tail:
            return head
        skipped = self.total - len(self.head) - len(self.tail)
        middle = f"\n[... {skipped} bytes of output not kept ...]\n" if skipped > 0 else ""
        return head + middle + self.tail.decode("utf-8", errors="replace")


@dataclass
class Task:
    key: object                  # opaque to the runner (e.g. (submission index, group))
    stage: Path
    cases: list                  # Case records, in order
    inputs: dict                 # case name -> {argument name: ndarray}
    reference: object            # callable(case) -> {output name: ndarray}; called after a run exited
    results: dict = field(default_factory=dict)  # case name -> CaseResult
    logs: list = field(default_factory=list)     # one dict per run
    runs: int = 0
    started: float | None = None
    pending: list = field(default_factory=list)        # cases without a result yet, in order
    isolated: set = field(default_factory=set)         # functions a run died in: their cases run one per worker
    module_errors: dict = field(default_factory=dict)  # student module file -> its import error

    def cid(self, case):
        return f"c{self.cases.index(case):03d}"


@dataclass
class Running:
    task: Task
    slot: int
    proc: object
    run_dir: Path
    plan: list
    log: LogBuffer
    started: float
    case_index: int = 0
    case_started: float = 0.0
    killed: str = ""
    eof: bool = False
    registered: bool = True
    disk_checked: float = 0.0
    modules: list = field(default_factory=list)  # (file, dotted name) of the student modules imported first


def _signal_name(number):
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def exit_reason(iso, returncode, killed, limits):
    """A named reason for a run that ended before finishing its cases."""
    if killed == "case":
        return f"timeout: the case ran longer than {limits.case_timeout:g} s (an infinite loop?)"
    if killed == "group":
        return f"timeout: the group's {limits.group_timeout:g} s ran out"
    if killed == "disk":
        return (f"wrote too much: more than {MAX_OUT_ENTRIES} files or {2 * limits.fsize_mb} MB in its output "
                f"directory (or {2 * limits.fsize_mb} MB in /tmp and the like)")
    sig = None
    if returncode is not None and returncode < 0:
        sig = -returncode
    elif iso.mode == "bwrap" and returncode is not None and returncode > 128:
        sig = returncode - 128
    if sig is not None:
        name = _signal_name(sig)
        if sig == signal.SIGXCPU:
            return "CPU time limit exceeded (SIGXCPU)"
        if sig == signal.SIGXFSZ:
            return f"file size limit exceeded ({name})"
        if sig == signal.SIGKILL:
            return "killed (SIGKILL: memory or process limits?)"
        if sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT, signal.SIGILL, signal.SIGFPE):
            return f"crashed ({name})"
        return f"killed by {name}"
    if returncode == 0:
        return "exited early (exit status 0, e.g. sys.exit or os._exit in the submission)"
    return f"exited early (exit status {returncode})"


class Runner:
    def __init__(self, iso, limits, jobs, work_dir, on_task_done=None):
        self.iso = iso
        self.limits = limits
        self.jobs = max(1, int(jobs))
        self.work_dir = Path(work_dir)
        self.on_task_done = on_task_done
        self._run_count = 0
        self.worker_dir = sandbox.install_worker(self.work_dir / f"worker-{secrets.token_hex(8)}")
        self.reaper = None
        self.strays_killed = 0

    # --- one run -------------------------------------------------------------------------------

    def _start(self, task, slot):
        now = time.monotonic()
        if task.started is None:
            task.started = now
            task.pending = list(task.cases)
        self._run_count += 1
        run_dir = self.work_dir / f"run-{secrets.token_hex(16)}"
        run_dir.mkdir(parents=True)
        os.chmod(run_dir, 0o755)
        plan = next_plan(task)
        entries, arrays = [], {}
        for case in plan:
            cid = task.cid(case)
            entries.append({"id": cid, "recipe": case.recipe, "params": case.call_params})
            for name, value in task.inputs[case.name].items():
                arrays[f"{cid}.{name}"] = value
        modules = _modules_of(plan)
        (run_dir / "plan.json").write_text(json.dumps({"cases": entries, "modules": [m for _, m in modules]}))
        with open(run_dir / "inputs.npz", "wb") as f:
            np.savez(f, **arrays)
        for p in ("plan.json", "inputs.npz"):
            os.chmod(run_dir / p, 0o644)
        sandbox.prepare_out_dir(self.iso, slot, run_dir / "out")
        remaining = self.limits.group_timeout - (now - task.started)
        proc = sandbox.start(self.iso, self.limits, slot, task.stage, run_dir, cpu_seconds=remaining + 5,
                             worker_dir=self.worker_dir)
        os.set_blocking(proc.stdout.fileno(), False)
        task.runs += 1
        run = Running(task, slot, proc, run_dir, plan, LogBuffer(self.limits.log_bytes), now, 0, now)
        run.modules = modules
        return run

    def _read_progress(self, run):
        raw = read_small(run.run_dir / "out" / "progress", 32)
        try:
            index = int(raw.strip() or b"0")
        except ValueError:
            return
        if index != run.case_index:
            run.case_index = index
            run.case_started = time.monotonic()

    def _check_clocks(self, run, now):
        if run.killed:
            return
        if now - run.task.started > self.limits.group_timeout:
            run.killed = "group"
        elif now - run.case_started > self.limits.case_timeout:
            run.killed = "case"
        elif now - run.disk_checked > 0.25:
            run.disk_checked = now
            budget = 2 * (self.limits.fsize_mb << 20)
            if not out_dir_within(run.run_dir / "out", self.limits) or \
                    not sandbox.shared_within(self.iso, run.slot, budget):
                run.killed = "disk"
        if run.killed:
            sandbox.kill_run(self.iso, run.slot, run.proc)

    def _drain(self, run, timeout):
        deadline = time.monotonic() + timeout
        fd = run.proc.stdout
        while not run.eof and time.monotonic() < deadline:
            try:
                chunk = os.read(fd.fileno(), 1 << 16)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            except OSError:
                break
            if not chunk:
                run.eof = True
                break
            run.log.add(chunk)

    def _scrub(self, text, run):
        """``text`` with the grader's own paths replaced by neutral names (a student reads it)."""
        if not text:
            return text
        places = [(run.task.stage, "."), (run.run_dir / sandbox.PRIVATE_STAGE, "."), (run.run_dir, "<run>"),
                  (self.worker_dir, "<grader>"),
                  (self.work_dir, "<work>")]
        if self.iso.mode == "bwrap":  # the same places as the worker sees them inside bubblewrap
            places += [("/stage", "."), ("/io", "<run>"), (sandbox.BWRAP_WORKER_DIR, "<grader>")]
        for path, name in places:
            text = text.replace(str(path) + "/", name + "/" if name != "." else "").replace(str(path), name)
        for path in sandbox.worker_syspath():
            text = text.replace(path, "<site-packages>")
        for path in sorted({sys.prefix, sys.base_prefix, os.path.realpath(sys.prefix),
                            os.path.realpath(sys.base_prefix)}, key=len, reverse=True):
            if len(path) > 1:
                text = text.replace(path, "<python>")
        return text

    def _finish(self, run):
        """Score what one finished run wrote; decide what, if anything, runs again."""
        task, limits = run.task, self.limits
        run.proc.wait()
        refs = {case.name: task.reference(case) for case in run.plan}  # loaded only now, after the exit
        budgets = {"__done__": Budget("iub", 64)}
        for index in range(len(run.modules)):
            budgets[f"__module__.{index}"] = Budget("U", MAX_MESSAGE_BYTES)
        for case in run.plan:
            cid = task.cid(case)
            budgets[f"{cid}.__error__"] = Budget("U", MAX_MESSAGE_BYTES)
            for name, ref in refs[case.name].items():
                budgets[f"{cid}.{name}"] = Budget("fiub", max(1024, ref.size * 16))
        arrays, problems, file_problem = load_npz(run.run_dir / "out" / "outputs.npz", budgets,
                                                  max_file_bytes=limits.fsize_mb << 20,
                                                  max_members=len(budgets) + 8)
        done = file_problem is None and "__done__" in arrays and run.proc.returncode == 0 and not run.killed
        log_text = self._scrub(run.log.text(), run)
        for index, (module, _) in enumerate(run.modules):
            error = arrays.get(f"__module__.{index}")
            if error is not None and error.shape == () and error.dtype.kind == "U":
                task.module_errors.setdefault(module, self._scrub(str(error[()]), run).split("\n")[0][:300])
        unresolved = []
        for case in run.plan:
            cid = task.cid(case)
            error = arrays.get(f"{cid}.__error__")
            names = refs[case.name]
            got = {n: arrays[f"{cid}.{n}"] for n in names if f"{cid}.{n}" in arrays}
            bad = {n: problems[f"{cid}.{n}"] for n in names if f"{cid}.{n}" in problems}
            if error is not None and error.shape == () and error.dtype.kind == "U":
                task.results[case.name] = score_case(case, {}, names, worker_error=self._scrub(str(error[()]), run))
            elif bad:
                name, why = next(iter(bad.items()))
                task.results[case.name] = CaseResult(case.name, False, 0.0, case.points,
                                                     f"outputs rejected: {name!r}: {why}")
            elif got:
                task.results[case.name] = score_case(case, got, names)
            else:
                unresolved.append(case)
        reason, charged = None, None
        if unresolved:
            if done:
                for case in unresolved:
                    task.results[case.name] = CaseResult(case.name, False, 0.0, case.points, "no output")
            else:
                reason = exit_reason(self.iso, run.proc.returncode, run.killed, limits)
                if file_problem and file_problem != "no outputs file was written":
                    reason += f"; outputs rejected: {file_problem}"
                culprit = unresolved[0]
                if 0 <= run.case_index < len(run.plan) and run.plan[run.case_index] in unresolved:
                    culprit = run.plan[run.case_index]
                task.results[culprit.name] = CaseResult(culprit.name, False, 0.0, culprit.points, reason,
                                                        detail=_tail(log_text))
                charged = culprit.name
                # The function it died in may die again in any of its cases, or in none of the others (a
                # function whose cases take different paths): from now on each of them runs alone.
                task.isolated.add(culprit.target)
        task.logs.append({
            "run": task.runs, "cases": [c.name for c in run.plan], "returncode": run.proc.returncode,
            "killed": run.killed, "seconds": round(time.monotonic() - run.started, 3), "finished": done,
            "outputs_problem": file_problem, "output_bytes": run.log.total, "output": log_text,
            "reason": reason, "charged": charged,
        })
        shutil.rmtree(run.run_dir, ignore_errors=True)
        task.pending = [c for c in task.cases if c.name not in task.results]
        time_left = limits.group_timeout - (time.monotonic() - task.started)
        if not task.pending:
            return False
        if time_left > 0.5 and run.killed != "group":
            return True
        last = f" (last: {reason})" if reason else ""
        for case in task.pending:
            task.results[case.name] = CaseResult(case.name, False, 0.0, case.points,
                                                 f"not run: the group's time ran out{last}")
        task.pending = []
        return False

    # --- the loop ------------------------------------------------------------------------------

    def run(self, tasks):
        """Run every task; returns them with ``results`` filled (one CaseResult per case)."""
        queue = list(tasks)
        free = list(range(self.jobs))
        running = []
        sel = selectors.DefaultSelector()
        self.reaper = sandbox.Reaper()
        try:
            while queue or running:
                while queue and free:
                    task = queue.pop(0)
                    run = self._start(task, free.pop(0))
                    sel.register(run.proc.stdout, selectors.EVENT_READ, run)
                    running.append(run)
                for key, _ in sel.select(timeout=0.02):
                    run = key.data
                    try:
                        chunk = os.read(key.fileobj.fileno(), 1 << 16)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if chunk:
                        run.log.add(chunk)
                    else:
                        run.eof = True
                        run.registered = False
                        sel.unregister(key.fileobj)
                now = time.monotonic()
                for run in list(running):
                    if run.proc.poll() is None:
                        self._read_progress(run)
                        self._check_clocks(run, now)
                        continue
                    self._read_progress(run)
                    sandbox.kill_run(self.iso, run.slot, run.proc)  # leftovers: daemons, children
                    # Whatever escaped the run's group came back to the subreaper: killed before any scoring.
                    self.strays_killed += self.reaper.sweep(keep=[r.proc.pid for r in running if r is not run])
                    if run.registered:
                        sel.unregister(run.proc.stdout)
                        run.registered = False
                    self._drain(run, 0.5)
                    run.proc.stdout.close()
                    running.remove(run)
                    free.append(run.slot)
                    again = self._finish(run)
                    if again:
                        queue.insert(0, run.task)
                    elif self.on_task_done:
                        self.on_task_done(run.task)
        finally:
            for run in running:
                sandbox.kill_run(self.iso, run.slot, run.proc)
            self.strays_killed += self.reaper.sweep()
            sel.close()
        return tasks


def next_plan(task):
    """The cases of a task's next run: every pending case of the functions no run died in, in one worker;
    once none is left, the first pending case of a function a run died in, alone."""
    batched = [case for case in task.pending if case.target not in task.isolated]
    return batched or task.pending[:1]


def _modules_of(cases):
    """[(file, dotted name)] of the student modules the cases exercise, in order of first use."""
    out = []
    for case in cases:
        if case.module and case.module.endswith(".py"):
            dotted = "assignment." + case.module[:-3].replace("/", ".")
            if (case.module, dotted) not in out:
                out.append((case.module, dotted))
    return out


def _tail(text, limit=3000):
    return text[-limit:] if text else ""
