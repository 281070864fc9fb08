"""Conversations: several threads with one agent (issue #13).

- ``conversations``: one row per thread beside the agent's default one, with its settings
  (description, model and window overrides, hidden, archived, soft deletion) and its loop
  position (``context_start``, ``summary``, ``warned``, ``system_compiled``, ``memory_dirty``);
- ``messages.conversation_id`` (NULL: the agent's default thread), indexed with ``seq``.
Existing messages keep NULL, so they stay in their agent's default thread.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("context_window_limit", sa.Integer(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("archived", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("archived_at", UTCDateTime, nullable=True),
        sa.Column("deleted_at", UTCDateTime, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("last_message_at", UTCDateTime, nullable=True),
        sa.Column("summary", sa.Text(), nullable=False, server_default=""),
        sa.Column("context_start", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("warned", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("system_compiled", sa.Text(), nullable=False, server_default=""),
        sa.Column("memory_dirty", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.UniqueConstraint("id", name="uq_conversations_id"),
    )
    op.create_index("ix_conversations_agent", "conversations", ["agent_id"])
    op.create_index("ix_conversations_owner", "conversations", ["owner"])
    op.add_column("messages", sa.Column("conversation_id", sa.String(64), nullable=True))
    op.create_index("ix_messages_conversation_seq", "messages", ["conversation_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_messages_conversation_seq", table_name="messages")
    # in place (SQLite 3.35+ too): a rebuilt messages table would lose its FTS triggers
    op.execute("ALTER TABLE messages DROP COLUMN conversation_id")
    op.drop_index("ix_conversations_owner", table_name="conversations")
    op.drop_index("ix_conversations_agent", table_name="conversations")
    op.drop_table("conversations")
