"""Tool control: approvals and tool rules (issue #13). ``agents.tool_rules`` holds an agent's
Letta tool rules as a JSON list (a tool that needs approval is a ``requires_approval`` rule);
``tools.default_requires_approval`` is a custom tool's default for the agents it joins.
New columns with defaults only: existing rows are kept and read as "no rules".

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("tool_rules", sa.Text(), nullable=False, server_default="[]"))
    with op.batch_alter_table("tools") as batch:
        batch.add_column(sa.Column("default_requires_approval", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))


def downgrade() -> None:
    # plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35): a batch copy of ``agents`` would drop
    # the table, and with it (ON DELETE CASCADE) every row that refers to an agent
    op.drop_column("tools", "default_requires_approval")
    op.drop_column("agents", "tool_rules")
