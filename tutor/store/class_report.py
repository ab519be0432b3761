"""The class, for the teacher: the grid of who passed what, where learners are stuck, time to pass, and
the CSV exports, for one workshop or for everyone (``workshop``: a workshop code as stored with each
learner, "" for self-paced browsers, None for all). Built on tutor.store.progress's records."""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from tutor.store.db import Database, IdentitySource, LatestCode, Learner, Run, RunStatus
from tutor.store.progress import PASSED, LearnerInfo, LessonProgress, counts_as_attempt, list_learners, progress_cells
from tutor.store.text import clean_display_name, distinct_names, neutralise_cell


@dataclass
class ClassGrid:
    learners: list[LearnerInfo]
    lesson_ids: list[str]
    cells: dict[tuple[str, str], LessonProgress] = field(default_factory=dict)
    idle_browsers: int = 0  # self-paced browsers left out of ``learners``: they never ran or kept code

    def cell(self, learner_id: str, lesson_id: str) -> LessonProgress:
        return self.cells.get((learner_id, lesson_id), LessonProgress())


@dataclass(frozen=True)
class ErrorCount:
    outcome: str  # e.g. "NameError: model"; for a group of one cause, its label ("NameError: never imported")
    learners_now: int  # learners who have not passed, whose latest graded run ended this way ("still at")
    learners_ever: int
    runs: int
    cause: str | None = None  # the cause of the group (a run's error_cause), None for a group of one outcome
    names: tuple[str, ...] = ()  # a cause group's missing names, most runs first (learner-controlled text)


# Names the group of a run's error: (error type, stored cause) -> a label such as "NameError: never
# imported", or None for an unknown cause (the run then groups by its outcome, as before causes were kept).
CauseLabel = Callable[[str | None, str | None], str | None]


@dataclass(frozen=True)
class PassTimes:
    learners_passed: int
    median_s: float
    fastest_s: float
    slowest_s: float


@dataclass(frozen=True)
class Workshop:
    code: str  # as stored with its learners; "" for self-paced browsers
    learners: int


def list_workshops(db: Database) -> list[Workshop]:
    """The workshops (codes) the database has learners of, most learners first; self-paced browsers are
    the one with code ""."""
    with db.sessions() as session:
        rows = session.execute(
            select(Learner.workshop_code, func.count(Learner.id)).group_by(Learner.workshop_code)
        ).all()
    return sorted((Workshop(code or "", count) for code, count in rows), key=lambda w: (-w.learners, w.code))


def in_workshop(query: Select, workshop: str | None) -> Select:
    """``query`` over runs, narrowed to the learners of ``workshop`` (None: everyone)."""
    if workshop is None:
        return query
    return query.join(Learner, Learner.id == Run.learner_id).where(Learner.workshop_code == workshop)


def build_class_grid(db: Database, lesson_ids: list[str], workshop: str | None = None) -> ClassGrid:
    """Every learner and their cells. Without a workshop code each browser is its own learner, made on its
    first page view (the teacher's own visits too); those that never ran code or kept any are counted in
    ``idle_browsers`` instead of filling the grid with rows of "not started". Signed-in learners always
    show: they joined on purpose."""
    with db.sessions() as session:
        active = set(session.scalars(select(Run.learner_id).distinct()))
        active |= set(session.scalars(select(LatestCode.learner_id).distinct()))
    learners, idle = [], 0
    for learner in list_learners(db):
        if workshop is not None and learner.workshop_code != workshop:
            continue
        if learner.identity_source == IdentitySource.LOCAL.value and learner.id not in active:
            idle += 1
        else:
            learners.append(learner)
    return ClassGrid(learners, list(lesson_ids), progress_cells(db), idle)


def count_common_errors(
    db: Database, top: int = 5, workshop: str | None = None, label_cause: CauseLabel | None = None
) -> dict[str, list[ErrorCount]]:
    """Per lesson, the most common ways graded runs failed, by learners still at that error. With
    ``label_cause``, the runs whose stored cause it knows are grouped by that cause (all "result of the
    call not kept" NameErrors together, whatever the name); the others by their outcome, as without it."""
    query = in_workshop(
        select(Run.lesson_id, Run.learner_id, Run.outcome, Run.error_type, Run.error_cause, Run.error_name)
        .where(Run.status == RunStatus.DONE.value, counts_as_attempt())
        .order_by(Run.id),
        workshop,
    )
    with db.sessions() as session:
        rows = session.execute(query).all()
    latest: dict[tuple[str, str], str] = {}
    runs: dict[tuple[str, str], int] = defaultdict(int)
    ever: dict[tuple[str, str], set[str]] = defaultdict(set)
    causes: dict[tuple[str, str], str] = {}
    names: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    passed: set[tuple[str, str]] = set()
    for lesson, learner, outcome, error_type, cause, name in rows:
        label = label_cause(error_type, cause) if label_cause is not None and cause else None
        group = label or outcome
        latest[(lesson, learner)] = group
        if outcome == PASSED:
            passed.add((lesson, learner))
            continue
        runs[(lesson, group)] += 1
        ever[(lesson, group)].add(learner)
        if label:
            causes[(lesson, group)] = cause
            if name:
                names[(lesson, group)][name] += 1
    now: dict[tuple[str, str], int] = defaultdict(int)
    for (lesson, learner), group in latest.items():
        if (lesson, learner) not in passed:  # trying things after passing is not being stuck
            now[(lesson, group)] += 1
    result: dict[str, list[ErrorCount]] = defaultdict(list)
    for (lesson, group), count in runs.items():
        key = (lesson, group)
        shown = tuple(name for name, _ in names[key].most_common(3))
        result[lesson].append(ErrorCount(group, now[key], len(ever[key]), count, causes.get(key), shown))
    return {
        lesson: sorted(counts, key=lambda c: (-c.learners_now, -c.learners_ever, -c.runs, c.outcome))[:top]
        for lesson, counts in result.items()
    }


def time_to_pass(db: Database, workshop: str | None = None) -> dict[str, PassTimes]:
    """Per lesson: from a learner's first run to the end of their first passing run."""
    query = in_workshop(
        select(Run.lesson_id, Run.learner_id, Run.submitted_at, Run.finished_at, Run.passed)
        .where(counts_as_attempt())
        .order_by(Run.id),
        workshop,
    )
    with db.sessions() as session:
        rows = session.execute(query).all()
    first: dict[tuple[str, str], datetime] = {}
    passed_after: dict[tuple[str, str], float] = {}
    for lesson, learner, submitted, finished, passed in rows:
        key = (lesson, learner)
        first.setdefault(key, submitted)
        if passed and finished is not None and key not in passed_after:
            passed_after[key] = max(0.0, (finished - first[key]).total_seconds())
    per_lesson: dict[str, list[float]] = defaultdict(list)
    for (lesson, _), seconds in passed_after.items():
        per_lesson[lesson].append(seconds)
    return {
        lesson: PassTimes(len(times), statistics.median(times), min(times), max(times))
        for lesson, times in per_lesson.items()
    }


def export_grid_csv(db: Database, lesson_ids: list[str], workshop: str | None = None) -> str:
    grid = build_class_grid(db, lesson_ids, workshop)
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(["learner", "identity", *lesson_ids])
    labels = distinct_names((learner.id, learner.display_name) for learner in grid.learners)
    for learner in grid.learners:
        cells = [grid.cell(learner.id, lesson).label for lesson in lesson_ids]
        writer.writerow([labels[learner.id], learner.identity_source, *cells])
    return out.getvalue()


# "error_cause": why a name was missing (tutor.grading.causes), blank where no cause is known. "attempt": whether
# the run counts as an attempt (False: the unchanged starter, run to see what happens; True also for rows older
# than that distinction, as the grid counts them): the grid's attempt count of a learner and lesson is the number
# of their rows with attempt True, whatever the run's status. (New columns go after the older ones.)
RUN_COLUMNS = [
    "run", "learner", "learner_id", "lesson", "status", "outcome", "passed", "error_type", "error_name",
    "error_line", "error_cause", "attempt", "submitted_utc", "started_utc", "finished_utc", "duration_s", "dataset",
    "warm", "code",
]  # fmt: skip


def export_runs_csv(db: Database, workshop: str | None = None) -> str:
    query = select(Run, Learner.display_name).join(Learner, Learner.id == Run.learner_id).order_by(Run.id)
    if workshop is not None:
        query = query.where(Learner.workshop_code == workshop)
    out = io.StringIO()
    writer = SafeCsvWriter(out)
    writer.writerow(RUN_COLUMNS)
    learners = [learner for learner in list_learners(db) if workshop is None or learner.workshop_code == workshop]
    labels = distinct_names((learner.id, learner.display_name) for learner in learners)
    with db.sessions() as session:
        for run, name in session.execute(query):
            writer.writerow([
                run.id, labels.get(run.learner_id, clean_display_name(name)), run.learner_id, run.lesson_id,
                run.status, run.outcome, _blank(run.passed),
                _blank(run.error_type), _blank(run.error_name), _blank(run.error_line), _blank(run.error_cause),
                is_attempt(run.real_attempt),
                _iso(run.submitted_at), _iso(run.started_at), _iso(run.finished_at), _blank(run.duration_s),
                _blank(run.dataset), _blank(run.warm), run.code,
            ])  # fmt: skip
    return out.getvalue()


class SafeCsvWriter:
    """csv.writer whose text cells cannot become spreadsheet formulas (tutor.store.text.neutralise_cell): every
    export goes through it, since names, outcomes, error names and code are learner-controlled."""

    def __init__(self, out: io.StringIO) -> None:
        self.writer = csv.writer(out)

    def writerow(self, row: list[Any]) -> None:
        self.writer.writerow([neutralise_cell(cell) for cell in row])


def is_attempt(real_attempt: bool | None) -> bool:
    """A run's ``attempt`` cell: as tutor.store.progress.counts_as_attempt decides it in the database."""
    return real_attempt is None or bool(real_attempt)


def _iso(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else ""


def _blank(value: Any) -> Any:
    return "" if value is None else value
