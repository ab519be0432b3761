"""Running the person's code in the sandbox, with no lesson: the NameError it raised, or how else it ended,
in plain words ("It stopped here with FileNotFoundError on line 3 (a file it reads is not here)...")."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tutor.explain.traceback_text import parse_traceback
from tutor.sandbox.isolation import Limits
from tutor.sandbox.results import RunResult, Termination
from tutor.sandbox.runner import RunRequest, run_program

DEFAULT_WALL_S = 120.0  # enough for a small Keras training on MNIST; an explanation should not wait longer
LEARNER_FILE = "main.py"  # the name the sandbox gives the program (tutor.sandbox.runner)
MODULE = re.compile(r"No module named '(?P<module>[\w.]{1,100})'")
REASONS = {
    "FileNotFoundError": "a file it reads is not here",
    "ModuleNotFoundError": "a package it imports is not installed here",
    "ImportError": "an import failed here",
    "SyntaxError": "Python cannot read the file",
    "IndentationError": "Python cannot read the file",
    "TabError": "Python cannot read the file",
    "URLError": "the sandbox has no network",
    "ConnectionError": "the sandbox has no network",
    "gaierror": "the sandbox has no network",
    "PermissionError": "the sandbox does not allow it",
    "KeyboardInterrupt": "it was interrupted",
}


@dataclass
class Site:
    """Where a NameError was raised, in the coordinates of the script that ran (a notebook's replay)."""

    type: str
    name: str
    message: str
    line: int | None
    function: str | None
    traceback: str = ""
    runtime_names: dict[str, str] | None = None
    running_line: int | None = None  # the top-level statement that was running (its own line, or a call)
    handler_line: int | None = None  # the program's own `except` caught it there (and went on without the name)


@dataclass
class Stop:
    """How a run ended when it did not end with a NameError nor reach the end."""

    type: str  # the exception's type, or how the sandbox ended it ("timeout", "exited"...)
    message: str
    line: int | None = None  # the script's line; a notebook's: in the cell
    cell: int | None = None
    run: str | None = None  # notebooks: the NotebookRun
    reason: str = ""  # a few plain words on why, for common errors
    raised: bool = True  # the program raised ``type``; False: the sandbox stopped it (message says how)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type, "message": self.message, "line": self.line, "cell": self.cell}
        if self.run is not None:
            data["run"] = self.run
        return data

    def words(self, where: str) -> str:
        """ "FileNotFoundError on line 3 (a file it reads is not here)"; ``where``: "on line 3", "" ..."""
        reason = f" ({self.reason})" if self.reason else ""
        return f"{self.type}{' ' + where if where else ''}{reason}"

    def sentence(self, where: str) -> str:
        if self.raised:
            return f"It stopped here with {self.words(where)}, before reaching any NameError."
        return f"It stopped here before reaching any NameError: {self.message}"


def run_source(source: str, limits: Limits | None, cancel: threading.Event | None) -> RunResult:
    """One sandbox run of ``source``, no lesson, no case files (MNIST is there, as in lessons)."""
    request = RunRequest(source, limits=limits or Limits(wall_s=DEFAULT_WALL_S))
    return run_program(request, cancel=cancel)


def site_from_run(result: RunResult) -> Site | None:
    """The NameError the run stopped with, if it did (with the names bound then and the running line)."""
    error = result.error
    if error is None and result.caught and result.caught[0].name:
        caught = result.caught[0]  # hidden by the program's own `except`: still the NameError to explain
        return Site(
            caught.type, caught.name, caught.message, caught.line, caught.function,
            running_line=caught.line, handler_line=caught.handler_line,
        )  # fmt: skip
    if result.termination is not Termination.FINISHED or error is None or not error.is_name_error or not error.name:
        return None
    return Site(
        type=error.type,
        name=error.name,
        message=error.message,
        line=error.line,
        function=error.function,
        traceback=error.traceback,
        runtime_names=dict(error.module_names or {}),
        running_line=running_line(error.traceback) or error.line,
    )


def running_line(traceback_text: str) -> int | None:
    """The program's outermost module-level frame in the run's traceback: the statement that was running."""
    parsed, _ = parse_traceback(traceback_text)
    for frame in parsed.frames if parsed else []:
        if frame.file == LEARNER_FILE and frame.at_module:
            return frame.lineno
    return None


def describe_stop(result: RunResult, locate: Callable[[int | None], tuple[int | None, int | None]]) -> Stop | None:
    """How the run ended otherwise; None when it ran to the end. ``locate`` maps a line of what ran to
    (cell, line) — (None, line) for a script."""
    if result.termination is Termination.FINISHED and result.error is None:
        return None
    error = result.error
    if result.termination is Termination.FINISHED and error is not None:
        cell, line = locate(error.line)
        return Stop(error.type, error.message[:500], line, cell, reason=reason_for(error.type, error.message))
    detail = result.detail or f"the run ended ({result.termination.value})"
    return Stop(str(result.termination.value), detail, raised=False)


def reason_for(error_type: str, message: str) -> str:
    if error_type == "ModuleNotFoundError" and (match := MODULE.search(message or "")):
        return f"the package `{match['module'].split('.')[0]}` is not installed here"
    return REASONS.get(error_type, "")
