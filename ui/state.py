"""Process-wide resources (lessons, run manager) and per-session state, in one place."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from tutor import settings
from tutor.authoring.publishing import LessonLibrary, ProofStore
from tutor.grading.verdict import Verdict
from tutor.lessons.lesson import LessonSet
from tutor.runs.contract import INTERRUPTED_WORDS, RunService, RunSnapshot, RunStatus
from tutor.runs.service import open_run_service, recover_runs
from tutor.sandbox.dataset import get_dataset_status
from tutor.store.db import Database, open_database
from tutor.store.progress import (
    LearnerInfo,
    ProgressStatus,
    load_code,
    new_server_id,
    save_code,
    summarize_learner,
)
from tutor.store.reveals import load_reveals, save_reveals

log = logging.getLogger(__name__)


def lessons_fingerprint() -> tuple:
    """Changes whenever a lesson or solution file is added, removed or edited."""
    files = [*settings.lessons_dir().rglob("*"), *settings.solutions_dir().rglob("*")]
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file()))


@st.cache_resource(show_spinner=False)
def _library(lessons_dir: str, solutions_dir: str, proofs_path: str) -> LessonLibrary:
    runs = get_runs()

    def learners_waiting() -> bool:  # background proofs wait while learners' runs queue
        return runs.counts().busy

    # Where this server starts no sandbox (queue mode), a changed lesson is proved by `python -m tutor
    # check-lessons` (or the studio) instead of in the background here.
    background = settings.background_proofs() and runs.runs_here
    return LessonLibrary(
        Path(lessons_dir), Path(solutions_dir), ProofStore(Path(proofs_path)), busy=learners_waiting,
        background=background,
    )  # fmt: skip


def get_library() -> LessonLibrary:
    """The proved lesson versions learners see, and the proofs of changed ones (tutor.authoring.publishing)."""
    return _library(str(settings.lessons_dir()), str(settings.solutions_dir()), str(settings.proofs_path()))


def get_lessons() -> LessonSet:
    """The lessons' live versions: reloaded without a restart when their files change, and a changed
    lesson replaces the live one only once its proofs passed."""
    library = get_library()
    library.sync(lessons_fingerprint())
    return library.lesson_set()


@st.cache_resource(show_spinner=False)
def server_id() -> str:
    """This server process, as named in the runs it records."""
    return new_server_id()


@st.cache_resource(show_spinner=False)
def _open_database(url: str) -> Database:
    database = open_database(url)
    recover_runs(database, server_id())  # first use in this process = server start (tutor.runs.service)
    return database


def get_database() -> Database:
    """The progress database (created and migrated on first use). Keyed by URL so tests can point
    TUTOR_DB_PATH elsewhere; a server uses one."""
    return _open_database(settings.db_url())


def _release_run_service(service: RunService) -> None:
    """A run service dropped from the cache (cleared: a test's restarted server, "Clear caches")."""
    service.release()


@st.cache_resource(show_spinner=False, on_release=_release_run_service)
def _run_service(url: str, mode: str) -> RunService:
    return open_run_service(_open_database(url), server_id())


def get_runs() -> RunService:
    """One run service for the whole server, shared by every session; it records every run. Local mode:
    runs in this process (warm pool, express lane); queue mode: the workers run them."""
    return _run_service(settings.db_url(), settings.runs_mode())


@st.cache_data(ttl=30, show_spinner=False)
def dataset_status() -> dict[str, Any]:
    status = get_dataset_status()
    return {"active": str(status.active) if status.active else None, "real_present": status.real_present,
            "real_verified": status.real_verified}  # fmt: skip


def current_learner() -> LearnerInfo | None:
    """The learner signed in to this browser session (ui.auth signs in)."""
    return st.session_state.get("learner")


def owner_id() -> str:
    """Who owns runs: the signed-in learner (one run in flight per learner, whatever the tab), else this
    browser session."""
    learner = current_learner()
    if learner is not None:
        return learner.id
    if "owner" not in st.session_state:
        st.session_state.owner = uuid.uuid4().hex
    return st.session_state.owner


@dataclass
class ShownVerdict:
    """The verdict the page shows and the code it judged, set together in one assignment: the page never
    draws a verdict with another run's code, nor moves focus to a verdict it has not drawn."""

    verdict: Verdict
    source: str  # the code that was run (the editor marks the failing line while its text is this code)
    focus: bool = False  # a run just finished: move keyboard focus to the verdict when it is drawn (once)


@dataclass
class LessonPageState:
    """One browser session's state of one lesson page (app_pages/lesson.py). A signed-in learner's starts
    from the database: latest code, progress, revealed hints and solution, and their latest run."""

    status: ProgressStatus = ProgressStatus.NOT_STARTED  # this learner's standing in the lesson
    attempts: int = 0  # real attempts (the unchanged starter is none): the solution opens after a few
    code: str | None = None  # the editor's newest text; None: the starter
    saved_code: str | None = None  # the code the database holds as the learner's latest (keep_code)
    restored: bool = False  # the editor opened on the learner's latest code: the page says so, once
    generation: int = 0  # part of the editor's key: Reset bumps it (the only way to replace Ace's text)
    last_token: str | None = None  # the editor's latest Ctrl/Cmd+Enter token, already acted on
    job: int | None = None  # the run service's id of this page's latest run (in flight or finished)
    quick: bool = False  # the run just started looks like it stops at once: the next rerun waits for it
    finished_job: int | None = None  # the run whose outcome is already recorded in this state
    shown: ShownVerdict | None = None  # the verdict on the page
    notice: str | None = None  # a warning until the next run (code too large, the grader failed)
    stopped: str | None = None  # "Stopped after 3.2 s...": until the next run
    once: str | None = None  # a notice shown once, at the next draw (the last run was interrupted)
    hints: int = 0  # hints revealed (the first ones); kept in the database for a signed-in learner
    confirm_solution: bool = False  # "Show me the solution" pressed: the page asks "Sure?"
    show_solution: bool = False  # the learner confirmed: the solution is open; kept in the database
    opened: bool = False  # the lesson page opened in this session: reveals and the latest run looked up
    draws: int = 0  # whole-page draws of this lesson so far (the live panel knows whether its page is current)
    redraw_asked: float = 0.0  # when the live panel last asked for a whole-page draw (time.monotonic)
    open_module: str | None = None  # a project lesson: the module the next draw opens (the one that failed)
    module_shown: str | None = None  # a project lesson: the module whose editor the last draw showed
    # ... and how many times the editor changed module: part of its key. An editor drawn again under a key it
    # had before (back to a module) never sent its text again (Streamlit 1.67): each showing gets a new key.
    module_visits: int = 0

    @property
    def verdict(self) -> Verdict | None:
        return self.shown.verdict if self.shown is not None else None

    @property
    def verdict_source(self) -> str | None:
        return self.shown.source if self.shown is not None else None


def lesson_state(lesson_id: str) -> LessonPageState:
    """This session's state of a lesson, made on first use (the sidebar asks for every lesson's status). A
    signed-in learner (self-paced browsers have one too) starts from the database: their latest code and
    passed/attempted. What the lesson page itself shows is looked up when it opens (``open_lesson_state``)."""
    lessons: dict[str, LessonPageState] = st.session_state.setdefault("lessons", {})
    if lesson_id not in lessons:
        state = LessonPageState()
        learner = current_learner()
        if learner is not None:
            database = get_database()
            state.code = state.saved_code = load_code(database, learner.id, lesson_id)
            state.restored = state.code is not None
            cell = summarize_learner(database, learner.id).get(lesson_id)
            if cell is not None:  # real attempts only: the starter as given is none
                state.status, state.attempts = cell.status, cell.attempts
        lessons[lesson_id] = state
    return lessons[lesson_id]


def open_lesson_state(lesson_id: str) -> LessonPageState:
    """The lesson page's state. The first time the page opens in this session, a signed-in learner gets
    back the hints and solution they revealed and their latest run (its verdict again; a run in flight goes
    on showing its progress; an interrupted one is said once): looked up here, not for every lesson the
    sidebar and the overview list."""
    state = lesson_state(lesson_id)
    learner = current_learner()
    if not state.opened and learner is not None:
        reveals = load_reveals(get_database(), learner.id, lesson_id)
        state.hints, state.show_solution = reveals.hints, reveals.solution_shown
        restore_last_run(state, get_runs().last_run(owner_id(), lesson_id))
    state.opened = True
    return state


def restore_last_run(state: LessonPageState, run: RunSnapshot | None) -> None:
    """A new session (a reload, a new tab, a restarted server) picks up the learner's latest run."""
    if run is None:
        return
    if run.state.in_flight:  # still queued or running (here, or on another server of the class)
        state.job = run.id
    elif run.state is RunStatus.INTERRUPTED:
        state.once = run.error or INTERRUPTED_WORDS
    elif run.state is not RunStatus.CANCELLED and run.verdict is not None:  # graded: its verdict again
        state.shown = ShownVerdict(run.verdict, run.source)  # (no focus: nothing just happened)


def save_revealed(lesson_id: str, state: LessonPageState) -> None:
    """Store the hints and solution this learner revealed (a reload shows them again)."""
    learner = current_learner()
    if learner is None:
        return
    try:
        save_reveals(get_database(), learner.id, lesson_id, state.hints, state.show_solution)
    except Exception:  # the database is busy or gone: the page goes on; the next reveal stores it
        log.exception("saving the reveals of %s for %s failed", learner.id, lesson_id)


def keep_code(lesson_id: str, state: LessonPageState, starter: str) -> None:
    """Store the editor's text as the learner's latest code when it changed (a new tab, another day or a
    restarted server opens it again). Merely opening a lesson stores nothing."""
    learner = current_learner()
    code = state.code
    if learner is None or code is None or code == state.saved_code:
        return
    if state.saved_code is None and code == starter:
        return
    try:
        save_code(get_database(), learner.id, lesson_id, code)
    except Exception:  # the database is busy or gone: the learner keeps editing; the next edit retries
        log.exception("saving the code of %s for %s failed", learner.id, lesson_id)
        return
    state.saved_code = code


def register_pages(pages: dict[str, Any]) -> None:
    """app.py registers the page object of each lesson, so pages can link to each other."""
    st.session_state["_lesson_pages"] = pages


def lesson_page(lesson_id: str) -> Any:
    """The lesson's page, as app.py registered it; its URL path where a page runs alone (tests)."""
    return st.session_state.get("_lesson_pages", {}).get(lesson_id, f"/{lesson_id}")


def lesson_status(lesson_id: str) -> ProgressStatus:
    """Not started / attempted / passed, for this session's learner."""
    return lesson_state(lesson_id).status
