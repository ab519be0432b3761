"""A notebook's code cells, made replayable as one script, in two orders: the saved session's (cells sorted by
their execution counts; never-run cells left out) and Restart & Run All's (top to bottom).

A replay is the cells' sources one after the other, with a map from each of its lines back to (cell, line in
the cell), so that whatever the sandbox reports on "line 17" is told as "cell 4, line 2". IPython's own syntax
is made harmless first: ``%magic`` and ``!shell`` lines become ``pass`` (same indentation, so line numbers
hold), a ``%%cell magic`` cell is skipped, and so is a cell that does not compile (each with a note)."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from tutor.explain.contract import cell_label
from tutor.explain.traceback_text import missing_name, parse_traceback, strip_ansi
from tutor.lessons.cells import compiles, harmless_line, is_cell_magic

NAME_ERRORS = ("NameError", "UnboundLocalError")
# IPython binds these in every notebook; the replay defines the one code commonly calls (one line, before
# every cell, mapped to no cell).
PREAMBLE = "def display(*objects, **options): print(*objects)  # what IPython gives a notebook\n"


@dataclass
class SavedError:
    """A NameError output saved in the notebook (the last run of that cell raised it)."""

    cell: int  # the cell whose output shows it: the cell that was running
    type: str
    name: str
    message: str
    raised_cell: int  # the cell the innermost frame is in (a function defined elsewhere), else ``cell``
    line: int | None  # in ``raised_cell``
    function: str | None
    traceback: str


@dataclass
class CodeCell:
    index: int  # among all the notebook's cells, 0-based
    execution_count: int | None
    source: str  # as saved
    runnable: str | None = None  # as replayed (magics made harmless); None: skipped (the notes say why)
    saved_error: SavedError | None = None


@dataclass
class Replay:
    """Cells concatenated into one script, with the way back from its lines to the cells'."""

    source: str
    cells: list[int]  # the cells' indices, in the order replayed
    line_map: list[tuple[int, int] | None] = field(default_factory=list)  # replay line - 1 -> (cell, line)

    def locate(self, line: int | None) -> tuple[int, int] | None:
        """(cell index, line in the cell) of a line of the replay; None for the preamble or no such line."""
        if line is None or not 0 < line <= len(self.line_map):
            return None
        return self.line_map[line - 1]

    def find_line(self, cell: int, line: int | None) -> int | None:
        """The replay's line for a cell's line (None when that cell is not replayed here)."""
        if line is None:
            return None
        try:
            return self.line_map.index((cell, line)) + 1
        except ValueError:
            return None

    def describe_line(self, line: int) -> str:
        """How messages name a replay line: "cell 4, line 2"."""
        where = self.locate(line)
        return f"{cell_label(where[0])}, line {where[1]}" if where else f"line {line} of the replay"


def read_code_cells(notebook: dict[str, Any]) -> tuple[list[CodeCell], list[str]]:
    """The code cells (index among all cells), each made replayable or skipped, and notes on the skipped."""
    cells: list[CodeCell] = []
    notes: list[str] = []
    for index, raw in enumerate(notebook.get("cells", [])):
        if raw.get("cell_type") != "code":
            continue
        count = raw.get("execution_count")
        cell = CodeCell(index, count if isinstance(count, int) and count > 0 else None, raw.get("source", ""))
        cell.runnable, why = prepare_cell(cell.source)
        if why:
            notes.append(f"{cell_label(index)} {why}; it was skipped")
        cells.append(cell)
    for cell, raw in zip(cells, [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"], strict=True):
        cell.saved_error = read_saved_error(cell, raw.get("outputs", []), cells)
    return cells, notes


def prepare_cell(source: str) -> tuple[str | None, str | None]:
    """The cell as the replay runs it, or (None, why it is skipped). A cell that compiles as it is, is kept
    as it is: only code Python cannot read is rewritten (a ``%`` inside a string stays)."""
    if is_cell_magic(source):
        return None, "is a %%cell magic"
    if not source.strip():
        return "", None
    if compiles(source):
        return source, None
    # The detection is the lessons' (tutor.lessons.cells): one idea of IPython's syntax for both wings.
    rewritten = "\n".join(harmless_line(line, note=False) or line for line in source.split("\n"))
    if compiles(rewritten):
        return rewritten, None
    return None, "does not compile here"


def session_order(cells: list[CodeCell]) -> list[CodeCell]:
    """The saved session: the cells that ran, by execution count (after a restart counts start again at 1,
    so a cell run before the restart sorts after the ones run since, as the kernel saw it)."""
    return sorted((c for c in cells if c.execution_count is not None), key=lambda c: (c.execution_count, c.index))


def fresh_order(cells: list[CodeCell]) -> list[CodeCell]:
    """Restart & Run All: every code cell, top to bottom."""
    return list(cells)


def build_replay(cells: list[CodeCell]) -> tuple[Replay, list[str]]:
    """One script of the cells in this order (skipped cells left out). A cell that compiles alone but not
    after the others (``from __future__`` below the top) is left out too, with a note."""
    notes: list[str] = []
    included = [c for c in cells if c.runnable is not None]
    while True:
        replay = _concatenate(included)
        try:
            compile(replay.source, "main.py", "exec", dont_inherit=True)
        except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
            where = replay.locate(getattr(exc, "lineno", None))
            if where is None:
                return replay, notes
            notes.append(f"{cell_label(where[0])} does not compile after the cells before it; it was skipped")
            included = [c for c in included if c.index != where[0]]
            continue
        return replay, notes


def _concatenate(cells: list[CodeCell]) -> Replay:
    parts = [PREAMBLE]
    line_map: list[tuple[int, int] | None] = [None] * PREAMBLE.count("\n")
    for cell in cells:
        text = cell.runnable or ""
        if not text.strip():
            continue
        lines = text.split("\n")
        if lines[-1] == "":
            lines.pop()
        parts.append("\n".join(lines) + "\n")
        line_map += [(cell.index, number) for number in range(1, len(lines) + 1)]
    return Replay("".join(parts), [c.index for c in cells], line_map)


def read_saved_error(cell: CodeCell, outputs: list[dict[str, Any]], cells: list[CodeCell]) -> SavedError | None:
    """The cell's saved NameError output, if any: the name from ``evalue``, the line from its traceback (the
    innermost frame that shows a cell, ``Cell In[3], line 5`` or a ``----> 5`` arrow)."""
    for output in outputs:
        if output.get("output_type") != "error" or output.get("ename") not in NAME_ERRORS:
            continue
        message = strip_ansi(str(output.get("evalue", "")))[:500]
        name = missing_name(message)
        if name is None or not name.isidentifier():
            continue
        text = "\n".join(str(part) for part in output.get("traceback", []) if isinstance(part, str))
        pasted, _ = parse_traceback(f"{text}\n{output['ename']}: {message}")
        frames = [f for f in (pasted.frames if pasted else []) if f.execution_count is not None]
        by_count = {c.execution_count: c.index for c in cells if c.execution_count is not None}
        raised, line, function = cell.index, None, None
        if frames and frames[-1].execution_count in by_count:
            raised, line, function = by_count[frames[-1].execution_count], frames[-1].lineno, frames[-1].function
        elif frames:
            line = frames[0].lineno  # the running cell's own frame, at least
        elif pasted is not None and pasted.line is not None:
            line = pasted.line
        trace = pasted.text if pasted else text
        return SavedError(cell.index, output["ename"], name, message, raised, line, function, trace)
    return None


def top_level_bindings(source: str | None) -> dict[str, str]:
    """Names a cell binds at its top level (module scope: inside if/for/try/with blocks too, not inside
    functions or classes), with how: "import", "def", "class" or "assignment"."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return {}
    bound: dict[str, str] = {}
    pending: list[ast.AST] = list(reversed(tree.body))
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.setdefault(node.name, "class" if isinstance(node, ast.ClassDef) else "def")
            continue
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    bound.setdefault((alias.asname or alias.name).split(".")[0], "import")
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.setdefault(node.id, "assignment")
        elif isinstance(node, ast.ExceptHandler | ast.MatchAs | ast.MatchStar) and node.name:
            bound.setdefault(node.name, "assignment")
        pending.extend(reversed(list(ast.iter_child_nodes(node))))
    return bound


def reads_name(source: str | None, name: str) -> int | None:
    """The first line of the cell that reads ``name`` (anywhere in it), or None."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    lines = [
        n.lineno for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == name and isinstance(n.ctx, ast.Load)
    ]
    return min(lines) if lines else None
