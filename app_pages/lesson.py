"""A lesson: explanation, editor, Run/Stop/Reset, live training, verdict, hints and solution."""

from __future__ import annotations

import time

import streamlit as st

from tutor.jobs import JobState, RunInFlight
from tutor.lessons import Lesson
from ui import plain
from ui.editor import code_editor, ctrl_enter_runs, split_run_marker
from ui.state import get_lessons, get_manager, keep_code, lesson_state, owner_id
from ui.widgets import dataset_note, error_marks, render_live, render_solution, render_verdict, sandbox_banner

# Edits reach the server ~200 ms after typing stops; a Run click waits this long before it takes the
# editor's text, so a keystroke made just before the click is never lost.
RUN_GRACE_S = 0.6


def render_lesson(lesson_id: str) -> None:
    lesson = get_lessons().get(lesson_id)
    if lesson is None:
        st.error("This lesson is not available right now. Your teacher may be editing it.")
        return
    state = lesson_state(lesson.id)
    sandbox_banner()
    st.title(lesson.title)
    st.caption(lesson.summary)
    if state.pop("restored", False):
        st.info(":material/history: Your latest code for this lesson is back in the editor. **Reset** puts the "
                "starter code back.")  # fmt: skip
    with st.expander("The problem", expanded=state["verdict"] is None):
        st.markdown(lesson.explanation)
    render_editor(lesson, state)
    left, right = st.columns([3, 2], gap="large")
    with left:
        live_panel(lesson.id)
        if state["verdict"] is not None and not job_active(state):
            render_verdict(state["verdict"])
    with right:
        render_hints(lesson, state)
        render_solution_panel(lesson, state)
    dataset_note()


def render_editor(lesson: Lesson, state: dict) -> None:
    code = state["code"] if state["code"] is not None else lesson.starter
    key = f"editor-{lesson.id}-{state['generation']}"
    # The editor's newest text is in session state before the editor renders: mark the failing line only
    # while the text is still the code that failed.
    newest, _ = split_run_marker(st.session_state.get(key))
    ran_this_code = state["verdict"] is not None and state.get("verdict_source") == (newest or code)
    annotations, markers = error_marks(state["verdict"]) if ran_this_code else ([], [])
    text, token = code_editor(code, key, annotations, markers)
    state["code"] = text
    keep_code(lesson.id, state, lesson.starter)
    if token and token != state["last_token"]:  # Ctrl/Cmd+Enter in the editor: the text is fresh
        state["last_token"] = token
        start_run(lesson, state, text)
    active = job_active(state)
    run_col, stop_col, reset_col, _ = st.columns([1, 1, 1, 2])
    run_col.button(
        ":material/play_arrow: Run",
        type="primary",
        key=f"run-{lesson.id}",
        disabled=active,
        on_click=request_run,
        args=(state,),
        help="Run the code in the editor (Ctrl/Cmd+Enter in the editor runs it too)",
    )
    if active:
        stop_col.button(":material/stop: Stop", key=f"stop-{lesson.id}", on_click=stop_run, args=(state,))
    reset_col.button(
        ":material/restart_alt: Reset",
        key=f"reset-{lesson.id}",
        on_click=reset_editor,
        args=(lesson, state),
        help="Put the starter code back in the editor",
    )
    if not ctrl_enter_runs():
        st.caption("Press Run to run your code.")


def request_run(state: dict) -> None:
    state["run_requested"] = time.monotonic()


def start_run(lesson: Lesson, state: dict, code: str) -> None:
    try:
        job = get_manager().submit(owner_id(), lesson, code)
    except RunInFlight:
        st.toast("A run is already in progress: wait for it or press Stop.")
        return
    state["job"] = job.id
    state["saved_code"] = code  # the run's record keeps it as the latest code
    state["attempts"] += 1
    if state["status"] == "not started":
        state["status"] = "attempted"


def stop_run(state: dict) -> None:
    state["run_requested"] = None
    if state["job"] is not None:
        get_manager().cancel(state["job"])


def reset_editor(lesson: Lesson, state: dict) -> None:
    state["generation"] += 1  # a new editor key is the only way to replace streamlit-ace's text
    state["code"] = lesson.starter
    state["verdict"] = None


def job_active(state: dict) -> bool:
    if state["run_requested"] is not None:
        return True
    job = get_manager().get(state["job"]) if state["job"] is not None else None
    return job is not None and not job.state.finished


def live_panel(lesson_id: str) -> None:
    state = lesson_state(lesson_id)
    every = 0.3 if job_active(state) else None

    @st.fragment(run_every=every)
    def panel() -> None:
        lesson = get_lessons().get(lesson_id)
        requested = state["run_requested"]
        if requested is not None and time.monotonic() - requested >= RUN_GRACE_S:
            state["run_requested"] = None
            start_run(lesson, state, state["code"] if state["code"] is not None else lesson.starter)
        elif requested is not None:
            st.markdown("**Starting…**")
            return
        job = get_manager().get(state["job"]) if state["job"] is not None else None
        if job is None:
            return
        snapshot = job.snapshot()
        if not snapshot.state.finished:
            render_live(snapshot)
            return
        if state.get("finished_job") != snapshot.id:  # first time we see it finished: record, redraw page
            state["finished_job"] = snapshot.id
            state["verdict"] = snapshot.verdict
            state["verdict_source"] = snapshot.source
            if snapshot.state is JobState.CANCELLED:
                state["verdict"] = None
                st.toast("Run stopped.")
            elif snapshot.state is JobState.FAILED and snapshot.verdict is None:
                plain.show("The grader failed (not your code): ", snapshot.error, tone="error")
            elif snapshot.verdict is not None and snapshot.verdict.passed:
                state["status"] = "passed"
            if every is not None:
                st.rerun(scope="app")

    panel()


def render_hints(lesson: Lesson, state: dict) -> None:
    shown = state["hints"]
    for number, hint in enumerate(lesson.hints[:shown], start=1):
        st.info(f"**Hint {number}.** {hint}")
    if shown < len(lesson.hints):
        label = ":material/lightbulb: Show a hint" if shown == 0 else ":material/lightbulb: Show another hint"
        if st.button(label, key=f"hint-{lesson.id}"):
            state["hints"] += 1
            st.rerun()


def render_solution_panel(lesson: Lesson, state: dict) -> None:
    verdict = state["verdict"]
    failed_once = state["attempts"] > 0 and (verdict is None or not verdict.passed)
    with st.expander("Reference solution"):
        if state["show_solution"] or failed_once or state["status"] == "passed":
            render_solution(lesson.solution, state["code"] or lesson.starter)
        else:
            st.markdown("Try first: the solution opens here after your first run that does not pass.")
            if st.checkbox("I want to see the solution now", key=f"solution-{lesson.id}"):
                state["show_solution"] = True
                st.rerun()
