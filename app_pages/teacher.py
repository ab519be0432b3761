"""The teacher's view of the class, live: who passed what, where learners are stuck (grouped by cause where it
is known), which causes the Explain page found in learners' own code (counts only), how long a lesson takes,
any learner's latest code, CSV exports, and lesson files with errors (never shown to learners)."""

from functools import partial
from urllib.parse import urlsplit

import pandas as pd
import streamlit as st

from tutor import settings
from tutor.grading.attribute_error import AttributeCause
from tutor.lessons.causes import cause_label
from tutor.store.class_report import (
    build_class_grid,
    count_common_errors,
    export_grid_csv,
    export_runs_csv,
    list_workshops,
    time_to_pass,
)
from tutor.store.explanations import count_explanations_by_cause
from tutor.store.progress import load_code
from tutor.store.text import distinct_names
from ui import plain
from ui.auth import is_teacher, teacher_configured, unlock_teacher, unlock_wait_s
from ui.state import get_database, get_lessons, get_library, get_runs
from ui.studio import render_proof_states

REFRESH_S = 5.0

st.title("Teacher")
if not teacher_configured():
    st.info(
        "The teacher page is turned off. To turn it on, start the app with a passphrase, e.g. "
        "`TUTOR_TEACHER_PASSPHRASE='...' ./scripts/run.sh`, or list teachers' login emails in `TUTOR_TEACHERS` "
        "when the app uses `st.login`."
    )
    st.stop()
if not is_teacher() and not settings.teacher_passphrase():
    st.warning("This page is for the teachers listed in `TUTOR_TEACHERS`: log in with such an account.")
    st.stop()
if not is_teacher():
    with st.form("teacher-unlock"):
        passphrase = st.text_input("Teacher passphrase", type="password", key="teacher-passphrase")
        if st.form_submit_button("Open the teacher page"):
            wait = unlock_wait_s()
            if wait:
                st.error(f"Too many tries. Wait {wait} s before the next one.")
            elif unlock_teacher(passphrase):
                st.rerun()
            else:
                st.error("That passphrase is not right.")
    st.stop()


def count_idle_browsers(count: int) -> str:
    one = count == 1
    return (
        f"{count} {'browser' if one else 'browsers'} that opened the app without a workshop code and "
        f"{'has' if one else 'have'} not run any code yet"
    )


def cell_colour(label: str) -> str:
    if label.startswith("passed"):
        return "background-color: #dcfce7"
    return "background-color: #ffedd5" if label.startswith("attempted") else "color: #4b5563"


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


def render_workers(workers: list, counts: dict[str, int]) -> None:
    """Queue mode: the worker processes that run the class's code (local mode has none: this server runs it)."""
    if not workers:
        return
    st.subheader("Workers")
    alive = [worker for worker in workers if worker.alive]
    st.caption(
        f"{len(alive)} of {len(workers)} workers alive, {counts['max_running']} runs at once in all; "
        f"{counts['queued']} runs waiting in the queue."
    )
    rows = [
        {"worker": w.name, "host": w.host, "running": f"{w.running} of {w.capacity}", "warm sandboxes": w.warm,
         "last heartbeat": f"{w.heartbeat_age_s:.0f} s ago", "state": "alive" if w.alive else "silent"}
        for w in workers
    ]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


NAME_ERRORS = ("NameError", "UnboundLocalError")  # their stored cause is a NameCause value


def stuck_label(error_type: str | None, cause: str | None) -> str | None:
    """The group of a failed run whose cause is known: "NameError: never imported", "AttributeError: the
    function itself, not called". None for an unknown cause (stored values are not trusted): the run is
    then counted under its outcome."""
    if error_type in NAME_ERRORS and (label := cause_label(cause)):
        return f"{error_type}: {label}"
    if error_type == "AttributeError" and cause in set(AttributeCause):
        return f"AttributeError: {AttributeCause(cause).label}"
    return None


def render_stuck(db, titles: dict[str, str], workshop: str | None) -> None:
    """Per lesson, how failed runs end, grouped by cause where the cause is known."""
    st.subheader("Where learners are stuck")
    common = count_common_errors(db, workshop=workshop, label_cause=stuck_label)
    stuck = [
        {"lesson": titles.get(lesson, lesson), "outcome": e.outcome, "names": ", ".join(e.names),
         "learners still there": e.learners_now, "learners ever": e.learners_ever, "runs": e.runs}
        for lesson in [*titles, *sorted(set(common) - set(titles))] for e in common.get(lesson, [])
    ]  # fmt: skip
    if not stuck:
        st.caption("No failed runs yet.")
        return
    st.caption(
        "Errors whose cause is known are grouped by it, whatever the name (the names column lists the "
        "most common ones); other errors are listed as they ended."
    )
    items = []
    for row in stuck[:3]:  # outcomes and names are learner-controlled (an exception's name): plain text only
        count = row["learners still there"]
        now = f" — {count} learner{'' if count == 1 else 's'} now"
        names = plain.join(" (", plain.code(row["names"]), ")") if row["names"] else ""
        items.append(plain.join(plain.strong(row["lesson"]), ": ", plain.code(row["outcome"]), names, now))
    plain.show_list(items)
    if not any(row["names"] for row in stuck):
        for row in stuck:
            del row["names"]
    st.dataframe(pd.DataFrame(stuck), hide_index=True, width="stretch")


def render_explained(db, workshop: str | None) -> None:
    """The Explain page's counts: which causes learners met in their own code. Only counts are kept."""
    st.subheader("Own code explained")
    counts = count_explanations_by_cause(db, workshop)
    if not counts:
        st.caption("Nobody has explained an error in their own code yet.")
        return
    st.caption("What the Explain page found in learners' own scripts and notebooks. Only these counts are "
               "kept: their code never is.")  # fmt: skip
    merged: dict[str, int] = {}
    for cause, count in counts.items():  # stored values are not trusted: an unknown cause is "another cause"
        label = "no NameError found" if cause is None else cause_label(cause) or "another cause"
        merged[label] = merged.get(label, 0) + count
    rows = [{"cause": label, "explanations": count} for label, count in merged.items()]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


EVERYONE = "\x00everyone"  # the selector's "all workshops" choice: no workshop code can be this


def pick_workshop(db) -> str | None:
    """Which class the page is about: the running workshop's learners by default (an earlier workshop's,
    on the same server and database, are one choice away), or everyone. None: everyone."""
    current = settings.workshop_code()
    found = {w.code: w.learners for w in list_workshops(db)}
    choices = ([current] if current else []) + [code for code in found if code != current]
    if len(choices) <= 1 and (current is None or set(found) <= {current}):
        return current  # one class only: nothing to choose
    total = sum(found.values())

    def label(choice: str) -> str:
        count = found.get(choice, 0)
        if choice == EVERYONE:
            return f"Everyone ({total})"
        if choice == "":
            return f"Without a workshop code ({count})"
        return f"{'This workshop' if choice == current else 'Workshop'} {choice} ({count})"

    options = [*choices, EVERYONE] if current else [EVERYONE, *choices]
    choice = st.selectbox("Show the learners of", options, format_func=label, key="teacher-workshop")
    return None if choice == EVERYONE else choice


@st.fragment(run_every=REFRESH_S)
def class_view() -> None:
    db = get_database()
    lesson_set = get_lessons()
    errors = lesson_set.errors
    if errors:
        st.subheader(":material/error: Lesson files with errors")
        st.caption("Learners never get a broken file: they keep its last proved version, if any. Files reload on save.")
        for error in errors:  # one box per file, one line per field at fault
            lines = [
                plain.join(f"{error.path}: field '{name}': ", plain.message(text)) for name, text in error.problems
            ]
            plain.show(plain.Html("<br>".join(lines)), tone="error")
    lessons = lesson_set.lessons
    titles = {lesson.id: f"{number}. {lesson.title}" for number, lesson in enumerate(lessons, start=1)}
    workshop = pick_workshop(db)
    grid = build_class_grid(db, [lesson.id for lesson in lessons], workshop)
    runs = get_runs()
    counts = runs.counts()
    left, middle, right = st.columns(3)
    left.metric("Learners", len(grid.learners))
    middle.metric("Running now", counts["running"])
    right.metric("Waiting", counts["queued"])
    render_workers(runs.workers(), counts)

    st.subheader("Class")
    # Names are learner-typed: cleaned, and tagged where two look alike (tutor.store.text); shown as plain text.
    names = distinct_names((learner.id, learner.display_name) for learner in grid.learners)
    if grid.learners:
        # Columns are the lessons' titles, as the learners see them; cells say "passed (2 attempts)".
        rows = {
            names[learner.id] + ("" if learner.identity_source == "workshop" else f" ({learner.identity_source})"): {
                titles[lesson]: grid.cell(learner.id, lesson).label for lesson in grid.lesson_ids
            }
            for learner in grid.learners
        }
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=[titles[lesson] for lesson in grid.lesson_ids])
        st.dataframe(frame.style.map(cell_colour), width="stretch")
    elif settings.workshop_code():
        st.info("Nobody has signed in yet.")
    else:
        st.info("Nobody has run any code yet.")
    if grid.idle_browsers:
        st.caption(f"Not listed: {count_idle_browsers(grid.idle_browsers)}.")

    render_stuck(db, titles, workshop)
    render_explained(db, workshop)

    st.subheader("Time to pass")
    st.caption("From a learner's first run of a lesson to the end of their first passing run.")
    times = time_to_pass(db, workshop)
    if times:
        st.dataframe(
            pd.DataFrame(
                [
                    {
                        "lesson": titles.get(lesson, lesson),
                        "passed": t.learners_passed,
                        "median": minutes(t.median_s),
                        "fastest": minutes(t.fastest_s),
                        "slowest": minutes(t.slowest_s),
                    }
                    for lesson, t in times.items()
                ]
            ),  # fmt: skip
            hide_index=True,
            width="stretch",
        )
    else:
        st.caption("Nobody has passed a lesson yet.")

    st.subheader("A learner's latest code")
    if grid.learners and lessons:
        pick, lesson_pick = st.columns(2)
        learner_id = pick.selectbox("Learner", list(names), format_func=names.get, key="teacher-learner")
        lesson_id = lesson_pick.selectbox("Lesson", list(titles), format_func=titles.get, key="teacher-lesson")
        code = load_code(db, learner_id, lesson_id)
        plain.show(names[learner_id], ": ", grid.cell(learner_id, lesson_id).label, muted=True)
        st.code(code if code is not None else "(no code yet)", language="python")

    st.subheader("Export")
    grid_csv, runs_csv = st.columns(2)
    grid_csv.download_button(
        ":material/download: Class grid (CSV)", data=partial(export_grid_csv, db, list(titles), workshop),
        file_name="class-grid.csv", mime="text/csv", on_click="ignore", key="download-grid",
    )  # fmt: skip
    runs_csv.download_button(
        ":material/download: Run log (CSV)", data=partial(export_runs_csv, db, workshop), file_name="run-log.csv",
        mime="text/csv", on_click="ignore", key="download-runs",
    )  # fmt: skip

    library = get_library()  # last: the tables above are the class; this is about the lesson files
    render_proof_states(library.statuses(), library.background)
    st.page_link("app_pages/studio.py", label="Write, prove and publish lessons in the lesson studio",
                 icon=":material/edit_note:")  # fmt: skip


def app_address() -> str | None:
    """The app's address as this browser reaches it, without the page's own path."""
    url = st.context.url
    if not url:
        return None
    parts = urlsplit(url)
    path = parts.path.removesuffix("/teacher").rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def render_how_to_join() -> None:
    """What to put on the projector: where learners go and the code they type."""
    code = settings.workshop_code()
    if not code:
        return
    address = app_address()
    with st.expander("How learners join (for the projector)", expanded=False):
        where = plain.code(address) if address else "this app's address"
        plain.show("Open ", where, ", type your name and the workshop code:")
        plain.show(plain.Html(f'<span style="font-size:2.5rem;font-weight:700">{plain.text(code)}</span>'))
        plain.show(
            "Spaces, dashes and capital letters in the code do not matter. Sign in with the same name next "
            "time to continue where you left off.",
            muted=True,
        )
        host = urlsplit(address).hostname if address else None
        if host in ("localhost", "127.0.0.1", "::1"):
            plain.show(
                "This address works on this computer only: give learners this machine's network address "
                "instead (the same port), and start the app with ADDRESS=0.0.0.0 if it listens on loopback.",
                tone="warning",
            )


render_how_to_join()
class_view()
