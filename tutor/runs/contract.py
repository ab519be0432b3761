"""The run contract: what a run is, as every part sees it.

One status enum (``RunStatus``: the database column, the snapshot and the pages), the live ``Progress``
of a run, the ``RunSnapshot`` the pages draw, ``WorkerInfo`` for the teacher page, ``RunInFlight``, and
the ``RunService`` protocol: everything a page asks about runs, answered the same way in both modes
(``tutor.runs.local`` and ``tutor.runs.queue.service`` implement it; ``tutor.runs.service`` opens one).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Protocol

from tutor.grading.verdict import Verdict
from tutor.sandbox.protocol import Phase
from tutor.store.db import IN_FLIGHT, RunStatus

if TYPE_CHECKING:
    from tutor.kernels.contract import KernelService
    from tutor.lessons.lesson import Lesson
    from tutor.sandbox.pool import PoolStats

__all__ = [
    "IN_FLIGHT",
    "Progress",
    "RunCounts",
    "RunInFlight",
    "RunService",
    "RunSnapshot",
    "RunStatus",
    "SubmittedRun",
    "WorkerInfo",
    "dead_after_s",
]

INTERRUPTED_WORDS = (
    "Your last run was interrupted: the server or worker running it stopped (not your code). Run it again."
)


MISSED_HEARTBEATS_DEAD = 3  # a worker that missed this many heartbeats is dead: its runs go to another


def dead_after_s(heartbeat_s: float) -> float:
    """How long a worker may be silent before it counts as dead (the one rule, everywhere it is asked)."""
    return MISSED_HEARTBEATS_DEAD * heartbeat_s


class RunInFlight(Exception):
    """This learner already has a run queued or running."""


@dataclass
class Progress:
    """A run's live progress, as the page shows it while it runs (also stored in a queue run's row)."""

    phase: str = Phase.QUEUED  # a tutor.sandbox.protocol.Phase
    case: str | None = None
    case_title: str | None = None
    epochs: int | None = None
    epoch: int = 0  # 0-based index of the epoch in progress
    step: int = 0
    steps: int | None = None
    history: list[dict[str, Any]] = field(default_factory=list)  # metrics per finished epoch (last fit)
    dataset: str | None = None
    note: str | None = None  # a word for the learner, e.g. why a run went back to the queue

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Progress:
        """The inverse of ``to_dict``; keys it does not know (a row's "output") are left out."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in (data or {}).items() if key in known}
        values["history"] = [dict(epoch) for epoch in values.get("history") or []]
        return cls(**values)


@dataclass
class RunSnapshot:
    """A run as a page sees it at one moment."""

    id: int
    owner: str
    lesson_id: str
    source: str
    state: RunStatus
    progress: Progress
    output: str
    verdict: Verdict | None
    error: str | None  # the grader's failure, or why the run ended without a verdict (interrupted)
    queue_position: int | None
    created: float
    started: float | None
    finished: float | None
    attempts: int = 1  # queue mode: how many workers started it (2: retried after a worker died)
    worker: str | None = None  # queue mode: the worker of the latest attempt

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = str(self.state)
        data["progress"] = self.progress.to_dict()
        data["verdict"] = self.verdict.to_dict() if self.verdict is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSnapshot:
        values = dict(data)
        values["state"] = RunStatus(values["state"])
        values["progress"] = Progress.from_dict(values["progress"])
        values["verdict"] = Verdict.from_dict(values["verdict"]) if values.get("verdict") is not None else None
        return cls(**values)


@dataclass(frozen=True)
class WorkerInfo:
    """A process that runs sandboxes for this class, as the teacher page lists it."""

    name: str
    host: str
    capacity: int  # runs at once
    running: int
    warm: int  # warm sandboxes ready
    heartbeat_age_s: float
    alive: bool


@dataclass(frozen=True)
class RunCounts:
    queued: int
    running: int
    max_running: int  # runs at once: this server's slots (local), the live workers' (queue)

    def __getitem__(self, key: str) -> int:  # counts["running"]: how the pages have always read it
        return getattr(self, key)

    def as_dict(self) -> dict[str, int]:
        return {"queued": self.queued, "running": self.running, "max_running": self.max_running}

    @property
    def busy(self) -> bool:
        """Learners wait: a run is queued, or every slot is taken (background proofs wait then)."""
        return self.queued > 0 or self.running >= self.max_running


class SubmittedRun(Protocol):
    id: int


class RunService(Protocol):
    """What the pages ask about runs. They never ask which mode answers."""

    runs_here: bool  # this process runs sandboxes (local mode): background proofs may run here too

    def submit(self, owner: str, lesson: Lesson, source: str) -> SubmittedRun:
        """Queue a run; raises RunInFlight when this learner has one queued or running for the lesson."""
        ...

    def snapshot(self, run_id: int) -> RunSnapshot | None: ...

    def find_active(self, owner: str, lesson_id: str) -> int | None:
        """The learner's run of this lesson that is queued or running (a page opened on another tab,
        after a reload or on another server picks it up), else None."""
        ...

    def last_run(self, owner: str, lesson_id: str) -> RunSnapshot | None:
        """The learner's latest recorded run of this lesson, finished or not (a reloaded page shows its
        verdict, or says that it was interrupted), else None."""
        ...

    def cancel(self, run_id: int) -> None: ...
    def counts(self) -> RunCounts: ...
    def workers(self) -> list[WorkerInfo]:
        """The worker processes of the queue (queue mode); empty where this server runs every run."""
        ...

    def pool_stats(self) -> PoolStats | None:
        """This process's warm sandboxes; None when it has none (off, or the workers own them)."""
        ...

    def where_runs_happen(self) -> str:
        """One sentence for the setup page: where sandboxes run and how many are warm."""
        ...

    def release(self) -> None:
        """Dropped from the server's cache: stop what talks to the database (runs in flight finish)."""
        ...

    def kernels(self) -> KernelService:
        """The notebook kernels: this server's own (tutor.kernels.hub, local mode), or the queue's workers'
        (tutor.runs.queue.kernels: each kernel lives on one worker), started on first use."""
        ...

    def shutdown(self) -> None: ...
