"""The step as one unit of work: agent versions and leases, and the tool-call journal.

- ``agents.version``: bumped by every write to the agent (a step's commit, an operator's
  change), so a process can tell whether what it cached is still current.
- ``agents.lease_holder`` / ``agents.lease_until``: who runs the agent's turn and until when;
  a lease replaces a lock held on a database connection, so none waits on a model.
- ``tool_journal``: calls of tools whose effects leave the database, recorded as started
  before they run and finished when their step commits.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("lease_holder", sa.String(64), nullable=True))
        batch.add_column(sa.Column("lease_until", UTCDateTime, nullable=True))
    op.create_table(
        "tool_journal",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("call_id", sa.String(200), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("arguments", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("finished_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_tool_journal_open", "tool_journal", ["agent_id", "finished_at"])


def downgrade() -> None:
    op.drop_index("ix_tool_journal_open", "tool_journal")
    op.drop_table("tool_journal")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_holder")
        batch.drop_column("version")
