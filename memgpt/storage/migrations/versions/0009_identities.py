"""Identities and agent tags: ``identities`` (an owner's users/orgs, known by an
``identifier_key`` unique per owner), ``agent_identities`` (which agents each is linked to)
and ``agent_tags`` (an agent's free labels). New tables only: existing rows are untouched.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0009"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "identities",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("identifier_key", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("identity_type", sa.String(16), nullable=False),
        sa.Column("properties", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("id", name="uq_identities_id"),
        sa.UniqueConstraint("owner", "identifier_key", name="uq_identities_owner_key"),
    )
    op.create_table(
        "agent_identities",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("identity_id", sa.String(64), sa.ForeignKey("identities.id", ondelete="CASCADE"),
                  primary_key=True),
    )
    op.create_index("ix_agent_identities_identity_id", "agent_identities", ["identity_id"])
    op.create_table(
        "agent_tags",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("tag", sa.String(200), primary_key=True),
    )
    op.create_index("ix_agent_tags_tag", "agent_tags", ["tag"])


def downgrade() -> None:
    op.drop_index("ix_agent_tags_tag", table_name="agent_tags")
    op.drop_table("agent_tags")
    op.drop_index("ix_agent_identities_identity_id", table_name="agent_identities")
    op.drop_table("agent_identities")
    op.drop_table("identities")
