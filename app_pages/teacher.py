"""The teacher's view of the class, live: who passed what, where learners are stuck (grouped by cause where it
is known), which causes the Explain page found in learners' own code (counts only), how long a lesson takes,
any learner's latest code, CSV exports, and lesson files with errors (never shown to learners)."""

from functools import partial

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
from ui.state import get_database, get_lessons, get_library, get_runs
from ui.studio import render_proof_states
from ui.teacher import render_join_summary, require_teacher_page

REFRESH_S = 5.0

st.title("Teacher")
require_teacher_page()


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


SHORT_TITLE = 18  # characters of a lesson's title in the grid's column header; the whole title on hover


def short_title(title: str) -> str:
    """ "3. Keep what build_model() returns" -> "3. Keep what build_…": ten lessons fit side by side."""
    return title if len(title) <= SHORT_TITLE else title[: SHORT_TITLE - 1].rstrip() + "…"


def grid_columns(titles: dict[str, str], lesson_ids: list[str]) -> dict:
    """The class grid's columns: the learners' names pinned at the left while the lessons scroll past, and
    each lesson headed by its number and a short title, the full title in the header's tooltip."""
    columns: dict = {"_index": st.column_config.TextColumn("Learner", pinned=True)}
    for lesson in lesson_ids:
        columns[titles[lesson]] = st.column_config.TextColumn(short_title(titles[lesson]), help=titles[lesson])
    return columns


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
    """Per lesson, how failed runs end, grouped by cause where the cause is known: one table, the groups
    learners are at now first (most learners first); groups nobody is at now are folded under "Earlier"."""
    st.subheader("Where learners are stuck")
    common = count_common_errors(db, workshop=workshop, label_cause=stuck_label)
    order = [*titles, *sorted(set(common) - set(titles))]
    stuck = [
        {"lesson": titles.get(lesson, lesson), "outcome": e.outcome, "names": ", ".join(e.names),
         "learners still there": e.learners_now, "learners ever": e.learners_ever, "runs": e.runs}
        for lesson in order for e in common.get(lesson, [])
    ]  # fmt: skip
    if not stuck:
        st.caption("No failed runs yet.")
        return
    st.caption(
        "Errors whose cause is known are grouped by it, whatever the name (the names column lists the "
        "most common ones); other errors are listed as they ended. Learners who passed a lesson are not "
        "counted as still there."
    )
    if not any(row["names"] for row in stuck):
        for row in stuck:
            del row["names"]
    # Outcomes and names are learner-controlled (an exception's name): dataframe cells, never Markdown.
    now = sorted((row for row in stuck if row["learners still there"]), key=lambda row: -row["learners still there"])
    earlier = [{k: v for k, v in row.items() if k != "learners still there"} for row in stuck
               if not row["learners still there"]]  # fmt: skip
    if now:
        st.dataframe(pd.DataFrame(now), hide_index=True, width="stretch")
    else:
        st.caption("Nobody is stuck now.")
    if earlier:
        with st.expander("Earlier (nobody is there now)"):
            st.dataframe(pd.DataFrame(earlier), hide_index=True, width="stretch")


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
        st.dataframe(frame.style.map(cell_colour), width="stretch", column_config=grid_columns(titles, grid.lesson_ids))
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


render_join_summary()
class_view()
