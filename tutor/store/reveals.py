"""What a learner revealed in each lesson: how many hints, and whether they asked for the reference solution
and confirmed. Kept in the database (tutor.store.db.LessonReveal) so a reload, a new tab or a restarted
server shows them again. Portable SQLAlchemy (SQLite and PostgreSQL); no Streamlit."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tutor.store.db import Database, LessonReveal, utc_now


@dataclass(frozen=True)
class Reveals:
    hints: int = 0  # how many hints were shown (always the first ones, in order)
    solution_shown: bool = False  # the learner asked for the solution and confirmed


def load_reveals(db: Database, learner_id: str, lesson_id: str) -> Reveals:
    """What this learner revealed in this lesson; nothing for a lesson never opened."""
    with db.sessions() as session:
        row = session.execute(
            select(LessonReveal.hints, LessonReveal.solution_shown).filter_by(
                learner_id=learner_id, lesson_id=lesson_id
            )
        ).first()
    return Reveals(row.hints, bool(row.solution_shown)) if row is not None else Reveals()


def save_reveals(db: Database, learner_id: str, lesson_id: str, hints: int, solution_shown: bool) -> Reveals:
    """Record what the page shows now. What was revealed stays revealed: the stored hints never go down and
    the solution never closes again (two tabs of one learner each add theirs). Returns what is stored."""
    for attempt in range(2):
        try:
            with db.sessions.begin() as session:
                return _upsert(session, learner_id, lesson_id, max(0, hints), solution_shown)
        except IntegrityError:  # two tabs inserted the first row at once: the row exists now, update it
            if attempt:
                raise
    raise AssertionError("unreachable")


def _upsert(session: Session, learner_id: str, lesson_id: str, hints: int, solution_shown: bool) -> Reveals:
    # Get-then-set, portable (no dialect-specific upsert); save_reveals retries the rare insert race.
    row = session.get(LessonReveal, (learner_id, lesson_id))
    if row is None:
        row = LessonReveal(learner_id=learner_id, lesson_id=lesson_id, hints=hints, solution_shown=solution_shown,
                           updated_at=utc_now())  # fmt: skip
        session.add(row)
        session.flush()  # the insert race surfaces here, inside the retry
    else:
        row.hints = max(row.hints, hints)
        row.solution_shown = bool(row.solution_shown or solution_shown)
        row.updated_at = utc_now()
    return Reveals(row.hints, bool(row.solution_shown))
