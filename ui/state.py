"""Process-wide resources (lessons, run manager) and per-session state, in one place."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Any

import streamlit as st

from tutor import settings
from tutor.authoring.publishing import LessonLibrary, ProofStore
from tutor.lessons.lesson import LessonSet
from tutor.runs.service import RunService, open_run_service
from tutor.sandbox.dataset import get_dataset_status
from tutor.store.db import Database, open_database
from tutor.store.progress import (
    LearnerInfo,
    load_code,
    mark_interrupted_runs,
    new_server_id,
    save_code,
    summarize_learner,
)

log = logging.getLogger(__name__)


def lessons_fingerprint() -> tuple:
    """Changes whenever a lesson or solution file is added, removed or edited."""
    files = [*settings.lessons_dir().rglob("*"), *settings.solutions_dir().rglob("*")]
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file()))


@st.cache_resource(show_spinner=False)
def _library(lessons_dir: str, solutions_dir: str, proofs_path: str) -> LessonLibrary:
    manager = get_runs()

    def learners_waiting() -> bool:  # background proofs wait while learners' runs queue
        counts = manager.counts()
        return counts["queued"] > 0 or counts["running"] >= counts["max_running"]

    # In queue mode this server starts no sandbox: a changed lesson is proved by `python -m tutor
    # check-lessons` (or the studio) instead of in the background here.
    background = settings.background_proofs() and settings.runs_mode() == "local"
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
    # First use in this process = server start: in local mode, runs an earlier process left in flight can
    # never finish. In queue mode they belong to the queue (other replicas, workers): this start marks none.
    if settings.runs_mode() == "local":
        mark_interrupted_runs(database, except_server=server_id())
    return database


def get_database() -> Database:
    """The progress database (created and migrated on first use). Keyed by URL so tests can point
    TUTOR_DB_PATH elsewhere; a server uses one."""
    return _open_database(settings.db_url())


def _release_run_service(service: RunService) -> None:
    """A run service dropped from the cache (cleared: a test's restarted server, "Clear caches"): a queue
    service stops listening, so no thread goes on talking to a database nobody reads. A local run
    manager's runs finish and are recorded as usual (its threads are daemons; the warm pool closes at
    exit)."""
    if service.mode == "queue":
        service.shutdown()


@st.cache_resource(show_spinner=False, on_release=_release_run_service)
def _run_service(url: str, mode: str) -> RunService:
    return open_run_service(_open_database(url), server_id())


def get_runs() -> RunService:
    """One run service for the whole server, shared by every session; it records every run. Local mode:
    runs in this process (warm pool, express lane); queue mode: the workers run them."""
    return _run_service(settings.db_url(), settings.runs_mode())


get_manager = get_runs  # the name the pages and tests used before the run service had two modes


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


def lesson_state(lesson_id: str) -> dict[str, Any]:
    """Per-session, per-lesson state: code, status, verdict, hints shown, editor generation. A signed-in
    learner starts from what the database has: their latest code and passed/attempted."""
    lessons = st.session_state.setdefault("lessons", {})
    if lesson_id not in lessons:
        state = {"status": "not started", "code": None, "verdict": None, "job": None, "hints": 0, "generation": 0,
                 "last_token": None, "attempts": 0, "show_solution": False, "saved_code": None, "notice": None,
                 "stopped": None, "confirm_solution": False}  # fmt: skip
        learner = current_learner()
        if learner is not None:
            state["code"] = state["saved_code"] = load_code(get_database(), learner.id, lesson_id)
            state["restored"] = state["code"] is not None
            cell = summarize_learner(get_database(), learner.id).get(lesson_id)
            if cell is not None and cell.attempts:  # real attempts only: the starter as given is none
                state["status"] = "passed" if cell.passed else "attempted"
                state["attempts"] = cell.attempts
        # Queue mode: a run of this lesson already in flight (started on another server of the class, or
        # before this server restarted) shows its progress here too.
        if settings.runs_mode() == "queue":
            state["job"] = get_runs().find_active(owner_id(), lesson_id)
        lessons[lesson_id] = state
    return lessons[lesson_id]


def keep_code(lesson_id: str, state: dict[str, Any], starter: str) -> None:
    """Store the editor's text as the learner's latest code when it changed (a new tab, another day or a
    restarted server opens it again). Merely opening a lesson stores nothing."""
    learner = current_learner()
    code = state["code"]
    if learner is None or code is None or code == state.get("saved_code"):
        return
    if state.get("saved_code") is None and code == starter:
        return
    try:
        save_code(get_database(), learner.id, lesson_id, code)
    except Exception:  # the database is busy or gone: the learner keeps editing; the next edit retries
        log.exception("saving the code of %s for %s failed", learner.id, lesson_id)
        return
    state["saved_code"] = code


def register_pages(pages: dict[str, Any]) -> None:
    """app.py registers the page object of each lesson, so pages can link to each other."""
    st.session_state["_lesson_pages"] = pages


def lesson_page(lesson_id: str) -> Any:
    """The lesson's page, as app.py registered it; its URL path where a page runs alone (tests)."""
    return st.session_state.get("_lesson_pages", {}).get(lesson_id, f"/{lesson_id}")


def lesson_status(lesson_id: str) -> str:
    """not started / attempted / passed, for this session's learner."""
    return lesson_state(lesson_id)["status"]
