"""A class graded in shards (one per cluster array task), and the shards' outputs merged into one.

    python -m grader grade --shard I/N --autograder AG --out SHARD_OUT SUBMISSION...
    python -m grader merge --out MERGED [--autograder AG] SHARD_OUT...

**Shards.** ``I`` is 1-based (``1 <= I <= N``), as Slurm's ``--array=1-N`` numbers its tasks
(a Kubernetes Indexed Job's ``JOB_COMPLETION_INDEX`` is 0-based: pass ``$((JOB_COMPLETION_INDEX + 1))``).
Every task is given the same list of submissions. The split does not depend on the order of that
list: the submissions are sorted by their absolute path (symbolic links resolved) and dealt out in
turn, the first to shard 1, the second to shard 2, and so on, so that shards differ by at most one
submission. Stems (``RESULTS/<stem>/``) are those of an unsharded run of the same list
(``submission.make_stem`` over the whole list, in the order given), so a merge names every
submission as one ``grade`` of the whole class would.

**The shard record** (``SHARD_OUT/shard.json``), written before anything is graded and again,
with ``"complete": true``, after every other file: which shard it is (``shard``, ``of``), the
autograder (its path and ``autograder_id``, a digest of its manifest and cases, which differ from
one release to the next), the whole class (``submissions``, the count, and ``list_id``, a digest
of every submission's path and stem), and the submissions it was assigned (``index`` in the list,
``stem``, ``path``).

**The merge** reads every shard's record and refuses, naming each problem in one line and
writing nothing, when a shard is missing (not every ``I`` of ``N`` given), given twice, from
another split, class or autograder, unfinished, or incomplete (a stem assigned without its
``results.json`` and ``report.json``). Otherwise it copies each ``<stem>/`` directory, and
writes ``grades.csv``, ``cases.jsonl`` and ``summary.json`` with ``report.write_batch``, the class
statistics computed again from every case of every submission (``report.from_report``), rows in
the order of the list given to the shards; and ``merged.json``, which shards went in. Every file
is written atomically.
"""

import hashlib
import json
import shutil
from pathlib import Path

from grader import report
from grader._atomic import atomic_open, write_json

RECORD = "shard.json"
MERGE_RECORD = "merged.json"
FORMAT = 1
BATCH_FILES = ("grades.csv", "cases.jsonl", "summary.json")


class MergeError(ValueError):
    """The shards cannot be merged; the message names every problem, in one line."""


def parse_shard(text):
    """``"I/N"`` -> ``(I, N)``, 1-based (``1 <= I <= N``); ``ValueError`` saying what is wrong."""
    parts = str(text).strip().split("/")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"must be I/N with whole numbers, 1 <= I <= N (e.g. 1/4), got {text!r}")
    index, count = int(parts[0]), int(parts[1])
    if count < 1:
        raise ValueError(f"N must be at least 1, got {text!r}")
    if not 1 <= index <= count:
        raise ValueError(f"I must be between 1 and N ({count}): shards are numbered from 1, as Slurm's "
                         f"--array=1-{count}, got {text!r}")
    return index, count


def identity(path):
    """What a submission is sorted by when the class is split: its absolute path, links resolved."""
    return str(Path(path).resolve())


def assign(paths, count):
    """The shard (1 to ``count``) of each of ``paths``, in their order; independent of that order."""
    order = sorted(range(len(paths)), key=lambda k: (identity(paths[k]), k))
    shards = [0] * len(paths)
    for position, k in enumerate(order):
        shards[k] = position % count + 1
    return shards


def autograder_id(autograder_dir):
    """A digest of an autograder's manifest and cases (the cases carry the release's hidden seeds)."""
    digest = hashlib.sha256()
    for name in ("manifest.json", "cases.json"):
        data = (Path(autograder_dir) / name).read_bytes()
        digest.update(f"{name}:{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()[:20]


def list_id(paths, stems):
    """A digest of the whole class: every submission's identity and stem, order aside."""
    pairs = sorted([identity(p), s] for p, s in zip(paths, stems, strict=True))
    return hashlib.sha256(json.dumps(pairs).encode()).hexdigest()[:20]


def make_record(shard, autograder_dir, paths, stems, chosen, isolation, unsafe):
    index, count = shard
    return {
        "format": FORMAT, "shard": index, "of": count,
        "autograder": str(Path(autograder_dir).resolve()), "autograder_id": autograder_id(autograder_dir),
        "submissions": len(paths), "list_id": list_id(paths, stems),
        "assigned": [{"index": k, "stem": stems[k], "path": str(paths[k])} for k in chosen],
        "isolation": isolation, "unsafe_isolation": bool(unsafe), "complete": False, "seconds": None,
    }


def write_record(out_dir, record):
    write_json(Path(out_dir) / RECORD, record)


# ----------------------------------------------------------------------------------------------
# The merge
# ----------------------------------------------------------------------------------------------

_KEYS = ("format", "shard", "of", "autograder", "autograder_id", "submissions", "list_id", "assigned", "complete")


def read_record(shard_dir):
    """(record, None) of a shard output, or (None, why it is not one)."""
    path = Path(shard_dir) / RECORD
    if not Path(shard_dir).is_dir():
        return None, f"{shard_dir} does not exist"
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return None, f"{shard_dir} is not a shard output (no {RECORD}: grade it with --shard I/N)"
    except (OSError, ValueError) as exc:
        return None, f"{path} cannot be read ({type(exc).__name__}: {exc})"
    if not isinstance(record, dict) or any(k not in record for k in _KEYS):
        return None, f"{path} is not a shard record (keys missing)"
    if record["format"] != FORMAT:
        return None, f"{path} has format {record['format']!r}, this grader reads {FORMAT}"
    return record, None


def _names(items, limit=5):
    items = list(items)
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _missing_results(shard_dir, record):
    """The assigned stems whose ``results.json`` or ``report.json`` is absent or not that stem's."""
    missing = []
    for entry in record["assigned"]:
        stem = entry["stem"]
        try:
            json.loads((Path(shard_dir) / stem / "results.json").read_text())
            data = json.loads((Path(shard_dir) / stem / "report.json").read_text())
            if data.get("stem") != stem:
                raise ValueError("another stem's report")
        except (OSError, ValueError, AttributeError):
            missing.append(stem)
    return missing


def check_shards(shard_dirs):
    """[(shard dir, record)] sorted by shard number; ``MergeError`` naming every problem otherwise."""
    problems, loaded = [], []
    for shard_dir in shard_dirs:
        record, why = read_record(shard_dir)
        if why:
            problems.append(why)
        else:
            loaded.append((Path(shard_dir), record))
    if problems or not loaded:
        raise MergeError("; ".join(problems) or "no shard outputs given")
    first_dir, first = loaded[0]
    for key, what in (("of", "the class was split differently"),
                      ("autograder_id", "graded with another autograder (another release)"),
                      ("list_id", "graded from another list of submissions")):
        for shard_dir, record in loaded[1:]:
            if record[key] != first[key]:
                problems.append(f"{shard_dir} (shard {record['shard']}/{record['of']}) and {first_dir} "
                                f"(shard {first['shard']}/{first['of']}): {what} ({key} {record[key]!r} vs "
                                f"{first[key]!r})")
    if problems:
        raise MergeError("; ".join(problems))
    count = first["of"]
    by_number = {}
    for shard_dir, record in loaded:
        by_number.setdefault(record["shard"], []).append(shard_dir)
    for number, dirs in sorted(by_number.items()):
        if len(dirs) > 1:
            problems.append(f"shard {number}/{count} given {len(dirs)} times ({_names(dirs)})")
    absent = [i for i in range(1, count + 1) if i not in by_number]
    if absent:
        problems.append(f"shard{'s' if len(absent) > 1 else ''} {_names(absent, 20)} of {count} missing "
                        f"(given: {_names(sorted(by_number), 20) or 'none'})")
    for shard_dir, record in loaded:
        label = f"shard {record['shard']}/{count} ({shard_dir})"
        if not record["complete"]:
            problems.append(f"{label} did not finish grading (its {RECORD} says so: grade it again)")
            continue
        missing = _missing_results(shard_dir, record)
        if missing:
            problems.append(f"{label} is incomplete: {len(missing)} submission(s) assigned to it have no "
                            f"results.json/report.json ({_names(missing)})")
    if not problems:
        stems = [e["stem"] for _, r in loaded for e in r["assigned"]]
        if len(stems) != first["submissions"] or len(set(stems)) != len(stems):
            problems.append(f"the shards hold {len(stems)} submission(s) ({len(set(stems))} distinct stems) "
                            f"of a class of {first['submissions']}")
    if problems:
        raise MergeError("; ".join(problems))
    return sorted(loaded, key=lambda item: item[1]["shard"])


def _check_out(out, shard_dirs):
    out = Path(out)
    for shard_dir in shard_dirs:
        if out.resolve() == Path(shard_dir).resolve():
            return f"--out {out} is one of the shard outputs; merge into another directory"
    if out.exists():
        if not out.is_dir():
            return f"--out {out} is not a directory"
        if any(out.iterdir()) and not (out / MERGE_RECORD).exists():
            return f"--out {out} holds other things (no {MERGE_RECORD}); merge into a new or empty directory"
    return None


def _copy_tree(source, target):
    """Every regular file under ``source`` written under ``target``, each atomically."""
    for path in sorted(Path(source).rglob("*")):
        if path.is_file() and not path.is_symlink():
            with atomic_open(Path(target) / path.relative_to(source), "wb") as f:
                f.write(path.read_bytes())


def merge(out, shard_dirs, autograder=None, echo=print):
    """Merge shard outputs into ``out``; returns the merged per-submission results.

    Raises ``MergeError`` (before anything is written) when the shards cannot be merged.
    """
    from grader.grade import Autograder

    loaded = check_shards([Path(d) for d in shard_dirs])
    first = loaded[0][1]
    problem = _check_out(out, [d for d, _ in loaded])
    if problem:
        raise MergeError(problem)
    ag_path = Path(autograder) if autograder else Path(first["autograder"])
    try:
        ag = Autograder(ag_path)
        ag_id = autograder_id(ag_path)
    except (OSError, ValueError, KeyError) as exc:
        raise MergeError(f"cannot read the autograder {ag_path} ({type(exc).__name__}: {exc}); "
                         f"pass --autograder") from None
    if ag_id != first["autograder_id"]:
        raise MergeError(f"the autograder {ag_path} is not the one the shards were graded with "
                         f"(autograder_id {ag_id} vs {first['autograder_id']})")
    by_name = {c.name: c for c in ag.cases}
    entries = sorted(((e, shard_dir) for shard_dir, r in loaded for e in r["assigned"]), key=lambda x: x[0]["index"])
    results = []
    for entry, shard_dir in entries:
        data = json.loads((shard_dir / entry["stem"] / "report.json").read_text())
        res = report.from_report(data, by_name)
        res["earlier"] = False  # graded in this class, not kept from an earlier batch
        results.append(res)

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stems = {e["stem"] for e, _ in entries}
    previous = out / MERGE_RECORD
    if previous.exists():  # a merge again into the same directory: stems no longer in the class go
        try:
            old = json.loads(previous.read_text()).get("stems", [])
        except (OSError, ValueError, AttributeError):
            old = []
        for stem in old:
            if stem not in stems and isinstance(stem, str) and "/" not in stem and stem not in ("", ".", ".."):
                shutil.rmtree(out / stem, ignore_errors=True)
    for entry, shard_dir in entries:
        _copy_tree(shard_dir / entry["stem"], out / entry["stem"])
    lines = sorted({r.get("isolation") or "" for _, r in loaded})
    unsafe = any(r.get("unsafe_isolation") for _, r in loaded)
    seconds = max((r.get("seconds") or 0.0) for _, r in loaded)
    report.write_batch(out, results, ag.cases, " | ".join(line for line in lines if line), unsafe, seconds)
    write_json(previous, {
        "format": FORMAT, "of": first["of"], "autograder": str(ag_path.resolve()), "autograder_id": ag_id,
        "submissions": first["submissions"], "list_id": first["list_id"],
        "shards": [{"shard": r["shard"], "dir": str(d.resolve()), "submissions": len(r["assigned"]),
                    "seconds": r.get("seconds"), "isolation": r.get("isolation")} for d, r in loaded],
        "stems": [e["stem"] for e, _ in entries],
    })
    echo(f"merged {len(loaded)} shard(s) of {len(results)} submission(s) into {out}: "
         f"{', '.join(BATCH_FILES)} and one directory per submission")
    return results
