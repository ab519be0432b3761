"""The app's entry point: it only routes, and draws what every page shares (the sandbox warning, the
sidebar's look). Pages live in app_pages/, one file each. Who sees which pages: a learner not yet signed
in sees the sign-in page; the teacher page asks for its own passphrase."""

from functools import partial

import streamlit as st

from app_pages.lesson import render_lesson
from tutor.store.db import IdentitySource
from tutor.store.progress import ProgressStatus
from ui.auth import auth_mode, render_account, resolve_learner
from ui.state import get_lessons, get_runs, lesson_status, register_pages
from ui.widgets import page_chrome

st.set_page_config(
    page_title="NameError: model is not defined — a Keras tutor", page_icon=":material/psychology:", layout="wide"
)

get_runs()  # the run manager and its warm sandboxes start with the first page view, not the first run
page_chrome()  # on every page, once: the sandbox warning and the shared styles
teacher = st.Page("app_pages/teacher.py", title="Teacher", icon=":material/co_present:", url_path="teacher")
# The teacher's projector view: opened from the teacher page in a tab of its own, never listed in the sidebar.
projector = st.Page(
    "app_pages/projector.py",
    title="Projector view",
    icon=":material/qr_code_2:",
    url_path="projector",
    visibility="hidden",
)
studio = st.Page("app_pages/studio.py", title="Lesson studio", icon=":material/edit_note:", url_path="studio")
learner = resolve_learner()  # self-paced: None for the moment before the browser says who it is
if learner is None and auth_mode() is not IdentitySource.LOCAL:
    sign_in = st.Page("app_pages/signin.py", title="Sign in", icon=":material/login:", default=True)
    st.navigation([sign_in, teacher, projector, studio]).run()
    st.stop()

if learner is not None:
    render_account(learner)
lesson_set = get_lessons()
overview = st.Page("app_pages/overview.py", title="Lessons", icon=":material/school:", default=True)
lesson_pages = {
    lesson.id: st.Page(
        partial(render_lesson, lesson.id),
        title=lesson.title,
        url_path=lesson.id,
        # a passed lesson is marked in the sidebar (the icon's name is read out as "passed" nowhere: the
        # overview says it in words)
        icon=":material/check_circle:" if lesson_status(lesson.id) is ProgressStatus.PASSED else ":material/code:",
    )
    for lesson in lesson_set.lessons
}
register_pages(lesson_pages)
explain = st.Page("app_pages/explain.py", title="Explain my error", icon=":material/troubleshoot:", url_path="explain")
setup = st.Page("app_pages/setup.py", title="Data and sandbox", icon=":material/build:", url_path="setup")
sections = {
    "": [overview],
    "Lessons": list(lesson_pages.values()),
    "Your own code": [explain],
    "About": [setup],
    "For teachers": [teacher, projector, studio],
}
# Every page listed: collapsed ("View 3 more"), the teacher's pages hid behind a click once lessons grew.
# (A count, not True: with expanded=True a deep link /?lesson=<id> lost its race with the sign-in draw.)
page = st.navigation(sections, expanded=len(lesson_pages) + 8)

# The page a new browser was opened on (its URL's path: /studio, /<lesson id>). The draw that signs it in can
# arrive from the overview (measured: 1 time in 5 for /studio) and would leave it there: go back to that page
# once. Kept until a draw for a known learner has been on it.
by_path = {listed.url_path: listed for listed_pages in sections.values() for listed in listed_pages}
if learner is None and page is not overview:
    st.session_state["opened_on"] = page.url_path
opened_on = st.session_state.get("opened_on")
if learner is not None and opened_on in by_path:
    if page is overview:
        st.session_state.pop("opened_on")
        st.switch_page(by_path[opened_on])
    elif page.url_path == opened_on:
        st.session_state.pop("opened_on")

# Deep link: /?lesson=<id> opens that lesson (each lesson also has its own URL, /<id>). Kept in the session
# until the lesson has been drawn for a known learner: the draw that signs a new browser in can arrive from the
# overview after the switch (switch_page drops the query), and it would land there otherwise.
wanted = st.query_params.get("lesson")
if wanted in lesson_pages:
    st.session_state["deep_link"] = wanted
pending = st.session_state.get("deep_link")
if page is overview and pending in lesson_pages:
    st.switch_page(lesson_pages[pending])
if page is lesson_pages.get(pending):
    if learner is not None:  # drawn for a known learner: the link has done its work
        st.session_state.pop("deep_link", None)
        # The browser may have missed the sign-in's URL change (sent in a run the switch cut short): again.
        for name, value in list(st.query_params.items()):
            st.query_params[name] = value
elif page is not overview:
    st.session_state.pop("deep_link", None)  # the learner went elsewhere
page.run()
