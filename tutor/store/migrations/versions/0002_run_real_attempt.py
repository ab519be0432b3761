"""Issue 11 (teach before telling): runs.real_attempt, False when the unchanged starter was run. Such a
run shows the learner what happens but is no attempt: the teacher's grid and "stuck" leave it out.
Older rows stay NULL and count as attempts.

Revision ID: 0002_run_real_attempt
Revises: 0001_queue_runs
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_run_real_attempt"
down_revision = "0001_queue_runs"


def upgrade() -> None:
    # A database created by this version already has it (tutor.store.db creates today's tables).
    if "real_attempt" not in {column["name"] for column in sa.inspect(op.get_bind()).get_columns("runs")}:
        op.add_column("runs", sa.Column("real_attempt", sa.Boolean(), nullable=True))
