"""A notebook lesson: the cells on a real kernel (Run, Run all, Restart, Stop; In [n] and outputs as in
Jupyter), a NameError explained in cell words, and Grade: the whole notebook run as Restart & Run All with
the lesson's checks, through the same run service as a script lesson's Run."""

from __future__ import annotations

import time

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app_pages.lesson import (
    POLL_S,
    REDRAW_AGAIN_S,
    render_hints,
    render_next_lesson,
    render_solution_panel,
    render_why,
    run_panel,
    settle_run,
    solution_open,
    start_run,
)
from tutor.explain.cell_session import explain_cell_error, explain_fresh_failure
from tutor.kernels.contract import CellOutput, CellRun, KernelInfo, KernelState, OutputKind
from tutor.kernels.process import kernel_limits
from tutor.lessons.cells import Cell, CellKind, markdown_text
from tutor.lessons.lesson import Lesson
from tutor.sandbox.terminal import render_terminal
from ui import plain
from ui.editor import MAX_LINES, code_editor, ctrl_enter_runs, keyboard_help, split_run_marker
from ui.notebook import (
    NotebookCell,
    NotebookState,
    add_cell_below,
    cell_states,
    delete_cell,
    editor_key,
    forget_kernel,
    kernels,
    missing,
    move,
    newest_source,
    notebook_state,
    notebook_text,
    reset_cells,
    start_batch,
    sync_batch,
    sync_kernel,
    undo_delete,
    verdict_name_error,
    verdict_place,
)
from ui.state import LessonPageState, ShownVerdict, keep_code, open_lesson_state, owner_id
from ui.widgets import dataset_note, focus_verdict, render_verdict, show_running, tail

# After Run, the draw waits this long for the cell to finish: a quick cell's output is then in that same draw
# (no poll, no second draw); a longer one shows In [*] this much later.
CELL_QUICK_WAIT_S = 0.3
STREAM_LINES = 60  # a cell's printed text shows its last lines (a progress bar's, as a terminal would)
# A cell's buttons, smaller than Streamlit's (as the studio's cells: ui.studio_cells.CELLS_CSS), so that Run,
# Move, Add and Delete fit on one line under the cell's heading. A constant of ours, for ui.plain.style.
CELL_BAR_CSS = (
    '[class*="st-key-nb-cellbar-"] button{min-height:2rem;padding:0.125rem 0.625rem}'
    '[class*="st-key-nb-cellbar-"] button p{font-size:0.8125rem}'
)


def render_notebook(lesson: Lesson) -> None:
    state = open_lesson_state(lesson.id)
    state.draws += 1
    status = st.empty()  # "Running…" while this draw waits for a quick result: drawn first, seen at once
    run = settle_run(state, status)  # the Grade run (the run service's), as a script lesson's page settles Run
    grading = run is not None and not run.state.finished
    nb = notebook_state(lesson, state.code)
    nb.draws += 1
    run_pressed_cell(lesson, nb)  # Ctrl/Shift+Enter: before anything is drawn, so this draw shows its output
    wait_for_fresh_cell(nb, status)
    waiting, live = sync_batch(nb)
    info = kernels().info(owner=owner_id(), lesson_id=lesson.id)
    sync_kernel(nb, info)
    st.title(lesson.title)
    st.caption(lesson.summary)
    if state.restored:
        state.restored = False
        st.info(":material/history: Your notebook as you left it is back. **Reset** puts the starter cells back.")
    with st.expander("The problem", expanded=state.shown is None):
        st.markdown(lesson.explanation)
    render_toolbar(lesson, state, nb, grading)
    render_kernel_status(nb, info, waiting)
    plain.style(CELL_BAR_CSS)
    teacher = {c.source: c for c in (*lesson.starter_cells, *lesson.solution_cells) if c.kind is CellKind.MARKDOWN}
    for cell in nb.cells:
        if cell.is_code:
            render_code_cell(lesson, nb, cell, waiting, live)
        else:
            render_markdown_cell(cell, teacher)
    state.code = notebook_text(nb)
    keep_code(lesson.id, state, lesson.starter)
    left, right = st.container(key="lesson-panels").columns([3, 2], gap="large")  # stacked where narrow
    with left:
        run_panel(lesson.id, grading)
        if state.once is not None:
            plain.show(state.once, tone="info")
            state.once = None
        if state.notice:
            plain.show(state.notice, tone="warning")
        if state.shown is not None and not grading:
            render_graded(lesson, state, nb, state.shown)
        elif any(cell.error_type == "NameError" for cell in nb.cells):  # met in a cell, before any grading
            render_why(lesson)
    with right:
        render_hints(lesson, state)
        render_solution_panel(lesson, state)
    dataset_note()


# --- toolbar and kernel ------------------------------------------------------------------------------------


def render_toolbar(lesson: Lesson, state: LessonPageState, nb: NotebookState, grading: bool) -> None:
    busy = nb.running
    with st.container(horizontal=True, key=f"nb-toolbar-{lesson.id}"):
        st.button(
            ":material/fast_forward: Run all", key=f"run-all-{lesson.id}", disabled=busy, on_click=run_all,
            args=(lesson, nb), help="Run every code cell from the top, in this kernel (stops at the first error)",
        )  # fmt: skip
        st.button(
            ":material/restart_alt: Restart kernel", key=f"restart-{lesson.id}", on_click=restart, args=(lesson, nb),
            help="A fresh kernel: every variable is gone; the outputs stay until the cells run again",
        )  # fmt: skip
        st.button(
            ":material/replay: Restart & run all", key=f"run-restart-all-{lesson.id}", disabled=busy,
            on_click=restart_run_all, args=(lesson, nb),
            help="A fresh kernel, then every cell from the top: what anyone who opens your notebook gets",
        )  # fmt: skip
        if busy:
            st.button(":material/stop: Stop", key=f"stop-{lesson.id}", on_click=stop, args=(lesson,),
                      help="Interrupt the running cell (its variables so far stay)")  # fmt: skip
        st.button(
            ":material/fact_check: Grade", key=f"run-grade-{lesson.id}", type="primary", disabled=grading,
            on_click=grade, args=(lesson, state, nb),
            help="Restart & Run All in a fresh sandbox, with the lesson's checks",
        )  # fmt: skip
        if nb.deleted is not None:
            st.button(
                ":material/restore_from_trash: Undo delete", key=f"undo-delete-{lesson.id}", on_click=undo_deleted,
                args=(lesson, nb), help="Bring back the cell deleted last, where it was (its text and its In [n])",
            )  # fmt: skip
        st.button(
            ":material/undo: Reset", key=f"reset-{lesson.id}", on_click=reset, args=(lesson, state, nb),
            help="Put the starter cells back (the kernel keeps running)",
        )  # fmt: skip
    if nb.said:
        plain.show(nb.said, tone="info")
        nb.said = ""
    st.caption("Grade runs the notebook from the top, as Restart & Run All.")
    runs = "Ctrl+Enter or Shift+Enter in a cell runs it." if ctrl_enter_runs() else "Press a cell's Run to run it."
    keyboard_help(runs)


def render_kernel_status(nb: NotebookState, info: KernelInfo, waiting: set[str]) -> None:
    state = info.state
    minutes = info.shutdown_after_s / 60
    idle_words = f"{minutes:g} minutes" if minutes >= 1 else f"{info.shutdown_after_s:g} s"
    with st.container(key="kernel-status"):
        if nb.running and state in (KernelState.NONE, KernelState.STARTING, KernelState.SHUT_DOWN):
            plain.show(plain.strong("Kernel: starting."), " A fresh kernel takes a second or two.", tone="info")
        elif state is KernelState.DEAD:
            plain.show(plain.strong("Your kernel died — restart it. "), plain.message(info.message), tone="error")
        elif state is KernelState.SHUT_DOWN:
            plain.show(plain.strong("Kernel: shut down. "), info.message or "Run a cell to start a fresh one.",
                       tone="warning")  # fmt: skip
        elif nb.running or state is KernelState.BUSY:
            numbers = [nb.number(cell) for cell in nb.code_cells() if cell.id in waiting]
            doing = f" running cell {numbers[0]}" if numbers else " running"
            plain.show(plain.strong("Kernel: busy,"), doing, ".", muted=True)
        elif state is KernelState.IDLE:
            last = f" Its last run was In [{info.execution_count}]." if info.execution_count else ""
            plain.show(plain.strong("Kernel: idle."), last, muted=True)
        else:
            plain.show(plain.strong("Kernel: none yet."), " The first Run starts one.", muted=True)
        if nb.notice:
            plain.show(nb.notice, tone="warning")
        plain.show(f"Kernels shut down after {idle_words} without a run (their variables go with them).", muted=True)


def sources_now(lesson: Lesson, nb: NotebookState) -> dict[str, str]:
    """Every code cell's newest text (the editors sent it with the click)."""
    sources = {}
    for cell in nb.code_cells():
        cell.source = newest_source(lesson.id, nb, cell)
        sources[cell.id] = cell.source
    return sources


def submit(lesson: Lesson, nb: NotebookState, cells: list[NotebookCell]) -> None:
    sources = sources_now(lesson, nb)
    # A kernel shut down while the page sat idle (nothing polls then): this click is when the learner hears
    # of it. Its In [n] go before the fresh kernel's come, and the page says why the variables are gone.
    before = kernels().info(owner=owner_id(), lesson_id=lesson.id)
    gone = before.state is KernelState.SHUT_DOWN
    if gone:
        forget_kernel(nb)
    batch = kernels().run_cells(
        owner_id(), lesson.id, [(cell.id, sources[cell.id]) for cell in cells], limits=kernel_limits(lesson.time_s)
    )
    runs, done = batch.snapshot()
    if done and runs and not runs[0].execution_count and "still running" in runs[0].note:
        st.toast("This kernel is still running a cell (another tab?): wait for it, or press Stop.")
        return
    start_batch(nb, batch, {cell.id: sources[cell.id] for cell in cells})
    if gone:
        said = before.message or "Your kernel had been shut down; its variables are gone."
        nb.notice = f"{said} This run starts a fresh kernel."


def run_pressed_cell(lesson: Lesson, nb: NotebookState) -> None:
    """A cell whose editor sent Ctrl/Shift+Enter (a new run token, in the session state before the editor is
    drawn): run it now, and give a quick cell a moment to finish, so its output is in this very draw — no
    poll, no second draw (a `print` cell answers in a few ms)."""
    for cell in nb.code_cells():
        _, token = split_run_marker(st.session_state.get(editor_key(lesson.id, nb, cell)))
        if token and token != cell.last_token:
            cell.last_token = token
            if not nb.running:
                submit(lesson, nb, [cell])
                nb.fresh = nb.batch is not None
            return


def run_cell(lesson: Lesson, nb: NotebookState, cell_id: str) -> None:
    cell = nb.find(cell_id)
    if cell is not None and not nb.running:
        submit(lesson, nb, [cell])
        # The wait for its output is the draw's (wait_for_fresh_cell), not this callback's: a callback runs
        # before anything is drawn, and the page said nothing for that long.
        nb.fresh = nb.batch is not None


def wait_for_fresh_cell(nb: NotebookState, status: DeltaGenerator) -> None:
    """A cell just run: wait up to CELL_QUICK_WAIT_S for it, so that a quick cell's output is in this very
    draw (no poll, no second draw), with "Running…" in ``status`` meanwhile (drawn before the wait)."""
    if not nb.fresh:
        return
    nb.fresh = False
    if nb.batch is None:
        return
    show_running(status, "Running your cell…")
    nb.batch.wait(CELL_QUICK_WAIT_S)
    status.empty()


def run_all(lesson: Lesson, nb: NotebookState) -> None:
    if not nb.running:
        submit(lesson, nb, nb.code_cells())


def restart(lesson: Lesson, nb: NotebookState) -> None:
    kernels().restart(owner_id(), lesson.id)
    sync_batch(nb)
    nb.batch, nb.notice = None, ""
    forget_kernel(nb)


def restart_run_all(lesson: Lesson, nb: NotebookState) -> None:
    restart(lesson, nb)
    submit(lesson, nb, nb.code_cells())


def stop(lesson: Lesson) -> None:
    kernels().stop(owner_id(), lesson.id)


def grade(lesson: Lesson, state: LessonPageState, nb: NotebookState) -> None:
    sources_now(lesson, nb)
    state.code = notebook_text(nb)
    start_run(lesson, state, state.code)


def reset(lesson: Lesson, state: LessonPageState, nb: NotebookState) -> None:
    reset_cells(nb, lesson.starter)
    state.code = lesson.starter
    state.shown = None
    state.notice = None


def shift_move(nb: NotebookState, cell_id: str, step: int, lesson: Lesson) -> None:
    sources_now(lesson, nb)
    move(nb, cell_id, step)


def add_below(lesson: Lesson, nb: NotebookState, cell_id: str) -> None:
    sources_now(lesson, nb)
    add_cell_below(nb, cell_id)


def delete(lesson: Lesson, nb: NotebookState, cell_id: str) -> None:
    cell = nb.find(cell_id)
    if cell is None or nb.running:
        return
    sources_now(lesson, nb)
    number = nb.number(cell)
    if delete_cell(nb, cell_id):  # said on the page, not in a toast (Streamlit's toast has no accessible name)
        nb.said = f"Cell {number} deleted. Undo delete (above the cells) brings it back."


def undo_deleted(lesson: Lesson, nb: NotebookState) -> None:
    sources_now(lesson, nb)
    undo_delete(nb)


# --- cells -------------------------------------------------------------------------------------------------


def render_markdown_cell(cell: NotebookCell, teacher_cells: dict[str, Cell]) -> None:
    """The lesson's own markdown cells (from its starter and solution files) as Markdown; any other (one the
    learner's text made) as plain text."""
    teacher_cell = teacher_cells.get(cell.source)
    if teacher_cell is not None:
        st.markdown(markdown_text(teacher_cell))
    else:
        plain.show(markdown_text(Cell(CellKind.MARKDOWN, cell.source)))


def prompt(cell: NotebookCell, waiting: set[str]) -> str:
    """Jupyter's In [n]: (In [*]: running or waiting to run; In [ ]: not run in this kernel)."""
    if cell.id in waiting:
        return "In [*]:"
    if cell.execution_count:
        return f"In [{cell.execution_count}]:"
    return "In [ ]:"


def render_code_cell(
    lesson: Lesson, nb: NotebookState, cell: NotebookCell, waiting: set[str], live: CellRun | None
) -> None:
    number = nb.number(cell)
    code_cells = nb.code_cells()
    with st.container(border=True, key=f"nb-cell-{cell.id}"):
        title = f" · {cell.title}" if cell.title else ""
        plain.show(plain.code(prompt(cell, waiting)), " ", plain.strong(f"Cell {number}"), title)
        with st.container(horizontal=True, gap="small", key=f"nb-cellbar-{cell.id}"):
            st.button(
                f":material/play_arrow: Run cell {number}", key=f"run-{lesson.id}-{cell.id}", disabled=nb.running,
                on_click=run_cell, args=(lesson, nb, cell.id),
                help="Run this cell in your kernel (Ctrl+Enter or Shift+Enter in the cell)",
            )  # fmt: skip
            st.button(
                f":material/arrow_upward: Move cell {number} up", key=f"up-{lesson.id}-{cell.id}",
                disabled=cell is nb.cells[0], on_click=shift_move, args=(nb, cell.id, -1, lesson),
            )  # fmt: skip
            st.button(
                f":material/arrow_downward: Move cell {number} down", key=f"down-{lesson.id}-{cell.id}",
                disabled=cell is nb.cells[-1], on_click=shift_move, args=(nb, cell.id, 1, lesson),
            )  # fmt: skip
            st.button(
                f":material/add: Add cell below cell {number}", key=f"add-{lesson.id}-{cell.id}",
                on_click=add_below, args=(lesson, nb, cell.id), help="Add an empty code cell below this one",
            )  # fmt: skip
            only = len(code_cells) == 1
            st.button(
                f":material/delete: Delete cell {number}", key=f"delete-{lesson.id}-{cell.id}",
                disabled=only or nb.running, on_click=delete, args=(lesson, nb, cell.id),
                help="A notebook keeps one code cell at least" if only else
                "Delete this cell (Undo delete, above the cells, brings it back); not while cells run",
            )  # fmt: skip
        key = editor_key(lesson.id, nb, cell)
        lines = max(2, min(MAX_LINES, cell.source.count("\n") + 1))
        text, token = code_editor(cell.source, key, min_lines=lines, shift_enter_runs=True)
        cell.source = text
        if token and token != cell.last_token:  # Ctrl/Cmd+Enter or Shift+Enter in this cell's editor
            cell.last_token = token
            if not nb.running:
                submit(lesson, nb, [cell])
                st.rerun()
        if cell.ran_source is not None and text != cell.ran_source and cell.id not in waiting:
            plain.show(f"Edited since it ran: In [{cell.execution_count}] and the output below are from its earlier "
                       "text.", muted=True)  # fmt: skip
        running = live is not None and live.cell_id == cell.id
        first_waiting = next((c.id for c in code_cells if c.id in waiting), None)
        if cell.id == first_waiting:
            live_cell(lesson.id, cell.id, nb.draws)
        else:
            render_outputs(nb, cell, live.outputs if running and live is not None else cell.outputs, number)


def live_cell(lesson_id: str, cell_id: str, drawn_in: int) -> None:
    """The cell running now: its outputs as they come; when it (or the batch) finishes, the page is drawn
    again (In [n], the next cell's turn, the kernel's state)."""

    @st.fragment(run_every=POLL_S)
    def outputs() -> None:
        nb = st.session_state["notebooks"][lesson_id]
        before = nb.applied, nb.running
        waiting, live = sync_batch(nb)
        cell = nb.find(cell_id)
        if cell is None:
            return
        changed = (nb.applied, nb.running) != before or cell_id not in waiting
        if changed and nb.draws == drawn_in and time.monotonic() - nb.redraw_asked >= REDRAW_AGAIN_S:
            nb.redraw_asked = time.monotonic()
            st.rerun(scope="app")
        running = live is not None and live.cell_id == cell_id
        render_outputs(nb, cell, live.outputs if running and live is not None else cell.outputs, nb.number(cell))

    outputs()


def render_outputs(nb: NotebookState, cell: NotebookCell, outputs: list[CellOutput], number: int) -> None:
    if cell.stale and outputs:
        st.caption("Output from an earlier kernel (it was restarted or stopped since).")
    stream: list[str] = []
    for output in outputs:
        if output.kind is OutputKind.STREAM:
            stream.append(output.text)
            continue
        flush_stream(stream)
        stream = []
        if output.kind is OutputKind.RESULT:
            count = cell.execution_count if not cell.stale else None
            plain.show(f"Out [{count}]:" if count else "Out:", muted=True)
            st.code(tail(output.text, STREAM_LINES), language=None)
        elif output.kind is OutputKind.IMAGE and output.png:
            alt = f"A figure cell {number} drew" + (f": {output.text}" if output.text else "")
            st.image(output.png, caption=f"Figure from cell {number}", alt=alt[:200])
        elif output.kind is OutputKind.ERROR:
            render_error(nb, cell, output, number)
    flush_stream(stream)
    if cell.note:
        plain.show(cell.note, muted=True)


def flush_stream(parts: list[str]) -> None:
    if parts:
        st.code(tail(render_terminal("".join(parts)), STREAM_LINES), language=None)


def render_error(nb: NotebookState, cell: NotebookCell, output: CellOutput, number: int) -> None:
    where = f" (cell {number}, line {cell.error_line})" if cell.error_line and not cell.stale else ""
    plain.show(plain.strong(output.text.split("\n", 1)[0] or output.name), where, tone="error")
    name = missing(cell)
    if name is not None:
        words = explain_cell_error(cell_states(nb), number, name, cell.name_line or cell.error_line)
        plain.show(plain.strong("Why: "), plain.message(words), tone="info")
    if output.traceback:
        with st.expander("Traceback"):
            st.code(output.traceback, language=None)


# --- the graded run ------------------------------------------------------------------------------------------


def render_graded(lesson: Lesson, state: LessonPageState, nb: NotebookState, shown: ShownVerdict) -> None:
    """The verdict of Restart & Run All, its stop placed in cells, and why it worked in the session if it did."""
    verdict = shown.verdict
    with st.container(key="verdict"):
        plain.show(
            plain.strong("Graded: Restart & Run All."),
            " A fresh kernel ran every cell from the top, then the lesson's checks.",
            muted=True,
        )
        place = verdict_place(verdict, shown.source)
        if place is not None and not verdict.passed:
            plain.show("It stopped in ", plain.strong(f"cell {place[0]}, line {place[1]}"), ".")
            name = verdict_name_error(verdict)
            same = shown.source == notebook_text(nb)  # the cells' numbers now are the graded ones
            if name is not None and same:
                why = explain_fresh_failure(cell_states(nb), place[0], name)
                if why:
                    plain.show(plain.strong("Why it worked in your session: "), plain.message(why), tone="info")
        render_verdict(verdict, reveal_fix=solution_open(lesson, state))
    if shown.focus:
        shown.focus = False
        focus_verdict()
    render_why(lesson, open_=not verdict.passed)
    if verdict.passed:
        render_next_lesson(lesson)
