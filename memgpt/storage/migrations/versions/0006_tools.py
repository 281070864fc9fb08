"""Custom tools: ``tools`` (a user's Python source and its schema, names unique per owner)
and ``agent_tools`` (which agents a tool is attached to; both sides cascade on delete).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "tools",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("source_code", sa.Text(), nullable=False),
        sa.Column("json_schema", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("return_char_limit", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_tools_owner_name"),
    )
    op.create_table(
        "agent_tools",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tool_id", sa.String(64), sa.ForeignKey("tools.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("attached_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_agent_tools_tool_id", "agent_tools", ["tool_id"])


def downgrade() -> None:
    op.drop_index("ix_agent_tools_tool_id", table_name="agent_tools")
    op.drop_table("agent_tools")
    op.drop_table("tools")
