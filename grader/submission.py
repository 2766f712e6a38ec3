"""Finding a submission's student-owned modules in a directory or a zip, without trusting either.

A submission is named by its path: a directory, or a ``.zip`` file. Its *stem* (the directory's
name, the zip's name without ``.zip``, reduced to ``[A-Za-z0-9._-]``, made unique in a batch
with ``-2``, ``-3``, ...) names its results.

Inside, each student-owned module ``<rel>`` (``layers.py``, ``classifiers/fc_net.py``, ...) is
looked up in this order, the shallowest match winning (ties: the first path in sorted order):

1. ``.../assignment/<rel>``   (a whole release tree, or an ``assignment/`` folder, anywhere);
2. ``.../<rel>``              (the package's files without the ``assignment/`` folder);
3. ``.../<basename of rel>``  (all files flat, as Gradescope uploads often are).

Only regular files count: symbolic links (in a directory or a zip) are ignored, as are paths
with a component starting with ``.`` or named ``__MACOSX`` or ``__pycache__``. Limits: at
most ``MAX_ENTRIES`` entries looked at, ``MAX_FILE_BYTES`` per module (a larger file counts
as absent, with a note), a zip of at most ``MAX_ZIP_BYTES``; a zip member is read with a cap
whatever its header claims. Nothing is extracted: the bytes of the modules found are handed
to the stage builder, which writes them under fixed names.
"""

import os
import re
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

MAX_ENTRIES = 5000
MAX_FILE_BYTES = 1 << 20
MAX_ZIP_BYTES = 100 << 20
MAX_DEPTH = 8


@dataclass
class Submission:
    stem: str
    path: Path
    files: dict = field(default_factory=dict)   # rel -> bytes
    found_at: dict = field(default_factory=dict)  # rel -> the path inside the submission
    missing: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    error: str = ""  # the submission could not be read at all


def _skip(parts):
    return any(p.startswith(".") or p in ("__MACOSX", "__pycache__") for p in parts)


def _dir_entries(root, notes):
    """(posix relative path, size, reader) of the regular files under ``root``."""
    entries = []
    root = Path(root)
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = Path(dirpath).relative_to(root)
        depth = len(rel_dir.parts)
        dirnames[:] = sorted(d for d in dirnames if not _skip([d]) and depth < MAX_DEPTH)
        for name in sorted(filenames):
            if _skip([name]):
                continue
            full = Path(dirpath) / name
            try:
                st = os.lstat(full)
            except OSError:
                continue
            if not stat.S_ISREG(st.st_mode):
                notes.append(f"ignored {(rel_dir / name).as_posix()}: not a regular file")
                continue
            entries.append(((rel_dir / name).as_posix(), st.st_size, full))
            if len(entries) >= MAX_ENTRIES:
                notes.append(f"stopped looking after {MAX_ENTRIES} files")
                return entries
    return entries


def _read_dir_file(full):
    fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read(MAX_FILE_BYTES + 1)


def _zip_entries(zf, notes):
    """(posix path, size, ZipInfo) of the zip's regular files; of duplicate names the last counts (as unzip)."""
    entries = {}
    for info in zf.infolist()[:MAX_ENTRIES]:
        if info.is_dir():
            continue
        name = info.filename.replace("\\", "/")
        parts = [p for p in PurePosixPath(name).parts if p not in ("", "/")]
        if not parts or ".." in parts or _skip(parts):
            continue
        mode = (info.external_attr >> 16) & 0o170000
        if mode and mode != stat.S_IFREG:
            notes.append(f"ignored {name}: not a regular file in the zip")
            continue
        if info.flag_bits & 0x1:
            notes.append(f"ignored {name}: encrypted")
            continue
        path = "/".join(parts)
        entries[path] = (path, info.file_size, info)
    return list(entries.values())


def _match(entries, rel):
    rel_parts = tuple(PurePosixPath(rel).parts)
    name = rel_parts[-1]
    rules = (
        lambda parts: len(parts) > len(rel_parts) and parts[-len(rel_parts) - 1] == "assignment"
        and tuple(parts[-len(rel_parts):]) == rel_parts,
        lambda parts: tuple(parts[-len(rel_parts):]) == rel_parts,
        lambda parts: parts[-1] == name,
    )
    for rule in rules:
        hits = [(len(PurePosixPath(p).parts), p, size, reader) for p, size, reader in entries
                if rule(PurePosixPath(p).parts)]
        if hits:
            hits.sort(key=lambda h: (h[0], h[1]))
            return hits[0][1:]
    return None


def make_stem(path, taken):
    path = Path(path)
    base = path.name[:-4] if path.name.lower().endswith(".zip") and path.is_file() else path.name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", base).strip("._-")[:100] or "submission"
    candidate, n = stem, 1
    while candidate in taken:
        n += 1
        candidate = f"{stem}-{n}"
    taken.add(candidate)
    return candidate


def _starts_like_zip(path):
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def _zip_problem(path):
    """Why a file named or shaped like a zip cannot be read: truncated (no end record) or not a zip at all."""
    if _starts_like_zip(path):
        return ("truncated zip: it starts like a zip but its end (the central directory) is missing; "
                "the upload was probably cut short, upload it again")
    return "unreadable zip: the file is not a zip archive (make it with your system's zip tool)"


def load(path, student_modules, stem):
    """Read the student-owned modules of the submission at ``path``."""
    path = Path(path)
    sub = Submission(stem=stem, path=path)
    try:
        if path.is_dir():
            entries = _dir_entries(path, sub.notes)

            def read(reader):
                return _read_dir_file(reader)

            zf = None
        elif path.is_file() and (path.suffix.lower() == ".zip" or _starts_like_zip(path)):
            if not zipfile.is_zipfile(path):
                sub.error = _zip_problem(path)
                sub.missing = list(student_modules)
                return sub
            if path.stat().st_size > MAX_ZIP_BYTES:
                sub.error = f"the zip is larger than {MAX_ZIP_BYTES >> 20} MB"
                sub.missing = list(student_modules)
                return sub
            zf = zipfile.ZipFile(path)
            entries = _zip_entries(zf, sub.notes)

            def read(reader):
                with zf.open(reader) as member:
                    return member.read(MAX_FILE_BYTES + 1)
        else:
            sub.error = "not a directory or a zip file"
            sub.missing = list(student_modules)
            return sub
        for rel in student_modules:
            hit = _match(entries, rel)
            if hit is None:
                sub.missing.append(rel)
                continue
            where, size, reader = hit
            try:
                data = read(reader)
            except Exception as exc:  # noqa: BLE001 - a corrupt member counts as missing
                sub.missing.append(rel)
                sub.notes.append(f"{where}: unreadable ({type(exc).__name__})")
                continue
            if len(data) > MAX_FILE_BYTES:
                sub.missing.append(rel)
                sub.notes.append(f"{where}: larger than {MAX_FILE_BYTES >> 10} KB, ignored")
                continue
            sub.files[rel] = data
            sub.found_at[rel] = where
        if zf is not None:
            zf.close()
    except zipfile.BadZipFile as exc:
        sub.error = f"unreadable zip ({exc})"
        sub.missing = [rel for rel in student_modules if rel not in sub.files]
    except (OSError, RuntimeError) as exc:
        sub.error = f"unreadable submission ({type(exc).__name__}: {exc})"
        sub.missing = [rel for rel in student_modules if rel not in sub.files]
    return sub
