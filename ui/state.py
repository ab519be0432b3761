"""Process-wide resources (lessons, run manager) and per-session state, in one place."""

from __future__ import annotations

import uuid
from typing import Any

import streamlit as st

from tutor import settings
from tutor.data import get_dataset_status
from tutor.jobs import RunManager
from tutor.lessons import LessonSet, load_lessons
from tutor.pool import start_pool_from_settings


def lessons_fingerprint() -> tuple:
    """Changes whenever a lesson or solution file is added, removed or edited."""
    files = [*settings.lessons_dir().rglob("*"), *settings.solutions_dir().rglob("*")]
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files if p.is_file()))


@st.cache_resource(max_entries=2, show_spinner=False)
def _load_lessons(fingerprint: tuple) -> LessonSet:
    return load_lessons()


def get_lessons() -> LessonSet:
    """The lessons, reloaded without a restart when their files change."""
    return _load_lessons(lessons_fingerprint())


@st.cache_resource(show_spinner=False)
def get_manager() -> RunManager:
    """One run manager for the whole server, shared by every session."""
    return RunManager(pool=start_pool_from_settings())


@st.cache_data(ttl=30, show_spinner=False)
def dataset_status() -> dict[str, Any]:
    status = get_dataset_status()
    return {"active": str(status.active) if status.active else None, "real_present": status.real_present,
            "real_verified": status.real_verified}  # fmt: skip


def owner_id() -> str:
    """Who owns runs in this browser session (one run in flight per owner)."""
    if "owner" not in st.session_state:
        st.session_state.owner = uuid.uuid4().hex
    return st.session_state.owner


def lesson_state(lesson_id: str) -> dict[str, Any]:
    """Per-session, per-lesson state: code, status, verdict, hints shown, editor generation."""
    lessons = st.session_state.setdefault("lessons", {})
    return lessons.setdefault(
        lesson_id,
        {"status": "not started", "code": None, "verdict": None, "job": None, "hints": 0, "generation": 0,
         "run_requested": None, "last_token": None, "attempts": 0, "show_solution": False},
    )  # fmt: skip


def register_pages(pages: dict[str, Any]) -> None:
    """app.py registers the page object of each lesson, so pages can link to each other."""
    st.session_state["_lesson_pages"] = pages


def lesson_page(lesson_id: str) -> Any:
    return st.session_state["_lesson_pages"][lesson_id]
