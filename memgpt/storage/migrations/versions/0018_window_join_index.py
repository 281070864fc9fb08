"""A covering index for the window search's join (issue #15), SQLite only.

The window full-text query (`SqlRecallStore.lexical_windows`) joins every matching window to
its message by ``pk`` for the agent (and date) filter; at 10k messages a common question
matches most windows. Through the table itself each lookup reads a row that also holds the
message's text and its 1.5 kB vector, so thousands of lookups overflow SQLite's page cache;
through this index (``INDEXED BY``) they read a few small pages, and the query also returns
what ranking needs of each match (seq, created_at) without a second lookup. Measured on a
10k-message store: the query 16-37 ms -> 13-26 ms (benchmarks/README.md).

Revision ID: 0018
Revises: 0017
"""

from alembic import op

revision = "0018"
down_revision = "0017"

_INDEX = "ix_messages_window_join"  # the name sql_recall.py's query names (INDEXED BY)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    if _sqlite():
        op.execute(f"CREATE INDEX {_INDEX} ON messages (pk, agent_id, id, seq, created_at)")


def downgrade() -> None:
    if _sqlite():
        op.execute(f"DROP INDEX IF EXISTS {_INDEX}")
