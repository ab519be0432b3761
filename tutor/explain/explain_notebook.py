"""Explain a notebook: replay its cells in the sandbox in the saved session's order, then (if that raised no
NameError) top to bottom as Restart & Run All would; the first NameError is told in cell words, with the
notebook's own cause (notebook-order) when the cell that creates the name did not run before.

When the runs cannot get that far here, or nothing is run: the pasted traceback, then the error outputs
saved in the notebook, then the source alone."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from tutor.explain.contract import Basis, ExplainedError, Explanation, NotebookRun, SourceKind, cell_label
from tutor.explain.explain import compose_summary, nothing_found, read_pasted, sandbox_broke, stop_where
from tutor.explain.fixes import fix_source
from tutor.explain.notebook import (
    CodeCell,
    Replay,
    build_replay,
    fresh_order,
    read_code_cells,
    reads_name,
    session_order,
)
from tutor.explain.notebook_order import find_order_cause
from tutor.explain.running import Site, Stop, describe_stop, run_source, site_from_run
from tutor.explain.traceback_text import PastedError
from tutor.grading.name_error import analyze_name_error, find_static_name_error
from tutor.lessons.causes import NameCause
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import Termination

ORDER_WORDS = {
    NotebookRun.SESSION: " when the cells run in your session's order",
    NotebookRun.FRESH: " when the notebook runs top to bottom (Restart & Run All)",
}


@dataclass
class CellSite:
    """A NameError placed in the notebook's cells."""

    type: str
    name: str
    message: str
    cell: int | None  # where it was raised (a function's cell, when raised inside one)
    line: int | None  # in that cell
    running: int | None  # the cell that was running
    function: str | None
    run: NotebookRun
    traceback: str = ""
    runtime_names: dict[str, str] | None = None


def explain_notebook(
    filename: str,
    notebook: dict[str, Any],
    traceback_text: str | None,
    *,
    run: bool,
    limits: Limits | None,
    cancel: threading.Event | None,
) -> Explanation:
    cells, notes = read_code_cells(notebook)
    explanation = Explanation(filename, SourceKind.NOTEBOOK, False, None, None, "", notes=notes)
    explanation.cells = [{"index": c.index, "execution_count": c.execution_count, "source": c.source} for c in cells]
    pasted = read_pasted(traceback_text, explanation.notes)
    replays = build_replays(cells, explanation.notes)
    stop: Stop | None = None
    if run:
        for order, replay in replays.items():
            result = run_source(replay.source, limits, cancel) if not (cancel and cancel.is_set()) else None
            if result is None or result.termination is Termination.CANCELLED:
                explanation.summary = "The run was stopped before it finished; nothing was explained."
                return explanation
            if result.termination.is_infrastructure:
                return sandbox_broke(explanation, result)
            raised = site_from_run(result)
            if raised is not None:
                return explain_cell_site(explanation, cells, replays, place(raised, replay, order), Basis.SANDBOX, stop)
            this_stop = describe_stop(result, lambda line, replay=replay: _in_cells(replay, line))
            if this_stop is not None and stop is None:
                this_stop.run = order.value
                stop = this_stop
        if stop is None:
            return ran_to_the_end(explanation, cells, replays, pasted)
        explanation.stopped = stop.to_dict()
    for find, basis in (
        (lambda: site_from_pasted(cells, pasted, explanation.notes) if pasted else None, Basis.TRACEBACK),
        (lambda: site_from_saved(cells), Basis.NOTEBOOK_OUTPUT),
        (lambda: site_from_source(replays), Basis.SOURCE),
    ):
        site = find()
        if site is not None:
            return explain_cell_site(explanation, cells, replays, site, basis, stop)
    explanation.summary = nothing_found(stop, stop_where(stop), "notebook")
    return explanation


def build_replays(cells: list[CodeCell], notes: list[str]) -> dict[NotebookRun, Replay]:
    """The session's replay (when any cell ran) and Restart & Run All's (when it is another list of cells)."""
    replays: dict[NotebookRun, Replay] = {}
    session, fresh = session_order(cells), fresh_order(cells)
    orders = [(NotebookRun.SESSION, session)] if session else []
    if not session or [c.index for c in fresh] != [c.index for c in session]:
        orders.append((NotebookRun.FRESH, fresh))
    for order, ordered in orders:
        replay, replay_notes = build_replay(ordered)
        notes.extend(note for note in replay_notes if note not in notes)
        replays[order] = replay
    return replays


def place(site: Site, replay: Replay, order: NotebookRun) -> CellSite:
    """A NameError the replay raised, placed in the cells: where it was raised, and which cell was running."""
    raised, running = replay.locate(site.line), replay.locate(site.running_line)
    cell, line = raised if raised else (None, None)
    return CellSite(
        site.type, site.name, site.message, cell, line, running[0] if running else cell, site.function, order,
        site.traceback, site.runtime_names,
    )  # fmt: skip


def _in_cells(replay: Replay, line: int | None) -> tuple[int | None, int | None]:
    where = replay.locate(line)
    return (where[0], where[1]) if where else (None, None)


def ran_to_the_end(
    explanation: Explanation, cells: list[CodeCell], replays: dict[NotebookRun, Replay], pasted: PastedError | None
) -> Explanation:
    orders = " and ".join(
        {NotebookRun.SESSION: "in your session's order", NotebookRun.FRESH: "top to bottom"}[o] for o in replays
    )
    explanation.summary = f"No NameError here: your notebook ran to the end ({orders})."
    for cell in cells:
        if cell.saved_error is not None:
            explanation.notes.append(
                f"{cell_label(cell.index)} still shows a saved {cell.saved_error.type} for "
                f"`{cell.saved_error.name}` from an earlier run; the notebook runs without it now"
            )
    if pasted is not None:
        explanation.notes.append(
            f"your traceback shows {pasted.type} for `{pasted.name}`, but here the notebook ran to the end without it"
        )
    return explanation


def site_from_pasted(cells: list[CodeCell], pasted: PastedError, notes: list[str]) -> CellSite:
    """The pasted NameError placed in the cells by its In [n] (``Cell In[3], line 5``); else the first cell
    that uses the name."""
    by_count = {c.execution_count: c for c in cells if c.execution_count is not None}
    frames = [f for f in pasted.frames if f.execution_count is not None]
    cell: CodeCell | None = None
    line, function = None, None
    running: CodeCell | None = None
    if frames and frames[-1].execution_count in by_count:
        cell, line, function = by_count[frames[-1].execution_count], frames[-1].lineno, frames[-1].function
        running = by_count.get(frames[0].execution_count, cell)
        if line is not None and line > len(cell.source.split("\n")):
            notes.append(f"the pasted traceback's line {line} is not in {cell_label(cell.index)}")
            line = None
    else:
        cell = next((c for c in cells if reads_name(c.runnable, pasted.name) is not None), None)
        if cell is not None:
            line = reads_name(cell.runnable, pasted.name)
            notes.append(
                f"the pasted traceback does not say which cell (by an In [n] of this notebook); "
                f"{cell_label(cell.index)} is the first that uses `{pasted.name}`"
            )
        else:
            notes.append(f"`{pasted.name}` does not appear in this notebook")
    index = cell.index if cell is not None else None
    order = NotebookRun.SESSION if running is not None and running.execution_count is not None else NotebookRun.FRESH
    running_index = running.index if running is not None else index
    return CellSite(pasted.type, pasted.name, pasted.message, index, line, running_index, function, order, pasted.text)


def site_from_saved(cells: list[CodeCell]) -> CellSite | None:
    """The saved NameError output that the session raised first (lowest In [n]); else the topmost."""
    saved = [c for c in cells if c.saved_error is not None]
    if not saved:
        return None
    first = min(saved, key=lambda c: (c.execution_count is None, c.execution_count or 0, c.index))
    error = first.saved_error
    assert error is not None
    return CellSite(
        error.type, error.name, error.message, error.raised_cell, error.line, error.cell, error.function,
        NotebookRun.SESSION, error.traceback,
    )  # fmt: skip


def site_from_source(replays: dict[NotebookRun, Replay]) -> CellSite | None:
    """The first name read before anything binds it, in the session's order, then top to bottom."""
    for order, replay in replays.items():
        static = find_static_name_error(replay.source)
        where = replay.locate(static[1]) if static else None
        if static is not None and where is not None:
            name = static[0]
            return CellSite(
                "NameError", name, f"name '{name}' is not defined", where[0], where[1], where[0], None, order
            )
    return None


def explain_cell_site(
    explanation: Explanation,
    cells: list[CodeCell],
    replays: dict[NotebookRun, Replay],
    site: CellSite,
    basis: Basis,
    stop: Stop | None,
) -> Explanation:
    """The notebook's own cause when the cells' order explains it; else the name analysis of the replay,
    its lines told as "cell 4, line 2"."""
    by_index = {c.index: c for c in cells}
    error = ExplainedError(
        type=site.type, name=site.name, line=site.line, message=site.message, cause="", diagnosis="", fix="",
        cell=site.cell, run=site.run.value, function=site.function,
    )  # fmt: skip
    running = by_index.get(site.running) if site.running is not None else None
    finding = None
    if site.type == "NameError" and running is not None:
        finding = find_order_cause(cells, running, site.name, site.run, site.function)
    if finding is not None:
        error.cause, error.diagnosis, error.fix = NameCause.NOTEBOOK_ORDER.value, finding.diagnosis, finding.fix
    else:
        replay = _replay_with(replays, site)
        line = replay.find_line(site.cell, site.line) if replay is not None and site.cell is not None else None
        analysis = analyze_name_error(
            replay.source if replay is not None else "",
            site.name,
            line,
            site.function,
            site.type == "UnboundLocalError",
            traceback_text=site.traceback,
            runtime_names=site.runtime_names,
            describe_line=replay.describe_line if replay is not None else None,
        )
        error.cause, error.diagnosis, error.fix = analysis.cause, analysis.diagnosis, analysis.fix
        error.suggestions = list(analysis.suggestions)
        cell = by_index.get(site.cell) if site.cell is not None else None
        if cell is not None and replay is not None:
            # Only a fix inside the failing cell can be shown as that cell fixed.
            discarded = [
                (where[1], call.function)
                for call in analysis.discarded_calls
                if (where := replay.locate(call.line)) is not None and where[0] == cell.index
            ]
            error.fixed_source = fix_source(
                cell.source, site.name, analysis.cause, site.line, analysis.suggestions, discarded, cell.runnable
            )
    explanation.found, explanation.basis, explanation.error = True, basis, error
    where = ""
    if site.cell is not None:
        where = cell_label(site.cell) + (f", line {site.line}" if site.line else "")
    order = ORDER_WORDS[site.run] if basis in (Basis.SANDBOX, Basis.SOURCE) else ""
    explanation.summary = compose_summary(error, basis, where, stop, stop_where(stop), order)
    return explanation


def _replay_with(replays: dict[NotebookRun, Replay], site: CellSite) -> Replay | None:
    """The replay of the site's order when it holds the cell; else any that does; else the first."""
    ordered = [replays[site.run]] if site.run in replays else []
    ordered += [r for r in replays.values() if r not in ordered]
    return next((r for r in ordered if site.cell in r.cells), ordered[0] if ordered else None)
