"""Folders and files: uploaded documents agents open, grep and search (issue #12).

New tables only (existing rows are untouched): ``folders`` (an owner's folders, names unique
per owner), ``folder_files`` (each upload, its processing status and parsed text),
``file_chunks`` (embedded chunks, searched by words and vectors: an FTS5 table on SQLite, a
generated ``tsvector`` column with a GIN index on PostgreSQL; vectors are float32 blobs on
both, indexed in memory per folder), ``agent_folders`` and ``agent_files`` (which agents have
which folders, and each file's open/closed view).

Revision ID: 0011
Revises: 0010
"""

import string

import sqlalchemy as sa
from alembic import op

from memgpt.storage.tables import UTCDateTime

revision = "0011"
down_revision = "0010"

_PUNCTUATION = string.punctuation.replace("'", "''")
_SPACES = " " * len(string.punctuation)


def _postgres() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def _search() -> list[str]:
    """Word search over file_chunks.text (the same tokens as passages' in 0001 and 0003)."""
    if _postgres():
        return [
            "ALTER TABLE file_chunks ADD COLUMN text_tsv tsvector GENERATED ALWAYS AS "
            f"(to_tsvector('simple'::regconfig, translate(text, '{_PUNCTUATION}', '{_SPACES}'))) STORED",
            "CREATE INDEX ix_file_chunks_text_tsv ON file_chunks USING gin (text_tsv)",
        ]
    return [
        "CREATE VIRTUAL TABLE file_chunks_fts USING fts5(text, content='file_chunks', "
        "content_rowid='pk', tokenize='unicode61 remove_diacritics 2')",
        "CREATE TRIGGER file_chunks_ai AFTER INSERT ON file_chunks BEGIN "
        "INSERT INTO file_chunks_fts(rowid, text) VALUES (new.pk, new.text); END",
        "CREATE TRIGGER file_chunks_ad AFTER DELETE ON file_chunks BEGIN "
        "INSERT INTO file_chunks_fts(file_chunks_fts, rowid, text) VALUES ('delete', old.pk, old.text); END",
    ]


def upgrade() -> None:
    op.create_table(
        "folders",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False, server_default=""),
        sa.Column("instructions", sa.Text(), nullable=False, server_default=""),
        sa.Column("metadata_json", sa.Text(), nullable=False, server_default="{}"),
        sa.Column("embedding_model", sa.String(200), nullable=False),
        sa.Column("chunk_tokens", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("id", name="uq_folders_id"),
        sa.UniqueConstraint("owner", "name", name="uq_folders_owner_name"),
    )
    op.create_table(
        "folder_files",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("folder_id", sa.String(64), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_name", sa.String(500), nullable=False),
        sa.Column("original_file_name", sa.String(500), nullable=False),
        sa.Column("file_type", sa.String(200), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("total_chunks", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("chunks_embedded", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("id", name="uq_folder_files_id"),
    )
    op.create_index("ix_folder_files_folder_name", "folder_files", ["folder_id", "file_name"])
    op.create_table(
        "file_chunks",
        sa.Column("pk", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("folder_id", sa.String(64), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("file_id", sa.String(64), sa.ForeignKey("folder_files.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("page", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=False),
        sa.Column("embedding_model", sa.String(200), nullable=False),
        sa.UniqueConstraint("id", name="uq_file_chunks_id"),
    )
    op.create_index("ix_file_chunks_folder_model", "file_chunks", ["folder_id", "embedding_model"])
    op.create_index("ix_file_chunks_file_id", "file_chunks", ["file_id"])
    op.create_table(
        "agent_folders",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("folder_id", sa.String(64), sa.ForeignKey("folders.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_agent_folders_folder_id", "agent_folders", ["folder_id"])
    op.create_table(
        "agent_files",
        sa.Column("agent_id", sa.String(64), sa.ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("file_id", sa.String(64), sa.ForeignKey("folder_files.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("folder_id", sa.String(64), sa.ForeignKey("folders.id", ondelete="CASCADE"), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("start_line", sa.Integer(), nullable=True),
        sa.Column("end_line", sa.Integer(), nullable=True),
        sa.Column("last_accessed_at", UTCDateTime, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_agent_files_file_id", "agent_files", ["file_id"])
    op.create_index("ix_agent_files_folder_id", "agent_files", ["folder_id"])
    for statement in _search():
        op.execute(statement)


def downgrade() -> None:
    if not _postgres():
        op.execute("DROP TABLE IF EXISTS file_chunks_fts")
    for table in ("agent_files", "agent_folders", "file_chunks", "folder_files", "folders"):
        op.drop_table(table)
