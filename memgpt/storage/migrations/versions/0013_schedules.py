"""Schedules and events: timed messages and heartbeats (issue #13).

``schedules`` holds each agent's one-time and recurring messages and its timed heartbeat,
with the claim a scheduler takes to deliver a due firing. A new table only.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("at", UTCDateTime, nullable=True),
        sa.Column("cron", sa.String(200), nullable=True),
        sa.Column("messages", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("options", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("next_at", UTCDateTime, nullable=True),
        sa.Column("claimed_by", sa.String(64), nullable=True),
        sa.Column("claimed_until", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_fired_at", UTCDateTime, nullable=True),
        sa.Column("firings", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("id", name="uq_schedules_id"),
    )
    op.create_index("ix_schedules_next_at", "schedules", ["next_at"])
    op.create_index("ix_schedules_agent", "schedules", ["agent_id", "pk"])


def downgrade() -> None:
    op.drop_index("ix_schedules_agent", table_name="schedules")
    op.drop_index("ix_schedules_next_at", table_name="schedules")
    op.drop_table("schedules")
