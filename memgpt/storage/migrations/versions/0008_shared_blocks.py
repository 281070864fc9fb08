"""Shared blocks: a block has its own id and owner and may be attached to many agents.

- ``blocks`` loses ``agent_id`` and ``position`` and gains ``id`` (each existing block keeps
  the id the Letta API showed for it: ``stable_id("block", agent_id, label)``), ``owner``
  (its agent's), ``standalone`` (false: made with an agent) and ``created_at``.
- ``agent_blocks`` says which agents each block is attached to, at which position, and
  whether another writer changed it since the agent's last commit (``stale``).

The table is rebuilt (new table, rows copied, old dropped, new renamed) so SQLite and
PostgreSQL take the same path.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from memgpt.core.schemas import stable_id
from memgpt.storage.tables import UTCDateTime

revision = "0008"
down_revision = "0007"


def _blocks_table(name: str) -> None:
    op.create_table(
        name,
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False, server_default="local"),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("char_limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("standalone", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("id", name="uq_blocks_id"),
    )


def upgrade() -> None:
    conn = op.get_bind()
    old = conn.execute(sa.text(
        "SELECT b.agent_id, b.label, b.value, b.char_limit, b.description, b.read_only, b.position, "
        "b.updated_at, a.owner FROM blocks b JOIN agents a ON a.id = b.agent_id ORDER BY b.pk"
    )).all()
    _blocks_table("blocks_v8")
    new = sa.table("blocks_v8", *(sa.column(c) for c in (
        "id", "owner", "label", "value", "char_limit", "description", "read_only", "standalone",
        "created_at", "updated_at")))
    rows = [{"id": stable_id("block", r.agent_id, r.label), "owner": r.owner, "label": r.label,
             "value": r.value, "char_limit": r.char_limit, "description": r.description,
             "read_only": bool(r.read_only), "standalone": False, "created_at": r.updated_at,
             "updated_at": r.updated_at} for r in old]
    if rows:
        op.bulk_insert(new, rows)
    op.drop_table("blocks")
    op.rename_table("blocks_v8", "blocks")
    op.create_index("ix_blocks_owner_label", "blocks", ["owner", "label"])
    op.create_table(
        "agent_blocks",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("block_id", sa.String(64), sa.ForeignKey("blocks.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("stale", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_agent_blocks_block_id", "agent_blocks", ["block_id"])
    links = sa.table("agent_blocks", sa.column("agent_id"), sa.column("block_id"), sa.column("position"),
                     sa.column("stale"))
    if old:
        op.bulk_insert(links, [{"agent_id": r.agent_id, "block_id": stable_id("block", r.agent_id, r.label),
                                "position": r.position, "stale": False} for r in old])


def downgrade() -> None:
    """Back to one agent per block: each block goes to the agents it is attached to (a copy
    each); blocks attached to none are dropped."""
    conn = op.get_bind()
    old = conn.execute(sa.text(
        "SELECT l.agent_id, l.position, b.label, b.value, b.char_limit, b.description, b.read_only, "
        "b.updated_at FROM agent_blocks l JOIN blocks b ON b.id = l.block_id ORDER BY b.pk"
    )).all()
    op.drop_index("ix_agent_blocks_block_id", "agent_blocks")
    op.drop_table("agent_blocks")
    op.drop_index("ix_blocks_owner_label", "blocks")
    op.drop_table("blocks")
    op.create_table(
        "blocks",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
        sa.Column("label", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("char_limit", sa.Integer(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("read_only", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("agent_id", "label", name="uq_blocks_agent_label"),
    )
    table = sa.table("blocks", *(sa.column(c) for c in (
        "agent_id", "label", "value", "char_limit", "description", "read_only", "position", "updated_at")))
    if old:
        op.bulk_insert(table, [dict(r._mapping) for r in old])
