"""The pieces of the Explain page (app_pages/explain.py): what the learner gave, the explanation's parts
(headline, diagnosis, the failing line marked in the script or the notebook's cells, the fix as a diff),
the fixed file to run, and the one row per explanation the teacher counts.

Everything of the learner's (their code, file name, traceback, and the engine's messages that quote them)
is shown through ui.plain or st.code only. Their code lives in this browser session and nowhere else: the
database gets the cause found and the kind of file (tutor.store.explanations), never the code."""

from __future__ import annotations

import contextlib
import difflib
import logging
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import streamlit as st

from tutor import settings
from tutor.explain.contract import Basis, ExplainedError, Explanation, NotebookRun, SourceKind
from tutor.lessons.causes import NameCause, cause_label
from tutor.store.explanations import record_explanation, revise_explanation
from ui import plain
from ui.state import current_learner, get_database

log = logging.getLogger(__name__)

PASTED_SCRIPT = "pasted code.py"  # the name pasted code is explained under (its kind follows the suffix)
PASTED_NOTEBOOK = "pasted notebook.ipynb"
CONTEXT_LINES = 10  # a long script is shown around its failing line, this many lines each side
CONTEXT_CELLS = 4  # a long notebook is shown around its failing cell, this many cells each side
TURN_WAIT_S = 30.0  # how long "Run it here" waits for a free sandbox before saying they are all busy
BASIS_WORDS = {
    Basis.SANDBOX: "Found by running your code here, in the sandbox.",
    Basis.NOTEBOOK_OUTPUT: "Found in the error your notebook saved when it last ran.",
    Basis.TRACEBACK: "Found from the traceback you pasted, read with your code.",
    Basis.SOURCE: "Told from your code alone: it was not run here, or could not get that far here.",
}
RUN_WORDS = {
    NotebookRun.SESSION: "This is in the order your session ran the cells (their In [n] numbers).",
    NotebookRun.FRESH: "This is in the order Restart & Run All runs the cells: top to bottom.",
}
# The diff's unchanged lines: Streamlit's light grey is too faint to read (WCAG AA: 4.5:1 on the code box);
# ui/widgets.SHARED_CSS darkens the other diff tokens.
EXPLAIN_CSS = ".token.unchanged { color: #374151 !important; }"


@dataclass
class ExplainState:
    """This browser session's Explain page: the file being explained and what the engine said of it."""

    filename: str = ""
    data: bytes = b""
    traceback: str | None = None
    explanation: Explanation | None = None
    ran: bool = False  # the explanation shown comes from running the code here
    fix_result: Explanation | None = None  # what running the fixed version showed
    problem: str | None = None  # the InputError's message (or the explainer's own failure), shown plainly
    record_id: int | None = None  # the teacher's count of this explanation (tutor.store.explanations)


def explain_state() -> ExplainState:
    return st.session_state.setdefault("explain", ExplainState())


def chosen_input(pasted: str, uploaded: Any) -> tuple[str, bytes] | None:
    """(file name, bytes) to explain: the uploaded file, else the pasted code; None when neither."""
    if uploaded is not None:
        return str(uploaded.name), bytes(uploaded.getvalue())
    if not pasted.strip():
        return None
    return (PASTED_NOTEBOOK if looks_like_notebook(pasted) else PASTED_SCRIPT), pasted.encode("utf-8")


def looks_like_notebook(text: str) -> bool:
    """Pasted notebook JSON (someone copied the .ipynb file's text) is explained as a notebook."""
    start = text.lstrip()[:1]
    return start == "{" and '"cells"' in text and '"nbformat"' in text


def script_source(data: bytes) -> str:
    """The script as the engine read it (UTF-8, a BOM dropped, Windows line ends made \\n), for showing and
    diffing: its line numbers are the explanation's."""
    return data.decode("utf-8-sig", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


# --- recording, for the teacher's counts -----------------------------------------------------------------


def count_explanation(state: ExplainState, explanation: Explanation) -> None:
    """One row per piece of code explained: a new Explain adds it, "Run it here" revises its cause. The
    signed-in learner's (None for nobody); never their code. A database that fails is logged, not shown."""
    cause = explanation.error.cause if explanation.found and explanation.error else None
    learner = current_learner()
    try:
        if state.record_id is None:
            state.record_id = record_explanation(get_database(), learner.id if learner else None, cause,
                                                 explanation.kind)  # fmt: skip
        else:
            revise_explanation(get_database(), state.record_id, cause)
    except Exception:  # the count is the teacher's; the learner's explanation goes on
        log.exception("recording an explanation failed")


# --- sandbox turns ---------------------------------------------------------------------------------------


@st.cache_resource(show_spinner=False)
def _sandbox_turns() -> threading.BoundedSemaphore:
    """Runs of learners' own code at once on this server: no more than its lesson runs (TUTOR_MAX_RUNS)."""
    return threading.BoundedSemaphore(max(1, settings.max_runs()))


@contextlib.contextmanager
def sandbox_turn() -> Iterator[bool]:
    """Yields whether a sandbox turn was had within TURN_WAIT_S (False: they are all busy)."""
    turns = _sandbox_turns()
    got = turns.acquire(timeout=TURN_WAIT_S)
    try:
        yield got
    finally:
        if got:
            turns.release()


# --- the fixed file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fix:
    """The fix, ready to run and to show: the whole fixed file, and what its diff compares."""

    data: bytes  # the script, or the whole notebook (its outputs and run numbers cleared)
    before: str
    after: str
    names: tuple[str, str]  # the diff's two sides
    words: str  # what "Run the fix" runs, in our words (numbers only of theirs)


def fix_of(state: ExplainState) -> Fix | None:
    """The fix of the explanation shown, when there is one to run: the engine's fixed source (the script, or
    the failing cell in its notebook); for a notebook whose cells ran out of order, the notebook in an order
    that works (notebook_order_fix). None otherwise."""
    explanation = state.explanation
    error = explanation.error if explanation is not None else None
    if error is None:
        return None
    if explanation.kind != SourceKind.NOTEBOOK:
        if error.fixed_source is None:
            return None
        source = script_source(state.data)
        return Fix(error.fixed_source.encode("utf-8"), source, error.fixed_source, ("your code", "with the fix"),
                   "Runs your script with the fix, here in the sandbox.")  # fmt: skip
    if error.cell is None:
        return None
    notebook = read_notebook(state.data)
    if not 0 <= error.cell < len(notebook.cells):
        return None
    failing = f"cell {error.cell + 1}"
    if error.fixed_source is not None:
        before = str(notebook.cells[error.cell].source)
        notebook.cells[error.cell].source = error.fixed_source
        words = f"Runs the whole notebook top to bottom (as Restart & Run All does) with {failing} fixed."
        return Fix(notebook_bytes(notebook), before, error.fixed_source, (failing, f"{failing}, fixed"), words)
    if error.cause == NameCause.NOTEBOOK_ORDER:
        return notebook_order_fix(notebook, error.cell, error.name)
    return None


def notebook_order_fix(notebook: Any, failing: int, name: str) -> Fix:
    """The engine's fix for cells run out of order is a sentence ("Move the code that creates `total` above
    cell 2, then Restart & Run All"), with no fixed cell to show. Its notebook, to run: the first cell below
    the failing one that creates the name moved just above it, and every cell run top to bottom. When the
    cell that creates it is above already, running top to bottom is the whole fix."""
    from tutor.explain.notebook import prepare_cell, top_level_bindings

    numbered = list(enumerate(notebook.cells))  # (the cell's number in the learner's notebook, the cell)
    before = notebook_code(numbered)
    binder = next(
        (i for i, cell in numbered[failing + 1 :]
         if cell.cell_type == "code" and name in top_level_bindings(prepare_cell(str(cell.source))[0])),
        None,
    )  # fmt: skip
    moved = numbered
    if binder is not None:
        moved = [pair for pair in numbered if pair[0] != binder]
        moved.insert(failing, numbered[binder])
        words = (
            f"Runs the whole notebook top to bottom (as Restart & Run All does) with cell {binder + 1} moved "
            f"above cell {failing + 1}."
        )
    else:
        words = "Runs the whole notebook top to bottom, as Restart & Run All does."
    notebook.cells = [cell for _, cell in moved]
    names = ("your notebook's code cells", "in the new order" if binder is not None else "the same")
    return Fix(notebook_bytes(notebook), before, notebook_code(moved), names, words)


def read_notebook(data: bytes) -> Any:
    """The learner's notebook, read as the engine read it (tutor.explain.inputs: validated already)."""
    import nbformat  # only a notebook needs it
    from nbformat import reader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return nbformat.convert(reader.reads(script_source(data)), 4)


def notebook_bytes(notebook: Any) -> bytes:
    """The notebook to run, with every output and run number cleared: it runs top to bottom, as Restart & Run
    All would, and no error it saved before is read back as the new one."""
    import nbformat

    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    return nbformat.writes(notebook).encode("utf-8")


def notebook_code(numbered: list[tuple[int, Any]]) -> str:
    """The code cells one after the other, each headed by its number in the learner's notebook."""
    return "".join(
        f"# cell {number + 1}\n{str(cell.source).rstrip()}\n\n" for number, cell in numbered if cell.cell_type == "code"
    )


def fix_diff(before: str, after: str, old_name: str, new_name: str) -> str:
    def lines(text: str) -> list[str]:
        return [line if line.endswith("\n") else line + "\n" for line in text.splitlines(keepends=True)]

    return "".join(difflib.unified_diff(lines(before), lines(after), old_name, new_name, n=2))


# --- drawing ---------------------------------------------------------------------------------------------


def where_words(explanation: Explanation, error: ExplainedError) -> str:
    """ "on line 24", "in cell 3 (In [2]), line 1": a cell by its place in the notebook (1 for the first) and
    the In [n] Jupyter shows beside it (In [ ] when it never ran)."""
    line = f"line {error.line}" if error.line else ""
    if explanation.kind == SourceKind.NOTEBOOK and error.cell is not None:
        cell = f"in cell {error.cell + 1} ({prompt(cell_count(explanation, error.cell))})"
        return f"{cell}, {line}" if line else cell
    return f"on {line}" if line else "on a line Python could not place"


def cell_count(explanation: Explanation, index: int) -> Any:
    return next((c.get("execution_count") for c in explanation.cells if c.get("index") == index), None)


def prompt(count: Any) -> str:
    return f"In [{count}]" if isinstance(count, int) else "In [ ]"


def render_explanation(state: ExplainState) -> None:
    """The headline, how it was found, the diagnosis, the failing line marked, and the fix."""
    explanation = state.explanation
    if explanation is None:
        return
    error = explanation.error
    if not explanation.found or error is None:
        plain.show(plain.message(explanation.summary), tone="info")
        render_stopped(explanation)
        render_notes(explanation)
        if explanation.kind == SourceKind.NOTEBOOK and explanation.cells:
            render_cells(explanation, None)
        return
    label = cause_label(error.cause)
    cause = plain.join(" — ", label) if label else ""
    inside = plain.join(" inside ", plain.code(f"{error.function}()")) if error.function else ""
    plain.show(plain.strong(f"{error.type}: "), plain.code(error.name), " ", where_words(explanation, error),
               inside, cause, tone="error")  # fmt: skip
    how = [BASIS_WORDS.get(explanation.basis, "")] if explanation.basis else []
    if explanation.kind == SourceKind.NOTEBOOK and error.run in set(NotebookRun):
        how.append(RUN_WORDS[NotebookRun(error.run)])
    if how:
        plain.show(" ".join(how), muted=True)
    plain.show(plain.strong("What went wrong: "), plain.message(error.diagnosis or explanation.summary))
    # Names only: a suggested statement (an import, `model = build_model()`) is the fix's, said below.
    names = [name for name in error.suggestions[:5] if name.isidentifier()]
    if names:
        plain.show("Did you mean ", *[part for name in names for part in (", ", plain.code(name))][1:], "?")
    if explanation.kind == SourceKind.NOTEBOOK:
        render_cells(explanation, error)
    else:
        render_script(script_source(state.data), error)
    render_stopped(explanation)
    render_fix(state, error)
    render_notes(explanation)


def render_stopped(explanation: Explanation) -> None:
    if explanation.stopped:
        plain.show("When it ran here, it stopped with ", stop_words(explanation.stopped), ".", muted=True)


def stop_words(stopped: dict[str, Any]) -> plain.Html:
    """ "ModuleNotFoundError: No module named 'tensorflow' (cell 2, line 1)": how a run here ended."""
    what = f"{stopped.get('type') or 'an error'}: {stopped.get('message') or ''}".rstrip(": ")
    cell, line = stopped.get("cell"), stopped.get("line")
    where = [f"cell {cell + 1}"] if isinstance(cell, int) else []
    where += [f"line {line}"] if isinstance(line, int) else []
    return plain.join(plain.code(what), f" ({', '.join(where)})" if where else "")


def render_notes(explanation: Explanation) -> None:
    if explanation.notes:
        plain.show_list([plain.message(note) for note in explanation.notes])


def render_fix(state: ExplainState, error: ExplainedError) -> None:
    if error.fix:
        plain.show(plain.strong("How to fix it: "), plain.message(error.fix))
    fix = fix_of(state)
    if fix is None:
        return
    diff = fix_diff(fix.before, fix.after, *fix.names)
    if diff:
        plain.show("The fix, as a diff (lines starting with - go, lines starting with + come in):", muted=True)
        st.code(diff, language="diff", height=360 if diff.count("\n") > 16 else "content")
    plain.show(plain.strong("Run the fix: "), fix.words, muted=True)


MARK_STYLE = "display:block;padding:0 0.5rem;background:#fee2e2;border-left:4px solid #b91c1c"
LINE_STYLE = "display:block;padding:0 0.5rem;border-left:4px solid transparent"
GUTTER_STYLE = "display:inline-block;min-width:3ch;margin-right:1ch;text-align:right;color:#4b5563;user-select:none"
FLAG_STYLE = "color:#7f1d1d"  # 8:1 on the marked line's background


def flag(words: plain.Html) -> plain.Html:
    """The words that mark a line or a cell, in bold dark red: never colour alone."""
    return plain.Html(f'<strong style="{FLAG_STYLE}">{words}</strong>')


def listing(lines: list[str], first: int, marked: int | None, note: plain.Html) -> plain.Html:
    """Numbered lines (``first`` is the number of ``lines[0]``), line ``marked`` highlighted with ``note``
    after it. Learner text, escaped line by line; the numbers are not copied with the code."""
    rows = []
    for number, line in enumerate(lines, start=first):
        mark = number == marked
        gutter = f'<span aria-hidden="true" style="{GUTTER_STYLE}">{number}</span>'
        after = plain.join(" ", flag(plain.join("◀ ", note))) if mark else ""
        rows.append(
            f'<span style="{MARK_STYLE if mark else LINE_STYLE}">{gutter}{plain.text(line) or " "}{after}</span>'
        )
    return plain.Html("".join(rows))


FAILED_BORDER = "#b91c1c"


def code_box(body: plain.Html, label: str, border: str = "#d1d5db") -> plain.Html:
    """A read-only code box that scrolls inside itself, reachable and named for keyboard and screen readers."""
    return plain.Html(
        f'<pre role="region" aria-label="{plain.text(label)}" tabindex="0" style="margin:0 0 0.75rem 0;'
        f"max-height:32rem;overflow:auto;background:#f8fafc;color:#111827;border:1px solid {border};"
        f'border-radius:0.5rem;padding:0.5rem 0;font-size:0.85rem;line-height:1.5"><code>{body}</code></pre>'
    )


def render_script(source: str, error: ExplainedError) -> None:
    """The script with the failing line marked; a long one around that line only."""
    lines = source.splitlines() or [""]
    first, last = 1, len(lines)
    if error.line and len(lines) > 2 * CONTEXT_LINES + 1:
        first, last = max(1, error.line - CONTEXT_LINES), min(len(lines), error.line + CONTEXT_LINES)
        plain.show(f"Lines {first} to {last} of {len(lines)}:", muted=True)
    note = plain.join(error.type, " here")
    body = listing(lines[first - 1 : last], first, error.line, note)
    label = f"Your code, line {error.line} marked" if error.line else "Your code"
    plain.show_block(code_box(body, label))


def render_cells(explanation: Explanation, error: ExplainedError | None) -> None:
    """The notebook's cells, each with its In [n] (In [ ] when never run), the failing one marked."""
    cells = explanation.cells
    failing = error.cell if error is not None else None
    shown = cells
    if failing is not None and len(cells) > 2 * CONTEXT_CELLS + 1:
        at = next((i for i, c in enumerate(cells) if c.get("index") == failing), 0)
        shown = cells[max(0, at - CONTEXT_CELLS) : at + CONTEXT_CELLS + 1]
        plain.show(f"{len(shown)} of the notebook's {len(cells)} cells, around the one that failed:", muted=True)
    parts = []
    for cell in shown:
        index = cell.get("index")
        failed_here = error is not None and index == failing
        head = f"{f'Cell {index + 1}' if isinstance(index, int) else 'Cell'} · {prompt(cell.get('execution_count'))}:"
        lines = str(cell.get("source") or "").splitlines() or [""]
        if failed_here:
            title = plain.join(head, " ", flag(plain.join("— ", error.type, " in this cell")))
            body = listing(lines, 1, error.line, plain.join(error.type, " here"))
            box = code_box(body, f"{head} the cell that failed", FAILED_BORDER)
        else:
            title, box = plain.text(head), code_box(listing(lines, 1, None, plain.Html("")), head)
        parts.append(f'<p style="margin:0.25rem 0;font-family:monospace;color:#1f2937">{title}</p>{box}')
    plain.show_block(plain.Html("".join(parts)))


def fix_outcome(result: Explanation) -> tuple[str, plain.Html]:
    """(tone, words): whether running the fixed version still stops with a NameError."""
    if result.grader_error:  # the sandbox broke: nothing is known about the fix
        return "warning", plain.text(result.summary)
    error = result.error
    if result.found and error is not None:
        message = error.message or f"name '{error.name}' is not defined"
        return "error", plain.join(plain.strong(f"Still {error.type}: "), plain.code(message), " ",
                                   where_words(result, error), ".")  # fmt: skip
    if result.stopped:
        return "warning", plain.join(plain.strong("No NameError now. "), "It now stops with ",
                                     stop_words(result.stopped), ".")  # fmt: skip
    return "success", plain.join(plain.strong("No NameError now: "), "it ran to the end.")


def describe_input(state: ExplainState) -> plain.Html:
    kind = "notebook" if state.explanation and state.explanation.kind == SourceKind.NOTEBOOK else "script"
    return plain.join("Explaining the ", kind, " ", plain.code(state.filename), ".")
