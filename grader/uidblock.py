"""Worker uids that no other grader on this host uses: a block claimed under a lock.

A grader running as root runs each worker as its own uid (``grader/sandbox.py``), and after every
run it kills every process of that uid. Two graders on one host that used the same uids (two
Slurm array tasks on one node, two ``grade`` commands) would kill each other's workers. So a
grader claims a *block* of ``BLOCK_SIZE`` uids before it drops any, and uses only those:

- blocks are aligned: block ``k`` is the uids ``k * BLOCK_SIZE`` to ``k * BLOCK_SIZE + BLOCK_SIZE - 1``,
  whatever base a grader asks for, so two graders can never hold overlapping ranges;
- the search starts at the first block at or above ``GRADER_WORKER_UID_BASE`` (default 61000) and
  takes the first free one among ``BLOCKS`` consecutive blocks (never reaching 65534, ``nobody``);
- a block is held with ``fcntl.flock`` on its own file in ``LOCK_DIR``, a directory owned by root
  and writable by root only; the lock lasts as long as the process (the kernel drops it when the
  process dies, however it dies), so a dead grader's block is free again at once;
- when every block is held, the grader refuses with one line (``NoFreeBlock``).

The claim is made once per process, on first use (``current``), and is never given back while
the process lives.
"""

import errno
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from grader.sandbox import Unavailable

BLOCK_SIZE = 100        # uids in a block: one per worker slot (``grade -j`` at most this many)
BLOCKS = 32             # blocks looked at, from the first at or above the base
DEFAULT_BASE = 61000
LAST_UID = 65533        # 65534 is nobody; 65535 is (uid_t)-1 in 16 bits
LOCK_DIR = Path("/run/lock/assignment-grader")


class NoFreeBlock(Unavailable):
    """Every block of worker uids is held by another grader (or the lock directory is unusable)."""


@dataclass
class Claim:
    base: int       # the block's first uid
    size: int       # its number of uids
    path: Path      # its lock file
    fd: int         # the open, locked file (kept open for the life of the process)
    pid: int        # the process that claimed it

    @property
    def last(self):
        return self.base + self.size - 1


def requested_base(environ=None):
    """The base asked for: ``GRADER_WORKER_UID_BASE`` (a whole number), else 61000."""
    environ = os.environ if environ is None else environ
    text = environ.get("GRADER_WORKER_UID_BASE", "").strip()
    if not text:
        return DEFAULT_BASE
    try:
        base = int(text)
    except ValueError:
        raise NoFreeBlock(f"GRADER_WORKER_UID_BASE must be a whole number, got {text!r}") from None
    if not 1000 <= base <= LAST_UID:
        raise NoFreeBlock(f"GRADER_WORKER_UID_BASE must be between 1000 and {LAST_UID}, got {base}")
    return base


def _lock_dir(path):
    """``path`` made (0755) if missing, and checked: a real directory, ours, writable by us only."""
    path = Path(path)
    try:
        path.mkdir(mode=0o755, parents=True, exist_ok=True)
        st = os.lstat(path)
    except OSError as exc:
        raise NoFreeBlock(f"cannot use the uid lock directory {path}: {exc.strerror or exc}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise NoFreeBlock(f"the uid lock directory {path} is not a directory (a symbolic link?); remove it")
    if st.st_uid != os.geteuid() or st.st_mode & 0o022:
        raise NoFreeBlock(f"the uid lock directory {path} must belong to uid {os.geteuid()} and be writable by it "
                          f"only (it is uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); remove it or fix it")
    return path


def blocks_from(base, size=BLOCK_SIZE, count=BLOCKS):
    """The first uids of the ``count`` aligned blocks at or above ``base`` that end before 65534."""
    first = -(-base // size) * size
    return [b for b in range(first, first + count * size, size) if b + size - 1 <= LAST_UID]


def claim(base=None, lock_dir=None, size=BLOCK_SIZE, count=BLOCKS):
    """Lock the first free block at or above ``base`` (default: ``requested_base()``) in ``lock_dir``
    (default: ``LOCK_DIR``); returns a ``Claim``.

    Raises ``NoFreeBlock`` (one line) when every block is held, or the lock directory is unusable.
    """
    base = requested_base() if base is None else base
    directory = _lock_dir(LOCK_DIR if lock_dir is None else lock_dir)
    starts = blocks_from(base, size, count)
    for start in starts:
        path = directory / f"uids-{start}-{start + size - 1}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise NoFreeBlock(f"cannot open the uid lock file {path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                continue  # another grader holds it
            raise NoFreeBlock(f"cannot lock {path}: {exc.strerror or exc}") from None
        # Who holds it, for an instructor who looks (the lock, not this text, is what counts).
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return Claim(base=start, size=size, path=path, fd=fd, pid=os.getpid())
    if not starts:
        raise NoFreeBlock(f"no block of {size} worker uids fits between {base} and {LAST_UID}: "
                          f"lower GRADER_WORKER_UID_BASE")
    raise NoFreeBlock(f"no free block of worker uids: all {len(starts)} blocks of {size} from {starts[0]} to "
                      f"{starts[-1] + size - 1} are held by other graders on this host (locks in {directory}); "
                      f"wait for one to finish, or set GRADER_WORKER_UID_BASE to another range")


_current = None


def current():
    """This process's block, claimed on the first call (again in a forked child: it is another grader)."""
    global _current
    if _current is None or _current.pid != os.getpid():
        _current = claim()
    return _current
