"""The notebook's own cause of a NameError: the cell that creates the name did not run before the cell that
needs it, in this order: it is below it, it was never run, or it ran later (or before a kernel restart).

Decided from the cells alone; said in cell words ("cell 4", "In [12]"), the fix apart from the diagnosis."""

from __future__ import annotations

from dataclasses import dataclass

from tutor.explain.contract import NotebookRun, cell_label
from tutor.explain.notebook import CodeCell, top_level_bindings

VERBS = {"import": "imports", "def": "defines", "class": "defines", "assignment": "creates"}


@dataclass
class OrderFinding:
    binder: int  # the cell that binds the name at its top level
    diagnosis: str
    fix: str


def find_order_cause(
    cells: list[CodeCell], running: CodeCell, name: str, run: NotebookRun, function: str | None = None
) -> OrderFinding | None:
    """Why ``running`` (the cell being run when ``name`` was missing) found no ``name`` when another cell
    binds it at its top level; None when the order of the cells is not why (no other cell binds it, the
    running cell binds it itself, or a cell that binds it ran before: then it is something else)."""
    if name in top_level_bindings(running.runnable):
        return None  # the cell's own order of lines: the name analysis says that better
    binders = {
        c.index: kind
        for c in cells
        if c.index != running.index and (kind := top_level_bindings(c.runnable).get(name)) is not None
    }
    if not binders:
        return None
    by_index = {c.index: c for c in cells}
    uses = f"{cell_label(running.index).capitalize()} " + (
        f"calls `{function}()`, which uses `{name}`" if function else f"uses `{name}`"
    )
    if run is NotebookRun.FRESH:
        if any(index < running.index for index in binders):
            return None  # it ran just above: not the order
        binder = by_index[min(binders)]
        return _below(binder, binders[binder.index], running, name, uses, fresh=True)
    ran_before = [c for c in (by_index[i] for i in binders) if c.execution_count is not None and _before(c, running)]
    if ran_before or running.execution_count is None:
        return None
    above = [by_index[i] for i in sorted(binders) if i < running.index]
    never_run = [c for c in above if c.execution_count is None]
    if never_run:
        binder = never_run[-1]
        verb = VERBS[binders[binder.index]]
        return OrderFinding(
            binder.index,
            f"{uses}, but the cell that {verb} it ({cell_label(binder.index)}) has no execution count: it was "
            "never run in this session.",
            "Run the cells above, or Restart & Run All.",
        )
    if above:
        binder = above[-1]
        verb = VERBS[binders[binder.index]]
        return OrderFinding(
            binder.index,
            f"{uses} (In [{running.execution_count}]), but {cell_label(binder.index)}, which {verb} it, ran "
            f"later (In [{binder.execution_count}]), or before the kernel was restarted (the counts start again "
            "at 1 after a restart), so it did not exist yet.",
            f"Run {cell_label(binder.index)} again, then {cell_label(running.index)}; or Restart & Run All.",
        )
    binder = by_index[min(binders)]
    return _below(binder, binders[binder.index], running, name, uses, fresh=False)


def _below(binder: CodeCell, kind: str, running: CodeCell, name: str, uses: str, fresh: bool) -> OrderFinding:
    """The cell that binds the name is below the one that needs it."""
    verb = VERBS[kind]
    cell, here = cell_label(binder.index), cell_label(running.index)
    head = f"{uses}; {cell}, below it, {verb} it"
    if fresh and _before(binder, running):
        diagnosis = (
            f"{head}. Your session ran {cell} first (In [{binder.execution_count}] before "
            f"In [{running.execution_count}]), so Restart & Run All fails at {here}."
        )
    elif fresh:
        diagnosis = f"{head}, so running the notebook top to bottom (Restart & Run All) fails at {here}."
    elif binder.execution_count is None:
        diagnosis = f"{head}, and it was never run in this session."
    else:
        diagnosis = (
            f"{head}, and it ran only after {here} (In [{binder.execution_count}] after "
            f"In [{running.execution_count}])."
        )
    return OrderFinding(
        binder.index, diagnosis, f"Move the code that {verb} `{name}` above {here}, then Restart & Run All."
    )


def _before(cell: CodeCell, other: CodeCell) -> bool:
    """``cell`` ran before ``other`` in the saved session (both have counts)."""
    if cell.execution_count is None or other.execution_count is None:
        return False
    return (cell.execution_count, cell.index) < (other.execution_count, other.index)
