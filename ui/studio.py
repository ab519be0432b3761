"""Streamlit pieces of the lesson studio and the teacher page's proof states (the engine is tutor.authoring.studio
and tutor.authoring.publishing). Lesson text is the teacher's own: the preview renders it as the lesson page does.
Proof details and schema problems quote lesson code and sandbox output: plain text only (ui.plain)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from tutor.authoring.proofs import Proof
from tutor.authoring.publishing import LessonStatus, ProofState
from tutor.authoring.studio import DraftCheck, ImportOutcome, ImportRun, ProofRun
from tutor.lessons.cells import Cell, CellKind, markdown_text
from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import Lesson
from ui import plain

STATE_WORDS = {
    ProofState.SHIPPED: "shipped (proved by CI)",
    ProofState.PROVED: "proved",
    ProofState.WAITING: "waiting to be proved",
    ProofState.PROVING: "proving",
    ProofState.FAILED: "failed",
    ProofState.BROKEN: "file does not load",
}


def when(iso: str | None) -> str:
    if not iso:
        return ""
    try:
        return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return iso


def describe_status(status: LessonStatus) -> dict[str, str]:
    newest = STATE_WORDS[status.state]
    if status.state is ProofState.PROVING:
        newest = f"proving ({status.done} of {status.total} proofs done)"
    elif status.state is ProofState.PROVED:
        newest = f"proved at {when(status.live_at)}"
    if status.live_hash is None:
        live = "nothing yet (hidden from learners)"
    elif status.live_state is ProofState.SHIPPED:
        live = "the shipped version"
    else:
        live = f"the version proved at {when(status.live_at)}"
    if status.live_hash is not None and status.live_hash != status.newest_hash:
        live += " (an older version)"
    return {"lesson": status.id, "newest version": newest, "learners get": live}


def render_proof_states(statuses: list[LessonStatus], background: bool) -> None:
    """The teacher page: each lesson's proof state, and the failing proofs of a failed version."""
    st.subheader(":material/verified: Lesson proofs")
    st.caption("A changed lesson file is proved before learners get it; until its proofs pass, learners keep the "
               "last proved version.")  # fmt: skip
    if background:
        st.caption("Proofs run here in the background, one lesson at a time, behind learners' runs.")
    else:
        st.caption("Background proofs are off: prove changed lessons in the studio or with "
                   "`python -m tutor check-lessons`.")  # fmt: skip
    if not statuses:
        st.caption("No lesson files.")
        return
    st.dataframe(pd.DataFrame([describe_status(s) for s in statuses]), hide_index=True, width="stretch")
    failed = [status for status in statuses if status.state is ProofState.FAILED]
    if failed:
        plain.style(PROOFS_CSS)
    for status in failed:
        lines = [plain.join(plain.strong(item), ": ", detail_html(detail)) for item, detail in status.failures]
        plain.show(plain.strong(status.id), ": the newest version failed these proofs", tone="error")
        with st.container(key=f"proof-failures-{status.id}"):
            plain.show_list(lines)


def render_problems(check: DraftCheck, where=None) -> None:
    """Schema problems at the field, as the teacher types."""
    if check.lesson is not None:
        plain.show(plain.mark(True), " The lesson file is valid.", where=where)
        return
    for name, field_name, problem in check.problems:
        plain.show(plain.code(name), " field ", plain.code(field_name), ": ", problem, tone="error", where=where)


def render_preview(lesson: Lesson) -> None:
    """What a learner will see, as app_pages/lesson.py draws it."""
    st.title(lesson.title)
    st.caption(lesson.summary)
    with st.expander("The problem", expanded=True):
        st.markdown(lesson.explanation)
    if lesson.kind is LessonKind.NOTEBOOK:
        render_cells_preview(lesson.starter_cells)
    elif lesson.project is not None:
        render_modules_preview(lesson)
    else:
        st.code(lesson.starter, language="python", line_numbers=True)
    for number, hint in enumerate(lesson.hints, start=1):
        st.info(f"**Hint {number}.** {hint}")


def render_cells_preview(cells: list[Cell]) -> None:
    """A notebook's cells, read-only: each code cell with its number (the numbers the TOML uses), each markdown
    cell's text (app_pages/notebook.py draws the learner's real notebook)."""
    for cell in cells:
        with st.container(border=True):
            if cell.kind is CellKind.CODE:
                plain.show(plain.strong(f"Cell {cell.number}"), f" · {cell.title}" if cell.title else "", muted=True)
                st.code(cell.source, language="python", line_numbers=True)
            else:
                plain.show(plain.strong("Markdown"), f" · {cell.title}" if cell.title else "", muted=True)
                st.text(markdown_text(cell))


def render_modules_preview(lesson: Lesson) -> None:
    """A project's starter modules, read-only, each under its file name (the learner's page shows one at a time,
    picked above the editor; ui/project.py)."""
    assert lesson.project is not None
    for module in lesson.starter_modules:
        with st.container(border=True):
            runs = f" · run as the program (python {module.name})" if module.name == lesson.project.entry else ""
            plain.show(plain.strong(module.name), runs, muted=True)
            st.code(module.source, language="python", line_numbers=True)


# Proof lines wrap at the width they have: a long word (a path, a quoted line of code) breaks rather than
# runs off the page, and a code span wraps like the words around it (a constant of ours, for ui.plain.style).
PROOFS_CSS = (
    '.st-key-studio-proofs li,[class*="st-key-proof-failures-"] li{overflow-wrap:anywhere}'
    '.st-key-studio-proofs code,[class*="st-key-proof-failures-"] code{white-space:pre-wrap;overflow-wrap:anywhere}'
)


def detail_html(detail: str) -> plain.Html:
    """A proof's detail: our words, quoting lesson code and sandbox output between backticks (``wrong:x``:
    "`==` compares ..."). Each pair of backticks is a code span, its text escaped (ui.plain.message); a last
    unpaired backtick (a detail cut at its length limit) is shown as itself, the pairs before it still spans."""
    if detail.count("`") % 2 == 0:
        return plain.message(detail)
    head, tail = detail.rsplit("`", 1)
    return plain.join(plain.message(head), "`", tail)


def render_proofs(proofs: list[Proof]) -> None:
    lines = [plain.join(plain.mark(p.passed), " ", plain.strong(p.item), ": ", detail_html(p.detail))
             for p in proofs]  # fmt: skip
    if lines:
        plain.style(PROOFS_CSS)
        with st.container(key="studio-proofs"):
            plain.show_list(lines)


def render_proof_run(run: ProofRun) -> None:
    done, total = run.progress()
    if not run.finished:
        st.progress(done / total if total else 0.0, text=f"Proving: {done} of {total or '?'} proofs done")
    render_proofs(list(run.proofs))
    if run.problem:
        plain.show(run.problem, tone="error")
    elif run.finished and run.passed:
        plain.show(f"All {done} proofs passed: this version can be published.", tone="success")
    elif run.finished:
        plain.show("Some proofs failed: fix the lesson and prove it again.", tone="error")


IMPORT_WORDS = {  # (tone, headline) per outcome
    ImportOutcome.WAITING: ("info", "waiting"),
    ImportOutcome.PROVING: ("info", "proving"),
    ImportOutcome.PUBLISHED: ("success", "published"),
    ImportOutcome.FAILED: ("error", "not published"),
    ImportOutcome.REFUSED: ("warning", "not imported"),
}


def render_import(job: ImportRun) -> None:
    for item in job.items:
        tone, headline = IMPORT_WORDS[item.outcome]
        text = item.message
        if item.outcome is ImportOutcome.PROVING and item.run is not None:
            done, total = item.run.progress()
            text = f"{done} of {total} proofs done"
        plain.show(plain.strong(item.lesson_id), f" — {headline}", ": " if text else "", text, tone=tone)
