"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Each writer writes to a temporary file in the destination's own directory, flushes it to
disk, and moves it over the destination with ``os.replace`` (atomic on POSIX when both lie
on one filesystem). If anything fails on the way, the temporary file is removed and the
destination is untouched. A new file gets the mode ``open`` would give it (0o666 minus the
umask), a replaced file keeps its own.
"""

import contextlib
import hashlib
import json
import os
import tempfile

import numpy as np


def _file_mode(path):
    """The mode ``path`` would get from a plain ``open``: its current mode if it exists, else 0o666 minus the umask.

    (``mkstemp`` makes its file 0o600, which would leave every output readable by its owner only.)
    """
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


def _umask():
    """The process's umask: from /proc on Linux (reading it there changes nothing); elsewhere by
    setting it and putting it straight back, the only portable way."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_open(path, mode="wb"):
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, _file_mode(path))
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_npz(path, arrays):
    """Write a dict of arrays to ``path`` as a compressed .npz, atomically; returns its sha256."""
    with atomic_open(path, "wb") as f:
        np.savez_compressed(f, **arrays)
    return sha256_of(path)


def write_json(path, obj):
    """Write ``obj`` as indented JSON to ``path``, atomically."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


def write_bytes(path, data):
    with atomic_open(path, "wb") as f:
        f.write(data)


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
