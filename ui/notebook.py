"""A notebook lesson's session, as the page keeps it: the cells (with stable ids, so moving a cell keeps its
history), what each last did in the learner's kernel (In [n], outputs, where it stopped), and the batch of
cells running now. No drawing here: app_pages/notebook.py draws; this module keeps the books.

The learner's notebook is kept as one percent-format text (``# %%`` cells, tutor.lessons.cells): that text is
what keep_code stores, what a reload opens again and what Grade submits (a fresh kernel's Restart & Run All).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import streamlit as st

from tutor.explain.cell_session import CellState
from tutor.explain.traceback_text import cell_frame_lines, missing_name
from tutor.grading.verdict import Verdict
from tutor.kernels.contract import (
    CellBatchView,
    CellOutput,
    CellRun,
    CellStatus,
    KernelInfo,
    KernelService,
    KernelState,
    OutputKind,
)
from tutor.lessons.cells import Cell, CellKind, join_cells, locate_line, parse_cells
from tutor.lessons.lesson import Lesson
from ui.editor import split_run_marker
from ui.state import get_runs
from ui.widgets import first_failure

NAME_ERRORS = ("NameError", "UnboundLocalError")
_ids = itertools.count(1)


@dataclass
class NotebookCell:
    """One cell of the learner's notebook, and what its last run in the current kernel did."""

    id: str  # stable for the session: moving the cell keeps it (its editor, its history)
    kind: CellKind
    source: str  # its text now (the editor's newest)
    title: str = ""
    gap: int = 1  # empty lines after it in the joined text (they stay with the position when cells move)
    marker: bool = True
    ran_source: str | None = None  # its text when it last ran in this kernel; None: not since it started
    execution_count: int | None = None  # In [n] in this kernel
    status: str | None = None  # CellStatus of its last run in this kernel
    outputs: list[CellOutput] = field(default_factory=list)  # of its last run (kept across a restart)
    stale: bool = False  # the outputs are from a kernel that is gone (restarted, died, shut down)
    error_line: int | None = None  # the cell's line where its last run stopped with an error
    name_line: int | None = None  # the cell's line where the missing name was looked up (innermost frame)
    error_type: str | None = None
    note: str = ""  # why its last run did not happen or stopped, in words (the engine's)
    last_token: str | None = None  # its editor's latest Ctrl/Shift+Enter, already acted on

    @property
    def is_code(self) -> bool:
        return self.kind is CellKind.CODE


@dataclass
class NotebookState:
    """One browser session's notebook of one lesson (st.session_state["notebooks"][lesson id])."""

    cells: list[NotebookCell]
    generation: int = 0  # part of every editor's key: Reset bumps it (streamlit-ace keeps its text otherwise)
    batch: CellBatchView | None = None  # the cells running now (one cell, or Run all)
    batch_sources: dict[str, str] = field(default_factory=dict)  # what each cell of the batch ran
    applied: int = 0  # the batch's finished runs already recorded in the cells
    notice: str = ""  # a kernel-wide note until the next run (the kernel could not start, ...)
    draws: int = 0  # whole-page draws so far (the live cell knows whether its page is current)
    redraw_asked: float = 0.0
    deleted: tuple[int, NotebookCell] | None = None  # the cell deleted last, and where (Undo delete)
    said: str = ""  # a line of ours for the next draw only (a cell deleted)
    fresh: bool = False  # a cell was just run: the next draw waits a moment for its output, saying so

    def code_cells(self) -> list[NotebookCell]:
        return [cell for cell in self.cells if cell.is_code]

    def find(self, cell_id: str) -> NotebookCell | None:
        return next((cell for cell in self.cells if cell.id == cell_id), None)

    def number(self, cell: NotebookCell) -> int:
        """The cell's number among the code cells now (1-based), as the explanations and the grader say it."""
        return next(i for i, other in enumerate(self.code_cells(), start=1) if other is cell)

    @property
    def running(self) -> bool:
        return self.batch is not None


def cells_from_text(text: str) -> list[NotebookCell]:
    return [
        NotebookCell(f"c{next(_ids)}", cell.kind, cell.source, cell.title, cell.gap, cell.marker)
        for cell in parse_cells(text)
    ]


def notebook_state(lesson: Lesson, code: str | None) -> NotebookState:
    """This session's notebook of the lesson, made from the learner's kept text (or the starter) on first use."""
    books: dict[str, NotebookState] = st.session_state.setdefault("notebooks", {})
    if lesson.id not in books:
        books[lesson.id] = NotebookState(cells_from_text(code if code is not None else lesson.starter))
    return books[lesson.id]


def reset_cells(nb: NotebookState, text: str) -> None:
    nb.cells = cells_from_text(text)
    nb.deleted = None
    nb.generation += 1


def notebook_text(nb: NotebookState) -> str:
    """The notebook as one percent-format text (what is kept, and what Grade runs)."""
    return join_cells([Cell(c.kind, c.source, c.title, gap=c.gap, marker=c.marker) for c in nb.cells])


def editor_key(lesson_id: str, nb: NotebookState, cell: NotebookCell) -> str:
    return f"cell-editor-{lesson_id}-{nb.generation}-{cell.id}"


def newest_source(lesson_id: str, nb: NotebookState, cell: NotebookCell) -> str:
    """The cell's text as its editor last sent it (before the editor is drawn in this rerun), else as kept."""
    text, _ = split_run_marker(st.session_state.get(editor_key(lesson_id, nb, cell)))
    return cell.source if text is None else text


def move(nb: NotebookState, cell_id: str, step: int) -> None:
    """Move a cell up (-1) or down (+1) past its neighbour; the blank lines stay with the positions."""
    at = next((i for i, cell in enumerate(nb.cells) if cell.id == cell_id), None)
    if at is None or not 0 <= at + step < len(nb.cells):
        return
    there = at + step
    a, b = nb.cells[at], nb.cells[there]
    a.gap, b.gap = b.gap, a.gap
    a.marker, b.marker = b.marker, a.marker
    nb.cells[at], nb.cells[there] = b, a
    if not nb.cells[0].marker and not nb.cells[0].is_code:
        nb.cells[0].marker = True  # only a first code cell may go without its marker line


def add_cell_below(nb: NotebookState, cell_id: str) -> NotebookCell | None:
    """An empty code cell below the cell ``cell_id`` (Jupyter's "insert cell below"); the text's end (its
    last cell's empty lines) stays the end."""
    at = next((i for i, cell in enumerate(nb.cells) if cell.id == cell_id), None)
    if at is None:
        return None
    above = nb.cells[at]
    new = NotebookCell(f"c{next(_ids)}", CellKind.CODE, "")
    if at == len(nb.cells) - 1:
        new.gap, above.gap = above.gap, max(above.gap, 1)
    nb.cells.insert(at + 1, new)
    return new


def delete_cell(nb: NotebookState, cell_id: str) -> bool:
    """Delete a code cell (Jupyter's "delete cell"), kept for ``undo_delete``; the last code cell stays (a
    notebook lesson needs one). False when nothing was deleted."""
    at = next((i for i, cell in enumerate(nb.cells) if cell.id == cell_id), None)
    if at is None or not nb.cells[at].is_code or len(nb.code_cells()) <= 1:
        return False
    cell = nb.cells.pop(at)
    if at == len(nb.cells) and at > 0:  # it was the last: the one above ends the text as it did
        above = nb.cells[at - 1]
        above.gap, cell.gap = cell.gap, above.gap
    if at == 0 and not nb.cells[0].marker:
        nb.cells[0].marker = True
    nb.deleted = (at, cell)
    return True


def undo_delete(nb: NotebookState) -> NotebookCell | None:
    """The cell deleted last, back where it was (its id, text and history with it)."""
    if nb.deleted is None:
        return None
    at, cell = nb.deleted
    nb.deleted = None
    at = min(at, len(nb.cells))
    if at == len(nb.cells) and nb.cells:
        cell.gap, nb.cells[-1].gap = nb.cells[-1].gap, cell.gap  # it ends the text again
    nb.cells.insert(at, cell)
    if at > 0 and not cell.marker:
        cell.marker = True
    return cell


# --- the kernel ------------------------------------------------------------------------------------------


def kernels() -> KernelService:
    """This server's notebook kernels, through the run service."""
    return get_runs().kernels()


def start_batch(nb: NotebookState, batch: CellBatchView, sources: dict[str, str]) -> None:
    nb.batch, nb.batch_sources, nb.applied, nb.notice = batch, sources, 0, ""
    for cell_id in sources:
        cell = nb.find(cell_id)
        if cell is not None:
            cell.note = ""


def sync_batch(nb: NotebookState) -> tuple[set[str], CellRun | None]:
    """Record the batch's finished runs in the cells (once each); returns the ids of its cells still to
    finish (running or waiting) and the run in progress, with its outputs so far."""
    batch = nb.batch
    if batch is None:
        return set(), None
    runs, done = batch.snapshot()
    finished = runs if done else runs[:-1]
    for run in finished[nb.applied :]:
        record_run(nb, run)
    nb.applied = max(nb.applied, len(finished))
    if done:
        nb.batch = None
        return set(), None
    live = runs[-1] if runs else None
    waiting = {cell_id for cell_id, _ in batch.cells[len(finished) :]}
    return waiting, live


def record_run(nb: NotebookState, run: CellRun) -> None:
    cell = nb.find(run.cell_id)
    if cell is None:  # the kernel service itself failed: said for the whole notebook
        nb.notice = run.note or nb.notice
        return
    cell.note = run.note
    if run.status is CellStatus.NOT_RUN:  # it never ran: what it showed before stays, as in Jupyter
        return
    cell.ran_source = nb.batch_sources.get(cell.id, cell.source)
    cell.execution_count = run.execution_count
    cell.status = str(run.status)
    cell.outputs = list(run.outputs)
    cell.stale = False
    error = run.error
    cell.error_type = (error.name or None) if error is not None else None
    cell.error_line, cell.name_line = error_lines(error.traceback, run.execution_count) if error else (None, None)


def error_lines(traceback: str, count: int | None) -> tuple[int | None, int | None]:
    """(the cell's line its run stopped on, the innermost line in the cell) from IPython's traceback, whose
    frames in the cell read "Cell In[3], line 2"."""
    lines = cell_frame_lines(traceback, count)
    return (lines[0], lines[-1]) if lines else (None, None)


def forget_kernel(nb: NotebookState) -> None:
    """The kernel is gone (restarted, died, shut down): no cell has run in the next one. Outputs stay, as in
    Jupyter, marked as an earlier kernel's."""
    for cell in nb.code_cells():
        if cell.ran_source is not None or cell.execution_count is not None:
            cell.ran_source = cell.execution_count = cell.status = None
            cell.error_line = cell.name_line = cell.error_type = None
            cell.stale = bool(cell.outputs)


def sync_kernel(nb: NotebookState, info: KernelInfo) -> None:
    """A kernel shut down (idle too long, or to make room) is gone: its In [n] go. A kernel that died keeps
    its cells' In [n] until Restart, as Jupyter does (what ran, in which order, is still worth seeing)."""
    if info.state is KernelState.SHUT_DOWN and nb.batch is None:
        forget_kernel(nb)


def cell_states(nb: NotebookState, sources: dict[str, str] | None = None) -> list[CellState]:
    """What the explanations need to know of each code cell (tutor.explain.cell_session)."""
    sources = sources or {}
    return [
        CellState(
            number,
            sources.get(cell.id, cell.source),
            cell.ran_source,
            cell.execution_count,
            cell.status,
            cell.error_line,
            cell.error_type,
        )  # fmt: skip
        for number, cell in enumerate(nb.code_cells(), start=1)
    ]


def missing(cell: NotebookCell) -> str | None:
    """The name a NameError of the cell's last run was missing, else None."""
    error = next((o for o in cell.outputs if o.kind is OutputKind.ERROR), None)
    if error is None or error.name not in NAME_ERRORS or cell.stale:
        return None
    return missing_name(error.text)


def verdict_place(verdict: Verdict, source: str) -> tuple[int, int] | None:
    """(code cell, line in it) where the graded Restart & Run All stopped, from the verdict's line in the
    whole text."""
    result = first_failure(verdict)
    error = result.error if result is not None else None
    if error is None and result is not None and result.caught:
        error = result.caught[0]
    if error is None or not error.line:
        return None
    return locate_line(parse_cells(source), error.line)


def verdict_name_error(verdict: Verdict) -> str | None:
    result = first_failure(verdict)
    error = result.error if result is not None else None
    if error is None or error.type not in NAME_ERRORS:
        return None
    return error.name or missing_name(error.message)
