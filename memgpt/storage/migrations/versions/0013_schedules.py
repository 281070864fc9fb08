"""Schedules and events: timed messages and heartbeats (issue #13).

Revision ID: 0013
Revises: 0012
"""

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
