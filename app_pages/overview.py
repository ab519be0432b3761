"""Lessons overview: every lesson with its one-line summary and this learner's status (from the database
when signed in, so it survives reloads and restarts)."""

import streamlit as st

from tutor.lessons.kinds import LessonKind
from tutor.lessons.lesson import Lesson
from tutor.store.progress import ProgressStatus, summarize_learner
from ui import plain
from ui.state import current_learner, get_database, get_lessons, lesson_page, lesson_state
from ui.widgets import dataset_note

BADGES = {
    ProgressStatus.NOT_STARTED: ":material/radio_button_unchecked: not started",
    ProgressStatus.ATTEMPTED: ":material/pending: attempted",
    ProgressStatus.PASSED: ":green[:material/check_circle: passed]",
}

KIND_ICONS = {
    LessonKind.SCRIPT: ":material/description:",
    LessonKind.NOTEBOOK: ":material/book_2:",
    LessonKind.PROJECT: ":material/folder_copy:",
}


def lesson_facts(lesson: Lesson) -> str:
    """The lesson's form and the cause it teaches, in a few words: "Notebook · cause: cells run out of order"."""
    kind = f"{KIND_ICONS[lesson.kind]} {lesson.kind.label.capitalize()}"
    if lesson.project is not None:
        kind += f" ({', '.join(lesson.project.modules)})"
    return kind + (f" · cause: {lesson.cause.label}" if lesson.cause is not None else "")


learner = current_learner()
welcome = st.session_state.pop("welcome", None)
if learner is not None and welcome is not None:
    if welcome:
        plain.show("Welcome back, ", learner.display_name, ": your code and progress are restored.", tone="success")
    else:
        plain.show("Welcome, ", learner.display_name, "! Pick the first lesson to start.", tone="success")
st.title("NameError: name 'model' is not defined")
st.markdown(
    "One of the most common Keras errors, in short lessons. Each lesson gives you real TensorFlow code "
    "with the bug; fix it in the editor, run it, and watch the model train on MNIST."
)
lesson_set = get_lessons()
summary = summarize_learner(get_database(), learner.id) if learner is not None else {}
statuses: dict[str, ProgressStatus] = {}
for lesson in lesson_set.lessons:
    cell = summary.get(lesson.id)
    # the database's word when it has runs (another tab may have run since); else this session's
    statuses[lesson.id] = cell.status if cell is not None and cell.attempts else lesson_state(lesson.id).status
numbers = {lesson.id: number for number, lesson in enumerate(lesson_set.lessons, start=1)}
start = next((lesson for lesson in lesson_set.lessons if statuses[lesson.id] is not ProgressStatus.PASSED), None)
if start is not None:
    first_visit = all(status is ProgressStatus.NOT_STARTED for status in statuses.values())
    where = "Start here" if first_visit else "Continue with"
    with st.container(border=True):
        st.page_link(
            lesson_page(start.id), label=f"{where}: {numbers[start.id]}. {start.title}", icon=":material/arrow_forward:"
        )
        st.caption(
            "The lessons come in the order of how often people meet each cause of this error in public questions, "
            "the most common first. Each one takes a few minutes."
        )
elif lesson_set.lessons:
    st.success(":material/celebration: You passed every lesson.")
for lesson in lesson_set.lessons:
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.page_link(lesson_page(lesson.id), label=f"**{numbers[lesson.id]}. {lesson.title}**")
        left.caption(lesson.summary)
        left.caption(lesson_facts(lesson))
        cell = summary.get(lesson.id)
        status = statuses[lesson.id]
        runs = f" · {cell.attempts} {'attempt' if cell.attempts == 1 else 'attempts'}" if cell and cell.attempts else ""
        right.markdown(BADGES[status] + runs)
if not lesson_set.lessons:
    st.info("No lessons are available yet.")
dataset_note()
