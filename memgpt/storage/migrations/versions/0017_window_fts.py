"""Recall full text over each message's 3-turn window, stemmed (issue #15), SQLite only.

``messages_window_fts``: an FTS5 table (it keeps its own copy of the text) with the Porter
stemmer, one row per searchable message (rowid = ``messages.pk``) and two columns: ``turn``
(the message's own text) and ``window`` (the text of the searchable message before it, its
own, and the one after it, in the same agent and thread). "running" finds "runs", and a
turn that answers only together with its neighbours is found by their words.

A new message changes its predecessor's window, so the windows are kept by the background
pass that embeds new messages (`SqlRecallStore.set_embeddings`), not by the turn's commit;
a delete trigger drops a deleted message's row. This migration fills the table for every
message already stored. The unstemmed ``messages_fts`` stays: it decides exact phrases.

PostgreSQL keeps its per-message ``search_tsv`` (no window) for now.

Revision ID: 0017
Revises: 0016
"""

from alembic import op

revision = "0017"
down_revision = "0016"

# Frozen copies: the recall store builds the same window text (memgpt/storage/sql_recall.py).
_TABLE = "messages_window_fts"
_BACKFILL = (
    f"INSERT INTO {_TABLE}(rowid, turn, window) "
    "SELECT pk, search_text, coalesce(lag(search_text) OVER w || char(10), '') || search_text"
    " || coalesce(char(10) || lead(search_text) OVER w, '')"
    " FROM messages WHERE search_text != ''"
    " WINDOW w AS (PARTITION BY agent_id, coalesce(conversation_id, '') ORDER BY seq)"
)


def _sqlite() -> bool:
    return bool(op.get_bind().dialect.name == "sqlite")


def upgrade() -> None:
    if not _sqlite():
        return
    op.execute(
        f"CREATE VIRTUAL TABLE {_TABLE} USING fts5(turn, window, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        f"CREATE TRIGGER messages_window_ad AFTER DELETE ON messages BEGIN "
        f"DELETE FROM {_TABLE} WHERE rowid = old.pk; END"
    )
    op.execute(_BACKFILL)


def downgrade() -> None:
    if not _sqlite():
        return
    op.execute("DROP TRIGGER IF EXISTS messages_window_ad")
    op.execute(f"DROP TABLE IF EXISTS {_TABLE}")
