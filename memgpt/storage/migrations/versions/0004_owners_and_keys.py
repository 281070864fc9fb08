"""Tenancy: every agent has an owner; agent names are unique per owner; hashed API keys.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0004"
down_revision = "0003"

_NAMING = {"uq": "uq_%(table_name)s_%(column_0_name)s"}


def _old_name_constraint() -> str:
    return "agents_name_key" if op.get_bind().dialect.name == "postgresql" else "uq_agents_name"


def upgrade() -> None:
    with op.batch_alter_table("agents", naming_convention=_NAMING) as batch:
        batch.add_column(
            sa.Column("owner", sa.String(200), nullable=False, server_default="local")
        )
        batch.drop_constraint(_old_name_constraint(), type_="unique")
        batch.create_unique_constraint("uq_agents_owner_name", ["owner", "name"])
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.String(200), nullable=False, index=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("api_keys")
    with op.batch_alter_table("agents", naming_convention=_NAMING) as batch:
        batch.drop_constraint("uq_agents_owner_name", type_="unique")
        batch.create_unique_constraint(_old_name_constraint(), ["name"])
        batch.drop_column("owner")
