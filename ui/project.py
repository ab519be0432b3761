"""A project lesson's editor: one module at a time, picked above the editor (the entry module first shown,
the module a run failed in opened after it, marked); the learner's code stays one text with a header per
module (tutor.lessons.project), so storing, running and grading it is as for any lesson."""

from __future__ import annotations

import streamlit as st

from tutor.grading.verdict import Verdict
from tutor.lessons.lesson import Lesson
from tutor.lessons.project import module_names
from ui.widgets import first_failure


def lesson_modules(lesson: Lesson, code: str) -> list[str]:
    """The modules of the learner's text (the starter's, should the text have lost its headers)."""
    return module_names(code) or list(lesson.project.modules if lesson.project else ())


def failed_module(verdict: Verdict | None) -> str | None:
    """The module the verdict's error is in (grading names it for every project run)."""
    result = first_failure(verdict) if verdict is not None else None
    return result.error.file if result is not None and result.error is not None else None


def picker_key(lesson: Lesson) -> str:
    return f"module-{lesson.id}"


def pick_module(lesson: Lesson, code: str, open_module: str | None, verdict: Verdict | None) -> str:
    """The file picker; returns the module the editor shows. ``open_module``: the one to open now."""
    assert lesson.project is not None
    names = lesson_modules(lesson, code)
    key = picker_key(lesson)
    if open_module in names:
        st.session_state[key] = open_module  # before the widget exists in this run: allowed
    if st.session_state.get(key) not in names:
        st.session_state[key] = lesson.project.entry if lesson.project.entry in names else names[0]
    failed = failed_module(verdict)

    def label(name: str) -> str:
        mark = ":material/error: " if name == failed else ""
        return f"{mark}{name}" + (" (runs)" if name == lesson.project.entry else "")

    picked = st.segmented_control(
        "File",
        names,
        key=key,
        format_func=label,
        help=f"This project has {len(names)} files. Run runs `python {lesson.project.entry}`; it imports the others.",
    )
    return picked or lesson.project.entry
