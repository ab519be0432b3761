"""The cause of each run's first error (runs.error_cause: a NameError's NameCause value or an AttributeError's
kind), and the table explanations: one row per use of the Explain page, with the cause found and the kind
of file only (tutor.store.db.ExplanationRow). The learner's own code is never stored.

Revision ID: 0004_explanations
Revises: 0003_lesson_reveals
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_explanations"
down_revision = "0003_lesson_reveals"


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # Added only where missing: a database created by this version already has runs.error_cause (the
    # baseline creates today's runs table), and none has explanations before this revision.
    if "error_cause" not in {column["name"] for column in inspector.get_columns("runs")}:
        op.add_column("runs", sa.Column("error_cause", sa.String(64), nullable=True))
    if inspector.has_table("explanations"):
        return
    op.create_table(
        "explanations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("learner_id", sa.String(32), sa.ForeignKey("learners.id"), nullable=True),
        sa.Column("cause", sa.String(64), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_explanations_learner_id", "explanations", ["learner_id"])
