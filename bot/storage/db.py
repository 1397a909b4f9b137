"""Open the database, apply numbered migrations, run write transactions, back up.

SQLite has one writer at a time. We keep one connection and one asyncio lock for
write transactions, so a transaction is never shared by two coroutines by accident.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.storage import preflight

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: every COMMIT is on disk before it returns, so a webhook that answered 200 after
    # committing a message keeps it through a power cut, not only through a process crash.
    # (NORMAL would survive a crash but could drop the last commits on power loss.)
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    # Reports scan the events table: keep hot pages in memory (64 MB cache, mapped reads up to
    # 256 MB) and sort in memory, so a million events do not mean a million disk reads.
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) for each `NNNN_name.sql`, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    def __init__(self, conn: aiosqlite.Connection, path: Path):
        self.conn = conn
        self.path = path
        self._write = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, migrate: bool = True) -> Database:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in PRAGMAS:
                await conn.execute(pragma)
            db = cls(conn, path)
            if migrate:
                await db.migrate()
        except BaseException as exc:
            # aiosqlite's worker is a non-daemon thread that only a close stops: left open, the
            # interpreter waits for it at exit and a failed command hangs instead of exiting.
            await conn.close()
            if isinstance(exc, sqlite3.Error) and (unavailable := preflight.explain(path, exc)):
                raise unavailable from exc
            raise
        return db

    async def close(self) -> None:
        await self.conn.close()

    async def version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; returns their names."""
        applied = []
        current = await self.version()
        for number, name, sql in migrations():
            if number <= current:
                continue
            async with self._write:
                # executescript commits first, so wrap the file in BEGIN/COMMIT ourselves:
                # a failing migration leaves the database at the previous version.
                try:
                    await self.conn.executescript(
                        f"BEGIN IMMEDIATE;\n{sql}\nPRAGMA user_version={number};\nCOMMIT;"
                    )
                except sqlite3.Error:
                    if self.conn.in_transaction:
                        await self.conn.execute("ROLLBACK")
                    raise
            applied.append(name)
        return applied

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[aiosqlite.Connection]:
        """The write lock alone, for callers that BEGIN and COMMIT themselves (the engine)."""
        async with self._write:
            yield self.conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction; commits on success, rolls back on any error."""
        async with self._write:
            await self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            else:
                await self.conn.execute("COMMIT")

    async def backup(self, target: Path) -> None:
        """A consistent copy through SQLite's online backup API, safe while the bot runs."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with self._write:
            dest = await aiosqlite.connect(target)
            try:
                await self.conn.backup(dest)
            finally:
                await dest.close()
