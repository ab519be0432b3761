"""What an explanation is, as plain data: ``explain --json`` prints ``Explanation.to_dict()``; the Explain
page shows the same object. Defined once here (versioned)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

EXPLANATION_VERSION = 1
MAX_INPUT_BYTES = 200_000  # a .py or .ipynb larger than this is refused with a clear message
MAX_CELLS = 300  # a notebook with more code cells is refused with a clear message
MAX_TRACEBACK_CHARS = 100_000  # a pasted traceback is cut to its last 100 KB (the error is at its end)


class SourceKind(enum.StrEnum):
    SCRIPT = "script"
    NOTEBOOK = "notebook"


class Basis(enum.StrEnum):
    """Where the error explained was found."""

    SANDBOX = "sandbox"  # the program ran here and raised it
    NOTEBOOK_OUTPUT = "notebook-output"  # an error output saved in the notebook
    TRACEBACK = "traceback"  # the traceback the person pasted
    SOURCE = "source"  # predicted from the source alone (the program could not get that far here)


class NotebookRun(enum.StrEnum):
    SESSION = "session"  # the cells replayed in the saved session order (execution counts)
    FRESH = "fresh"  # Restart & Run All: top to bottom


class InputError(ValueError):
    """Input that cannot be explained (binary, too large, not a notebook...): the message says why, plainly."""


@dataclass
class ExplainedError:
    type: str  # NameError or UnboundLocalError
    name: str
    line: int | None  # in the file; for notebooks, in the cell
    message: str
    cause: str  # a tutor.lessons.causes.NameCause value
    diagnosis: str  # what went wrong, without the fix
    fix: str  # the fix alone, whole sentences ("" when none is known)
    cell: int | None = None  # notebooks: the cell's 0-based index among all cells
    run: str | None = None  # notebooks: a NotebookRun value
    function: str | None = None
    suggestions: list[str] = field(default_factory=list)  # "did you mean" candidates, best first
    handler_line: int | None = None  # the program's own `except` caught this NameError (in the file or cell)
    fixed_source: str | None = None  # the whole file (or the cell, for notebooks) with the fix applied, if known


@dataclass
class Explanation:
    file: str  # the name as given (plain text, never a path on the server)
    kind: str  # a SourceKind value
    found: bool  # a NameError/UnboundLocalError was found and explained
    basis: str | None  # a Basis value when found
    error: ExplainedError | None
    summary: str  # one or two plain sentences for people: what was found, or why nothing was
    # when the run here ended otherwise: {"type", "message", "line", "cell"} (+ "run" for notebooks); "type" is
    # the exception's, or how the sandbox ended it ("timeout", "exited", "memory_limit"...)
    stopped: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "cell 3 does not compile; it was skipped"
    cells: list[dict[str, Any]] = field(default_factory=list)  # notebooks: {"index", "execution_count", "source"}
    grader_error: str | None = None  # the sandbox itself broke: nothing was learned about the program
    version: int = EXPLANATION_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cell_label(index: int) -> str:
    """How sentences name a cell: counted from 1, top to bottom, markdown cells included, as people count
    them on screen ("cell 3" is the JSON's ``cell`` 2)."""
    return f"cell {index + 1}"


def refused_explanation(filename: str, message: str) -> Explanation:
    """The answer for input that cannot be explained: the same shape as any explanation, nothing found,
    the reason in ``summary``."""
    kind = SourceKind.NOTEBOOK if filename.lower().endswith(".ipynb") else SourceKind.SCRIPT
    return Explanation(file=filename, kind=kind, found=False, basis=None, error=None, summary=message)
