"""MCP servers and their tools (issue #13).

Revision ID: 0016
Revises: 0015
"""

revision = "0016"
down_revision = "0015"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
