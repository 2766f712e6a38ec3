"""Docker for the fleet tests (issue 24): a private dockerd, cached Debian and Ubuntu roots, images built
the way Gradescope and PrairieLearn build them, and containers run under their limits.

- ``daemon()``: one ``dockerd`` (Debian's ``docker.io``) for the test session, started here with
  ``--iptables=false --bridge=none`` (containers get ``--network host`` to build, ``--network none``
  to grade). Its socket, exec root and log live in a fresh directory under /var/tmp; its data root (the
  images) in the cache, so that a warm cache keeps the built images. It is stopped when the session
  ends. If it cannot start, ``FleetError`` (an AssertionError: the test fails) carries the tail of its
  log: a fleet test never skips.
- ``root_tarball(name)``: a root file system built once with ``mmdebstrap --variant=minbase`` (Debian
  bookworm; Ubuntu jammy, Gradescope's default Ubuntu 22.04, Python 3.10) and kept in the cache under a
  key made of what built it (mmdebstrap's version, its whole command line, the keyring's hash).
- ``root_image(d, name)``: that tarball, ``docker import``-ed.
- ``gradescope_image(d, name, zip)``: Gradescope's build: the zip unzipped into /autograder/source,
  ``run_autograder`` copied to /autograder/run_autograder, ``setup.sh`` run as root (network: host,
  for the build only), ``docker commit``. Cached under the hash of the base image and of the zip's
  content (members, modes and bytes; an ``.npz`` member by its arrays, not its timestamps).
- ``gradescope_run(d, image, submission)``: one fresh container per submission, the submission's files
  copied to /autograder/submission, ``/autograder/run_autograder`` run from /autograder under
  Gradescope's limits, and what Gradescope's harness reads afterwards (results.json, stdout, and the
  processes still alive once run_autograder has returned).
- ``prairielearn_image(d, name, image_dir)``: the release's ``OUT/prairielearn/image`` built with
  ``docker build`` (the classic builder), ``BASE_IMAGE`` = the root ``name``, numpy and pyseccomp wheels
  (``pip download`` on the host, cached) in its ``wheels/``. Cached under the hash of the base, the wheels
  and the image directory's files (it holds nothing of a release's cases, so a grader change keeps it).
- ``prairielearn_run(d, image, job, entrypoint)``: one job as PrairieLearn runs it: ``job`` mounted at
  /grade, root, PrairieLearn's limits, info.json's entrypoint.

The cache directory is ``$ASSIGNMENT_FLEET_CACHE`` (default /var/tmp/assignment-fleet-cache), outside
the checkout; deleting it only costs a cold run.
"""

import atexit
import contextlib
import fcntl
import functools
import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

CACHE_ENV = "ASSIGNMENT_FLEET_CACHE"
DEFAULT_CACHE = "/var/tmp/assignment-fleet-cache"
CACHE_FORMAT = 1  # bump to invalidate every cached root and image
FLEET_DATA = Path(__file__).resolve().parent / "fleet_data"

# Gradescope's limits (issue 24): root, no network, 768 MiB, half a CPU, Docker's default seccomp profile.
GRADESCOPE_LIMITS = ("--network", "none", "--memory", "768m", "--cpus", "0.5")
# PrairieLearn's external graders.
PRAIRIELEARN_LIMITS = ("--network", "none", "--memory", "2g", "--cpus", "0.9", "--pids-limit", "1024")


class FleetError(AssertionError):
    """A fleet could not be set up here: the test fails with this message (it never skips)."""


def cache_dir():
    path = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _tail(path, n=40):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-n:])
    except OSError as exc:
        return f"(no log: {exc})"


def _run(argv, timeout, what, **kw):
    """subprocess.run, raising FleetError with the output's tail when the command fails."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, **kw)
    except FileNotFoundError as exc:
        raise FleetError(f"{what}: {exc} (make fleet-deps installs docker.io and mmdebstrap)") from exc
    except subprocess.TimeoutExpired as exc:
        raise FleetError(f"{what}: timed out after {timeout} s") from exc
    if proc.returncode != 0:
        out = ((proc.stdout or b"").decode(errors="replace")[-3000:]
               + (proc.stderr or b"").decode(errors="replace")[-3000:])
        raise FleetError(f"{what} failed (exit status {proc.returncode}):\n{out}")
    return proc


def _sha(*parts):
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        h.update(len(data).to_bytes(8, "little") + data)
    return h.hexdigest()


# ----------------------------------------------------------------------------------------------
# The daemon
# ----------------------------------------------------------------------------------------------


@dataclass
class Docker:
    """A running private dockerd: ``docker(...)`` runs the client against it."""

    run_dir: Path
    data_root: Path
    proc: subprocess.Popen
    lock: object
    client: str
    env: dict = field(default_factory=dict)

    @property
    def log(self):
        return self.run_dir / "dockerd.log"

    def docker(self, *args, timeout=120, check=True, what=None, **kw):
        argv = [self.client, *map(str, args)]
        if not check:
            return subprocess.run(argv, capture_output=True, timeout=timeout, env=self.env, **kw)
        return _run(argv, timeout, what or f"docker {' '.join(map(str, args[:3]))}", env=self.env, **kw)

    def has_image(self, tag):
        return self.docker("image", "inspect", tag, check=False).returncode == 0

    def stop(self):
        if self.proc.poll() is None:
            self.docker("container", "prune", "-f", check=False, timeout=60)
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        # dockerd's own containerd and shims were started in its process group: nothing of it may stay.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        # dockerd leaves the bind mount of its default network namespace (exec/netns/default) behind.
        for mount in reversed(mounts_under(self.run_dir)):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)
        shutil.rmtree(self.run_dir, ignore_errors=True)
        with contextlib.suppress(OSError):
            fcntl.flock(self.lock, fcntl.LOCK_UN)
            self.lock.close()


def mounts_under(directory):
    """The mount points at or under ``directory`` (from /proc/self/mounts), outermost first."""
    top = os.path.realpath(directory)
    found = []
    with open("/proc/self/mounts") as f:
        for line in f:
            point = line.split()[1].replace("\\040", " ")
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return sorted(found, key=len)


def start_daemon(cache=None, timeout=90):
    """Start a private dockerd (its data root in the cache, the rest in a new directory under /var/tmp)."""
    cache = Path(cache or cache_dir())
    dockerd = shutil.which("dockerd") or ("/usr/sbin/dockerd" if os.path.exists("/usr/sbin/dockerd") else None)
    # The client of the same package as the daemon (Debian's docker.io puts it in /usr/bin); another one
    # earlier on PATH (a newer Docker's) only talks to it through API downgrades.
    client = next((c for c in ("/usr/bin/docker",) if os.access(c, os.X_OK)), None) or shutil.which("docker")
    if dockerd is None or client is None:
        raise FleetError("dockerd or the docker client is missing: `make fleet-deps` installs Debian's docker.io")
    if os.geteuid() != 0:
        raise FleetError(f"the fleet tests start their own dockerd and need root (uid {os.geteuid()})")
    lock = open(cache / "docker.lock", "w")  # noqa: SIM115 - held for the daemon's life
    deadline = time.monotonic() + 600
    while True:  # one daemon per data root: a second test session waits for the first
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise FleetError(f"{cache / 'docker.lock'} stayed locked for 10 minutes: another fleet test "
                                 f"session uses this cache (set {CACHE_ENV} to another directory)") from None
            time.sleep(2)
    data_root = cache / "docker"
    try:
        data_root.mkdir(exist_ok=True)
    except OSError as exc:
        fcntl.flock(lock, fcntl.LOCK_UN)
        lock.close()
        raise FleetError(f"dockerd's data root {data_root} cannot be made: {exc}") from exc
    run_dir = Path(tempfile.mkdtemp(prefix="fleet-", dir="/var/tmp"))  # short: unix socket paths are limited
    sock = run_dir / "docker.sock"
    argv = [dockerd, "--iptables=false", "--ip-masq=false", "--bridge=none", "--data-root", str(data_root),
            "--exec-root", str(run_dir / "exec"), "-H", f"unix://{sock}", "--pidfile", str(run_dir / "docker.pid")]
    log = open(run_dir / "dockerd.log", "wb")  # noqa: SIM115 - dockerd writes to it for its whole life
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    # DOCKER_BUILDKIT=0: the classic builder, the one docker.io 20.10 uses by default (no buildx plugin).
    env = dict(os.environ, DOCKER_HOST=f"unix://{sock}", DOCKER_BUILDKIT="0")
    env.pop("DOCKER_CONTEXT", None)
    d = Docker(run_dir=run_dir, data_root=data_root, proc=proc, lock=lock, client=client, env=env)
    end = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            tail = _tail(d.log)
            d.stop()
            raise FleetError(f"dockerd exited with status {proc.returncode} at start ({' '.join(argv)}); "
                             f"its log ends:\n{tail}")
        if sock.exists() and d.docker("version", check=False, timeout=20).returncode == 0:
            break
        if time.monotonic() > end:
            tail = _tail(d.log)
            d.stop()
            raise FleetError(f"dockerd did not answer within {timeout} s; its log ends:\n{tail}")
        time.sleep(0.5)
    return d


@functools.cache
def daemon():
    """The session's dockerd, stopped when the interpreter exits."""
    d = start_daemon()
    atexit.register(d.stop)
    return d


def docker_info(d):
    return json.loads(d.docker("info", "--format", "{{json .}}").stdout)


# ----------------------------------------------------------------------------------------------
# Roots: mmdebstrap, cached by what built them
# ----------------------------------------------------------------------------------------------

UBUNTU_MIRROR = "http://archive.ubuntu.com/ubuntu"
# Debian's own package of Ubuntu's archive keys (trixie has it, bookworm does not): apt fetches it from
# Debian's archive and checks it against Debian's signed index, so the Ubuntu root is verified through
# Debian's keys, which this machine already trusts.
UBUNTU_KEYRING_SOURCE = ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                         "http://deb.debian.org/debian trixie main")
UBUNTU_KEYRING_FILE = "usr/share/keyrings/ubuntu-archive-keyring.gpg"

ROOTS = {
    # Gradescope's and PrairieLearn's images start from a distribution root; ours from a minimal one, so
    # that setup.sh must install everything it uses. unzip: Gradescope's build unzips the autograder.
    "bookworm": {"suite": "bookworm", "mirrors": ["http://deb.debian.org/debian"], "include": ["unzip"],
                 "keyring": None},
    # apt too: mmdebstrap 1.3.5's minbase of jammy leaves it out (its minbase of bookworm has it).
    "jammy": {"suite": "jammy", "include": ["apt", "unzip"], "keyring": "ubuntu",
              "mirrors": [f"deb {UBUNTU_MIRROR} {s} main universe" for s in ("jammy", "jammy-updates",
                                                                              "jammy-security")]},
}


def _mmdebstrap_version():
    proc = _run(["mmdebstrap", "--version"], 30, "mmdebstrap --version")
    return proc.stdout.decode().strip()


def ubuntu_keyring(cache=None):
    """Ubuntu's archive keyring, from Debian's ``ubuntu-keyring`` package (downloaded once, cached)."""
    cache = Path(cache or cache_dir())
    target = cache / "keyrings" / "ubuntu-archive-keyring.gpg"
    if target.exists():
        return target
    work = Path(tempfile.mkdtemp(prefix="keyring-", dir=cache))
    try:
        (work / "lists" / "partial").mkdir(parents=True)
        (work / "cache" / "archives" / "partial").mkdir(parents=True)
        (work / "sources.list").write_text(UBUNTU_KEYRING_SOURCE + "\n")
        opts = [f"-oDir::Etc::SourceList={work / 'sources.list'}", "-oDir::Etc::SourceParts=/dev/null",
                f"-oDir::State::Lists={work / 'lists'}", f"-oDir::Cache={work / 'cache'}",
                "-oDebug::NoLocking=1", "-oAPT::Sandbox::User=root"]
        _run(["apt-get", "-q", *opts, "update"], 300, "apt-get update (Debian trixie's index, for ubuntu-keyring)")
        _run(["apt-get", "-q", *opts, "download", "ubuntu-keyring"], 300, "apt-get download ubuntu-keyring",
             cwd=str(work))
        deb = next(work.glob("ubuntu-keyring_*.deb"))
        _run(["dpkg-deb", "-x", str(deb), str(work / "x")], 60, "dpkg-deb -x ubuntu-keyring")
        target.parent.mkdir(exist_ok=True)
        shutil.copyfile(work / "x" / UBUNTU_KEYRING_FILE, work / "keyring.gpg")
        (work / "keyring.gpg").replace(target)
        (target.parent / "ubuntu-keyring.deb.txt").write_text(
            f"{deb.name} sha256 {hashlib.sha256(deb.read_bytes()).hexdigest()} (from {UBUNTU_KEYRING_SOURCE})\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


@dataclass
class Root:
    name: str
    key: str
    tarball: Path
    argv: list

    @property
    def tag(self):
        return f"fleet/root-{self.name}:{self.key[:16]}"


def root_spec(name, cache=None):
    """(argv without the output path, key) of one root."""
    spec = ROOTS[name]
    argv = ["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar"]
    if spec["include"]:
        argv.append("--include=" + ",".join(spec["include"]))
    keyring_hash = None
    if spec["keyring"] == "ubuntu":
        keyring = ubuntu_keyring(cache)
        argv.append(f"--keyring={keyring}")
        keyring_hash = hashlib.sha256(keyring.read_bytes()).hexdigest()
        argv.append("--components=main,universe")
    argv.append(spec["suite"])
    key = _sha({"format": CACHE_FORMAT, "mmdebstrap": _mmdebstrap_version(), "argv": argv, "mirrors": spec["mirrors"],
                "keyring": keyring_hash})
    return argv, key


def root_tarball(name, cache=None, timeout=900):
    """The cached root tarball ``name`` (built with mmdebstrap when missing)."""
    cache = Path(cache or cache_dir())
    argv, key = root_spec(name, cache)
    target = cache / "roots" / f"{name}-{key[:16]}.tar"
    if not target.exists():
        target.parent.mkdir(exist_ok=True)
        part = target.with_suffix(".tar.part")
        log = target.with_suffix(".log")
        full = [*argv, str(part), *ROOTS[name]["mirrors"]]
        start = time.monotonic()
        try:
            _run(full, timeout, f"{' '.join(full)}")
        except FleetError:
            part.unlink(missing_ok=True)
            raise
        part.replace(target)
        log.write_text(f"{' '.join(full)}\nbuilt in {time.monotonic() - start:.0f} s\n")
        for old in target.parent.glob(f"{name}-*.tar"):  # roots built by another mmdebstrap or command line
            if old != target:
                old.unlink(missing_ok=True)
    return Root(name=name, key=key, tarball=target, argv=argv)


def root_image(d, name):
    root = root_tarball(name)
    if not d.has_image(root.tag):
        d.docker("import", "--change", 'CMD ["/bin/bash"]', root.tarball, root.tag, timeout=600,
                 what=f"docker import {root.tarball}")
        _prune(d, root.tag)
    return root.tag


def _prune(d, keep, keep_last=2):
    """Remove the images of ``keep``'s repository other than it and the ``keep_last - 1`` newest others."""
    repo = keep.rsplit(":", 1)[0]
    out = d.docker("images", "--format", "{{.Repository}}:{{.Tag}}\t{{.CreatedAt}}", repo).stdout.decode()
    others = sorted((line.split("\t") for line in out.splitlines() if line and not line.startswith(keep + "\t")),
                    key=lambda row: row[1], reverse=True)
    for tag, _ in others[keep_last - 1:]:
        d.docker("rmi", tag, check=False)


# ----------------------------------------------------------------------------------------------
# Files in and out of containers
# ----------------------------------------------------------------------------------------------


def tar_of(entries):
    """A tar stream of ``entries``: [(path in the container, bytes or None for a directory, mode)], root-owned."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data, mode in entries:
            info = tarfile.TarInfo(name.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 1577836800
            info.mode = mode
            if data is None:
                info.type = tarfile.DIRTYPE
                tf.addfile(info)
            else:
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def tree_entries(src, dest):
    """tar_of entries copying the directory ``src`` to ``dest`` (regular files and directories)."""
    src = Path(src)
    out = [(dest, None, 0o755)]
    for path in sorted(src.rglob("*")):
        rel = f"{dest}/{path.relative_to(src).as_posix()}"
        if path.is_dir():
            out.append((rel, None, 0o755))
        elif path.is_file():
            out.append((rel, path.read_bytes(), 0o644))
    return out


def copy_in(d, container, entries):
    d.docker("cp", "-", f"{container}:/", input=tar_of(entries), timeout=120)


def copy_out(d, container, path, dest):
    """Copy ``path`` of the container into the directory ``dest``; False when it does not exist."""
    proc = d.docker("cp", f"{container}:{path}", "-", check=False, timeout=120)
    if proc.returncode != 0:
        return False
    Path(dest).mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tf:
        tf.extractall(dest, filter="data")
    return True


# ----------------------------------------------------------------------------------------------
# Gradescope
# ----------------------------------------------------------------------------------------------

# Gradescope's image build, as its build log shows it: the zip unzipped into /autograder/source,
# run_autograder copied to /autograder/run_autograder and made executable, then apt-get update and
# setup.sh as root, then apt's lists and /tmp cleaned. The egress CA of the build machine (if any) is
# trusted for this build only: it lives in /tmp, which the build empties.
GRADESCOPE_BUILD = r"""set -euo pipefail
if [ -f /tmp/fleet-ca.crt ]; then
    export PIP_CERT=/tmp/fleet-ca.crt SSL_CERT_FILE=/tmp/fleet-ca.crt REQUESTS_CA_BUNDLE=/tmp/fleet-ca.crt
fi
mkdir -p /autograder/source
unzip -n -q -d /autograder/source /tmp/autograder.zip
cp /autograder/source/run_autograder /autograder/run_autograder
chmod +x /autograder/run_autograder
apt-get update -qq && bash /autograder/source/setup.sh && apt-get clean && rm -rf /var/lib/apt/lists/* /tmp/* /var/tmp/*
"""

HOST_CA = Path("/etc/ssl/certs/ca-certificates.crt")


def zip_content_hash(path):
    """The hash of a zip's members (name, mode, bytes), an ``.npz`` member's by its own members' bytes."""
    h = hashlib.sha256()
    with zipfile.ZipFile(path) as zf:
        for info in sorted(zf.infolist(), key=lambda i: i.filename):
            data = zf.read(info)
            if info.filename.endswith(".npz"):
                with zipfile.ZipFile(io.BytesIO(data)) as inner:
                    data = _sha(*[m.filename.encode() + b"\0" + inner.read(m)
                                  for m in sorted(inner.infolist(), key=lambda i: i.filename)]).encode()
            h.update(_sha(info.filename, info.external_attr >> 16, data).encode())
    return h.hexdigest()


def gradescope_image(d, root_name, autograder_zip, timeout=900):
    """(tag, build log) of the Gradescope image of ``autograder_zip`` on the root ``root_name``."""
    base = root_image(d, root_name)
    key = _sha({"format": CACHE_FORMAT, "base": base, "build": GRADESCOPE_BUILD}, zip_content_hash(autograder_zip))
    tag = f"fleet/gradescope-{root_name}:{key[:16]}"
    log_path = cache_dir() / "logs" / f"gradescope-{root_name}-{key[:16]}.log"
    if d.has_image(tag):
        return tag, (log_path.read_text() if log_path.exists() else "")
    name = f"fleet-build-{key[:12]}-{os.getpid()}"
    d.docker("rm", "-f", name, check=False)
    d.docker("create", "--name", name, "--network", "host", base, "/bin/bash", "-c", GRADESCOPE_BUILD)
    try:
        entries = [("/tmp/autograder.zip", Path(autograder_zip).read_bytes(), 0o644)]
        if HOST_CA.exists():
            entries.append(("/tmp/fleet-ca.crt", HOST_CA.read_bytes(), 0o644))
        copy_in(d, name, entries)
        start = time.monotonic()
        proc = d.docker("start", "-a", name, check=False, timeout=timeout)
        log = (proc.stdout + proc.stderr).decode(errors="replace")
        log_path.parent.mkdir(exist_ok=True)
        log_path.write_text(log + f"\n(built in {time.monotonic() - start:.0f} s)\n")
        if proc.returncode != 0:
            raise FleetError(f"Gradescope's build of {autograder_zip} on {base} failed (exit status "
                             f"{proc.returncode}); setup.sh's output ends:\n{log[-4000:]}")
        d.docker("commit", "--change", "WORKDIR /autograder", "--change", 'CMD ["/autograder/run_autograder"]',
                 name, tag, timeout=600)
    finally:
        d.docker("rm", "-f", name, check=False)
    _prune(d, tag)
    return tag, log


# What Gradescope's harness does in each fresh container: run /autograder/run_autograder from
# /autograder, its output into /autograder/results/stdout, then read the results. Here it also records,
# outside /autograder, run_autograder's exit status, the container's seccomp mode, and every process
# still alive one second after run_autograder returned.
GRADESCOPE_HARNESS = r"""mkdir -p /harness
grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status > /harness/status
cd /autograder
/autograder/run_autograder > /autograder/results/stdout 2>&1
echo $? > /harness/exit_status
sleep 1
for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = 1 ] && continue
    [ "$pid" = "$$" ] && continue
    cmd=$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null) || continue
    [ -n "$cmd" ] && printf '%s %s\n' "$pid" "$cmd"
done > /harness/processes
true
"""


@dataclass
class GradescopeRun:
    name: str
    out: Path            # /autograder/results and /harness, copied out
    exit_status: int
    results: dict        # /autograder/results/results.json (None if absent)
    stdout: str          # /autograder/results/stdout
    processes: list      # (pid, command line) alive a second after run_autograder returned
    status: str          # the container's Seccomp/NoNewPrivs/CapEff lines
    seconds: float
    container_log: str

    @property
    def mode_line(self):
        """The instructor's isolation line: run_autograder's grade prints it first."""
        for line in self.stdout.splitlines():
            if "isolation" in line.lower() or "would refuse" in line or "cannot contain" in line:
                return line
        return ""

    def summary(self):
        path = self.out / "results" / "grader" / "summary.json"
        return json.loads(path.read_text()) if path.exists() else None

    def report(self):
        path = self.out / "results" / "grader" / "submission" / "report.json"
        return json.loads(path.read_text()) if path.exists() else None


def gradescope_run(d, image, submission, out, name, security_opts=(), timeout=600, extra_entries=()):
    """Grade the directory ``submission`` in a fresh container of ``image``; files copied out into ``out``."""
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    cname = f"fleet-gs-{name}-{os.getpid()}"
    d.docker("rm", "-f", cname, check=False)
    opts = []
    for opt in security_opts:
        opts += ["--security-opt", opt]
    d.docker("create", "--name", cname, *GRADESCOPE_LIMITS, *opts, image, "/bin/bash", "-c", GRADESCOPE_HARNESS)
    try:
        entries = [("/autograder/results", None, 0o755)] + tree_entries(submission, "/autograder/submission")
        copy_in(d, cname, [*entries, *extra_entries])
        start = time.monotonic()
        proc = d.docker("start", "-a", cname, check=False, timeout=timeout)
        seconds = time.monotonic() - start
        copy_out(d, cname, "/autograder/results", out)
        copy_out(d, cname, "/harness", out)
    finally:
        d.docker("rm", "-f", cname, check=False)
    results_path = out / "results" / "results.json"
    read = functools.partial(_read_text, out)
    processes = [tuple(line.split(" ", 1)) for line in read("harness/processes").splitlines() if line.strip()]
    return GradescopeRun(
        name=name, out=out, exit_status=int(read("harness/exit_status").strip() or -1),
        results=json.loads(results_path.read_text()) if results_path.exists() else None,
        stdout=read("results/stdout"), processes=processes, status=read("harness/status"), seconds=seconds,
        container_log=(proc.stdout + proc.stderr).decode(errors="replace"))


def _read_text(base, rel):
    path = Path(base) / rel
    return path.read_text(errors="replace") if path.exists() else ""


def run_in(d, image, script, limits=GRADESCOPE_LIMITS, security_opts=(), timeout=300):
    """Run a bash script in a fresh container (``--rm``); returns (exit status, output)."""
    opts = []
    for opt in security_opts:
        opts += ["--security-opt", opt]
    proc = d.docker("run", "--rm", *limits, *opts, image, "/bin/bash", "-c", script, check=False, timeout=timeout)
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


# ----------------------------------------------------------------------------------------------
# Seccomp profiles
# ----------------------------------------------------------------------------------------------

DEFAULT_PROFILE = FLEET_DATA / "seccomp-default-moby-v20.10.24.json"
NO_LANDLOCK_PROFILE = FLEET_DATA / "seccomp-no-landlock.json"
LANDLOCK_SYSCALLS = ("landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self")
ENOSYS = 38


def no_landlock_profile(default):
    """Docker's default profile with the landlock_* system calls answering ENOSYS, as on a kernel without them."""
    profile = json.loads(json.dumps(default))
    for rule in profile["syscalls"]:
        if rule["action"] == "SCMP_ACT_ALLOW":
            rule["names"] = [n for n in rule["names"] if n not in LANDLOCK_SYSCALLS]
    profile["syscalls"] = [r for r in profile["syscalls"] if r["names"]]
    profile["syscalls"].append({
        "names": list(LANDLOCK_SYSCALLS), "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS, "args": [],
        "comment": "issue 24: a kernel without Landlock (older than 5.13) answers ENOSYS", "includes": {},
        "excludes": {}})
    return profile


# ----------------------------------------------------------------------------------------------
# PrairieLearn
# ----------------------------------------------------------------------------------------------

# The Python of each root (the wheels put into image/wheels/ must be for it).
ROOT_PYTHON = {"bookworm": "3.11", "jammy": "3.10"}


def offline_requirements(setup_sh):
    """The requirements the image's setup.sh installs from wheels/ (the quoted words of its --no-index pip line)."""
    for line in Path(setup_sh).read_text().splitlines():
        if "pip install" in line and "--no-index" in line:
            reqs = [w for w in re.findall(r'"([^"]*)"', line) if "$" not in w]
            if reqs:
                return reqs
    raise FleetError(f"{setup_sh} has no offline `pip install --no-index ... \"REQ\"...` line any more: "
                     f"tests/fleet_docker.py reads the requirements of the wheels it supplies from it")


def wheels(python, requirements, cache=None, timeout=600):
    """A directory of manylinux wheels of ``requirements`` for CPython ``python`` (pip download, cached)."""
    cache = Path(cache or cache_dir())
    tag = python.replace(".", "")
    target = cache / "wheels" / f"cp{tag}-{_sha(requirements)[:12]}"
    if (target / "DONE").exists():
        return target
    part = Path(tempfile.mkdtemp(prefix="wheels-", dir=cache))
    try:
        _run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:", "--python-version", python,
              "--implementation", "cp", "--abi", f"cp{tag}", "--platform", "manylinux_2_28_x86_64",
              "--platform", "manylinux2014_x86_64", "--dest", str(part), *requirements], timeout,
             f"pip download {' '.join(requirements)} (CPython {python})")
        (part / "DONE").write_text("\n".join(sorted(p.name for p in part.glob("*.whl"))) + "\n")
        target.parent.mkdir(exist_ok=True)
        shutil.rmtree(target, ignore_errors=True)
        part.replace(target)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return target


def prairielearn_image(d, root_name, image_dir, timeout=900):
    """(tag, build log) of ``OUT/prairielearn/image`` built with ``BASE_IMAGE`` = the cached root ``root_name``.

    The build runs the release's own Dockerfile and setup.sh unchanged: apt-get installs python3,
    bubblewrap and libseccomp2 over the network (``--network host``, for the build only), and pip
    installs numpy and pyseccomp from ``image/wheels/`` (the offline path docs/prairielearn.md
    describes), downloaded here with the host's pip: the build container has no way to trust this
    machine's egress CA, which PyPI over HTTPS would need.
    """
    image_dir = Path(image_dir)
    base = root_image(d, root_name)
    wheel_dir = wheels(ROOT_PYTHON[root_name], offline_requirements(image_dir / "setup.sh"))
    files = {p.relative_to(image_dir).as_posix(): p.read_bytes() for p in sorted(image_dir.rglob("*"))
             if p.is_file() and p.relative_to(image_dir).parts[0] != "wheels"}
    key = _sha({"format": CACHE_FORMAT, "base": base, "wheels": (wheel_dir / "DONE").read_text()},
               *[name.encode() + b"\0" + data for name, data in files.items()])
    tag = f"fleet/prairielearn-{root_name}:{key[:16]}"
    log_path = cache_dir() / "logs" / f"prairielearn-{root_name}-{key[:16]}.log"
    if d.has_image(tag):
        return tag, (log_path.read_text() if log_path.exists() else "")
    context = Path(tempfile.mkdtemp(prefix="pl-image-", dir=cache_dir()))
    try:
        shutil.copytree(image_dir, context / "image")
        for whl in wheel_dir.glob("*.whl"):
            shutil.copyfile(whl, context / "image" / "wheels" / whl.name)
        start = time.monotonic()
        proc = d.docker("build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}", "-t", tag,
                        context / "image", check=False, timeout=timeout)
        log = (proc.stdout + proc.stderr).decode(errors="replace")
        log_path.parent.mkdir(exist_ok=True)
        log_path.write_text(log + f"\n(built in {time.monotonic() - start:.0f} s)\n")
        if proc.returncode != 0:
            raise FleetError(f"docker build of {image_dir} with BASE_IMAGE={base} failed (exit status "
                             f"{proc.returncode}); its output ends:\n{log[-4000:]}")
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _prune(d, tag)
    return tag, log


@dataclass
class PrairieLearnRun:
    exit_status: int
    output: str          # the entrypoint's stdout and stderr: what the staff see on the job's page
    results_bytes: bytes  # /grade/results/results.json (None if absent)
    seconds: float

    @property
    def results(self):
        return None if self.results_bytes is None else json.loads(self.results_bytes)


def prairielearn_run(d, image, job, entrypoint, timeout, name):
    """Run one grading job as PrairieLearn does: ``job`` mounted at /grade, its limits, ``entrypoint`` (info.json's)."""
    job = Path(job)
    cname = f"fleet-pl-{name}-{os.getpid()}"
    d.docker("rm", "-f", cname, check=False)
    start = time.monotonic()
    proc = d.docker("run", "--rm", "--name", cname, *PRAIRIELEARN_LIMITS, "-v", f"{job}:/grade",
                    "--entrypoint", entrypoint[0], image, *entrypoint[1:], check=False, timeout=timeout + 60)
    seconds = time.monotonic() - start
    path = job / "results" / "results.json"
    return PrairieLearnRun(exit_status=proc.returncode, output=(proc.stdout + proc.stderr).decode(errors="replace"),
                           results_bytes=path.read_bytes() if path.exists() else None, seconds=seconds)
