"""The lesson studio (teachers only): write or edit a lesson in the browser — TOML, starter and solution
side by side, schema problems at the field as you type, a preview of the learner's page, Prove with live
progress, Publish once this exact text passed its proofs — and export or import lesson packs."""

from __future__ import annotations

from functools import partial

import streamlit as st

from tutor import settings
from tutor.authoring.new_lesson import CODE, SOLUTION_CALL, STARTER_CALL, TOML
from tutor.authoring.studio import (
    REPLACE_LABEL,
    DraftCheck,
    check_draft,
    field_line,
    publish,
    start_import,
    start_proof_run,
)
from tutor.lessons.files import Draft, PublishError, files_version, read_draft
from tutor.lessons.packs import MAX_PACK_BYTES, PackError, export_pack, read_pack
from tutor.lessons.schema import ID_PATTERN
from ui import plain
from ui.auth import require_teacher
from ui.editor import code_editor, split_run_marker
from ui.studio import render_import, render_preview, render_problems, render_proof_run

NEW = "(a new lesson)"
EDITORS = (("toml", "Lesson file (TOML)"), ("starter", "Starter code (what learners get)"),
           ("solution", "Reference solution"))  # fmt: skip

st.title("Lesson studio")
require_teacher("studio-unlock")
studio = st.session_state.setdefault("studio", {"draft": None, "base": None, "gen": 0, "run": None, "note": None})


def lesson_ids() -> list[str]:
    return sorted(path.stem for path in settings.lessons_dir().glob("*.toml"))


def open_draft() -> None:
    choice = st.session_state.get("studio-pick", NEW)
    studio["run"], studio["note"] = None, None
    if choice == NEW:
        lesson_id = (st.session_state.get("studio-new-id") or "").strip()
        if not ID_PATTERN.match(lesson_id):
            studio["note"] = ("error", "Type the new lesson's id: lowercase words joined by '-', e.g. keep-the-model.")
            return
        if lesson_id in lesson_ids():
            studio["note"] = ("error", f"A lesson '{lesson_id}' exists already: pick it in the list to edit it.")
            return
        draft = Draft(lesson_id, TOML.format(id=lesson_id), CODE.format(call=STARTER_CALL),
                      CODE.format(call=SOLUTION_CALL))  # fmt: skip
        studio["draft"], studio["base"] = draft, None
    else:
        studio["draft"], studio["base"] = read_draft(choice), files_version(choice)
    studio["gen"] += 1  # fresh editors with the opened text


def current_draft() -> Draft:
    """The opened draft with the editors' newest text (also inside callbacks, before the editors run)."""
    draft: Draft = studio["draft"]
    for name, _ in EDITORS:
        value, _ = split_run_marker(st.session_state.get(f"studio-{name}-{studio['gen']}"))
        if value is not None:
            setattr(draft, name, value)
    return draft


def toml_marks(check: DraftCheck, toml: str) -> list[dict]:
    """Each problem as a gutter mark at the line where its field is written (Ace annotations)."""
    marks = []
    for name, field_name, problem in check.problems:
        line = field_line(toml, field_name, problem) if name.endswith(".toml") else None
        marks.append({"row": (line or 1) - 1, "column": 0, "type": "error", "text": f"{field_name}: {problem}"})
    return marks


def prove() -> None:
    studio["run"] = start_proof_run(current_draft())
    studio["seen"], studio["note"] = False, None


def publish_now() -> None:
    draft = current_draft()
    try:
        written = publish(draft, studio["base"])
    except PublishError as exc:
        studio["note"] = ("error", str(exc))
        return
    studio["base"] = files_version(draft.lesson_id)
    names = ", ".join(path.name for path in written)
    studio["note"] = ("success", f"Published '{draft.lesson_id}' ({names}): learners get this version now.")


def proof_panel() -> None:
    run = studio["run"]
    every = None if run.finished else 1.0

    @st.fragment(run_every=every)
    def panel() -> None:
        render_proof_run(run)
        if run.finished and not studio.get("seen"):
            studio["seen"] = True
            if every is not None:
                st.rerun(scope="app")  # Publish becomes available

    panel()


def editor_tab() -> None:
    pick, new_id, open_col = st.columns([2, 2, 1], vertical_alignment="bottom")
    pick.selectbox("Lesson", [NEW, *lesson_ids()], key="studio-pick")
    new_id.text_input("New lesson's id", key="studio-new-id", placeholder="e.g. keep-the-model")
    open_col.button(":material/edit: Open lesson", key="studio-open", on_click=open_draft)
    if studio["draft"] is None:
        show_note()
        st.caption("Pick a lesson to edit, or type a new id and open a new lesson: it starts as a working skeleton.")
        return
    draft = current_draft()
    plain.show("Editing ", plain.code(draft.lesson_id), " — new" if studio["base"] is None else "", muted=True)
    check = check_draft(draft)  # the editors' newest text is in session state before they render
    columns = st.columns(3)
    for column, (name, label) in zip(columns, EDITORS, strict=True):
        with column:
            st.markdown(f"**{label}**")
            marks = toml_marks(check, draft.toml) if name == "toml" else []
            code_editor(getattr(draft, name), f"studio-{name}-{studio['gen']}", marks,
                        mode="toml" if name == "toml" else "python", min_lines=24)  # fmt: skip
    render_problems(check, where=columns[0])

    run = studio["run"]
    proved_this = run is not None and run.finished and run.passed and run.digest == check.digest
    running = run is not None and not run.finished
    prove_col, publish_col, _ = st.columns([1, 1, 3])
    prove_col.button(":material/fact_check: Prove", key="studio-prove", on_click=prove,
                     disabled=check.lesson is None or running)  # fmt: skip
    publish_col.button(":material/publish: Publish", key="studio-publish", type="primary", on_click=publish_now,
                       disabled=not proved_this,
                       help="Writes the files for learners; only a version whose proofs passed")  # fmt: skip
    show_note()
    if run is not None:
        if run.finished and run.digest is not None and run.digest != check.digest:
            st.caption("The text changed since these proofs: prove it again to publish it.")
        proof_panel()
    if check.lesson is not None:
        st.subheader("The learner's page (preview)")
        with st.container(border=True):
            render_preview(check.lesson)


def show_note() -> None:
    note = studio.get("note")
    if note is not None:
        plain.show(note[1], tone=note[0])


def packs_tab() -> None:
    st.subheader("Export")
    chosen = st.multiselect("Lessons to export", lesson_ids(), key="pack-export")
    st.download_button(
        ":material/download: Download the pack (zip)", data=partial(export_pack, list(chosen)) if chosen else b"",
        file_name="lesson-pack.zip", mime="application/zip", on_click="ignore", key="pack-download",
        disabled=not chosen,
    )  # fmt: skip
    st.subheader("Import")
    st.caption("Each lesson in the pack is proved first and published only when its proofs pass.")
    # A pack holds at most MAX_PACK_BYTES unpacked, so a bigger zip cannot be one: refused before upload.
    upload = st.file_uploader(
        "Lesson pack (zip)", type=["zip"], key="pack-upload", max_upload_size=MAX_PACK_BYTES // (1024 * 1024)
    )
    job = st.session_state.get("pack-job")
    if upload is not None:
        try:
            drafts = read_pack(upload.getvalue()).drafts()
        except PackError as exc:
            plain.show("Not imported: ", str(exc), tone="error")
            drafts = []
        for draft in drafts:
            plain.show(plain.strong(draft.lesson_id), muted=True)
            render_problems(check_draft(draft))
        if drafts:
            replace = st.checkbox(REPLACE_LABEL, key="pack-replace")
            if st.button(":material/upload: Prove and publish", key="pack-import"):
                st.session_state["pack-job"] = job = start_import(drafts, replace=replace)
    if job is not None:
        every = None if job.finished else 1.0

        @st.fragment(run_every=every)
        def progress() -> None:
            render_import(job)
            if job.finished and every is not None:
                st.rerun()  # the whole page, once: its sidebar then lists the lessons just published

        progress()


st.header("Write or edit a lesson")
editor_tab()
st.divider()
st.header("Lesson packs")
packs_tab()
