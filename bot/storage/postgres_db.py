"""`Database` on PostgreSQL: the same methods as SQLite's, on bot/storage/postgres.py connections.

One writer connection behind the same asyncio write lock as on SQLite, and a small pool of
read-only connections for reports and exports. Several processes may share the database: the
inbox claims a user's rows for a lease (bot/delivery/inbox.py), every turn holds an advisory lock
on its user (repo.hold_user), claims skip rows other workers hold (repo.skip_locked), and the
work done once for the whole bot is a role (bot/storage/roles.py).
After an erasure, SQLite's scrub empties the WAL (bot/care/chat.py); here the erased rows' old
versions stay in their pages until (auto)vacuum reuses them (README: Running on PostgreSQL).
"""

from __future__ import annotations

import shlex
import sqlite3
from pathlib import Path
from urllib.parse import urlparse

from bot.config import shown_url
from bot.storage.db import Database
from bot.storage.postgres import Connection
from bot.storage.preflight import DatabaseUnavailable
from bot.storage.schema import VERSION_QUERY, migrate_postgres


class PostgresDatabase(Database):
    several_workers = True

    def __init__(self, conn: Connection, url: str):
        super().__init__(conn, None)  # type: ignore[arg-type]  # the aiosqlite API, on PostgreSQL
        self.url = url

    @classmethod
    async def connect(cls, url: str, migrate: bool = True) -> PostgresDatabase:
        try:
            conn = await Connection.connect(url)
        except sqlite3.OperationalError as exc:
            raise DatabaseUnavailable(f"cannot connect to PostgreSQL at {shown_url(url)}: {exc}") from exc
        db = cls(conn, url)
        try:
            if migrate:
                await db.migrate()
        except BaseException:
            await conn.close()
            raise
        return db

    async def version(self) -> int:
        rows = await self.conn.execute_fetchall("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not rows[0][0]:
            return 0
        rows = await self.conn.execute_fetchall(VERSION_QUERY)
        return int(rows[0][0])

    async def migrate(self) -> list[str]:
        """Apply pending migrations (bot/storage/migrations_postgres/), each in its own transaction,
        under an advisory lock, so workers that start together apply each once."""
        async with self._write:
            return await self.conn.in_thread(lambda raw: migrate_postgres(raw.conn))  # type: ignore[attr-defined]

    async def _open_reader(self) -> Connection:  # type: ignore[override]
        conn = await Connection.connect(self.url, read_only=True)
        self._connections.append(conn)  # type: ignore[arg-type]
        return conn

    async def checkpoint(self, mode: str = "PASSIVE") -> tuple[int, int, int]:
        """Nothing to do: PostgreSQL checkpoints its own write-ahead log."""
        if mode not in ("PASSIVE", "TRUNCATE"):
            raise ValueError(f"checkpoint mode {mode!r}")
        return (0, 0, 0)

    def backup_command(self, target: Path) -> str:
        """The pg_dump command that makes a consistent copy, safe while the bot runs. The password
        is left out: pg_dump reads it from PGPASSWORD or ~/.pgpass."""
        parsed = urlparse(self.url)
        if parsed.password is not None:
            parsed = parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", "@", 1))
        file, url = shlex.quote(str(target)), shlex.quote(parsed.geturl())
        return f"pg_dump --format=custom --file={file} --dbname={url}"

    async def backup(self, target: Path) -> None:
        raise NotImplementedError(
            "the bot does not back up a PostgreSQL database itself; use pg_dump: "
            + self.backup_command(target)
        )
