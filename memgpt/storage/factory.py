"""The one place a database URL becomes stores: SQLite (FTS5, stored vector indexes) or
PostgreSQL (tsvector, pgvector), chosen by the URL's dialect."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from memgpt.memory.stores import (
    AgentStore, ArchivalStore, BlockStore, IdentityStore, RecallStore, Stores, ToolStore,
)
from memgpt.memory.runs import RunStore
from memgpt.memory.schedules import ScheduleStore
from memgpt.memory.conversations import ConversationStore
from memgpt.memory.unit import UnitStore
from memgpt.storage import db
from memgpt.storage.postgres import PgArchivalStore, PgRecallStore
from memgpt.storage.sql_agents import SqlAgentStore, SqlBlockStore, SqlKeyStore
from memgpt.storage.sql_archival import SqlArchivalStore
from memgpt.storage.sql_archives import SqlArchiveStore
from memgpt.storage.sql_conversations import SqlConversationStore
from memgpt.storage.sql_folders import SqlFolderStore
from memgpt.storage.sql_identities import SqlIdentityStore
from memgpt.storage.sql_recall import SqlRecallStore
from memgpt.storage.sql_runs import SqlRunStore
from memgpt.storage.sql_mcp import SqlMcpStore
from memgpt.storage.sql_schedules import SqlScheduleStore
from memgpt.storage.tools import SqlToolStore
from memgpt.storage.reader import AsyncReader, Reader, ThreadReader
from memgpt.storage.runner import GroupRunner, Runner, ThreadRunner
from memgpt.storage.unit import SqlUnitStore
from memgpt.storage.vector_index import VectorIndexConfig

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class Storage:
    """A database and every store over it. Call `migrate` before use and `close` at the end."""

    engine: AsyncEngine
    dialect: str
    """``"sqlite"`` or ``"postgresql"``."""
    agents: AgentStore
    blocks: BlockStore
    recall: RecallStore
    archival: ArchivalStore
    keys: SqlKeyStore
    tools: ToolStore
    unit: UnitStore
    """Steps committed whole, the tool journal, agent leases."""
    runner: Runner
    """Where the unit store's transactions run (a writer thread on SQLite)."""
    reader: Reader
    """Where the search path reads (reader threads on a SQLite file)."""
    identities: IdentityStore
    """Identities, agent tags, and messages read across an owner's agents."""
    conversations: ConversationStore
    """Conversations (threads beside an agent's default one) and their messages (0014)."""
    archives: SqlArchiveStore
    """Archives and their attachments (their passages are in ``archival``)."""
    folders: SqlFolderStore
    """Folders, their files and chunks, and agents' file views."""
    runs: RunStore
    """Runs and step records (migration 0012)."""
    mcp: SqlMcpStore
    """MCP servers, their tools and which agents have them (migration 0016)."""
    schedules: ScheduleStore
    """Schedules and timed heartbeats, with their claims (migration 0013)."""

    @property
    def stores(self) -> Stores:
        """The memory stores an agent runs with."""
        return Stores(self.agents, self.blocks, self.recall, self.archival)

    async def migrate(self) -> None:
        """Create the schema or bring it to the newest migration."""
        await db.migrate(self.engine)

    async def close(self) -> None:
        """Release the database connections (and the SQLite writer and reader threads)."""
        await asyncio.to_thread(self.runner.close)
        await asyncio.to_thread(self.reader.close)
        await self.engine.dispose()


def open_storage(url: str, *, vector_index: VectorIndexConfig | None = None) -> Storage:
    """The storage for a SQLAlchemy URL (plain ``postgres://`` URLs get asyncpg).

    ``vector_index`` tunes the in-process vector indexes of SQLite's recall and archival
    stores (default: `VectorIndexConfig()`, graphs saved in ``vectors/`` beside the database
    file); PostgreSQL searches with pgvector instead. Nothing connects until first use.
    """
    return storage_for(db.create_engine(url), vector_index=vector_index)


def storage_for(engine: AsyncEngine, *, vector_index: VectorIndexConfig | None = None) -> Storage:
    """The storage over an engine made elsewhere (`open_storage` makes its own)."""
    dialect = engine.dialect.name
    sessions = db.sessionmaker(engine)
    recall: SqlRecallStore
    archival: SqlArchivalStore
    if dialect not in (POSTGRESQL, SQLITE):
        raise ValueError(f"unsupported database {dialect!r}: memgpt runs on SQLite or PostgreSQL")
    writer = db.sqlite_writer_engine(engine)
    runner: Runner = ThreadRunner(writer) if writer is not None else GroupRunner(sessions)
    reading = db.sqlite_reader_engine(engine)
    reader: Reader = ThreadReader(reading, db.SQLITE_POOL) if reading is not None else AsyncReader(sessions)
    if dialect == POSTGRESQL:
        recall = PgRecallStore(sessions, runner=runner, reader=reader)
        archival = PgArchivalStore(sessions, runner=runner, reader=reader)
    else:
        recall = SqlRecallStore(sessions, vector_index, runner, reader)
        archival = SqlArchivalStore(sessions, vector_index, runner, reader)
    return Storage(
        engine=engine,
        dialect=dialect,
        agents=SqlAgentStore(sessions),
        blocks=SqlBlockStore(sessions),
        recall=recall,
        archival=archival,
        keys=SqlKeyStore(sessions),
        tools=SqlToolStore(sessions),
        unit=SqlUnitStore(runner, recall, archival),
        runner=runner,
        reader=reader,
        identities=SqlIdentityStore(sessions),
        conversations=SqlConversationStore(sessions, runner),
        archives=SqlArchiveStore(sessions),
        folders=SqlFolderStore(sessions, vector_index, postgres=dialect == POSTGRESQL, reader=reader),
        runs=SqlRunStore(sessions, runner),
        mcp=SqlMcpStore(sessions),
        schedules=SqlScheduleStore(sessions, runner),
    )
