"""What one sandbox run produced, as plain data (JSON in and out, versioned, never pickle)."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from tutor.sandbox.protocol import MAX_CAUGHT_REPORTS, MAX_FIGURES, MAX_FIGURES_BYTES, EventType, FinishStatus

RESULT_VERSION = 1


class Termination(enum.StrEnum):
    """How the run ended. Only FINISHED means the harness saw the program to its end."""

    FINISHED = "finished"  # the program ran to its end, or raised (see RunResult.error)
    EXITED = "exited"  # sys.exit(n) with n != 0
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    OUTPUT_LIMIT = "output_limit"
    MEMORY_LIMIT = "memory_limit"  # the run's memory cgroup killed it
    CRASHED = "crashed"  # died without a word: os._exit, a signal, a segfault, out of memory
    TAMPERED = "tampered"  # something other than the harness wrote on the grader's channel
    HARNESS_ERROR = "harness_error"  # our fault, not the learner's
    SANDBOX_ERROR = "sandbox_error"  # the sandbox could not start

    @property
    def is_infrastructure(self) -> bool:
        return self in (Termination.HARNESS_ERROR, Termination.SANDBOX_ERROR)


@dataclass
class ErrorInfo:
    """An uncaught exception in the learner's program."""

    type: str
    message: str
    line: int | None
    traceback: str = ""
    qualified_type: str = ""
    function: str | None = None
    name: str | None = None  # for NameError: the missing name
    is_name_error: bool = False
    module_names: dict[str, str] = field(default_factory=dict)
    context: dict[str, str] | None = None  # the exception being handled when this one was raised
    # NameError: where the missing name is assigned (tutor.grading.name_error); AttributeError: why `model` has no
    # `fit` (tutor.grading.attribute_error). Both carry "diagnosis" (no fix), "fix" and "summary".
    analysis: dict[str, Any] | None = None
    place: str = ""  # how pages name ``line`` when it is not a file's line (a notebook's "cell 2, line 1")
    file: str | None = None  # a project's module ``line`` is in, when not the program itself (additive)


@dataclass
class CaughtError:
    """A NameError (or UnboundLocalError) raised in the learner's code and caught by the learner's own
    ``except``: nothing stopped the program, it went on without the name. Reported apart from ``error``
    (the program did not stop), so "your code hid a NameError" is never read as "your code raised"."""

    type: str
    name: str | None  # the missing name, when known
    message: str
    line: int | None  # where it was raised
    function: str | None = None  # the function that line is in; None at module level
    handler_line: int | None = None  # the ``except`` that caught it
    analysis: dict[str, Any] | None = None  # as ErrorInfo.analysis (tutor.grading.name_error), from grading
    place: str = ""  # as ErrorInfo.place


@dataclass
class FitInfo:
    index: int
    epochs: Any  # what the program asked for (normally an int)
    initial_epoch: Any = 0
    line: int | None = None
    model_type: str = ""
    epochs_run: int = 0
    completed: bool = False
    ended: bool = False
    error: str | None = None
    history: list[dict[str, float | None]] = field(default_factory=list)

    @property
    def final_metrics(self) -> dict[str, float | None]:
        return self.history[-1] if self.history else {}


@dataclass
class LoadInfo:
    path: str
    ok: bool
    line: int | None = None
    error_type: str | None = None
    error: str | None = None


@dataclass
class ModelInfo:
    name: str
    defined: bool
    type: str | None = None
    is_keras_model: bool = False
    trained: bool = False
    loaded: bool = False
    params: int | None = None


@dataclass
class Figure:
    """A matplotlib figure the program showed (``plt.show()``), saved (``savefig``) or left open at its end,
    rendered in the sandbox as PNG (within tutor.sandbox.protocol's caps; width and height are read from
    the image). ``png`` is base64 text: the result stays plain JSON, stored and queued as it is."""

    index: int  # 1-based, in the order the program made its figures
    how: str  # "shown", "saved" or "open"
    width: int
    height: int
    bytes: int
    png: str

    @property
    def caption(self) -> str:
        return f"Figure {self.index} ({self.width}×{self.height})"


@dataclass
class RunResult:
    termination: Termination
    duration_s: float
    exit_code: int | None = None
    signal: str | None = None
    error: ErrorInfo | None = None
    fits: list[FitInfo] = field(default_factory=list)
    loads: list[LoadInfo] = field(default_factory=list)
    model: ModelInfo | None = None
    dataset: str | None = None  # "real" or "standin", once the program loaded MNIST
    dataset_description: str | None = None
    stdout: str = ""
    stderr: str = ""
    output_truncated: bool = False
    predictions: dict[str, Any] | None = None
    detail: str = ""  # plain words for terminations other than FINISHED
    isolation: str = ""
    peak_memory_mb: float | None = None  # of the learner's process, when it finished normally (warm: with the
    # memory the sandbox touched ahead for it, tutor.sandbox.harness.prefault_heap)
    warm: bool = False
    # NameErrors the program's own ``except`` caught, in order, at most MAX_CAUGHT_REPORTS distinct (raise line,
    # except line) pairs. Additive: a result stored before the field reads back with none.
    caught: list[CaughtError] = field(default_factory=list)
    # Figures, at most MAX_FIGURES; figures_made counts all the program made (more than shown: say so).
    # Additive, as caught.
    figures: list[Figure] = field(default_factory=list)
    figures_made: int = 0
    version: int = RESULT_VERSION

    @property
    def last_fit(self) -> FitInfo | None:
        return self.fits[-1] if self.fits else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResult:
        if data.get("version") != RESULT_VERSION:
            raise ValueError(f"run result version {data.get('version')!r}, expected {RESULT_VERSION}")
        data = dict(data)
        data["termination"] = Termination(data["termination"])
        data["error"] = ErrorInfo(**data["error"]) if data.get("error") else None
        data["fits"] = [FitInfo(**fit) for fit in data.get("fits", [])]
        data["loads"] = [LoadInfo(**load) for load in data.get("loads", [])]
        data["model"] = ModelInfo(**data["model"]) if data.get("model") else None
        data["caught"] = [CaughtError(**caught) for caught in data.get("caught") or []]
        data["figures"] = [Figure(**figure) for figure in data.get("figures") or []]
        return cls(**data)


def apply_event(result: RunResult, event: dict[str, Any]) -> None:
    """Fold one harness event, validated by tutor.sandbox.protocol.decode_event, into the result (in order)."""
    kind = event.get("type")
    if kind == EventType.FIT_BEGIN:
        result.fits.append(
            FitInfo(
                index=event["fit"],
                epochs=event.get("epochs"),
                initial_epoch=event.get("initial_epoch", 0),
                line=event.get("line"),
                model_type=event.get("model_type", ""),
            )
        )
    elif kind == EventType.EPOCH_END and result.fits:
        fit = _fit(result, event)
        fit.history.append(dict(event.get("metrics") or {}))
    elif kind == EventType.FIT_END and result.fits:
        fit = _fit(result, event)
        fit.epochs_run = int(event.get("epochs_run", 0))
        fit.completed = bool(event.get("completed"))
        fit.ended = True
        fit.error = event.get("error")
    elif kind == EventType.LOAD_MODEL:
        result.loads.append(
            LoadInfo(
                path=str(event.get("path")),
                ok=bool(event.get("ok")),
                line=event.get("line"),
                error_type=event.get("error_type"),
                error=event.get("error"),
            )
        )
    elif kind == EventType.DATASET:
        result.dataset = event.get("kind")
        result.dataset_description = event.get("description")
    elif kind == EventType.ERROR:
        fields = {k: v for k, v in (event.get("error") or {}).items() if k in ErrorInfo.__dataclass_fields__}
        result.error = ErrorInfo(**fields)
    elif kind == EventType.CAUGHT_ERROR:
        fields = {k: v for k, v in (event.get("error") or {}).items() if k in CaughtError.__dataclass_fields__}
        seen = {(caught.line, caught.handler_line) for caught in result.caught}
        # The harness sends each pair once and few of them; a learner who found the token could send more.
        if len(seen) < MAX_CAUGHT_REPORTS and (fields.get("line"), fields.get("handler_line")) not in seen:
            result.caught.append(CaughtError(**fields))
    elif kind == EventType.MODEL:
        fields = {k: v for k, v in (event.get("model") or {}).items() if v is not None}  # None: not reported
        result.model = ModelInfo(**fields)
    elif kind == EventType.PREDICTIONS:
        result.predictions = {k: v for k, v in event.items() if k not in ("type", "t") and v is not None}
    elif kind == EventType.FIGURE:
        add_figure(result, Figure(**{name: event[name] for name in Figure.__dataclass_fields__}))
    elif kind == EventType.FINISHED:
        result.figures_made = max(event.get("figures_made") or 0, len(result.figures))
        result.exit_code = event.get("exit_code")
        result.peak_memory_mb = event.get("peak_memory_mb")
        status = event.get("status")
        result.termination = Termination.EXITED if status == FinishStatus.EXIT else Termination.FINISHED


def add_figure(result: RunResult, figure: Figure) -> None:
    """The harness sends each figure once, within the caps; a learner who found the token could send more."""
    taken = {kept.index for kept in result.figures}
    total = sum(kept.bytes for kept in result.figures)
    if len(taken) < MAX_FIGURES and figure.index not in taken and total + figure.bytes <= MAX_FIGURES_BYTES:
        result.figures.append(figure)
        result.figures_made = max(result.figures_made, len(result.figures))


def _fit(result: RunResult, event: dict[str, Any]) -> FitInfo:
    index = event.get("fit")
    for fit in reversed(result.fits):
        if fit.index == index:
            return fit
    return result.fits[-1]
