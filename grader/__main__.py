"""python -m grader {release,grade,merge,doctor,check}

    python -m grader release OUT [--hidden-seed S]
        (from the solution checkout) writes OUT/student/ and OUT/autograder/
    python -m grader grade --autograder OUT/autograder --out RESULTS [-j N] SUBMISSION...
        grades each submission (a directory or a zip of assignment/ files, or a whole release
        tree) into RESULTS/<stem>/results.json (Gradescope), RESULTS/grades.csv, RESULTS/cases.jsonl;
        exit status 0 when every submission was graded, whatever it scored; 2 (one line saying
        why) when student code cannot be contained here, unless --allow-unsafe
        --shard I/N (1-based, 1 <= I <= N) grades only the I-th of N shards of the submissions
        given (one Slurm array task each), and writes RESULTS/shard.json for the merge
    python -m grader merge --out MERGED SHARD_OUT...
        merges the shards' outputs into one grades.csv, cases.jsonl and summary.json (exit status
        2, nothing merged, when a shard is missing, duplicated, incomplete or from another release)
    python -m grader doctor
        which isolation layers work on this machine, and which mode `grade` would use
    python -m grader check [-v]
        (inside a student tree) runs the public cases on your code

The student tree has its own ``python -m grader`` (``grader/student_tree/grader_main.py``): ``check``
and ``submit`` only.
"""

import argparse
import sys
from pathlib import Path


def _release(args):
    from grader.release import release

    release(args.out, root=args.root, hidden_seed=args.hidden_seed, submit_to=args.submit_to)
    return 0


def _grade(args):
    from grader.grade import grade
    from grader.sandbox import Limits, Unavailable

    limits = Limits(case_timeout=args.case_timeout, group_timeout=args.group_timeout, memory_mb=args.memory_mb)
    absent = [s for s in args.submissions if not Path(s).exists()]
    if absent:
        print(f"error: no such submission: {', '.join(absent)} (nothing was graded)", file=sys.stderr)
        return 2
    try:
        grade(args.autograder, args.out, args.submissions, jobs=args.jobs, limits=limits, sandbox_mode=args.sandbox,
              hidden_visibility=args.hidden_visibility, allow_unsafe=args.allow_unsafe, shard=args.shard)
    except Unavailable as exc:
        print(f"error: {exc} (nothing was graded)", file=sys.stderr)
        return 2
    return 0


def _merge(args):
    from grader.shard import MergeError, merge

    try:
        merge(args.out, args.shards, autograder=args.autograder)
    except MergeError as exc:
        print(f"error: merge refused: {exc} (nothing was merged)", file=sys.stderr)
        return 2
    return 0


def _shard(text):
    from grader.shard import parse_shard

    try:
        return parse_shard(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _doctor(args):
    from grader.sandbox import doctor

    return doctor()


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _check(args):
    from grader.check import main

    return main(verbose=args.verbose, root=args.tree)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    p = verbs.add_parser("release", help="write OUT/student and OUT/autograder from the solution checkout")
    p.add_argument("out", help="output directory (new, empty, or a previous release)")
    p.add_argument("--root", default=None, help="the solution checkout (default: the current directory)")
    p.add_argument("--hidden-seed", default=None,
                   help="secret the hidden cases' seeds derive from (default: fresh random, recorded in cases.json)")
    p.add_argument("--submit-to", default="",
                   help="where students upload submission.zip, as the student README and `make submit` say it "
                        "(default: Gradescope)")
    p.set_defaults(run=_release)

    p = verbs.add_parser("grade", help="grade submissions against an autograder directory")
    p.add_argument("--autograder", required=True, help="OUT/autograder of a release")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("-j", "--jobs", type=_positive_int, default=1, help="workers running at once (default 1)")
    p.add_argument("--sandbox", choices=("auto", "bwrap", "container", "unsafe"), default="auto",
                   help="auto: bubblewrap + Landlock + seccomp where namespaces work, else container mode "
                        "(Landlock + seccomp), else refuse; unsafe (rlimits only) needs --allow-unsafe")
    p.add_argument("--allow-unsafe", action="store_true",
                   help="grade even where student code cannot be contained (every report then says so)")
    p.add_argument("--case-timeout", type=float, default=20.0, help="wall seconds per case (default 20)")
    p.add_argument("--group-timeout", type=float, default=180.0, help="wall seconds per case group (default 180)")
    p.add_argument("--memory-mb", type=int, default=1024, help="address-space limit of a worker (default 1024)")
    p.add_argument("--hidden-visibility", choices=("visible", "after_due_date", "after_published", "hidden"),
                   default="visible", help="Gradescope visibility of hidden cases' results (default visible)")
    p.add_argument("--shard", type=_shard, default=None, metavar="I/N",
                   help="grade only the I-th of N shards (1-based: 1 <= I <= N, as Slurm's --array=1-N) of the "
                        "submissions given, whatever their order; `merge` joins the shards' outputs")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION")
    p.set_defaults(run=_grade)

    p = verbs.add_parser("merge", help="merge the outputs of `grade --shard I/N` into one results directory")
    p.add_argument("--out", required=True, help="the merged results directory (new, empty, or an earlier merge)")
    p.add_argument("--autograder", default=None,
                   help="the autograder the shards were graded with (default: the path their shard.json records)")
    p.add_argument("shards", nargs="+", metavar="SHARD_OUT", help="every shard's --out directory, 1 to N")
    p.set_defaults(run=_merge)

    p = verbs.add_parser("doctor", help="which isolation layers work here, and the mode `grade` would use")
    p.set_defaults(run=_doctor)

    p = verbs.add_parser("check", help="run the public cases on the student tree")
    p.add_argument("-v", "--verbose", action="store_true", help="print the full feedback of failing cases")
    p.add_argument("--tree", default=None, help="the student tree (default: the one holding this grader)")
    p.set_defaults(run=_check)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, FileExistsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
