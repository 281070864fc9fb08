"""MCP servers and their tools (issue #13): ``mcp_servers`` (a user's server, its config
JSON with secret values encrypted), ``mcp_tools`` (the tools it offered when last listed) and
``agent_mcp_tools`` (which agents have which; every side cascades on delete).

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_mcp_servers_owner_name"),
    )
    op.create_table(
        "mcp_tools",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("server_id", sa.String(64), sa.ForeignKey("mcp_servers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("input_schema", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("server_id", "name", name="uq_mcp_tools_server_name"),
    )
    op.create_index("ix_mcp_tools_server_id", "mcp_tools", ["server_id"])
    op.create_index("ix_mcp_tools_owner", "mcp_tools", ["owner"])
    op.create_table(
        "agent_mcp_tools",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tool_id", sa.String(64), sa.ForeignKey("mcp_tools.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("attached_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_agent_mcp_tools_tool_id", "agent_mcp_tools", ["tool_id"])


def downgrade() -> None:
    op.drop_index("ix_agent_mcp_tools_tool_id", table_name="agent_mcp_tools")
    op.drop_table("agent_mcp_tools")
    op.drop_index("ix_mcp_tools_owner", table_name="mcp_tools")
    op.drop_index("ix_mcp_tools_server_id", table_name="mcp_tools")
    op.drop_table("mcp_tools")
    op.drop_table("mcp_servers")
