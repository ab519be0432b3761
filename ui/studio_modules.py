"""A project draft's starter and solution in the lesson studio, one module at a time: a module picker above the
editors (the same module shown in both: the Starter and the Solution tab), the module run as the program (the TOML's
``[project] entry``), and controls to add, rename and delete a module (in both texts at once; a delete can be
undone). Each text stays one text with a ``# ==> name.py <==`` header per module: the editor of a module writes
back into it (tutor.authoring.modules), and "Edit as text" shows it whole.

No engine here (tutor.authoring.modules edits the texts); the page (app_pages/studio.py) owns the draft and runs
each operation in a callback, before the page is drawn again. Every key starts with ``module-`` so that the code
editor sends its newest text before a click here is handled (ui/editor.py), as on a project lesson's page.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from tutor.lessons.project import MAX_MODULES
from ui import plain
from ui.editor import code_editor

PICK = "module-studio-pick"
ENTRY = "module-studio-entry"
NEW_NAME = "module-studio-new-name"
RENAME = "module-studio-rename-to"


class ModuleOp:
    ADD = "add"
    RENAME = "rename"
    DELETE = "delete"
    UNDO = "undo"
    ENTRY = "entry"


def button_key(op: str) -> str:
    return f"module-studio-{op}"


def editor_key(name: str, module: str, generation: str) -> str:
    """The editor of one module of the starter or the solution (``generation``: fresh editors after each change
    the page makes to the text itself)."""
    return f"studio-{name}-{generation}-module-{module}"


def picked_module(names: list[str], entry: str | None) -> str | None:
    """The module the editors show: the one picked, else the entry, else the first (None: there is none). Call it
    before the picker is drawn (it may set the picker's state)."""
    if not names:
        return None
    if st.session_state.get(PICK) not in names:
        st.session_state[PICK] = entry if entry in names else names[0]
    return st.session_state[PICK]


def render_module_bar(
    names: list[str],
    entry: str | None,
    picked: str | None,
    on_op: Callable[[str], None],
    undo: str | None = None,
    note: tuple[str, str] | None = None,
) -> None:
    """The module picker and the module controls; ``on_op(op)`` runs before the page does (a Streamlit callback).
    ``undo``: what the Undo button takes back (None: no button); ``note``: (tone, words) of the last operation."""

    def label(name: str) -> str:
        return name + (" (runs)" if name == entry else "")

    with st.container(border=True, key="module-studio-bar"):
        st.markdown("**Modules** (the starter and the solution have the same ones)")
        if names:
            st.segmented_control(
                "Module shown in the starter and solution editors",
                names,
                key=PICK,
                format_func=label,
                help="Each module is a file of the learner's project; the program is the entry module, run as "
                f"`python {entry or 'train.py'}`, and it imports the others",
            )
        else:
            plain.show("No modules yet: add one below, or write '# ==> name.py <==' headers in 'Edit as text'.",
                       muted=True)  # fmt: skip
        entry_col, add_col, rename_col, delete_col = st.columns([2, 2, 2, 1], vertical_alignment="bottom")
        entry_col.selectbox(
            "Module run as the program ([project] entry)", names, key=ENTRY, index=None,
            placeholder="Choose the entry module", on_change=on_op, args=(ModuleOp.ENTRY,), disabled=not names,
            help="Sets `entry` under [project] in the TOML: the grader runs `python <entry>`",
        )  # fmt: skip
        with add_col:
            st.text_input("New module's name", key=NEW_NAME, placeholder="e.g. data_utils.py",
                          disabled=len(names) >= MAX_MODULES)  # fmt: skip
            st.button(":material/add: Add module", key=button_key(ModuleOp.ADD), on_click=on_op, args=(ModuleOp.ADD,),
                      disabled=len(names) >= MAX_MODULES,
                      help="Adds an empty module at the end of the starter and of the solution")  # fmt: skip
        with rename_col:
            st.text_input(f"Rename {picked or 'the module'} to", key=RENAME, placeholder="e.g. model_utils.py",
                          disabled=picked is None)  # fmt: skip
            st.button(":material/edit: Rename module", key=button_key(ModuleOp.RENAME), on_click=on_op,
                      args=(ModuleOp.RENAME,), disabled=picked is None,
                      help="Renames it in the starter, the solution and, where they name it, the TOML's [project] "
                      "entry and starter_fails_with.file (an `import` of it in the code is yours to edit)")  # fmt: skip
        is_entry = picked is not None and picked == entry
        delete_col.button(
            f":material/delete: Delete {picked}" if picked else "Delete module", key=button_key(ModuleOp.DELETE),
            on_click=on_op, args=(ModuleOp.DELETE,), disabled=picked is None or is_entry or len(names) < 2,
            help="The entry module cannot be deleted: make another one the entry first" if is_entry
            else "Deletes the module shown from the starter and the solution (Undo brings it back)",
        )  # fmt: skip
        if note is not None:
            plain.show(note[1], tone=note[0])
        if undo is not None:
            st.button(f":material/undo: Undo: {undo}", key=button_key(ModuleOp.UNDO), on_click=on_op,
                      args=(ModuleOp.UNDO,))  # fmt: skip


def sync_entry(names: list[str], entry: str | None) -> None:
    """The entry picker shows what the TOML says (the teacher may have typed it there). Call before it is drawn."""
    st.session_state[ENTRY] = entry if entry in names else None


def render_module_editor(label: str, source: str | None, module: str | None, key: str, entry: str | None) -> None:
    """One module of the starter or the solution (``source``: the module's text; None: that text lacks it, and
    what is typed adds it)."""
    if module is None:
        plain.show("No module to show.", muted=True)
        return
    runs = " · run as the program" if module == entry else ""
    plain.show(plain.code(module), runs, muted=True)
    if source is None:
        plain.show(f"The {label.lower()} has no module {module}: what you type here adds it.", tone="warning")
    code_editor(source or "", key, mode="python", min_lines=22)
