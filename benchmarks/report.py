"""Each benchmark owns one section of BENCHMARKS.md, between its own markers."""

import os

from assignment.io_utils import atomic_open

BENCHMARKS_MD = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "BENCHMARKS.md")
HEADER = ("# Benchmarks\n\nSpeed as ratios against a peer measured in the same run, with the command that made "
          "each table. Regenerate a section by running its command with `--write`.\n")


def update_section(key, title, body, path=BENCHMARKS_MD):
    """Replace (or append) the section ``key`` of BENCHMARKS.md with ``## title`` and ``body``; atomic."""
    begin, end = f"<!-- begin {key} -->", f"<!-- end {key} -->"
    block = f"{begin}\n## {title}\n\n{body.rstrip()}\n{end}"
    text = open(path).read() if os.path.exists(path) else HEADER
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    with atomic_open(path, "w") as f:
        f.write(text)
