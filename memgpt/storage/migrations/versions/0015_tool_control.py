"""Tool control: approvals and tool rules (issue #13).

Revision ID: 0015
Revises: 0014
"""

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
