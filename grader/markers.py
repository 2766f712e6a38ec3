"""Solution regions: finding them in ``.py`` files and notebooks, and replacing them with stubs.

A region is every line strictly between a line whose stripped text is ``### BEGIN SOLUTION``
and the next line whose stripped text is ``### END SOLUTION``; the marker lines belong to
the region's frame and are removed with it. Both markers must have the same indentation;
regions do not nest. The same markers mark regions inside notebook cells (in a code cell,
and, for completeness, in a markdown cell).

The stub that replaces a region in code is two lines at the BEGIN marker's indentation::

    # TODO: write this part of <qualname> (see its docstring).
    raise NotImplementedError("<qualname>: not implemented yet (a TODO of the assignment)")

where ``<qualname>`` is the innermost function or class around the region (``affine_forward``,
``Model._add_l2``); in a notebook cell without an enclosing function it is
``<notebook> cell <n>``. A markdown region becomes one ``TODO: your answer here.`` line.

Also here: the normalization of lines used by the "no solution line leaks" check (see
:func:`normalize_line` and :func:`is_trivial_line`).
"""

import ast
import json
import re
from dataclasses import dataclass

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"


class MarkerError(ValueError):
    """A malformed region: unmatched, nested, or with mismatched indentation."""


@dataclass(frozen=True)
class Region:
    """Lines [begin, end] (0-based, the marker lines included) of one text."""

    begin: int
    end: int
    indent: str

    def body(self, lines):
        return lines[self.begin + 1 : self.end]


def find_regions(lines, where="<text>"):
    """The regions of a list of lines (without line endings), in order."""
    regions = []
    open_at = None
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == BEGIN:
            if open_at is not None:
                raise MarkerError(f"{where}:{i + 1}: BEGIN SOLUTION inside the region opened at line {open_at + 1}")
            open_at = i
        elif stripped == END:
            if open_at is None:
                raise MarkerError(f"{where}:{i + 1}: END SOLUTION without a BEGIN SOLUTION")
            indent = _indent(lines[open_at])
            if _indent(line) != indent:
                raise MarkerError(f"{where}:{i + 1}: END SOLUTION indented unlike its BEGIN SOLUTION "
                                  f"(line {open_at + 1})")
            regions.append(Region(open_at, i, indent))
            open_at = None
    if open_at is not None:
        raise MarkerError(f"{where}:{open_at + 1}: BEGIN SOLUTION never closed")
    return regions


def _indent(line):
    return line[: len(line) - len(line.lstrip())]


def has_regions(text):
    return any(line.strip() == BEGIN for line in text.splitlines())


# ----------------------------------------------------------------------------------------------
# Qualified names of the code around a region
# ----------------------------------------------------------------------------------------------


def _scopes(tree):
    """(first line, last line, qualname) of every function and class, 1-based, outermost first."""
    out = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}"
                out.append((child.lineno, child.end_lineno, name))
                visit(child, f"{name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return out


def qualname_at(source, lineno, default):
    """The innermost function or class containing 1-based ``lineno`` of ``source``, else ``default``."""
    try:
        tree = ast.parse(_mask_magics(source))
    except SyntaxError:
        return default
    best = default
    best_span = None
    for first, last, name in _scopes(tree):
        if first <= lineno <= last and (best_span is None or last - first < best_span):
            best, best_span = name, last - first
    return best


def _mask_magics(source):
    """IPython magics and shell escapes (``%matplotlib``, ``!pip``) as comments, so ast can parse a cell."""
    return "\n".join(("#" + line) if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


# ----------------------------------------------------------------------------------------------
# Stripping
# ----------------------------------------------------------------------------------------------


def stub_lines(indent, qualname):
    return [
        f"{indent}# TODO: write this part of {qualname} (see its docstring).",
        f'{indent}raise NotImplementedError("{qualname}: not implemented yet (a TODO of the assignment)")',
    ]


def strip_code(source, where="<source>", default_name=None):
    """``source`` with every region replaced by its stub; returns (text, [(qualname, region body lines)])."""
    lines = source.splitlines()
    regions = find_regions(lines, where)
    out, removed, pos = [], [], 0
    for region in regions:
        name = qualname_at(source, region.begin + 1, default_name or where)
        out.extend(lines[pos : region.begin])
        out.extend(stub_lines(region.indent, name))
        removed.append((name, region.body(lines)))
        pos = region.end + 1
    out.extend(lines[pos:])
    text = "\n".join(out)
    if source.endswith("\n"):
        text += "\n"
    return text, removed


def strip_markdown(source, where="<markdown>"):
    lines = source.splitlines()
    regions = find_regions(lines, where)
    out, removed, pos = [], [], 0
    for region in regions:
        out.extend(lines[pos : region.begin])
        out.append(f"{region.indent}TODO: your answer here.")
        removed.append((where, region.body(lines)))
        pos = region.end + 1
    out.extend(lines[pos:])
    text = "\n".join(out)
    if source.endswith("\n"):
        text += "\n"
    return text, removed


def _cell_source(cell):
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _as_source_list(text):
    """Notebook JSON stores a cell's source as a list of lines that keep their newlines."""
    return text.splitlines(keepends=True)


def strip_notebook(text, name="notebook"):
    """A notebook's JSON text with its regions stubbed and every output cleared; returns (text, removed)."""
    nb = json.loads(text)
    removed = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = _cell_source(cell)
        where = f"{name} cell {index}"
        if cell.get("cell_type") == "code":
            if has_regions(source):
                source, gone = strip_code(source, where=where, default_name=where)
                removed.extend(gone)
                cell["source"] = _as_source_list(source)
            cell["outputs"] = []
            cell["execution_count"] = None
        elif has_regions(source):
            source, gone = strip_markdown(source, where=where)
            removed.extend(gone)
            cell["source"] = _as_source_list(source)
        if "attachments" in cell and cell.get("cell_type") != "markdown":
            del cell["attachments"]
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n", removed


def notebook_regions(text, name="notebook"):
    """[(where, region body lines)] of a notebook, without changing it."""
    nb = json.loads(text)
    found = []
    for index, cell in enumerate(nb.get("cells", [])):
        lines = _cell_source(cell).splitlines()
        where = f"{name} cell {index}"
        for region in find_regions(lines, where):
            found.append((where, region.body(lines)))
    return found


def notebook_lines(text):
    """Every line of every cell's source and of every text output of a notebook."""
    nb = json.loads(text)
    lines = []
    for cell in nb.get("cells", []):
        lines.extend(_cell_source(cell).splitlines())
        for output in cell.get("outputs", []) or []:
            for key in ("text",):
                if key in output:
                    value = output[key]
                    lines.extend(("".join(value) if isinstance(value, list) else str(value)).splitlines())
            for value in (output.get("data") or {}).values():
                lines.extend(("".join(value) if isinstance(value, list) else str(value)).splitlines())
    return lines


# ----------------------------------------------------------------------------------------------
# Line normalization for the leak check
# ----------------------------------------------------------------------------------------------

_SPACE = re.compile(r"\s+")
_TRIVIAL_KEYWORDS = {"else:", "try:", "finally:", "pass", "break", "continue", "return", "except:", "raise"}
_ONLY_PUNCTUATION = re.compile(r"^[()\[\]{},:;]*$")


def normalize_line(line):
    """Leading and trailing whitespace removed, every inner run of whitespace made one space."""
    return _SPACE.sub(" ", line.strip())


def is_trivial_line(normalized):
    """Blank, pure punctuation (``)``, ``],``, ``):``) or a bare keyword (``else:``, ``pass``, ``return``)."""
    return not normalized or bool(_ONLY_PUNCTUATION.match(normalized)) or normalized in _TRIVIAL_KEYWORDS
