"""Queue mode (issue 10): per run the attempts, worker, lesson hash, live progress and whole verdict;
the workers table the teacher page reads.

Revision ID: 0001_queue_runs
Revises: (baseline: tutor.store.db.MIGRATIONS version 1)
"""

import sqlalchemy as sa
from alembic import op

revision = "0001_queue_runs"
down_revision = None

RUN_COLUMNS = [
    sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("worker", sa.String(120), nullable=True),
    sa.Column("lesson_hash", sa.String(64), nullable=True),
    sa.Column("progress", sa.JSON(), nullable=True),
    sa.Column("result", sa.JSON(), nullable=True),
    sa.Column("updated_at", sa.DateTime(), nullable=True),
]


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    # A database created by this version already has them (tutor.store.db creates today's tables): add only
    # what a database of version 1 lacks.
    existing = {column["name"] for column in inspector.get_columns("runs")}
    for column in RUN_COLUMNS:
        if column.name not in existing:
            op.add_column("runs", column)
    if not inspector.has_table("tutor_workers"):
        op.create_table(
            "tutor_workers",
            sa.Column("name", sa.String(120), primary_key=True),
            sa.Column("host", sa.String(255), nullable=False),
            sa.Column("pid", sa.Integer(), nullable=False),
            sa.Column("capacity", sa.Integer(), nullable=False),
            sa.Column("running", sa.Integer(), nullable=False),
            sa.Column("warm", sa.Integer(), nullable=False),
            sa.Column("started_at", sa.DateTime(), nullable=False),
            sa.Column("heartbeat_at", sa.DateTime(), nullable=False),
        )
