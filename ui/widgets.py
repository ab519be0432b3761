"""Rendering pieces for the pages: verdicts, live progress, the NameError panel, digits, solution diff."""

from __future__ import annotations

import base64
import difflib
import io
import time
from pathlib import Path

import numpy as np
import streamlit as st
from PIL import Image
from streamlit.delta_generator import DeltaGenerator

from tutor import settings
from tutor.checks.judge import CheckResult, CheckStatus
from tutor.grading.verdict import Verdict
from tutor.runs.contract import RunSnapshot, RunStatus
from tutor.sandbox.dataset import ensure_dataset
from tutor.sandbox.isolation import IsolationError, resolve_level
from tutor.sandbox.protocol import MAX_FIGURE_BYTES, MAX_FIGURES, MAX_FIGURES_BYTES, Phase
from tutor.sandbox.results import CaughtError, ErrorInfo, RunResult, Termination
from tutor.sandbox.terminal import render_terminal
from ui import plain
from ui.editor import RUNNING_WORDS
from ui.state import dataset_status

PHASES = {
    Phase.QUEUED: "Waiting for a free sandbox",
    Phase.STARTING: "Starting a sandbox",
    Phase.IMPORTING: "Importing TensorFlow",
    Phase.RUNNING: "Running your code",
    Phase.LOADING_DATA: "Loading MNIST",
    Phase.TRAINING: "Training",
    Phase.FINISHED: "Finishing",
}


@st.cache_data(ttl=300, show_spinner=False)
def sandbox_level_in_force() -> str:
    try:
        return str(resolve_level(settings.sandbox_level()))
    except IsolationError as exc:
        return f"error: {exc}"


# No "<" in it: Streamlit's sanitiser drops a style element whose text has one (the whole sheet, silently).
SHARED_CSS = """
/* Lesson titles in the sidebar wrap instead of being cut off. */
[data-testid="stSidebarNavLink"] { height: auto !important; min-height: 2rem; }
[data-testid="stSidebarNavLink"] span, [data-testid="stSidebarNavLink"] div, [data-testid="stSidebarNavLink"] p {
  white-space: normal !important; overflow: visible !important; text-overflow: clip !important; }
/* Captions in a grey dark enough to read (WCAG AA, 7:1 on white). */
[data-testid="stCaptionContainer"] { opacity: 1 !important; }
[data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p, [data-testid="stCaptionContainer"] em {
  color: #4b5563 !important; }
[data-testid="stCaptionContainer"] code { color: #1f2937 !important; }
/* Code blocks' syntax colours, darkened to at least 4.5:1 on the code background (WCAG AA). */
.token.keyword, .token.important { color: #9d174d !important; }
.token.string, .token.inserted, .token.char { color: #166534 !important; }
.token.number, .token.boolean, .token.constant { color: #1e40af !important; }
.token.function, .token.class-name { color: #6b21a8 !important; }
.token.builtin, .token.decorator, .token.attr-name { color: #92400e !important; }
.token.comment, .token.prolog { color: #4b5563 !important; }
.token.operator, .token.punctuation { color: #374151 !important; }
.token.deleted { color: #991b1b !important; }
.token.unchanged { color: #374151 !important; opacity: 1 !important; }
/* The picked option of a segmented control (a project's file picker): Streamlit's red text on its pale red
   falls short of 4.5:1; a darker red keeps the look and reads (WCAG AA). */
[data-testid="stButtonGroup"] button[data-selected="true"],
[data-testid="stButtonGroup"] button[data-selected="true"] p { color: #9f1239 !important; }
/* A lesson's verdict beside its hints and solution where the panels have room, stacked below 900 px of their
   own width (a container query: an open sidebar leaves less). */
.st-key-lesson-panels { container-type: inline-size; }
/* "Running your code…" (show_running): fixed near the bottom of the window, seen whatever the scroll; its
   wrapper's share of the column's gap taken back, so the page does not move while it shows. */
.st-key-run-status { position: fixed; bottom: 1.5rem; left: 50%; transform: translateX(-50%); z-index: 1000;
  width: auto !important; box-shadow: 0 2px 8px rgba(0, 0, 0, 0.2); border-radius: 0.5rem; }
[data-testid="stLayoutWrapper"]:has(> .st-key-run-status) { margin-bottom: -1rem; }
@container (max-width: 900px) {
  .st-key-lesson-panels [data-testid="stHorizontalBlock"] { flex-direction: column; }
  .st-key-lesson-panels [data-testid="stColumn"] { width: 100% !important; flex: 1 1 auto !important; }
}
/* Code in a lesson's text wraps rather than scrolling sideways (a box that scrolls must be reachable by
   keyboard: axe's scrollable-region-focusable); tracebacks, output and diffs keep their own scroll. */
[data-testid="stExpanderDetails"] [data-testid="stMarkdownContainer"] pre,
[data-testid="stExpanderDetails"] [data-testid="stMarkdownContainer"] pre code {
  white-space: pre-wrap !important; overflow-wrap: anywhere; }
/* Code that scrolls sideways scrolls in Streamlit's code box, which the keyboard reaches (tabindex 0), not in
   the pre element inside it, which it does not (axe: scrollable-region-focusable). */
[data-testid="stCode"] { overflow-x: auto; }
[data-testid="stCode"] pre { overflow: visible !important; width: max-content; min-width: 100%; }
/* Phone width: nothing wider than the screen; code scrolls inside its own box. */
[data-testid="stMain"] { overflow-x: hidden; }
[data-testid="stMain"] iframe { max-width: 100%; }
"""


def page_chrome() -> None:
    """What every page shares, drawn once by the entry point: styles and the sandbox warning."""
    plain.style(SHARED_CSS)
    sandbox_banner()


def sandbox_banner() -> None:
    """Warn everyone when runs are not isolated (level basic), or cannot run at all."""
    level = sandbox_level_in_force()
    if level == "basic":
        st.warning(
            ":material/shield: Runs are not isolated on this server (sandbox level *basic*: process limits "
            "only). Fine for one learner on their own computer; a teacher should install bubblewrap before a "
            "class. See *Data and sandbox*."
        )
    elif level.startswith("error"):
        st.error(f":material/shield: Code cannot run on this server yet. {level[len('error: ') :]}")


def dataset_note() -> None:
    status = dataset_status()
    if status["active"] == "real":
        st.caption(":material/dataset: Data: the real MNIST (mnist.npz, hash verified).")
    else:
        st.caption(
            ":material/dataset: Data: an offline MNIST stand-in (same shapes and types, built from 5,000 real "
            "MNIST digits), "
            "because the real `mnist.npz` is not installed. A teacher can add it with "
            "`python -m tutor data import mnist.npz` (or `python -m tutor data fetch` where there is internet). "
            "See *Data and sandbox*."
        )


QUEUED_QUIET_S = 1.0  # a run waits this long in the queue before "Queued" is shown (no flash when none waits)
STUCK_QUIET_S = 10.0  # the learner's code running this long with no output and no training progress: say so


def quiet_for(job: RunSnapshot) -> float:
    """Seconds since this run last showed anything new (output, a phase, an epoch, a step), as this browser
    session has watched it (the live panel looks every fraction of a second)."""
    progress = job.progress
    seen = (job.state, progress.phase, progress.epoch, progress.step, len(job.output))
    marks = st.session_state.setdefault("tutor-run-activity", {})
    now = time.monotonic()
    last = marks.get(job.id)
    if last is None or last[0] != seen:
        marks.clear()  # one run at a time is watched per page: forget the others
        marks[job.id] = (seen, now)
        return 0.0
    return now - last[1]


def render_live(job: RunSnapshot, limit_s: float | None = None) -> None:
    """Progress while a run is queued or running: what it does, for how long, and its time limit."""
    progress = job.progress
    now = time.time()
    if job.state is RunStatus.QUEUED and now - job.created >= QUEUED_QUIET_S:
        position = job.queue_position or 1
        st.info(f":material/hourglass_top: Queued: position {position}. Your run starts when a sandbox is free.")
        if progress.note:
            st.caption(progress.note)
    else:
        label = "Starting" if job.state is RunStatus.QUEUED else PHASES.get(progress.phase, progress.phase)
        if progress.phase == Phase.TRAINING and progress.epochs:
            label = f"Training: epoch {min(progress.epoch + 1, progress.epochs)} of {progress.epochs}"
        case = f" · case *{progress.case_title}*" if progress.case_title and progress.case != "default" else ""
        elapsed = now - (job.started or job.created)
        limit = f" of at most {limit_s:g} s" if limit_s else ""
        st.markdown(f"**{label}**{case} · {elapsed:.1f} s{limit}")
        quiet = quiet_for(job)
        if job.state is RunStatus.RUNNING and progress.phase == Phase.RUNNING and quiet >= STUCK_QUIET_S:
            plain.show(
                plain.strong(f"Nothing new for {quiet:.0f} s:"), " no output and no training progress. If your "
                "program is stuck in an endless loop, press ", plain.strong("Stop"), ".", tone="warning",
            )  # fmt: skip
        if job.attempts > 1:  # queue mode: the worker of the first attempt stopped (killed, host lost)
            st.caption(f"Attempt {job.attempts}: the worker that started your run stopped, so it runs again on "
                       "another worker.")  # fmt: skip
    if progress.phase == Phase.TRAINING and progress.steps:
        st.progress(min(1.0, progress.step / progress.steps), text=f"step {progress.step} of {progress.steps}")
    render_history(progress.history)
    if job.output:
        st.code(tail(render_terminal(job.output), 30), language=None)


RUN_STATUS_KEY = "run-status"  # SHARED_CSS places it over the page, where the learner's eyes are


def show_running(slot: DeltaGenerator, words: str = RUNNING_WORDS) -> None:
    """The page's answer to Run while its draw waits for a quick result: plain words in a polite live
    region (role=status), fixed over the page so that it is seen whatever the scroll (the Run button is
    usually far below the top). ``slot``: an st.empty() that the caller empties when the result is drawn."""
    with slot.container(key=RUN_STATUS_KEY):
        plain.show(words, tone="info")


def too_large_message(size: int) -> str:
    return (
        f"Not run: your code is {size / 1000:.0f} KB; the limit is {settings.MAX_CODE_BYTES / 1000:.0f} KB. "
        "A lesson's program needs a few KB: remove what you pasted in."
    )


def focus_verdict() -> None:
    """After a run, keyboard focus moves to the verdict: screen readers read it out (its error box is a
    role=alert live region as well)."""
    plain.focus(".st-key-verdict", "Verdict")


def history_chart(history: list[dict]):
    """Loss and accuracy by epoch: whole epochs on the x axis (never "1.000000"), two decimals on the y axis."""
    # Both imported when a training is first drawn: pandas alone cost ~0.3 s of the server's first page.
    import altair as alt  # (Streamlit's own dependency)
    import pandas as pd

    frame = pd.DataFrame(history, index=pd.RangeIndex(1, len(history) + 1, name="epoch"))
    columns = [c for c in ("loss", "accuracy") if c in frame]
    if not columns:
        return None
    data = frame[columns].reset_index().melt("epoch", var_name="measure", value_name="value")
    epochs = list(range(1, len(history) + 1))
    return (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", axis=alt.Axis(values=epochs, format="d", title="epoch"), scale=alt.Scale(nice=False)),
            y=alt.Y("value:Q", axis=alt.Axis(format=".2f", title=None)),
            color=alt.Color("measure:N", title=None),
            tooltip=[alt.Tooltip("epoch:Q", format="d"), "measure:N", alt.Tooltip("value:Q", format=".4f")],
        )
        .properties(height=180)
    )


def render_history(history: list[dict]) -> None:
    chart = history_chart(history) if history else None
    if chart is not None:
        last = history[-1]
        said = ", ".join(
            f"{name} {last[name]:.3f}" for name in ("loss", "accuracy") if isinstance(last.get(name), (int, float))
        )
        st.altair_chart(chart, width="stretch", alt=f"Training by epoch: {len(history)} so far; last {said}.")


def tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


EMPTY_EDITOR = "Your editor is empty: there is nothing to run. Press Reset to get the starter code back."
STARTER_AS_GIVEN = (
    " It stops where the lesson said it would. Read what happened, then change the code and run it again; "
    "this run does not count as an attempt."
)
STARTER_CUT_SHORT = (
    " It was stopped before it reached the error this lesson is about (see what happened below); "
    "run it again. This run does not count as an attempt."
)


def render_verdict(verdict: Verdict, reveal_fix: bool = True) -> None:
    """The verdict, headline first: the first failing check with its explanation, once; checks the program
    never got to are counted apart ("not reached"), never as failures. ``reveal_fix``: say how to fix
    a NameError (once the learner has tried enough, or used the hints: teach before telling)."""
    if verdict.empty:
        plain.show(EMPTY_EDITOR, tone="info")
        return
    if verdict.grader_error:
        st.error(
            ":material/warning: The grader itself failed — this is not a problem with your code. "
            "Please tell your teacher."
        )
        st.code(verdict.grader_error[:500], language=None)
        return
    headline = verdict.headline
    result = first_failure(verdict)
    if verdict.passed:
        plain.show(plain.strong("All checks passed."), " Your fix works.", tone="success")
    elif not verdict.attempt and stopped_on_an_error(result):
        plain.show(plain.strong("This is the starter code, as given."), STARTER_AS_GIVEN, tone="info")
    elif not verdict.attempt:  # the starter never got to its error (a limit, a busy host): say what did happen
        plain.show(plain.strong("This is the starter code, as given."), STARTER_CUT_SHORT, tone="warning")
    elif headline is not None:
        where = case_title(verdict, headline.case)
        plain.show(plain.strong("Not yet. "), where, plain.message(headline.message), tone="error")
    else:
        plain.show(plain.strong("Not yet. "), first_stop_reason(verdict), tone="error")
    if verdict.attempt:
        render_check_list(verdict, headline)
    said = verdict.attempt and headline is not None and result is not None and headline.message == result.detail
    if result is not None and not said:
        explained = headline is not None and headline.id == "no_name_error" and verdict.attempt
        render_what_happened(result, explained=explained, reveal_fix=reveal_fix and verdict.attempt)
    final = verdict.cases[-1].result if verdict.cases else None
    if verdict.passed and final is not None:
        render_digits(final)
    drew = result or final  # the figures of the run the verdict is about
    if drew is not None:
        render_figures(drew)
    if final is not None and final.stdout.strip():
        with st.expander("Program output"):
            st.code(tail(final.stdout, 200), language=None)
    st.caption(run_facts(verdict))


def stopped_on_an_error(result: RunResult | None) -> bool:
    """The program itself raised (what a starter is for), rather than being stopped from outside."""
    return (
        result is not None
        and result.termination in (Termination.FINISHED, Termination.EXITED)
        and (result.error is not None or bool(result.caught))
    )


def case_title(verdict: Verdict, case_id: str) -> str:
    if len(verdict.cases) < 2:
        return ""
    title = next((case.title for case in verdict.cases if case.case == case_id), case_id)
    return f"Case “{title}”: "


def first_stop_reason(verdict: Verdict) -> str:
    return next((c.message for c in verdict.checks if c.status is CheckStatus.NOT_REACHED), "")


def count_line(verdict: Verdict) -> str:
    """ "1 failed (1 more on the same error), 2 passed · 3 not reached (your program stopped before them)" """
    same = sum(1 for c in verdict.checks if c.status is CheckStatus.FAILED and c.same_error)
    failed, passed = verdict.count(CheckStatus.FAILED) - same, verdict.count(CheckStatus.PASSED)
    missing = verdict.count(CheckStatus.NOT_REACHED)
    more = f" ({same} more on the same error)" if same else ""
    line = f"{failed} failed{more}, {passed} passed" if failed else f"{passed} passed"
    if missing:
        line += f" · {missing} not reached (your program stopped before {'it' if missing == 1 else 'them'})"
    return line + "."


def render_check_list(verdict: Verdict, headline: CheckResult | None) -> None:
    """Judged checks one line each, grouped by case where there are several; a message already shown (the
    headline's, or the same error in another case) is not repeated. Not-reached checks are folded away
    under one line, with the reason once."""
    if not verdict.passed:
        plain.show(count_line(verdict), muted=True)
    shown = {headline.message} if headline is not None else set()
    several = len(verdict.cases) > 1
    for case in verdict.cases:
        rows = []
        for check in case.checks:
            if check.status is CheckStatus.NOT_REACHED:
                continue
            said = "see above" if check.message in shown else check.message
            shown.add(check.message)
            rows.append(plain.join(plain.mark(check.passed), " ", check.title, ": ", plain.message(said)))
        if several and rows:
            state = "passed" if case.passed else "not yet"
            plain.show(plain.strong(f"Case “{case.title}”"), f": {state}")
        if rows:
            plain.show_list(rows)
    missing = [check for check in verdict.checks if check.status is CheckStatus.NOT_REACHED]
    if missing:
        with st.expander(f"{len(missing)} not reached"):
            reasons: dict[str, list[str]] = {}
            for check in missing:
                reasons.setdefault(check.message, []).append(case_title(verdict, check.case) + check.title)
            for reason, titles in reasons.items():
                plain.show(plain.message(reason))
                plain.show_list([plain.text(title) for title in titles])


def run_facts(verdict: Verdict) -> str:
    """One quiet line: how long the run took and whether a warm sandbox served it."""
    results = [case.result for case in verdict.cases if case.result is not None]
    if not results:
        return ""
    seconds = sum(result.duration_s for result in results)
    warm = sum(1 for result in results if result.warm)
    start = "a warm sandbox" if warm == len(results) else "a fresh sandbox" if not warm else "warm and fresh sandboxes"
    return f"Ran in {seconds:.1f} s in {start}."


def first_failure(verdict: Verdict) -> RunResult | None:
    for case in verdict.cases:
        if not case.passed and case.result is not None:
            return case.result
    return None


def render_what_happened(result: RunResult, explained: bool = False, reveal_fix: bool = True) -> None:
    """``explained``: the headline already said the analysis' explanation (not said twice)."""
    if result.termination not in (Termination.FINISHED, Termination.EXITED):
        plain.show(plain.strong("What happened: "), result.detail, tone="warning")
        return
    error = result.error
    if error is None:
        if result.caught:  # nothing stopped the program: its own `except` hid a NameError
            render_caught_name_error(result.caught[0], explained, reveal_fix)
        return
    with st.container(border=True):
        st.markdown("**What happened**")
        if error.is_name_error and error.name:
            render_name_error(error, explained, reveal_fix)
        else:
            where = f" on line {error.line}" if error.line else ""
            plain.show("Your program raised ", plain.code(error.type), where, ":")
            st.code(error.message or error.type, language=None)
            analysis = (
                error.analysis or {}
            )  # why `model` has no `fit` (tutor.grading.attribute_error), when the source tells
            if analysis.get("diagnosis"):
                plain.show(plain.message(analysis["diagnosis"]))
            if reveal_fix and analysis.get("fix"):
                plain.show(plain.strong("How to fix it: "), plain.message(analysis["fix"]))
        if error.context:
            earlier = f"{error.context['type']}: {error.context['message'][:200]}"
            plain.show("This happened while Python was handling another error: ", plain.code(earlier), muted=True)
        if error.traceback:
            with st.expander("Traceback"):
                st.code(error.traceback, language=None)


def render_name_error(error: ErrorInfo, explained: bool = False, reveal_fix: bool = True) -> None:
    analysis = error.analysis or {}
    inside = plain.join(" inside ", plain.code(f"{error.function}()")) if error.function else ""
    line = plain.strong(error.place or f"line {error.line}") if error.line else "a line Python could not place"
    plain.show("On ", line, inside, ", Python looked for the name ", plain.code(error.name), " and found nothing.")
    diagnosis = analysis.get("diagnosis", analysis.get("summary", ""))
    if diagnosis and not explained:
        plain.show(plain.message(diagnosis))
    names = [name for name, kind in error.module_names.items() if kind != "module"]
    if names:
        listed = [part for name in names[:30] for part in (", ", plain.code(name))][1:]
        plain.show("Names that did exist at that moment: ", *listed)
    bindings = analysis.get("bindings") or []
    if bindings:
        where = "; ".join(
            f"{b.get('place') or 'line ' + str(b['line'])} ({b['kind']}"
            f"{'' if b['scope'] == 'module' else ', inside ' + b['scope'] + '()'})"
            for b in bindings[:8]
        )
        plain.show("Where your code assigns ", plain.code(error.name), f": {where}.", muted=True)
    if reveal_fix and analysis.get("fix"):
        plain.show(plain.strong("How to fix it: "), plain.message(analysis["fix"]))


def render_caught_name_error(caught: CaughtError, explained: bool = False, reveal_fix: bool = True) -> None:
    """A NameError the program's own ``except`` caught: the line that raised it and the ``except`` that hid it."""
    analysis = caught.analysis or {}
    with st.container(border=True):
        st.markdown("**What happened**")
        line = plain.strong(caught.place or f"line {caught.line}") if caught.line else "a line Python could not place"
        inside = plain.join(" inside ", plain.code(f"{caught.function}()")) if caught.function else ""
        plain.show("On ", line, inside, ", your program raised ", plain.code(f"{caught.type}: {caught.message}"), ".")
        handler = plain.join("the ", plain.code("except"), " on ", plain.strong(f"line {caught.handler_line}"))
        if not caught.handler_line:
            handler = plain.join("an ", plain.code("except"))
        plain.show("Nothing stopped it: ", handler, " caught the error, and the program went on without the name.")
        diagnosis = analysis.get("diagnosis", analysis.get("summary", ""))
        if diagnosis and not explained:
            plain.show(plain.message(diagnosis))
        if reveal_fix and analysis.get("fix"):
            plain.show(plain.strong("How to fix it: "), plain.message(analysis["fix"]))


@st.cache_resource(show_spinner=False)
def test_digits(path: str, count: int = 16) -> np.ndarray:
    with np.load(Path(path)) as data:
        return np.array(data["x_test"][:count])


def render_digits(result: RunResult) -> None:
    predictions = result.predictions or {}
    if "predicted" not in predictions:
        return
    fit = result.last_fit
    accuracy = next((fit.final_metrics.get(k) for k in ("accuracy", "acc") if fit and fit.final_metrics.get(k)), None)
    heading = "**Your model on test digits it never saw**"
    if accuracy is not None:
        heading += f" — final training accuracy {accuracy:.1%}"
    st.markdown(heading)
    images = test_digits(str(ensure_dataset().path), len(predictions["predicted"]))
    items = []
    for i, (label, guess) in enumerate(zip(predictions["labels"], predictions["predicted"], strict=False)):
        right = label == guess
        caption = f"✓ said {guess}" if right else f"✗ said {guess}, is {label}"
        alt = f"Handwritten {label}; your model said {guess}" + (" (right)" if right else " (wrong)")
        items.append((png_bytes(images[i]), caption, alt))
    plain.image_grid(items)


def render_figures(result: RunResult) -> None:
    """The program's matplotlib figures as it drew them (PNG rendered in the sandbox, sizes read from the
    images), each with a caption and alt text; more than the sandbox brings back is said in words."""
    if not result.figures and result.figures_made == 0:
        return
    st.markdown("**Your figures**")
    note = figures_note(result.figures_made, len(result.figures))
    if note:
        plain.show(note, muted=True)
    for figure in result.figures:
        alt = f"Figure {figure.index} your program drew ({figure.how}), {figure.width} by {figure.height} pixels"
        st.image(base64.b64decode(figure.png), caption=figure.caption, alt=alt)


def figures_note(made: int, shown: int) -> str:
    """ "Your program made 1000 figures; the first 8 are shown." """
    if made <= shown:
        return ""
    many = "figure" if made == 1 else "figures"
    if shown == 0:
        return f"Your program made {made} {many}; none could be shown (at most {MAX_FIGURE_BYTES // 1024} KB each)."
    if shown == MAX_FIGURES:
        return f"Your program made {made} {many}; the first {shown} are shown."
    return (
        f"Your program made {made} {many}; {shown} are shown (at most {MAX_FIGURES}, "
        f"{MAX_FIGURES_BYTES // (1024 * 1024)} MB in all)."
    )


def png_bytes(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def render_solution(solution: str, learner_code: str) -> None:
    diff = "".join(
        difflib.unified_diff(
            learner_code.splitlines(keepends=True), solution.splitlines(keepends=True), "your code", "solution"
        )
    )
    st.markdown("What the reference solution changes, compared with your code:")
    st.code(diff or "(no differences)", language="diff")
    with st.expander("The whole reference solution"):
        st.code(solution, language="python")


def error_marks(
    verdict: Verdict | None, module: str | None = None, entry: str | None = None
) -> tuple[list[dict], list[dict]]:
    """Gutter annotation and line highlight for the first failing line. ``module``: a project lesson's module
    the editor shows (marks only when the line is in it); ``entry``: the module the program's own lines are in."""
    result = first_failure(verdict) if verdict else None
    error = result.error if result else None
    if error is None and result is not None and result.caught:  # a NameError the program's own except hid
        error = result.caught[0]
    if error is None or not error.line:
        return [], []
    if module is not None and (getattr(error, "file", None) or entry) != module:
        return [], []
    row = error.line - 1
    text = f"{error.type}: {error.message}"
    if isinstance(error, CaughtError) and error.handler_line:
        text += f" (caught by the except on line {error.handler_line})"
    annotations = [{"row": row, "column": 0, "text": text, "type": "error"}]
    markers = [{"startRow": row, "startCol": 0, "endRow": row, "endCol": 1, "className": "tutor-error-line",
                "type": "fullLine"}]  # fmt: skip
    return annotations, markers
