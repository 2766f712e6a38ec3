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

A *twin region* is the second kind: a working equivalent of student code in a file that
students receive (the GPU twins of ``gpu_layers.py``, the Cython ReLU twins of
``fast/elementwise.pxi`` and the fused conv+ReLU twins of ``fast_layers.pyx``). It opens with a
line whose stripped text is ``### BEGIN TWIN``, optionally followed by
``: <replacement statement>``, and closes with ``### END TWIN``; the same rules hold
(same indentation for both markers, no nesting, with either kind). In the instructor's tree it is
ordinary code; :func:`strip_code` replaces it (markers included) by the replacement statement at
the BEGIN marker's indentation, or by nothing when there is none (a module-level block of
private kernels that only the removed code used). For example, in a function body::

    ### BEGIN TWIN: return _on_host(layers.softmax_loss, x, y)
    ... the instructor's own implementation ...
    ### END TWIN

Twin regions belong in ``.py``, ``.pyx`` and ``.pxi`` files; a notebook cell holding one is refused.

Also here: the normalization of lines used by the "no region line leaks" check (see
:func:`normalize_line`, :func:`is_trivial_line` and :func:`is_plumbing_line`).
"""

import ast
import json
import re
from dataclasses import dataclass

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
TWIN_BEGIN = "### BEGIN TWIN"
TWIN_END = "### END TWIN"

SOLUTION = "solution"
TWIN = "twin"
_NAMES = {SOLUTION: "SOLUTION", TWIN: "TWIN"}


class MarkerError(ValueError):
    """A malformed region: unmatched, nested, with mismatched indentation, or a malformed twin marker."""


@dataclass(frozen=True)
class Region:
    """Lines [begin, end] (0-based, the marker lines included) of one text.

    ``kind`` is ``"solution"`` or ``"twin"``; ``replacement`` is a twin region's replacement
    statement (None for a solution region, and for a twin region without one).
    """

    begin: int
    end: int
    indent: str
    kind: str = SOLUTION
    replacement: str | None = None

    def body(self, lines):
        return lines[self.begin + 1 : self.end]


def _parse_marker(stripped, where, lineno):
    """(kind, is_begin, replacement) of a marker line's stripped text; None when it is no marker."""
    if stripped == BEGIN:
        return SOLUTION, True, None
    if stripped == END:
        return SOLUTION, False, None
    if stripped == TWIN_BEGIN:
        return TWIN, True, None
    if stripped == TWIN_END:
        return TWIN, False, None
    if stripped.startswith(TWIN_BEGIN + ":"):
        replacement = stripped[len(TWIN_BEGIN) + 1 :].strip()
        if not replacement:
            raise MarkerError(f"{where}:{lineno}: BEGIN TWIN: with an empty replacement "
                              f"(write the statement after the colon, or leave the colon out for none)")
        return TWIN, True, replacement
    if stripped.startswith((TWIN_BEGIN, TWIN_END)):
        raise MarkerError(f"{where}:{lineno}: malformed twin marker {stripped!r} "
                          f"(expected {TWIN_BEGIN!r}, {TWIN_BEGIN + ': <statement>'!r} or {TWIN_END!r})")
    return None


def find_all_regions(lines, where="<text>"):
    """The regions of both kinds of a list of lines (without line endings), in order."""
    regions = []
    open_at = None  # (line index, kind, replacement)
    for i, line in enumerate(lines):
        marker = _parse_marker(line.strip(), where, i + 1)
        if marker is None:
            continue
        kind, is_begin, replacement = marker
        name = _NAMES[kind]
        if is_begin:
            if open_at is not None:
                raise MarkerError(f"{where}:{i + 1}: BEGIN {name} inside the region opened at line {open_at[0] + 1}")
            open_at = (i, kind, replacement)
            continue
        if open_at is None:
            raise MarkerError(f"{where}:{i + 1}: END {name} without a BEGIN {name}")
        start, open_kind, replacement = open_at
        if open_kind != kind:
            raise MarkerError(f"{where}:{i + 1}: END {name} closes the {_NAMES[open_kind]} region opened at line "
                              f"{start + 1} (regions do not nest)")
        indent = _indent(lines[start])
        if _indent(line) != indent:
            raise MarkerError(f"{where}:{i + 1}: END {name} indented unlike its BEGIN {name} (line {start + 1})")
        regions.append(Region(start, i, indent, kind, replacement))
        open_at = None
    if open_at is not None:
        raise MarkerError(f"{where}:{open_at[0] + 1}: BEGIN {_NAMES[open_at[1]]} never closed")
    return regions


def find_regions(lines, where="<text>"):
    """The solution regions of a list of lines, in order (twin markers are checked too)."""
    return [r for r in find_all_regions(lines, where) if r.kind == SOLUTION]


def find_twin_regions(lines, where="<text>"):
    """The twin regions of a list of lines, in order (solution markers are checked too)."""
    return [r for r in find_all_regions(lines, where) if r.kind == TWIN]


def _indent(line):
    return line[: len(line) - len(line.lstrip())]


def has_regions(text):
    """True when ``text`` holds a solution region (what makes a module student-owned)."""
    return any(line.strip() == BEGIN for line in text.splitlines())


def has_twins(text):
    """True when ``text`` holds a twin region's BEGIN marker."""
    return any(_is_twin_begin(line.strip()) for line in text.splitlines())


def _is_twin_begin(stripped):
    return stripped == TWIN_BEGIN or stripped.startswith(TWIN_BEGIN + ":")


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
    """``source`` with every solution region replaced by its stub and every twin region by its
    replacement statement (or by nothing); returns (text, [(qualname, body lines)] of the
    solution regions). See :func:`twin_regions_removed` for the twin regions."""
    lines = source.splitlines()
    regions = find_all_regions(lines, where)
    out, removed, pos = [], [], 0
    for region in regions:
        out.extend(lines[pos : region.begin])
        pos = region.end + 1
        if region.kind == SOLUTION:
            name = qualname_at(source, region.begin + 1, default_name or where)
            out.extend(stub_lines(region.indent, name))
            removed.append((name, region.body(lines)))
        elif region.replacement is not None:
            out.append(f"{region.indent}{region.replacement}")
        else:
            # Nothing replaces it: what surrounds it stays separated by as many blank lines as
            # the larger of the runs before and after it (not by both runs piled up).
            before = 0
            while before < len(out) and not out[len(out) - 1 - before].strip():
                before += 1
            after = 0
            while pos + after < len(lines) and not lines[pos + after].strip():
                after += 1
            if before and after:
                out.extend([""] * max(0, after - before))
                pos += after
    out.extend(lines[pos:])
    text = "\n".join(out)
    if source.endswith("\n"):
        text += "\n"
    return text, removed


def twin_regions_removed(source, where="<source>"):
    """[(qualname, body lines)] of the twin regions :func:`strip_code` replaces in ``source``."""
    lines = source.splitlines()
    return [(qualname_at(source, r.begin + 1, where), r.body(lines)) for r in find_twin_regions(lines, where)]


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


def _refuse_twins(source, where):
    if has_twins(source):
        raise MarkerError(f"{where}: a twin region in a notebook cell "
                          f"(twin regions belong in .py, .pyx and .pxi files)")


def strip_notebook(text, name="notebook"):
    """A notebook's JSON text with its regions stubbed and every output cleared; returns (text, removed)."""
    nb = json.loads(text)
    removed = []
    for index, cell in enumerate(nb.get("cells", [])):
        source = _cell_source(cell)
        where = f"{name} cell {index}"
        _refuse_twins(source, where)
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
        source = _cell_source(cell)
        lines = source.splitlines()
        where = f"{name} cell {index}"
        _refuse_twins(source, where)
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
_TRIVIAL_KEYWORDS = {"else:", "try:", "finally:", "pass", "break", "continue", "return", "except:", "raise",
                     "with nogil:", "with gil:"}  # the last two: Cython's GIL blocks
_ONLY_PUNCTUATION = re.compile(r"^[()\[\]{},:;]*$")


def normalize_line(line):
    """Leading and trailing whitespace removed, every inner run of whitespace made one space."""
    return _SPACE.sub(" ", line.strip())


def is_trivial_line(normalized):
    """Blank, pure punctuation (``)``, ``],``, ``):``) or a bare keyword (``else:``, ``pass``, ``return``,
    Cython's ``with nogil:``)."""
    return not normalized or bool(_ONLY_PUNCTUATION.match(normalized)) or normalized in _TRIVIAL_KEYWORDS


def is_plumbing_line(normalized):
    """A line that computes nothing and so cannot give an answer away.

    Three shapes, checked on the line's syntax tree:

    - unpacking or renaming: names (or a tuple of names) bound to a name, an attribute chain, or
      one of those indexed by a constant or a constant slice: ``N, C, H, W = x.shape``,
      ``x, w, b = cache``, ``N = x.shape[0]``, ``N, C = x.shape[:2]``; or bound to an empty
      list, dict or tuple, or None: ``caches = []``, ``grads = {}``, ``drop_cache = None``;
    - an ``if``/``elif`` header testing a name or an attribute chain, negated or compared (``==``,
      ``!=``, ``is``, ``is not``, ``in``, ``not in``) with constants: ``if pool:``,
      ``if y is None:``, ``if mode == "train":``, ``if y.dtype.kind not in "iu":``; a ``for``
      header binding names to the items of a name or attribute chain, or of its ``.items()``,
      ``.keys()`` or ``.values()``: ``for name, grad in grads.items():``;
    - ``return`` of names or attribute chains: ``return scores``, ``return out, cache``;

    and, in Cython sources, a ``cdef`` declaration without a value: ``cdef Py_ssize_t i, j``,
    ``cdef real v``, ``cdef real[:, ::1] cols`` (not ``cdef real v = x[0]``, nor a ``cdef``
    function, class or ``extern`` block).
    """
    text = normalized
    if text.startswith("cdef "):
        return not any(c in text for c in "=(") and not text.endswith(":")
    if text.startswith("elif "):
        text = text[2:]
    if text.startswith(("if ", "for ")) and text.endswith(":"):
        text += " pass"
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    if len(tree.body) != 1:
        return False
    node = tree.body[0]
    if isinstance(node, ast.Assign):
        return all(_is_target(t) for t in node.targets) and (
            _is_reference(node.value, indexed_ok=True) or _is_empty(node.value))
    body_is_pass = (isinstance(node, (ast.If, ast.For)) and len(node.body) == 1 and isinstance(node.body[0], ast.Pass)
                    and not node.orelse)
    if isinstance(node, ast.If):
        return body_is_pass and _is_flag_test(node.test)
    if isinstance(node, ast.For):
        return body_is_pass and _is_target(node.target) and _is_iterable_reference(node.iter)
    if isinstance(node, ast.Return):
        value = node.value
        if isinstance(value, ast.Tuple):
            return all(_is_reference(e) for e in value.elts)
        return value is None or _is_reference(value)
    return False


def _is_empty(node):
    """An empty list, dict or tuple literal, or None: what an accumulator starts from."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return not node.elts
    if isinstance(node, ast.Dict):
        return not node.keys
    return isinstance(node, ast.Constant) and node.value is None


def _is_reference(node, indexed_ok=False):
    """A name, an attribute chain of one, or (``indexed_ok``) either indexed by constants."""
    if indexed_ok and isinstance(node, ast.Subscript):
        index = node.slice
        constant = isinstance(index, ast.Constant) and isinstance(index.value, int)
        if isinstance(index, ast.Slice):
            constant = all(part is None or (isinstance(part, ast.Constant) and isinstance(part.value, int))
                           for part in (index.lower, index.upper, index.step))
        return constant and _is_reference(node.value)
    while isinstance(node, ast.Attribute):
        node = node.value
    return isinstance(node, ast.Name)


def _is_iterable_reference(node):
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("items", "keys", "values") and not node.args and not node.keywords):
        return _is_reference(node.func.value)
    return _is_reference(node)


def _is_target(node):
    if isinstance(node, ast.Name):
        return True
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(isinstance(e, ast.Name) or (isinstance(e, ast.Starred) and isinstance(e.value, ast.Name))
                   for e in node.elts)
    return False


def _is_flag_test(node):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        node = node.operand
    if isinstance(node, ast.Compare):
        return (_is_reference(node.left)
                and all(isinstance(op, (ast.Eq, ast.NotEq, ast.Is, ast.IsNot, ast.In, ast.NotIn)) for op in node.ops)
                and all(isinstance(c, ast.Constant) for c in node.comparators))
    return _is_reference(node)
