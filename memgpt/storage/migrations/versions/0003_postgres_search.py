"""PostgreSQL search: pgvector, tsvector columns with GIN indexes, HNSW per dimension.

Nothing changes on SQLite (its FTS5 tables come from 0001). On PostgreSQL:

- the ``vector`` extension;
- ``messages.search_tsv`` and ``passages.text_tsv``: generated ``tsvector`` columns over
  the text with ASCII punctuation turned into spaces (so tokens match SQLite's unicode61
  tokenizer: ``a-b.c`` is the words a, b, c), ``simple`` configuration (no stemming, no
  stop words), each with a GIN index;
- ``passages.embedding_vec``: an untyped ``vector`` column (any dimension) holding the
  embedding, with one partial HNSW index (cosine) per common dimension on
  ``embedding_vec::vector(N)``; ``passages.embedding`` (float32 bytes, SQLite's copy)
  becomes nullable and stays empty.

Revision ID: 0003
Revises: 0002
"""

import string

from alembic import op

revision = "0003"
down_revision = "0002"

# Frozen copies: the stores query these exact expressions; change them only in a new migration.
HNSW_DIMENSIONS = (384, 768, 1024, 1536)
_PUNCTUATION = string.punctuation.replace("'", "''")
_SPACES = " " * len(string.punctuation)
_TSV = {  # table -> (indexed text column, tsvector column)
    "messages": ("search_text", "search_tsv"),
    "passages": ("text", "text_tsv"),
}


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    if not _postgres():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    for table, (column, tsv) in _TSV.items():
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN {tsv} tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('simple'::regconfig, translate({column}, '{_PUNCTUATION}', '{_SPACES}')))"
            " STORED"
        )
        op.execute(f"CREATE INDEX ix_{table}_{tsv} ON {table} USING gin ({tsv})")
    op.execute("ALTER TABLE passages ADD COLUMN embedding_vec vector")
    op.execute("ALTER TABLE passages ALTER COLUMN embedding DROP NOT NULL")
    for dim in HNSW_DIMENSIONS:
        op.execute(
            f"CREATE INDEX ix_passages_embedding_{dim} ON passages USING hnsw "
            f"((embedding_vec::vector({dim})) vector_cosine_ops) "
            f"WHERE vector_dims(embedding_vec) = {dim}"
        )


def downgrade() -> None:
    if not _postgres():
        return
    for dim in HNSW_DIMENSIONS:
        op.execute(f"DROP INDEX IF EXISTS ix_passages_embedding_{dim}")
    op.execute("ALTER TABLE passages DROP COLUMN embedding_vec")
    for table, (_column, tsv) in _TSV.items():
        op.execute(f"DROP INDEX IF EXISTS ix_{table}_{tsv}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {tsv}")
    # passages.embedding stays nullable: rows stored on PostgreSQL have no float32 copy.
