"""python -m grader {check,submit}: the student's self-check and hand-in (run in this folder).

    python -m grader check [-v]
        runs the grader's public cases on your code: one line per case, your points on the
        grade's scale, what still fails and which notebook covers it (-v: hints and tracebacks)
    python -m grader submit
        the same check, then submission.zip (your files in assignment/ and the notebooks) to upload
"""

import argparse
import sys


def _check(args):
    from grader.check import main

    return main(verbose=args.verbose, root=args.tree)


def _submit(args):
    from grader.submit import main

    return main(root=args.tree)


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m grader", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    p = verbs.add_parser("check", help="run the public cases on your code")
    p.add_argument("-v", "--verbose", action="store_true", help="print each failure's hint, errors and traceback")
    p.add_argument("--tree", default=None, help="the assignment folder (default: the one holding this grader)")
    p.set_defaults(run=_check)
    p = verbs.add_parser("submit", help="check, then write submission.zip to hand in")
    p.add_argument("--tree", default=None, help="the assignment folder (default: the one holding this grader)")
    p.set_defaults(run=_submit)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
