"""The projector view: what a teacher puts on the wall for learners to join — the app's address, the
workshop code in large type and a QR code of the join link, with the loopback warning where it applies.
Nothing about any learner: no names, no code, no grid (those stay on the teacher page, which links here).
Behind the teacher page's own gate."""

import streamlit as st

from ui.teacher import render_projector, require_teacher_page

st.set_page_config(initial_sidebar_state="collapsed")  # a new tab: the wall shows the page, not the menu
st.title("Join the workshop")
require_teacher_page(projector=True)
render_projector()
