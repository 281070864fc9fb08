"""Runs and steps: every send is a run; async runs, cancel, usage (issue #13).

Revision ID: 0012
Revises: 0011
"""

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
