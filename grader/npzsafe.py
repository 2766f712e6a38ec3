"""Reading an untrusted ``.npz``: checked before anything is decompressed or unpickled.

The worker's ``outputs.npz`` is written by a process that ran student code, so it may be
anything: a pickle, a zip bomb, a million members, a member that claims one size and holds
another, a name that is not ours. ``load_npz`` reads it in steps, each bounded:

1. the file's size is at most ``max_file_bytes``;
2. the end-of-central-directory record (parsed by hand, before ``zipfile`` reads the
   directory) declares at most ``max_members`` members, no ZIP64, no multi-disk archive;
3. each member's name is ``<key>.npy`` for a key the caller expects (others are ignored,
   never read); duplicates reject the file;
4. each member's declared uncompressed size is at most its key's byte budget, and reading
   stops one byte past the budget whatever the header claimed;
5. the ``.npy`` header is parsed first: object dtypes (pickles) are refused before any data
   is read, as are dtypes outside the caller's allowed kinds and shapes whose size exceeds
   the budget; only then is the array decoded, with ``allow_pickle=False``.

Problems are reported per key (one bad member does not discard the others) or for the
whole file; nothing here raises on bad input.
"""

import io
import os
import stat
import struct
import zipfile

import numpy as np

EOCD_SIG = b"PK\x05\x06"
EOCD_SIZE = 22
MAX_COMMENT = 65535


class Budget:
    """What a key may hold: allowed dtype kinds and at most ``max_bytes`` of data."""

    def __init__(self, kinds="fiub", max_bytes=1 << 20):
        self.kinds = kinds
        self.max_bytes = int(max_bytes)


def _member_count(f, size):
    """Members declared by the end-of-central-directory record, or a reason to refuse the file."""
    tail_len = min(size, EOCD_SIZE + MAX_COMMENT)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    at = tail.rfind(EOCD_SIG)
    if at < 0 or len(tail) - at < EOCD_SIZE:
        return None, "not a zip file (no end-of-central-directory record)"
    disk, cd_disk, entries_here, entries, cd_size, cd_offset, _ = struct.unpack("<HHHHIIH", tail[at + 4 : at + 22])
    if disk or cd_disk or entries_here != entries:
        return None, "multi-disk zip archives are refused"
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        return None, "ZIP64 archives are refused"
    return entries, None


def _read_npy(data, budget):
    f = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            return None, f"unsupported .npy version {version}"
    except Exception as exc:  # noqa: BLE001 - anything malformed is a refusal
        return None, f"malformed .npy header ({type(exc).__name__})"
    if dtype.hasobject:
        return None, "object (pickled) arrays are refused"
    if dtype.kind not in budget.kinds or dtype.fields is not None or dtype.subdtype is not None:
        return None, f"dtype {dtype} is not allowed here"
    count = 1
    for n in shape:
        count *= int(n)
    if count * dtype.itemsize > budget.max_bytes:
        return None, f"array of shape {shape} and dtype {dtype} exceeds the size budget"
    f.seek(0)
    try:
        arr = np.lib.format.read_array(f, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        return None, f"unreadable array ({type(exc).__name__}: {str(exc)[:200]})"
    return arr, None


def load_npz(path, budgets, max_file_bytes=64 << 20, max_members=None):
    """Read the expected keys of an untrusted ``.npz``.

    - budgets: {key: Budget} of the keys to read; any other member is ignored
    - max_members: the most members the file may declare (default: 2 * len(budgets) + 8)

    Returns (arrays, problems, file_problem): {key: ndarray}, {key: why it was refused}, and a
    reason the whole file was refused (None when it was read).
    """
    arrays, problems = {}, {}
    if max_members is None:
        max_members = 2 * len(budgets) + 8
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return arrays, problems, "no outputs file was written"
    except OSError as exc:
        return arrays, problems, f"outputs file unreadable ({exc.strerror})"
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return arrays, problems, "the outputs file is not a regular file"
        if st.st_size > max_file_bytes:
            return arrays, problems, f"outputs file of {st.st_size} bytes exceeds {max_file_bytes}"
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(max_file_bytes + 1)
    except OSError as exc:
        return arrays, problems, f"outputs file unreadable ({exc.strerror})"
    finally:
        os.close(fd)
    if len(data) > max_file_bytes:
        return arrays, problems, f"outputs file exceeds {max_file_bytes} bytes"
    buf = io.BytesIO(data)
    count, why = _member_count(buf, len(data))
    if why:
        return arrays, problems, why
    if count > max_members:
        return arrays, problems, f"outputs file declares {count} members, more than the {max_members} expected"
    try:
        zf = zipfile.ZipFile(buf)
        infos = zf.infolist()
    except Exception as exc:  # noqa: BLE001
        return arrays, problems, f"not a readable zip file ({type(exc).__name__})"
    if len(infos) > max_members:
        return arrays, problems, f"outputs file holds {len(infos)} members, more than the {max_members} expected"
    seen = set()
    for info in infos:
        if info.filename in seen:
            return {}, {}, f"duplicate member {info.filename[:80]!r}"
        seen.add(info.filename)
    for info in infos:
        name = info.filename
        if not name.endswith(".npy"):
            continue
        key = name[: -len(".npy")]
        budget = budgets.get(key)
        if budget is None:
            continue
        cap = budget.max_bytes + 4096  # the .npy header
        if info.file_size > cap:
            problems[key] = f"member declares {info.file_size} bytes, more than its budget of {cap}"
            continue
        try:
            with zf.open(info) as member:
                raw = member.read(cap + 1)
        except Exception as exc:  # noqa: BLE001 - bad CRC, bad compression, encryption ...
            problems[key] = f"member unreadable ({type(exc).__name__})"
            continue
        if len(raw) > cap:
            problems[key] = f"member holds more than its budget of {cap} bytes (its header said {info.file_size})"
            continue
        arr, why = _read_npy(raw, budget)
        if why:
            problems[key] = why
        else:
            arrays[key] = arr
    return arrays, problems, None
