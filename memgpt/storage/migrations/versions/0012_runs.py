"""Runs and steps: every send is a run; async runs, cancel, usage (issue #13).

- ``runs``: one row per input an agent handles (sync, streamed or async), with its status,
  the input as received (kept even if it never ran), the range of recall seqs it wrote,
  usage totals and the callback's outcome.
- ``steps.run_id`` (the run a step belongs to; NULL for steps written before runs existed),
  ``steps.feedback`` and ``steps.tags`` (Letta's step feedback). Existing rows are kept.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("stop_reason", sa.String(64), nullable=True),
        sa.Column("background", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("input_role", sa.String(16), nullable=False),
        sa.Column("input_text", sa.Text(), nullable=False),
        sa.Column("input_id", sa.String(64), nullable=True),
        sa.Column("seq_start", sa.Integer(), nullable=True),
        sa.Column("seq_end", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=True),
        sa.Column("completed_at", UTCDateTime, nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("cached_tokens", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("step_count", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("holder", sa.String(64), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("callback_url", sa.Text(), nullable=True),
        sa.Column("callback_sent_at", UTCDateTime, nullable=True),
        sa.Column("callback_status_code", sa.Integer(), nullable=True),
        sa.Column("callback_error", sa.Text(), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("request_config", sa.Text(), nullable=False, server_default="{}"),
        sa.UniqueConstraint("id", name="uq_runs_id"),
    )
    op.create_index("ix_runs_owner_pk", "runs", ["owner", "pk"])
    op.create_index("ix_runs_agent_status", "runs", ["agent_id", "status"])
    with op.batch_alter_table("steps") as batch:
        batch.add_column(sa.Column("run_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("feedback", sa.String(16), nullable=True))
        batch.add_column(sa.Column("tags", sa.Text(), nullable=False, server_default="[]"))
    op.create_index("ix_steps_run_id", "steps", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_steps_run_id", table_name="steps")
    with op.batch_alter_table("steps") as batch:
        batch.drop_column("tags")
        batch.drop_column("feedback")
        batch.drop_column("run_id")
    op.drop_index("ix_runs_agent_status", table_name="runs")
    op.drop_index("ix_runs_owner_pk", table_name="runs")
    op.drop_table("runs")
