"""The lesson studio (teachers only): write or edit a lesson in the browser — TOML, starter and solution
in tabs (each at the page's full width), schema problems at the field as you type, a preview of the learner's
page, Prove with live progress, Publish once this exact text passed its proofs — and export or import lesson
packs.

A notebook draft (``kind = "notebook"``) shows its starter and solution as cells (ui.studio_cells), or as their
percent-format text ("Edit as text": the text is the truth, the cells are read from it), and takes in or gives
out a Jupyter notebook (.ipynb) for either. A project draft (``kind = "project"``) shows them one module at a
time (ui.studio_modules: a module picker, the entry, add / rename / delete), or as their whole text."""

from __future__ import annotations

import os
from dataclasses import replace
from functools import partial
from pathlib import Path

import streamlit as st

from tutor import settings
from tutor.authoring.modules import (
    ModuleError,
    add_module,
    delete_module,
    draft_modules,
    has_header,
    module_text,
    project_entry,
    rename_module,
    set_entry,
    set_module,
)
from tutor.authoring.studio import (
    REPLACE_LABEL,
    DraftCheck,
    check_draft,
    draft_kind,
    field_line,
    ipynb_of,
    is_skeleton_solution,
    new_draft,
    notebook_from_ipynb,
    publish,
    start_import,
    start_proof_run,
)
from tutor.lessons.cells import MAX_IPYNB_BYTES, NotebookError
from tutor.lessons.files import Draft, PublishError, files_version, read_draft
from tutor.lessons.kinds import LessonKind
from tutor.lessons.packs import MAX_PACK_BYTES, PackError, export_pack, read_pack
from tutor.lessons.schema import ID_PATTERN
from ui import plain
from ui.auth import require_teacher
from ui.editor import code_editor, split_run_marker
from ui.studio import render_import, render_preview, render_problems, render_proof_run
from ui.studio_cells import apply, items_of, joined, read_widgets, render_cells, same_shape, style_cells
from ui.studio_modules import (
    ENTRY,
    NEW_NAME,
    PICK,
    RENAME,
    ModuleOp,
    editor_key,
    picked_module,
    render_module_bar,
    render_module_editor,
    sync_entry,
)

NEW = "(a new lesson)"
EDITORS = (("toml", "Lesson file (TOML)"), ("starter", "Starter code (what learners get)"),
           ("solution", "Reference solution"))  # fmt: skip
TAB_LABELS = ("Lesson (TOML)", "Starter", "Solution")  # a tab per file of EDITORS, each at full width
NOTEBOOK_FILES = ("starter", "solution")  # a notebook draft's files shown as cells (a project's, as modules)
KIND_WORDS = {LessonKind.SCRIPT: "Script (one file)", LessonKind.NOTEBOOK: "Notebook (# %% cells)",
              LessonKind.PROJECT: "Project (several modules)"}  # fmt: skip
VIEWS = {LessonKind.NOTEBOOK: "cells", LessonKind.PROJECT: "modules"}  # a kind's view besides the text
AS_TEXT = "studio-as-text"  # the "Edit as text" toggle
INTO_WORDS = {"both": "the starter and the solution", "starter": "the starter", "solution": "the solution"}

st.title("Lesson studio")
require_teacher("studio-unlock")
studio = st.session_state.setdefault("studio", {"draft": None, "base": None, "gen": 0, "run": None, "note": None})
# A notebook draft's view: "cells" (studio["cells"][name]: ui.studio_cells items) or "text"; a project draft's:
# "modules" (one module of each at a time) or "text". "view" is part of the starter's and solution's editors' keys
# (fresh editors with the draft's text each time a view opens, or the page changes the text itself), "toml-view"
# of the TOML editor's (a module renamed, or the entry picked, changes the TOML).
studio.setdefault("mode", "text")
studio.setdefault("toml-view", 0)
studio.setdefault("modules-note", None)
studio.setdefault("undo", None)  # after a module was deleted: (what, the texts after, the texts before)
studio.setdefault("cells", {})
studio.setdefault("view", 0)
studio.setdefault("kind", LessonKind.SCRIPT)
studio.setdefault("next_id", 0)
studio.setdefault("uploads", 0)


def new_id() -> int:
    studio["next_id"] += 1
    return studio["next_id"]


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
        kind = LessonKind(st.session_state.get("studio-new-kind", LessonKind.SCRIPT))
        studio["draft"], studio["base"] = new_draft(lesson_id, kind), None
    else:
        studio["draft"], studio["base"] = read_draft(choice), files_version(choice)
    studio["gen"] += 1  # fresh editors with the opened text
    studio["kind"] = draft_kind(studio["draft"].toml) or LessonKind.SCRIPT
    studio["ipynb-note"] = None
    studio["modules-note"], studio["undo"] = None, None
    st.session_state.pop(PICK, None)  # a project opens at its entry module
    show_view(wanted_view())


def wanted_view() -> str:
    as_text = studio["kind"] not in VIEWS or st.session_state.get(AS_TEXT, False)
    return "text" if as_text else VIEWS[studio["kind"]]


def show_view(view: str) -> None:
    """Show the starter and solution as cells or as text, read from the draft's text as it is now."""
    draft: Draft = studio["draft"]
    studio["mode"] = view
    if view == "cells":
        studio["cells"] = {name: items_of(getattr(draft, name), new_id) for name in NOTEBOOK_FILES}
    else:
        studio["cells"] = {}
        studio["view"] += 1


def text_key(name: str) -> str:
    if name == "toml":
        return f"studio-toml-{studio['gen']}" + (f".{studio['toml-view']}" if studio["toml-view"] else "")
    return f"studio-{name}-{studio['gen']}.{studio['view']}"


def module_key(name: str, module: str) -> str:
    return editor_key(name, module, f"{studio['gen']}.{studio['view']}")


def current_draft() -> Draft:
    """The opened draft with the editors' newest text (also inside callbacks, before the editors run)."""
    draft: Draft = studio["draft"]
    split = False
    for name, _ in EDITORS:
        if studio["mode"] == "modules" and name in NOTEBOOK_FILES:
            split = read_modules(draft, name) or split
            continue
        items = studio["cells"].get(name) if studio["mode"] == "cells" else None
        if items is not None:
            if read_widgets(items):  # unchanged cells leave the text exactly as it was
                setattr(draft, name, joined(items))
                if not same_shape(items, getattr(draft, name)):  # a "# %%" typed into a cell: two cells now
                    studio["cells"][name] = items_of(getattr(draft, name), new_id)
            continue
        value, _ = split_run_marker(st.session_state.get(text_key(name)))
        if value is not None:
            setattr(draft, name, value)
    if split:  # a header line typed into a module: fresh editors, read from the text again
        studio["view"] += 1
    return draft


def read_modules(draft: Draft, name: str) -> bool:
    """Take each module editor's newest text into the starter's or solution's text (a module the text lacks is
    added). True when a header line typed into a module split it (the modules are to be read again)."""
    split = False
    for module in draft_modules(draft):
        value, _ = split_run_marker(st.session_state.get(module_key(name, module)))
        if value is None:
            continue
        text = set_module(getattr(draft, name), module, value)
        if text != getattr(draft, name):
            setattr(draft, name, text)
            split = split or has_header(value)
    return split


def module_op(op: str) -> None:
    """A module control: add, rename, delete (or undo that), or pick the entry; both texts at once."""
    draft = current_draft()
    picked = st.session_state.get(PICK)
    before, undo, pick = draft, None, picked
    try:
        if op == ModuleOp.ADD:
            draft, pick = add_module(draft, st.session_state.get(NEW_NAME) or "")
            st.session_state[NEW_NAME] = ""
            note = f"Added {pick} to the starter and the solution: write it, and import it where it is used."
        elif op == ModuleOp.RENAME:
            draft, pick = rename_module(draft, picked, st.session_state.get(RENAME) or "")
            st.session_state[RENAME] = ""
            note = f"Renamed {picked} to {pick} (change any `import {picked.removesuffix('.py')}` in the code)."
        elif op == ModuleOp.DELETE:
            draft, pick = delete_module(draft, picked), project_entry(draft.toml)
            undo = (f"delete {picked}", texts_of(draft), texts_of(before))
            note = f"Deleted {picked} from the starter and the solution."
        elif op == ModuleOp.UNDO:
            if undoable(draft) is None:
                return
            what, _, (starter, solution) = studio["undo"]
            draft, pick = replace(draft, starter=starter, solution=solution), None
            note = f"Undone: {what}."
        elif op == ModuleOp.ENTRY:
            entry = st.session_state.get(ENTRY)
            if entry is None:
                return
            draft = replace(draft, toml=set_entry(draft.toml, entry))
            note = f"The program is now {entry} ([project] entry in the TOML)."
        else:
            return
    except ModuleError as exc:
        studio["modules-note"] = ("error", str(exc))
        return
    if draft.toml != before.toml:
        studio["toml-view"] += 1  # a fresh TOML editor with the changed text
    studio["draft"], studio["undo"], studio["modules-note"] = draft, undo, ("success", note)
    studio["view"] += 1  # fresh module editors with the changed texts
    if pick is not None:
        st.session_state[PICK] = pick


def texts_of(draft: Draft) -> tuple[str, str]:
    return draft.starter, draft.solution


def undoable(draft: Draft) -> str | None:
    """What Undo takes back: the last delete, while the starter and the solution are as it left them."""
    undo = studio["undo"]
    return undo[0] if undo is not None and undo[1] == texts_of(draft) else None


def cell_op(name: str, item_id: int | None, op: str) -> None:
    """A cell button: add, move or delete a cell of the starter or the solution."""
    draft = current_draft()
    studio["cells"][name] = apply(studio["cells"][name], op, item_id, new_id)
    setattr(draft, name, joined(studio["cells"][name]))


def into_key(skeleton: bool) -> str:
    return f"studio-ipynb-into-{studio['uploads']}-{int(skeleton)}"


def import_ipynb() -> None:
    """Import .ipynb: the uploaded notebook becomes the starter, the solution, or both (as chosen)."""
    upload = st.session_state.get(f"studio-ipynb-{studio['uploads']}")
    if upload is None:
        studio["ipynb-note"] = ("error", "Choose an .ipynb file first.")
        return
    draft = current_draft()
    try:
        notebook = notebook_from_ipynb(upload.getvalue())
    except NotebookError as exc:
        studio["ipynb-note"] = ("error", f"Not imported: {upload.name} {exc}")
        return
    into = st.session_state.get(into_key(is_skeleton_solution(draft)), "starter")
    names = NOTEBOOK_FILES if into == "both" else (into,)
    for name in names:
        setattr(draft, name, notebook.text)
    show_view(studio["mode"])  # fresh cells (or text editors) with the imported text
    studio["uploads"] += 1  # an empty file chooser: the file was taken in
    studio["ipynb-note"] = ("success", (
        f"Imported {upload.name} into {INTO_WORDS[into]}: {notebook.cells} cells, {notebook.code_cells} of them "
        "code. The TOML's [notebook] session and starter_fails_with.cell count the starter's code cells from 1: "
        "check them (the problems below the TOML name any that no longer fit)."
    ))  # fmt: skip


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
    names = ", ".join(shown_path(path) for path in written)
    studio["note"] = ("success", f"Published '{draft.lesson_id}' ({names}): learners get this version now.")
    st.session_state["studio-pick"] = draft.lesson_id  # the picker shows the lesson now open: it exists
    st.session_state["studio-new-id"] = ""


def shown_path(path: Path) -> str:
    """A published file as the teacher finds it: under the folder that holds the lessons and the solutions
    folders (lessons/x.toml, solutions/x.py), or its full path where they have no such folder in common."""
    folders = (settings.lessons_dir().resolve(), settings.solutions_dir().resolve())
    root = Path(os.path.commonpath(folders))
    path = path.resolve()
    return path.relative_to(root).as_posix() if root != Path(root.anchor) and path.is_relative_to(root) else str(path)


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
    # One row where it fits, wrapping onto more on a narrow screen (columns squeezed the button's label).
    with st.container(horizontal=True, vertical_alignment="bottom", key="studio-picker"):
        st.selectbox("Lesson", [NEW, *lesson_ids()], key="studio-pick", width=280)
        st.text_input("New lesson's id", key="studio-new-id", placeholder="e.g. keep-the-model", width=240)
        st.radio("New lesson's kind", list(LessonKind), format_func=KIND_WORDS.__getitem__, horizontal=True,
                 key="studio-new-kind", width="content")  # fmt: skip
        st.button(":material/edit: Open lesson", key="studio-open", on_click=open_draft, width="content")
    if studio["draft"] is None:
        show_note()
        st.caption("Pick a lesson to edit, or type a new id and open a new lesson: it starts as a working skeleton.")
        return
    draft = current_draft()
    studio["kind"] = draft_kind(draft.toml) or studio["kind"]  # a TOML half-way through an edit keeps the view
    if wanted_view() != studio["mode"]:
        show_view(wanted_view())
    notebook = studio["kind"] is LessonKind.NOTEBOOK
    project = studio["kind"] is LessonKind.PROJECT
    kind_words = " — a notebook lesson" if notebook else " — a project lesson" if project else ""
    plain.show("Editing ", plain.code(draft.lesson_id), " — new" if studio["base"] is None else "", kind_words,
               muted=True)  # fmt: skip
    check = check_draft(draft)  # the editors' newest text is in session state before they render
    if notebook:
        style_cells()
        st.toggle("Edit as text", key=AS_TEXT,
                  help="The starter and the solution as their percent-format text: a line '# %%' starts a code "
                  "cell, '# %% [markdown]' a markdown cell of '# ' comments (docs/authoring.md)")  # fmt: skip
    module = None
    if project:
        st.toggle("Edit as text", key=AS_TEXT,
                  help="The starter and the solution as one text each: a line '# ==> name.py <==' starts each "
                  "module (docs/authoring.md)")  # fmt: skip
        if studio["mode"] == "modules":
            names, entry = draft_modules(draft), project_entry(draft.toml)
            module = picked_module(names, entry)
            sync_entry(names, entry)
            render_module_bar(names, entry, module, module_op, undoable(draft), studio["modules-note"])
    # One file at a time, each at the page's full width (a TOML line is long); the schema problems below them.
    tabs = st.tabs(TAB_LABELS, key="studio-files")
    for tab, (name, label) in zip(tabs, EDITORS, strict=True):
        with tab:
            st.markdown(f"**{label}**")
            if name in studio["cells"]:
                render_cells(name, label, studio["cells"][name], cell_op)
                continue
            if studio["mode"] == "modules" and name in NOTEBOOK_FILES:
                source = module_text(getattr(draft, name), module) if module is not None else None
                render_module_editor(label.split(" (")[0], source, module, module_key(name, module or ""),
                                     project_entry(draft.toml))  # fmt: skip
                continue
            marks = toml_marks(check, draft.toml) if name == "toml" else []
            code_editor(getattr(draft, name), text_key(name), marks,
                        mode="toml" if name == "toml" else "python", min_lines=24)  # fmt: skip
    render_problems(check)

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
    if notebook:
        notebook_files(draft)
    if check.lesson is not None:
        st.subheader("The learner's page (preview)")
        with st.container(border=True):
            render_preview(check.lesson)


def notebook_files(draft: Draft) -> None:
    """A notebook draft's starter or solution from a Jupyter notebook, and each out as one."""
    with st.container(border=True, key="studio-ipynb"):
        st.markdown("**Jupyter notebooks (.ipynb)**")
        upload_col, into_col, out_col = st.columns([3, 2, 2])
        # read_ipynb refuses a file over MAX_IPYNB_BYTES, in words; the chooser refuses much bigger ones at once
        upload_col.file_uploader("Import .ipynb", type=["ipynb"], key=f"studio-ipynb-{studio['uploads']}",
                                 max_upload_size=max(1, -(-MAX_IPYNB_BYTES // (1024 * 1024))))  # fmt: skip
        # the solution too while it is the skeleton's (a fresh choice with each file, and once the solution changes)
        skeleton = is_skeleton_solution(draft)
        into_col.radio("Import it as", list(INTO_WORDS), index=0 if skeleton else 1, format_func=INTO_WORDS.__getitem__,
                       key=into_key(skeleton))  # fmt: skip
        into_col.button(":material/upload_file: Import this notebook", key="studio-ipynb-import",
                        on_click=import_ipynb,
                        help="Replaces the chosen text with the notebook's cells (outputs are left out)")  # fmt: skip
        for name, label in (("starter", "Download starter .ipynb"), ("solution", "Download solution .ipynb")):
            suffix = "" if name == "starter" else "-solution"
            out_col.download_button(
                label, data=partial(ipynb_of, getattr(draft, name)), file_name=f"{draft.lesson_id}{suffix}.ipynb",
                mime="application/x-ipynb+json", on_click="ignore", key=f"studio-ipynb-{name}",
            )  # fmt: skip
        note = studio.get("ipynb-note")
        if note is not None:
            plain.show(note[1], tone=note[0])


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
