"""Explain my error: a learner's own script or notebook (pasted or uploaded) and, if they have it, the
traceback. Explain reads them at once without running anything (tutor.explain.explain_file, run=False);
"Run it here" runs the code in the sandbox; "Run the fix" runs the fixed version and says whether the
NameError is gone. The code stays in this session; the teacher gets a count of the cause only."""

from __future__ import annotations

import logging

import streamlit as st

from tutor.explain.contract import InputError
from tutor.explain.explain import explain_file
from ui import plain
from ui.explain import (
    EXPLAIN_CSS,
    ExplainState,
    chosen_input,
    count_explanation,
    describe_input,
    explain_state,
    fix_of,
    fix_outcome,
    render_explanation,
    sandbox_turn,
)

log = logging.getLogger(__name__)

BUSY = "All sandboxes are busy right now. Try again in a minute."
BROKEN = "The explainer itself failed — this is not a problem with your code. Please tell your teacher."


def explain_now(state: ExplainState, run: bool) -> None:
    """Explain the session's file (``run``: in the sandbox) and count it for the teacher."""
    try:
        explanation = explain_file(state.filename, state.data, state.traceback, run=run)
    except InputError as exc:  # the learner's input: the message says what to change
        state.explanation, state.problem = None, str(exc)
        return
    except Exception:
        log.exception("explaining a learner's file failed")
        state.problem = BROKEN
        return
    if explanation.grader_error:  # the sandbox broke: nothing was learned; the explanation shown stays
        state.problem = explanation.summary
        return
    state.explanation, state.ran, state.problem, state.fix_result = explanation, run, None, None
    count_explanation(state, explanation)


def run_fix(state: ExplainState) -> None:
    """Run the fixed file in the sandbox; not counted (it is our fix, not the learner's code)."""
    fix = fix_of(state)
    if fix is None:
        return
    try:
        result = explain_file(state.filename, fix.data, None, run=True)
    except InputError as exc:
        state.problem = str(exc)
    except Exception:
        log.exception("running the fixed version of a learner's file failed")
        state.problem = BROKEN
        return
    if result.grader_error:  # the sandbox broke: that says nothing about the fix
        state.problem = result.summary
    else:
        state.fix_result, state.problem = result, None


plain.style(EXPLAIN_CSS)
st.title("Explain my error")
st.caption(
    "For your own code, outside the lessons: paste a script or upload a `.py` or `.ipynb` file (200 KB at "
    "most), with the traceback if you have it. Your code stays in this browser tab: it is not stored. Only "
    "the kind of cause found is counted, for your teacher."
)
state = explain_state()
with st.form("explain-input", border=False):
    pasted = st.text_area("Your code", key="explain-code", height=240, placeholder="Paste your script here")
    uploaded = st.file_uploader(
        "Or upload a .py or .ipynb file (200 KB at most)", type=["py", "ipynb"], key="explain-file",
        help="An uploaded file is explained instead of the code pasted above.",
    )  # fmt: skip
    traceback = st.text_area(
        "The traceback (optional)", key="explain-traceback", height=120,
        placeholder="Traceback (most recent call last): ...",
    )  # fmt: skip
    submitted = st.form_submit_button("Explain", type="primary", icon=":material/troubleshoot:")

if submitted:
    chosen = chosen_input(pasted, uploaded)
    if chosen is None:
        state.explanation, state.problem = None, "Paste your code or upload a file first."
    else:
        filename, data = chosen
        fresh = ExplainState(filename=filename, data=data, traceback=traceback.strip() or None)
        st.session_state["explain"] = state = fresh  # another file: nothing of the last one is kept
        explain_now(state, run=False)

if state.problem:
    plain.show(state.problem, tone="error")
if state.explanation is not None:
    with st.container(key="explanation"):
        plain.show(describe_input(state), muted=True)
        render_explanation(state)
    run_col, fix_col = st.columns(2)
    run_here = run_col.button(
        ":material/play_arrow: Run it here", key="explain-run", disabled=state.ran,
        help="Run your code in this app's sandbox (no network, limited time and memory) to confirm or refine "
        "the explanation.",
    )  # fmt: skip
    run_the_fix = False
    if fix_of(state) is not None:
        run_the_fix = fix_col.button(
            ":material/build: Run the fix", key="explain-run-fix",
            help="Run the fixed version in the sandbox and see whether the NameError is gone.",
        )  # fmt: skip
    if run_here or run_the_fix:
        with st.spinner("Running in the sandbox…"), sandbox_turn() as turn:
            if not turn:
                state.problem = BUSY
            elif run_here:
                explain_now(state, run=True)
            else:
                run_fix(state)
        st.rerun()  # drawn again with the new explanation (and the buttons it allows)
    if state.ran:
        st.caption("This explanation comes from running your code here.")
    if state.fix_result is not None:
        tone, words = fix_outcome(state.fix_result)
        with st.container(key="fix-outcome"):
            plain.show(words, tone=tone)
