"""Lessons overview: every lesson with its one-line summary and this learner's status."""

import streamlit as st

from ui.state import get_lessons, lesson_page, lesson_state
from ui.widgets import dataset_note, sandbox_banner

BADGES = {
    "not started": ":gray[:material/radio_button_unchecked: not started]",
    "attempted": ":orange[:material/pending: attempted]",
    "passed": ":green[:material/check_circle: passed]",
}

sandbox_banner()
st.title("NameError: name 'model' is not defined")
st.markdown(
    "One of the most common Keras errors, in four short lessons. Each lesson gives you real TensorFlow code "
    "with the bug; fix it in the editor, run it, and watch the model train on MNIST."
)
lesson_set = get_lessons()
for lesson in lesson_set.lessons:
    with st.container(border=True):
        left, right = st.columns([5, 1], vertical_alignment="center")
        left.page_link(lesson_page(lesson.id), label=f"**{lesson.order}. {lesson.title}**")
        left.caption(lesson.summary)
        right.markdown(BADGES[lesson_state(lesson.id)["status"]])
if not lesson_set.lessons:
    st.info("No lessons are available yet.")
dataset_note()
