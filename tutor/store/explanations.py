"""What the Explain page leaves behind: one row per explanation with the cause found and the kind of file
(tutor.store.db.ExplanationRow), so the teacher sees which causes learners meet in their own code. Never
the code itself, its file name or any text of it: own code belongs to the learner. Portable SQLAlchemy
(SQLite and PostgreSQL); no Streamlit."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tutor.store.db import Database, ExplanationRow, Learner, utc_now

KINDS = ("script", "notebook")  # tutor.explain.contract.SourceKind's values
# A cause is a short word of the engine's vocabulary (tutor.lessons.causes.NameCause: "discarded-result"):
# anything else is dropped, so no text of the learner's can ever reach this table through it.
CAUSE_PATTERN = re.compile(r"[a-z][a-z0-9-]{0,63}")


def record_explanation(db: Database, learner_id: str | None, cause: str | None, kind: str) -> int:
    """Count one explanation; returns its row's id (``revise_explanation``). ``cause``: the NameCause value
    found, None when no NameError was; a value that is not such a word is stored as None. ``learner_id``
    None: nobody is signed in."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    with db.sessions.begin() as session:
        row = ExplanationRow(learner_id=learner_id, cause=_kept(cause), kind=kind, created_at=utc_now())
        session.add(row)
        session.flush()
        return row.id


def revise_explanation(db: Database, explanation_id: int, cause: str | None) -> None:
    """The same code explained again, better (it ran in the sandbox this time): its one row takes the cause
    found now, so the teacher's counts stay one per piece of code explained."""
    with db.sessions.begin() as session:
        row = session.get(ExplanationRow, explanation_id)
        if row is not None:
            row.cause = _kept(cause)


def _kept(cause: object) -> str | None:
    return cause if isinstance(cause, str) and CAUSE_PATTERN.fullmatch(cause) else None


def count_explanations_by_cause(db: Database, workshop: str | None = None) -> dict[str | None, int]:
    """How many explanations found each cause (None: no NameError found), most first. ``workshop``: a
    workshop code as stored with each learner ("" for self-paced browsers), None for everyone (explanations
    made with nobody signed in count only there), as tutor.store.class_report scopes runs."""
    query = select(ExplanationRow.cause, func.count(ExplanationRow.id)).group_by(ExplanationRow.cause)
    if workshop is not None:
        query = query.join(Learner, Learner.id == ExplanationRow.learner_id).where(Learner.workshop_code == workshop)
    with db.sessions() as session:
        rows = session.execute(query).all()
    ordered = sorted(rows, key=lambda row: (-row[1], row[0] is None, row[0] or ""))
    return {cause: count for cause, count in ordered}
