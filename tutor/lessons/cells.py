"""Notebook lessons as text: the percent format (``# %%`` cells) that Jupytext, VS Code and Spyder read as a
notebook, and plain Python reads as a script, because every marker is a comment.

A line ``# %%`` (or ``# %% A title``) starts a code cell, ``# %% [markdown]`` (optionally with a title) a
markdown cell, whose lines are ``#`` comments (``# text``, or ``#`` alone for a blank line). Text before the
first marker, if any, is a code cell too, as in Jupytext. Because the file stays one text, every text tool of
the app (content hash, ``replace`` pairs, the learner's stored code, grading as a script) works on it
unchanged, and the whole text run as a script is a fresh kernel's Restart & Run All.

Numbering: code cells are numbered 1..n in file order (``Cell.number``), the numbers a lesson's
``[notebook] session`` and ``starter_fails_with.cell`` use; markdown cells stay in the list, with
``number = None``, since nothing runs them. Empty lines between a cell's last line and the next marker are
the separator (``Cell.gap``), not part of the cell, so ``join_cells(parse_cells(text)) == text`` for every
well-formed text: markers written as ``join_cells`` writes them, ``\\n`` line ends, a final newline.

IPython-only lines (``%magic``, ``!shell``, ``x = !ls``, ``?obj``, ``obj?``, a ``%%cell magic`` cell) are
made harmless, with the same line count, by ``runnable_script``; tutor.explain.notebook uses the same
detection. ``to_ipynb``/``from_ipynb`` convert to and from nbformat v4 (outputs are not carried; a raw cell
becomes a markdown cell, so its text is kept, as comments).
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

MARKER = re.compile(r"^# %%(?P<rest>(?:[ \t].*)?)$")  # "# %%timeit" is a comment, not a marker
MARKDOWN_TAG = re.compile(r"^\[(?:markdown|md)\](?:[ \t]+|$)")
MAX_IPYNB_BYTES = 1_000_000  # an imported notebook is untrusted input: lessons are small

# IPython's own syntax, by line (tutor.explain.notebook imports these: one detection for both wings).
MAGIC_LINE = re.compile(r"^(?P<indent>[ \t]*)(?:[%!]|\?)")  # %time x, !pip install, ?model
MAGIC_ASSIGNMENT = re.compile(r"^(?P<indent>[ \t]*)(?P<target>[A-Za-z_]\w*)[ \t]*=[ \t]*[%!]")  # files = !ls
HELP_SUFFIX = re.compile(r"^(?P<indent>[ \t]*)[\w.]+\?{1,2}[ \t]*$")  # model? / model??
CELL_MAGIC_COMMENT = "#: "  # not "# " : a commented "%% x" must not read as a cell marker


class CellKind(enum.StrEnum):
    CODE = "code"
    MARKDOWN = "markdown"


@dataclass(frozen=True)
class Cell:
    kind: CellKind
    source: str  # the lines below the marker, as written (a markdown cell's are comments); no final newline
    title: str = ""  # "# %% Load the data" -> "Load the data"
    number: int | None = None  # code cells 1..n in file order; None for a markdown cell
    first_line: int = 1  # the line of the joined text where the source starts (1-based)
    gap: int = 1  # empty lines after the source, before the next marker (or the end of the text)
    marker: bool = True  # False only for text before the first marker (a code cell without a marker line)

    @property
    def lines(self) -> list[str]:
        return self.source.split("\n") if self.source else []


class NotebookError(Exception):
    """An .ipynb file that cannot be a lesson; the message says why, in words (no traceback)."""


def parse_cells(text: str) -> list[Cell]:
    """The cells of a percent-format text, numbered and placed (see the module's docstring)."""
    body = text[:-1] if text.endswith("\n") else text
    lines = body.split("\n") if body else []
    groups: list[tuple[str | None, int, list[str]]] = []  # (marker line or None, its line, the lines below)
    for number, line in enumerate(lines, start=1):
        if MARKER.match(line):
            groups.append((line, number, []))
        elif groups:
            groups[-1][2].append(line)
        else:
            groups.append((None, 0, [line]))
    if groups and groups[0][0] is None and not any(groups[0][2]):
        groups.pop(0)  # only empty lines before the first marker: no cell (as Jupytext)
    cells: list[Cell] = []
    count = 0
    for marker, at, below in groups:
        kind, title = _read_marker(marker)
        gap = len(below) - len("\n".join(below).rstrip("\n").split("\n")) if any(below) else len(below)
        count += kind is CellKind.CODE
        number = count if kind is CellKind.CODE else None
        # first_line counts the text's own lines, so that it holds for any text (even one join would change)
        cells.append(Cell(kind, "\n".join(below[: len(below) - gap]), title, number, at + 1, gap, marker is not None))
    return cells


def _read_marker(marker: str | None) -> tuple[CellKind, str]:
    if marker is None:
        return CellKind.CODE, ""
    rest = MARKER.match(marker)["rest"].strip()  # type: ignore[index]
    if tag := MARKDOWN_TAG.match(rest):
        return CellKind.MARKDOWN, rest[tag.end() :].strip()
    return CellKind.CODE, rest


def marker_line(cell: Cell) -> str:
    tag = " [markdown]" if cell.kind is CellKind.MARKDOWN else ""
    return f"# %%{tag}{' ' + cell.title if cell.title else ''}"


def join_cells(cells: Sequence[Cell]) -> str:
    """The percent-format text of the cells (their ``first_line`` and ``number`` are not read)."""
    lines: list[str] = []
    for cell in cells:
        if cell.marker or lines or cell.kind is not CellKind.CODE:  # only a first code cell may go without
            lines.append(marker_line(cell))
        lines += cell.lines + [""] * cell.gap
    return "\n".join(lines) + "\n" if lines else ""


def number_cells(cells: Sequence[Cell]) -> list[Cell]:
    """The cells with their code numbers and first lines as ``join_cells`` places them."""
    numbered: list[Cell] = []
    line, count = 1, 0
    for position, cell in enumerate(cells):
        has_marker = cell.marker or position > 0 or cell.kind is not CellKind.CODE
        if cell.kind is CellKind.CODE:
            count += 1
        number = count if cell.kind is CellKind.CODE else None
        first = line + (1 if has_marker else 0)
        numbered.append(replace(cell, number=number, first_line=first, marker=has_marker))
        line = first + len(cell.lines) + cell.gap
    return numbered


def code_cells(cells: Sequence[Cell]) -> list[Cell]:
    return [cell for cell in cells if cell.kind is CellKind.CODE]


def locate_line(cells: Sequence[Cell], line: int) -> tuple[int, int] | None:
    """(code cell number, line in that cell) of a line of the joined text; None on a marker, a separator,
    a markdown cell or past the end."""
    for cell in code_cells(cells):
        if cell.first_line <= line < cell.first_line + len(cell.lines):
            return cell.number or 0, line - cell.first_line + 1
    return None


def cell_line_to_file_line(cells: Sequence[Cell], number: int, line: int) -> int | None:
    """The joined text's line of line ``line`` of code cell ``number``; None when there is no such line."""
    cell = next((c for c in cells if c.number == number), None)
    if cell is None or not 1 <= line <= len(cell.lines):
        return None
    return cell.first_line + line - 1


def format_problems(cells: Sequence[Cell]) -> list[str]:
    """Why a parsed text is not a usable notebook: no code cell, or a markdown cell with a line that is not a
    comment (run as a script, that line would run as code)."""
    problems = [] if code_cells(cells) else ["has no code cell: start each cell with a line '# %%'"]
    for cell in cells:
        if cell.kind is CellKind.MARKDOWN:
            for offset, line in enumerate(cell.lines):
                if line.strip() and not line.lstrip().startswith("#"):
                    problems.append(
                        f"line {cell.first_line + offset} is in a markdown cell but is not a comment: write it as "
                        "'# text' (run as a script, it would run as code)"
                    )
                    break
    return problems


def markdown_text(cell: Cell) -> str:
    """A markdown cell's Markdown: its comment marks taken off ("# text" -> "text", "#" -> "")."""
    return "\n".join(re.sub(r"^#(?: |$)", "", line) for line in cell.lines)


def commented(markdown: str) -> str:
    """Markdown as a markdown cell's source: each line a comment ("" -> "#")."""
    return "\n".join(f"# {line}" if line else "#" for line in markdown.split("\n")) if markdown else ""


# IPython's syntax made harmless -----------------------------------------------------------------------------


def is_cell_magic(source: str) -> bool:
    return source.lstrip().startswith("%%")


def harmless_line(line: str, note: bool = True) -> str | None:
    """The plain Python for an IPython-only line, same indentation (a ``x = !ls`` still binds ``x``), with the
    line kept as a comment when ``note``; None when the line is not IPython's."""
    comment = f"  # {line.strip()}" if note else ""
    if match := MAGIC_ASSIGNMENT.match(line):
        return f"{match['indent']}{match['target']} = None{comment}"
    if (match := MAGIC_LINE.match(line)) or (match := HELP_SUFFIX.match(line)):
        return f"{match['indent']}pass{comment}"
    return None


def compiles(source: str) -> bool:
    try:
        compile(source, "<cell>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def runnable_cell(source: str) -> str:
    """A code cell as a script runs it, line for line: a cell that compiles is kept as it is (a ``%`` in a
    string stays); otherwise its IPython lines become ``pass``, and a ``%%cell magic`` cell is commented out."""
    if is_cell_magic(source):
        return "\n".join(f"{CELL_MAGIC_COMMENT}{line}" if line else line for line in source.split("\n"))
    if compiles(source):
        return source
    return "\n".join(harmless_line(line) or line for line in source.split("\n"))


def runnable_script(text: str) -> str:
    """The notebook's text with every code cell made runnable (``runnable_cell``), line for line: the same
    lines, so an error's line in the script is the learner's line in the notebook."""
    lines = text.split("\n")
    for cell in code_cells(parse_cells(text)):
        runnable = runnable_cell(cell.source)
        if runnable != cell.source:
            start = cell.first_line - 1
            lines[start : start + len(cell.lines)] = runnable.split("\n")
    return "\n".join(lines)


# .ipynb ---------------------------------------------------------------------------------------------------


def to_ipynb(cells: Sequence[Cell]) -> dict[str, Any]:
    """An nbformat v4 notebook of the cells (no outputs; a title kept in the cell's metadata, as Jupytext)."""
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata.update(
        kernelspec={"name": "python3", "display_name": "Python 3", "language": "python"},
        language_info={"name": "python"},
    )
    for cell in cells:
        metadata = {"title": cell.title} if cell.title else {}
        if cell.kind is CellKind.CODE:
            notebook.cells.append(nbformat.v4.new_code_cell(cell.source, metadata=metadata))
        else:
            notebook.cells.append(nbformat.v4.new_markdown_cell(markdown_text(cell), metadata=metadata))
    data = json.loads(nbformat.writes(notebook))  # plain dicts and lists
    for cell in data["cells"]:
        cell.pop("id", None)  # random ids would make every export differ
    data["nbformat_minor"] = 4  # the v4 minor without cell ids: exports of one lesson are identical
    nbformat.validate(nbformat.from_dict(data))
    return data


def from_ipynb(data: Any) -> list[Cell]:
    """The cells of an nbformat notebook (v4, or older converted to v4), validated; NotebookError says why
    not. Outputs are dropped; a raw cell becomes a markdown cell (its text kept, as comments)."""
    import nbformat

    if not isinstance(data, dict):
        raise NotebookError("is not a notebook: the file must hold one JSON object")
    version = data.get("nbformat")
    if not isinstance(version, int) or isinstance(version, bool):
        raise NotebookError("is not a notebook: it has no nbformat version (an .ipynb file from Jupyter has one)")
    if not 1 <= version <= 4:
        raise NotebookError(f"is nbformat version {version}; this app reads version 4 (and converts 1 to 3)")
    try:
        notebook = nbformat.from_dict(data)
        if version != 4:
            notebook = nbformat.convert(notebook, 4)
        nbformat.validate(notebook)
    except nbformat.ValidationError as exc:
        raise NotebookError(f"is not a valid notebook (nbformat v4): {str(exc.message)[:300]}") from None
    except Exception as exc:  # nbformat's converters raise what they meet on hostile input
        raise NotebookError(f"is not a valid notebook: {type(exc).__name__}: {str(exc)[:300]}") from None
    cells: list[Cell] = []
    for position, raw in enumerate(notebook.cells, start=1):
        source = raw.source if isinstance(raw.source, str) else "".join(raw.source)
        source = source.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
        title = raw.get("metadata", {}).get("title", "")
        title = title.strip().split("\n")[0] if isinstance(title, str) else ""
        title = "" if MARKDOWN_TAG.match(title) else title  # "[markdown] x" on a code cell would turn it
        if raw.cell_type == "code":
            clash = next((line for line in source.split("\n") if MARKER.match(line)), None)
            if clash is not None:
                raise NotebookError(
                    f"cell {position} has the line {clash!r}, which the lesson's text format reads as the start "
                    "of a new cell: change or remove it"
                )
            cells.append(Cell(CellKind.CODE, source, title))
        else:  # markdown, raw
            cells.append(Cell(CellKind.MARKDOWN, commented(source), title))
    if cells:
        cells[-1] = replace(cells[-1], gap=0)
    return number_cells(cells)


def read_ipynb(raw: bytes) -> list[Cell]:
    """``from_ipynb`` of a file's bytes: at most MAX_IPYNB_BYTES, UTF-8 JSON."""
    if len(raw) > MAX_IPYNB_BYTES:
        raise NotebookError(f"is {len(raw):,} bytes; a lesson notebook may have at most {MAX_IPYNB_BYTES:,}")
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise NotebookError(f"is not UTF-8 text (byte {exc.start}): an .ipynb file is JSON") from None
    except RecursionError:
        raise NotebookError("is not a notebook: its JSON is nested too deeply") from None
    except ValueError as exc:
        raise NotebookError(f"is not JSON: {exc}") from None
    return from_ipynb(data)


def write_ipynb(cells: Sequence[Cell]) -> str:
    return json.dumps(to_ipynb(cells), indent=1, ensure_ascii=False) + "\n"
