"""Recall memory gets embeddings, for hybrid (words + meaning) conversation search.

- ``messages.embedding`` (float32 bytes, nullable) and ``messages.embedding_model``
  (NULL until the message is embedded, which happens after it is stored; "" for messages
  with no searchable text, which never are), indexed with the agent id; existing messages
  are embedded a few hundred at a time by later turns and searches, or all at once by
  ``memgpt reembed``;
- on PostgreSQL also ``messages.embedding_vec``, an untyped ``vector`` column scanned
  exactly per agent (an agent's messages are few enough that no ANN index is needed),
  and ``messages.embedding`` stays empty there, as ``passages.embedding`` does.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("embedding", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("embedding_model", sa.String(200), nullable=True))
    op.create_index("ix_messages_agent_model", "messages", ["agent_id", "embedding_model"])
    op.execute("UPDATE messages SET embedding_model = '' WHERE trim(search_text) = ''")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages ADD COLUMN embedding_vec vector")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE messages DROP COLUMN embedding_vec")
    op.drop_index("ix_messages_agent_model", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("embedding_model")
        batch.drop_column("embedding")
