"""A NameError in a live notebook, said in cell words: why the kernel has no ``model`` *now*.

The page knows, for each code cell, its text now and the text it had when it last ran in this kernel (or
that it has not run since the kernel started), its In [n], and where its last run stopped. That is hidden
state made visible: a cell that creates the name but has not run since the restart, a cell below that
creates it, a cell edited after it ran, a cell that stopped before reaching its import. When none of these
is why, the cause comes from the notebook's code, as for any program (tutor.grading.name_error), with lines
named "cell 3, line 2".

Two questions, two functions: ``explain_cell_error`` (a cell just failed in the learner's kernel) and
``explain_fresh_failure`` (Restart & Run All failed in a cell that ran fine in the learner's session).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass

from tutor.grading.name_error import analyze_name_error

VERBS = {"import": "imports", "def": "defines", "class": "defines", "assignment": "creates"}


@dataclass(frozen=True)
class CellState:
    """What the page knows about one code cell in the current kernel's life."""

    number: int  # 1-based position among the code cells now
    source: str  # its text now
    ran_source: str | None  # its text when it last ran in this kernel (None: not since the kernel started)
    execution_count: int | None
    status: str | None  # tutor.kernels.contract.CellStatus value of its last run in this kernel
    error_line: int | None = None  # line within the cell where its last run stopped with an error
    error_type: str | None = None  # that error's type, e.g. ModuleNotFoundError


def binding_line(source: str | None, name: str) -> tuple[int, str] | None:
    """The first top-level statement of ``source`` that binds ``name`` (its line and how: import, def,
    class, assignment); names bound only inside functions do not count."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda, ast.comprehension)
    for statement in tree.body:
        pending: list[ast.AST] = [statement]
        while pending:
            node = pending.pop()
            kind = _binds(node, name)
            if kind is not None:
                return statement.lineno, kind
            if not isinstance(node, scopes):  # what a function or class body binds is not the cell's
                pending.extend(ast.iter_child_nodes(node))
    return None


def _binds(node: ast.AST, name: str) -> str | None:
    if isinstance(node, ast.Import | ast.ImportFrom):
        for alias in node.names:
            if (alias.asname or alias.name).split(".")[0] == name:
                return "import"
    elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
        return "def"
    elif isinstance(node, ast.ClassDef) and node.name == name:
        return "class"
    elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id == name:
        return "assignment"
    return None


def explain_cell_error(cells: Sequence[CellState], failing: int, name: str, line: int | None) -> str:
    """Why ``name`` was missing when cell ``failing`` ran (its ``line``), in cell words, the fix last."""
    here = f"Cell {failing}"
    for cell in _binders(cells, failing, name):
        _, kind = binding_line(cell.source, name) or (0, "assignment")  # (_binders chose it for binding it)
        verb, there = VERBS[kind], f"cell {cell.number}"
        if cell.ran_source is None:
            if cell.number < failing:
                return (
                    f"{here} uses `{name}`; the cell that {verb} it, {there}, has not run since the kernel "
                    f"started (or restarted), so the kernel has no `{name}`. Run {there}, then cell {failing}; "
                    "or Restart & run all, which runs every cell from the top."
                )
            return (
                f"{here} uses `{name}`; {there}, below it, {verb} it and has not run yet. Running it first would "
                f"work in this session only: move the code that {verb} `{name}` above cell {failing}, so the "
                "notebook also works from the top (Restart & run all)."
            )
        ran = binding_line(cell.ran_source, name)
        if ran is None:
            return (
                f"{here} uses `{name}`; {there} {verb} it now, but it was edited after it last ran: the kernel "
                f"ran its old text, which did not. Run {there} again, then cell {failing}."
            )
        if cell.status == "error" and cell.error_line is not None and cell.error_line <= ran[0]:
            stopped = f"line {cell.error_line}" + (f" with {cell.error_type}" if cell.error_type else "")
            where = "that same line" if cell.error_line == ran[0] else f"line {ran[0]} never ran"
            return (
                f"{here} uses `{name}`; {there} {verb} it on line {ran[0]}, but its last run stopped on {stopped}, "
                f"so {where}: a cell stops at its first error, and the lines below it do not run. Fix (or remove) "
                f"what stops {there} on line {cell.error_line}, run it again, then cell {failing}."
            )
        if cell.status in ("interrupted", "died", "not_run"):
            return (
                f"{here} uses `{name}`; {there} {verb} it, but its last run did not finish ({cell.status}). "
                f"Run {there} again, then cell {failing}."
            )
    return _from_code(cells, failing, name, line)


def explain_fresh_failure(cells: Sequence[CellState], failing: int, name: str) -> str | None:
    """Restart & Run All stopped with a NameError for ``name`` in cell ``failing``; if that cell ran fine in
    the learner's session, say why it worked there and not from the top (with the session's In [n])."""
    by_number = {cell.number: cell for cell in cells}
    cell = by_number.get(failing)
    if cell is None or cell.status != "ok" or cell.execution_count is None:
        return None
    binders = [c for c in cells if c.number != failing and binding_line(c.source, name) is not None]
    below = [c for c in binders if c.number > failing]
    if below:
        binder = below[0]
        ran = f" (In [{binder.execution_count}])" if binder.execution_count is not None else ""
        _, kind = binding_line(binder.source, name) or (0, "assignment")
        return (
            f"In your session cell {failing} ran fine (In [{cell.execution_count}]) because cell {binder.number}"
            f"{ran}, which {VERBS[kind]} `{name}`, had run before it. Restart & "
            f"Run All runs the cells from the top, so cell {failing} comes first and `{name}` does not exist yet. "
            f"Move cell {binder.number}'s code above cell {failing}."
        )
    return (
        f"In your session cell {failing} ran fine (In [{cell.execution_count}]): the kernel still held `{name}` "
        "from code that is no longer in the notebook, or no longer creates it (edited or deleted after it ran). "
        f"A fresh kernel has only what the cells create: make a cell above cell {failing} create `{name}`."
    )


def _binders(cells: Sequence[CellState], failing: int, name: str) -> list[CellState]:
    """Cells other than the failing one that bind the name at their top level now: the nearest above it
    first (the one a reader expects to have run), then those below."""
    others = [c for c in cells if c.number != failing and binding_line(c.source, name) is not None]
    above = sorted((c for c in others if c.number < failing), key=lambda c: -c.number)
    below = sorted((c for c in others if c.number > failing), key=lambda c: c.number)
    return above + below


def _from_code(cells: Sequence[CellState], failing: int, name: str, line: int | None) -> str:
    """No other cell explains it: the cause from the code of the cells down to the failing one, as one
    program (what a fresh kernel running them in order would see)."""
    upto = [c for c in sorted(cells, key=lambda c: c.number) if c.number <= failing]
    starts: list[tuple[int, int]] = []  # (first line in the joined text, cell number)
    parts: list[str] = []
    at = 1
    for cell in upto:
        starts.append((at, cell.number))
        text = cell.source.rstrip("\n")
        parts.append(text)
        at += text.count("\n") + 1
    joined = "\n".join(parts) + "\n"

    def describe(number: int) -> str:
        first, cell = max((s for s in starts if s[0] <= number), default=(1, failing))
        return f"cell {cell}, line {number - first + 1}"

    first_line = next(first for first, number in starts if number == failing)
    analysis = analyze_name_error(joined, name, first_line + (line or 1) - 1, describe_line=describe)
    return analysis.summary or f"Cell {failing} uses `{name}`, and no cell above it creates it."
