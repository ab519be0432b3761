"""The small vocabularies of the lesson format, defined once and imported wherever they are read or written:
a lesson's kind, a notebook session's steps besides cell numbers, and the roles of a lesson's files."""

from __future__ import annotations

import enum


class LessonKind(enum.StrEnum):
    """What the learner edits. A script is one file run top to bottom; a notebook is one percent-format file
    (``# %%`` cells) whose whole text, run as a script, is a fresh kernel's Restart & Run All; a project is
    several modules (``# ==> name.py <==`` headers, tutor.lessons.project), one of them run as the program."""

    SCRIPT = "script"
    NOTEBOOK = "notebook"
    PROJECT = "project"

    @property
    def label(self) -> str:
        """How the lesson list names the kind."""
        return {"script": "script", "notebook": "notebook", "project": "project of several files"}[self.value]


class SessionStep(enum.StrEnum):
    """A step of a notebook session that is not a code cell number."""

    RESTART = "restart"  # a fresh kernel: every name the cells made so far is gone


class FileRole(enum.StrEnum):
    """What a file is to its lesson (``python -m tutor lessons --json``)."""

    LESSON = "lesson"  # the TOML
    STARTER = "starter"
    SOLUTION = "solution"
    FIXTURE = "fixture"  # copied or run to make a case's or claim's files
