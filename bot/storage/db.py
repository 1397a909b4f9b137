"""Open the database, apply numbered migrations, run write transactions, read, back up.

SQLite has one writer at a time. We keep one connection and one asyncio lock for
write transactions, so a transaction is never shared by two coroutines by accident.
Reports, exports and backups read through their own read-only connections (`reader()`):
in WAL mode readers never wait for the writer, and the writer never waits for them.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

import aiosqlite

from bot.config import ConfigError, is_postgres, sqlite_path
from bot.storage import preflight

PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    # FULL: every COMMIT is on disk before it returns, so a webhook that answered 200 after
    # committing a message keeps it through a power cut, not only through a process crash.
    # (NORMAL would survive a crash but could drop the last commits on power loss.)
    "PRAGMA synchronous=FULL",
    "PRAGMA foreign_keys=ON",
    # What is deleted is overwritten with zeros, so an erased learner's words do not linger in free pages.
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=5000",
    # Reports scan the events table: keep hot pages in memory (64 MB cache, mapped reads up to
    # 256 MB) and sort in memory, so a million events do not mean a million disk reads.
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
    # No checkpoint inside a COMMIT (it was half the cost of one): bot.maintenance checkpoints
    # from its own connection when the writer is idle or the WAL has grown.
    "PRAGMA wal_autocheckpoint=0",
)

# Read-only connections get the read side of PRAGMAS; `query_only` makes a stray write fail loudly.
READ_PRAGMAS = (
    "PRAGMA busy_timeout=5000",
    "PRAGMA cache_size=-65536",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
    "PRAGMA query_only=1",
)
# Two: the dashboard and an export (or a backup) at once; a third caller waits for one of them.
READERS = 2


def migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) for each `NNNN_name.sql`, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations").iterdir():
        if entry.name.endswith(".sql"):
            number = int(entry.name.split("_", 1)[0])
            found.append((number, entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


class Database:
    """SQLite's; `open` gives a PostgresDatabase (bot/storage/postgres_db.py) for a postgresql:// URL,
    with the same methods."""

    several_workers = False  # one bot process per SQLite file

    def __init__(self, conn: aiosqlite.Connection, path: Path | None):
        self.conn = conn
        self.path = path
        # Names this process in claims, role locks and /healthz: the host, the pid, and a
        # token, as a restarted container may have the same pid.
        self.worker = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self._write = asyncio.Lock()
        # When the last write transaction ended (time.monotonic()): maintenance waits for a quiet
        # moment by reading this, without asking the database.
        self.last_write = time.monotonic()
        self._reader_slots = asyncio.Semaphore(READERS)
        self._idle_readers: list[aiosqlite.Connection] = []
        self._connections: list[aiosqlite.Connection] = []  # readers and the checkpointer, to close
        self._checkpointer: aiosqlite.Connection | None = None

    @classmethod
    async def open(cls, target: Path | str, migrate: bool = True) -> Database:
        """The database at `target`: a SQLite file's path, or a DATABASE_URL."""
        if isinstance(target, str):
            if is_postgres(target):
                from bot.storage.postgres_db import PostgresDatabase

                return await PostgresDatabase.connect(target, migrate)
            target = sqlite_path(target)
        path = target
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
        others, self._connections, self._idle_readers = self._connections, [], []
        self._checkpointer = None
        for conn in others:
            await conn.close()
        await self.conn.close()

    def wal_pages(self) -> int:
        """The -wal file's size in (default-sized) pages. It is a high-water mark, as the writer
        reuses the file from its start once it is checkpointed; a stat, not a query."""
        if self.path is None:
            return 0
        try:
            return self.path.with_name(self.path.name + "-wal").stat().st_size // 4096
        except OSError:
            return 0

    @property
    def writing(self) -> bool:
        """A write transaction is open (or waiting for the lock)."""
        return self._write.locked()

    async def version(self) -> int:
        async with self.conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

    async def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; returns their names."""
        applied = []
        current = await self.version()
        known = max((number for number, _, _ in migrations()), default=0)
        if current > known:
            # A newer bot wrote this database: running older code on it could lose data.
            raise ConfigError(
                f"the database {self.path} is at schema version {current}, newer than this bot knows "
                f"({known}): run the newer bot, or restore a backup made by this version"
            )
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
            try:
                yield self.conn
            finally:
                self.last_write = time.monotonic()

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
            finally:
                self.last_write = time.monotonic()

    async def _connect(self, uri: str, pragmas: tuple[str, ...]) -> aiosqlite.Connection:
        conn = await aiosqlite.connect(uri, uri=True, isolation_level=None)
        try:
            conn.row_factory = aiosqlite.Row
            for pragma in pragmas:
                await conn.execute(pragma)
        except BaseException:
            await conn.close()
            raise
        self._connections.append(conn)
        return conn

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[aiosqlite.Connection]:
        """A read-only connection of a small pool, opened on first use and kept until close().

        It takes no write lock: a long report reads its own snapshot while messages commit.
        """
        async with self._reader_slots:
            conn = self._idle_readers.pop() if self._idle_readers else await self._open_reader()
            try:
                yield conn
            finally:
                # A caller's BEGIN left open would pin an old snapshot, and with it the WAL.
                if conn.in_transaction:
                    await conn.execute("ROLLBACK")
                self._idle_readers.append(conn)

    async def _open_reader(self) -> aiosqlite.Connection:
        assert self.path is not None
        return await self._connect(f"{self.path.resolve().as_uri()}?mode=ro", READ_PRAGMAS)

    async def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Copy the WAL into the database file: (busy, WAL frames, frames checkpointed).

        Runs on a connection of its own, so the writer's thread never does this work. PASSIVE
        waits for nobody; TRUNCATE (which also empties the -wal file) gives up at once, rather
        than hold up the writer, whenever a write or an old read is in progress.
        """
        if mode not in ("PASSIVE", "TRUNCATE"):
            raise ValueError(f"checkpoint mode {mode!r}")
        if self._checkpointer is None:
            assert self.path is not None
            self._checkpointer = await self._connect(
                self.path.resolve().as_uri(), ("PRAGMA busy_timeout=0", "PRAGMA wal_autocheckpoint=0")
            )
        async with self._checkpointer.execute(f"PRAGMA wal_checkpoint({mode})") as cur:
            row = await cur.fetchone()
        return (int(row[0]), int(row[1]), int(row[2])) if row else (0, 0, 0)

    async def backup(self, target: Path) -> None:
        """A consistent copy through SQLite's online backup API, safe while the bot runs.

        It reads one snapshot through a reader, so messages keep committing meanwhile.
        """
        target.parent.mkdir(parents=True, exist_ok=True)
        async with self.reader() as conn:
            dest = await aiosqlite.connect(target)
            try:
                await conn.backup(dest)
            finally:
                await dest.close()
