"""What a learner revealed per lesson (hints shown, the solution asked for and confirmed), so that a reload,
a new tab or a restarted server shows them again: the table lesson_reveals (tutor.store.db.LessonReveal,
read and written by tutor.store.reveals).

Revision ID: 0003_lesson_reveals
Revises: 0002_run_real_attempt
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_lesson_reveals"
down_revision = "0002_run_real_attempt"


def upgrade() -> None:
    # Created only where missing, as 0001 does for tutor_workers (the baseline, tutor.store.db's
    # _create_first_tables, makes only version 1's tables: every database gets this one here).
    if sa.inspect(op.get_bind()).has_table("lesson_reveals"):
        return
    op.create_table(
        "lesson_reveals",
        sa.Column("learner_id", sa.String(32), sa.ForeignKey("learners.id"), primary_key=True),
        sa.Column("lesson_id", sa.String(120), primary_key=True),
        sa.Column("hints", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("solution_shown", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
