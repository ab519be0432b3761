"""The one grading-and-recording path, shared by both modes: the local run manager (tutor.runs.local) and
the queue worker (tutor.runs.queue.worker) call these functions and nothing of their own.

- ``grade_job``: grade a run's code and say how it ended (a learner's error is in the verdict; a broken
  grader is FAILED, never the learner's fault; the learner's Stop is CANCELLED);
- the express lane: ``ExpressTry`` gives a run that looks like it stops on an early NameError a short try
  in a warm sandbox; ``GradedRun.requeue`` says it needs longer (``REQUEUE_NOTE`` tells the learner);
- ``run_columns``: a run's outcome as the database's columns, in both modes;
- ``describe_outcome``: the one-line label of a run ("passed", "NameError: model (result of the call not
  kept)", "timeout"...).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from tutor.grading.attribute_error import AttributeCause
from tutor.grading.grade import grade_source
from tutor.grading.verdict import Verdict
from tutor.lessons.causes import cause_label
from tutor.lessons.lesson import Lesson
from tutor.runs.contract import INTERRUPTED_WORDS, Progress, RunSnapshot, RunStatus
from tutor.sandbox.protocol import EventType, Phase
from tutor.sandbox.results import Termination
from tutor.sandbox.runner import EventCallback, WarmPoolLike
from tutor.store.db import Run
from tutor.store.progress import PASSED

OUTPUT_TAIL_CHARS = 64 * 1024  # what the page shows live; the verdict keeps the rendered whole
EXPRESS_BUDGET_S = 3.0  # a warm starter's verdict takes ~0.5 s; longer runs go back to their place in line
REQUEUE_NOTE = "Your program needs more than a quick check: it runs in full as soon as a sandbox is free."
ENDED_NORMALLY = (Termination.FINISHED, Termination.EXITED)
NAME_ERRORS = ("NameError", "UnboundLocalError")  # their first_error "cause" is a NameCause value


class LiveProgress:
    """A run's live progress and the tail of its output as the events arrive: the grading thread writes,
    pages (local mode) or the progress reporter (a queue worker) read a consistent copy."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.progress = Progress()
        self.output = ""

    def handle_event(self, event: dict[str, Any]) -> None:
        """Called from the grading thread for every runner event (sandbox events, case starts, output)."""
        kind = event.get("type")
        with self._lock:
            progress = self.progress
            if kind == EventType.CASE:
                progress.case, progress.case_title = event.get("case"), event.get("title")
                progress.phase, progress.history, progress.epochs = Phase.STARTING, [], None
                self.output = ""
            elif kind == EventType.PHASE:
                progress.phase = event.get("phase", progress.phase)
            elif kind == EventType.DATASET:
                progress.dataset = event.get("kind")
            elif kind == EventType.FIT_BEGIN:
                progress.phase = Phase.TRAINING
                epochs = event.get("epochs")
                progress.epochs = epochs if isinstance(epochs, int) else None
                progress.epoch, progress.step, progress.history = 0, 0, []
            elif kind == EventType.EPOCH_BEGIN:
                progress.epoch, progress.step, progress.steps = event.get("epoch", 0), 0, event.get("steps")
            elif kind == EventType.BATCH:
                progress.step, progress.steps = event.get("step", 0), event.get("steps")
            elif kind == EventType.EPOCH_END:
                progress.history.append(dict(event.get("metrics") or {}))
                progress.step = progress.steps or progress.step
            elif kind == EventType.OUTPUT:
                self.output = (self.output + event.get("text", ""))[-OUTPUT_TAIL_CHARS:]

    def read(self) -> tuple[Progress, str]:
        with self._lock:
            return Progress.from_dict(self.progress.to_dict()), self.output

    def set_phase(self, phase: Phase) -> None:
        with self._lock:
            self.progress.phase = phase

    def reset(self, note: str | None = None) -> None:
        """Back to queued, with what a try showed cleared (the express lane's requeue)."""
        with self._lock:
            self.progress, self.output = Progress(note=note), ""


class StopFlag(Protocol):
    def is_set(self) -> bool: ...


@dataclass(frozen=True)
class GradedRun:
    """How grading one run ended."""

    status: RunStatus  # DONE, CANCELLED or FAILED
    verdict: Verdict | None
    error: str | None  # the grader's failure (never the learner's)
    requeue: bool = False  # the express try was cut short: the run goes back to the queue, not counted


class ExpressTry:
    """The express lane's time budget, as a context: ``expired`` is set EXPRESS_BUDGET_S after entering."""

    def __init__(self, budget_s: float | None = None) -> None:
        self.expired = threading.Event()
        self._timer = threading.Timer(EXPRESS_BUDGET_S if budget_s is None else budget_s, self.expired.set)
        self._timer.daemon = True

    def __enter__(self) -> ExpressTry:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()


class _EitherStop:
    """Set when the learner's Stop or the express budget is: all the grader asks of a cancel is is_set()."""

    def __init__(self, stop: StopFlag, budget: StopFlag | None) -> None:
        self.stop, self.budget = stop, budget

    def is_set(self) -> bool:
        return self.stop.is_set() or (self.budget is not None and self.budget.is_set())


def grade_job(
    lesson: Lesson,
    source: str,
    stop: StopFlag,
    on_event: EventCallback | None = None,
    pool: WarmPoolLike | None = None,
    express: ExpressTry | None = None,
    grade: Callable[..., Verdict] = grade_source,
) -> GradedRun:
    """Grade ``source``; ``stop`` is the learner's Stop, ``express`` the express lane's try (if any)."""
    budget = express.expired if express is not None else None
    cancel = _EitherStop(stop, budget)
    try:
        extra: dict[str, Any] = {"pool": pool} if pool is not None else {}
        verdict = grade(lesson, source, on_event=on_event, cancel=cancel, **extra)
    except Exception as exc:  # the grader broke: tell the learner it is not their code
        return GradedRun(RunStatus.FAILED, None, f"{type(exc).__name__}: {exc}")
    if budget is not None and budget.is_set() and not stop.is_set() and was_cut_short(verdict):
        return GradedRun(RunStatus.QUEUED, None, None, requeue=True)
    if verdict.grader_error:
        return GradedRun(RunStatus.FAILED, verdict, verdict.grader_error)
    if stop.is_set():
        return GradedRun(RunStatus.CANCELLED, verdict, None)
    return GradedRun(RunStatus.DONE, verdict, None)


def was_cut_short(verdict: Verdict | None) -> bool:
    """True when a stop ended some case of this verdict before it finished."""
    if verdict is None:
        return True
    return any(case.result is None or case.result.termination is Termination.CANCELLED for case in verdict.cases)


def slim_verdict(verdict: Verdict) -> dict[str, Any]:
    """Verdict.to_dict() without each case's full run result (output, tracebacks, predictions): the checks,
    the first error, and per case how it ended. What the teacher's views and CSVs read."""
    data = verdict.to_dict()
    data["cases"] = [{k: v for k, v in case.items() if k != "result"} for case in data["cases"]]
    return data


def run_columns(status: RunStatus, verdict: Verdict | None, error: str | None) -> dict[str, Any]:
    """A finished run's columns (tutor.store.db.Run), the same in both modes: the slim verdict for the
    teacher, the whole one (``result``) for the learner's page after a reload, and the facts the grid reads."""
    values: dict[str, Any] = {"status": status.value}
    if verdict is not None:
        first = verdict.first_error or {}
        values.update(
            verdict=slim_verdict(verdict), result=verdict.to_dict(), passed=verdict.passed,
            error_type=first.get("type"), error_name=first.get("name"), error_line=first.get("line"),
            error_cause=stored_cause(first.get("cause")), dataset=verdict.dataset,
            warm=any(getattr(case.result, "warm", False) for case in verdict.cases),
        )  # fmt: skip
        error = error or verdict.grader_error
    values["grader_error"] = error
    values["outcome"] = describe_outcome(status, verdict, error)
    return values


MAX_CAUSE_CHARS = 64  # tutor.store.db.Run.error_cause: a cause is a short word of the vocabulary


def stored_cause(cause: object) -> str | None:
    """The first error's cause as the column keeps it: a NameCause or AttributeCause value; anything else
    (too long, not text) is left out rather than fail the run's record on PostgreSQL."""
    return cause if isinstance(cause, str) and 0 < len(cause) <= MAX_CAUSE_CHARS else None


def describe_outcome(status: RunStatus, verdict: Verdict | None, grader_error: str | None) -> str:
    """One short label per run, for "most common errors": "passed", "NameError: model", "timeout"... A
    NameError whose cause is known says it: "NameError: model (result of the call not kept)"."""
    if status is not RunStatus.DONE:
        return status.value
    if grader_error or verdict is None:
        return "grader error"
    if verdict.empty:
        return "empty editor"
    if verdict.passed:
        return PASSED
    error = verdict.first_error
    if error:
        cause = stored_cause(error.get("cause"))  # (a verdict may have crossed the queue: not trusted)
        label = cause_label(cause) if error.get("type") in NAME_ERRORS else None
        # (names cut short: the outcome column holds 255 characters, and a learner's name can be longer)
        named = f"{error['type']}: {str(error['name'])[:80]}" if error.get("name") else str(error["type"])[:80]
        if label:  # why the name was missing, e.g. "NameError: model (result of the call not kept)"
            return f"{named} ({label})"
        if cause in set(AttributeCause):  # which misconception, for "where learners are stuck"
            return f"{error['type']}: {AttributeCause(cause).label}"
        return named
    for case in verdict.cases:
        result = case.result
        if result is not None and result.termination not in ENDED_NORMALLY:
            return str(result.termination)
    failed = next((check.id for check in verdict.checks if not check.passed), "checks")
    return f"failed {failed}"


def snapshot_of(run: Run, position: int | None = None) -> RunSnapshot:
    """A run's record as the pages show it (a queue run's row holds its live progress too)."""
    progress_data = dict(run.progress or {})
    output = str(progress_data.pop("output", "") or "")
    progress = Progress.from_dict(progress_data)
    verdict, error = None, run.grader_error
    if run.result is not None:
        try:
            verdict = Verdict.from_dict(run.result)
        except (KeyError, TypeError, ValueError) as exc:
            error = f"the worker's verdict could not be read ({type(exc).__name__}: {exc})"
    try:
        state = RunStatus(run.status)
    except ValueError:
        state, error = RunStatus.FAILED, f"unknown run status {run.status!r}"
    if state is RunStatus.INTERRUPTED:
        error = INTERRUPTED_WORDS
    if state is RunStatus.DONE and verdict is None:
        state = RunStatus.FAILED
    return RunSnapshot(
        run.id, run.learner_id, run.lesson_id, run.code, state, progress, output, verdict, error, position,
        _timestamp(run.submitted_at), _timestamp(run.started_at), _timestamp(run.finished_at),
        attempts=run.attempts or 0, worker=run.worker,
    )  # fmt: skip


def _timestamp(value: datetime | None) -> float | None:
    return None if value is None else value.replace(tzinfo=UTC).timestamp()
