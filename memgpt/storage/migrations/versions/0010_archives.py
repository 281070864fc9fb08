"""Archives: archival memory several agents share (issue #12).

- ``archives``: a named collection of passages, owned by a user;
- ``agent_archives``: which agents each archive is attached to (their archival search covers
  it besides their own passages);
- ``passages`` gains ``archive_id`` (an archive's passages have it and no ``agent_id``; an
  agent's own have ``agent_id`` and no ``archive_id``) and ``meta`` (JSON metadata given at
  creation); ``agent_id`` becomes nullable.

On PostgreSQL the columns are altered in place. SQLite cannot drop NOT NULL, so there the
passages table is rebuilt (rows copied with their ``pk``, which the FTS5 index is keyed by;
the FTS triggers are recreated on the new table). Every existing passage stays its agent's.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0010"
down_revision = "0009"

_COLUMNS = "pk, id, agent_id, text, tags, embedding, embedding_model, created_at"
_TRIGGERS = (  # frozen copies of 0001's passages triggers (the FTS5 table itself is kept)
    "CREATE TRIGGER passages_ai AFTER INSERT ON passages BEGIN "
    "INSERT INTO passages_fts(rowid, text) VALUES (new.pk, new.text); END",
    "CREATE TRIGGER passages_ad AFTER DELETE ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.pk, old.text); END",
    "CREATE TRIGGER passages_au AFTER UPDATE ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.pk, old.text); "
    "INSERT INTO passages_fts(rowid, text) VALUES (new.pk, new.text); END",
)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def _sqlite_passages(archives: bool) -> None:
    """Rebuild SQLite's passages table with (``archives``) or without the archive columns."""
    extra = [
        sa.Column("archive_id", sa.String(64), sa.ForeignKey("archives.id", ondelete="CASCADE"),
                  nullable=True),
        sa.Column("meta", sa.Text(), nullable=True),
    ] if archives else []
    op.create_table(
        "passages_new",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"),
                  nullable=archives),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("embedding_model", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        *extra,
    )
    where = "" if archives else " WHERE agent_id IS NOT NULL"
    op.execute(f"INSERT INTO passages_new ({_COLUMNS}) SELECT {_COLUMNS} FROM passages{where}")
    if not archives:  # the archives' passages leave the full-text index with their rows
        op.execute("INSERT INTO passages_fts(passages_fts, rowid, text) SELECT 'delete', pk, text"
                   " FROM passages WHERE agent_id IS NULL")
    op.execute("DROP TABLE passages")  # (drops its triggers and indexes)
    op.execute("ALTER TABLE passages_new RENAME TO passages")
    op.create_index("ix_passages_agent_model", "passages", ["agent_id", "embedding_model"])
    for statement in _TRIGGERS:
        op.execute(statement)


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("embedding_model", sa.String(200), nullable=False),
        sa.Column("meta", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_archives_owner_name", "archives", ["owner", "name"])
    op.create_table(
        "agent_archives",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("archive_id", sa.String(64), sa.ForeignKey("archives.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("attached_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_agent_archives_archive_id", "agent_archives", ["archive_id"])
    if _sqlite():
        _sqlite_passages(archives=True)
    else:
        op.add_column("passages", sa.Column(
            "archive_id", sa.String(64), sa.ForeignKey("archives.id", ondelete="CASCADE"), nullable=True))
        op.add_column("passages", sa.Column("meta", sa.Text(), nullable=True))
        op.alter_column("passages", "agent_id", nullable=True)
    op.create_index("ix_passages_archive_model", "passages", ["archive_id", "embedding_model"])


def downgrade() -> None:
    """Archives go with their passages; every agent keeps its own."""
    op.drop_index("ix_passages_archive_model", "passages")
    if _sqlite():
        _sqlite_passages(archives=False)
    else:
        op.execute("DELETE FROM passages WHERE agent_id IS NULL")
        op.alter_column("passages", "agent_id", nullable=False)
        op.drop_column("passages", "meta")
        op.drop_column("passages", "archive_id")
    op.drop_index("ix_agent_archives_archive_id", "agent_archives")
    op.drop_table("agent_archives")
    op.drop_index("ix_archives_owner_name", "archives")
    op.drop_table("archives")
