"""Database engine setup and Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_POOL = 8
"""Connections an async SQLite engine keeps (reads; the hot path's writes have their own thread)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def async_url(url: str) -> str:
    """url with an async driver: plain postgres:// or postgresql:// URLs get asyncpg."""
    for plain in ("postgres://", "postgresql://"):
        if url.startswith(plain):
            return "postgresql+asyncpg://" + url[len(plain):]
    return url


def create_engine(url: str) -> AsyncEngine:
    """An async engine for url; SQLite files get WAL, foreign keys and a busy timeout."""
    url = async_url(url)
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A fixed pool: past it, a read waits its turn rather than opening a connection (and
        # aiosqlite's thread) only to close it again, which under load cost more than the reads.
        pool = {"pool_size": SQLITE_POOL, "max_overflow": 0, "pool_timeout": 120}
        in_memory = not path or path == ":memory:"  # (a single connection, no pool to size)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **({} if in_memory else pool))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # A request waits for a connection rather than failing while the pool is busy (150 agents
    # at once exhausted the default 5 + 10 within its 30 s).
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, pool_timeout=120)


def _sqlite_sync_engine(engine: AsyncEngine, **pool: Any) -> Engine | None:
    """A sync engine on the same SQLite file as engine (None for an in-memory database, which
    another engine could not see)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    return sqlalchemy.create_engine(
        engine.url.set(drivername="sqlite"), connect_args={"timeout": 30, "check_same_thread": False}, **pool
    )


def sqlite_writer_engine(engine: AsyncEngine) -> Engine | None:
    """A sync engine for the writer thread, with the same pragmas (None: in-memory)."""
    sync = _sqlite_sync_engine(engine)
    if sync is not None:
        event.listen(sync, "connect", _writer_connection)
        event.listen(sync, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return sync


def sqlite_reader_engine(engine: AsyncEngine) -> Engine | None:
    """A sync engine for the reader threads: `SQLITE_POOL` connections with the same pragmas,
    one per thread (None: in-memory)."""
    sync = _sqlite_sync_engine(engine, pool_size=SQLITE_POOL, max_overflow=0, pool_timeout=120)
    if sync is not None:
        event.listen(sync, "connect", _sqlite_pragmas)
    return sync


def _writer_connection(dbapi_connection: Any, record: Any) -> None:
    """The writer's connection: our pragmas, and transactions begun by us, not by pysqlite
    (so SAVEPOINTs work, and BEGIN IMMEDIATE takes the write lock at once)."""
    _sqlite_pragmas(dbapi_connection, record)
    dbapi_connection.isolation_level = None


def upgrade(connection: Connection, revision: str = "head") -> None:
    """Run the migrations up to revision on a synchronous connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def migrate(engine: AsyncEngine) -> None:
    """Bring the schema to the newest migration.

    On SQLite, foreign keys are off while migrating: batch migrations rebuild a table by
    copying it and dropping the original, and with foreign keys on, dropping ``agents``
    would cascade into every block, message and passage.
    """
    async with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:  # PRAGMA foreign_keys only takes effect outside a transaction
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            await conn.commit()
        try:
            if conn.dialect.name == "postgresql":  # one migrator at a time across processes
                await conn.execute(text("SELECT pg_advisory_xact_lock(7262957305193760)"))
            await conn.run_sync(upgrade)
            await conn.commit()
        finally:
            if sqlite:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
                await conn.commit()


def sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    """Session factory that keeps objects usable after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)
