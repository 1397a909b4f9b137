"""Readers never block the writer: reports, exports and backups read through their own
connections, and WAL checkpoints run off the message path. No timings: a test that would
wait on the old shared lock fails by its deadlock guard instead of passing."""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

from bot.app import App
from bot.config import Settings
from bot.messages import utcnow
from bot.stats import cli as cli_stats
from bot.stats.dashboard.accounts import add_account
from bot.storage.maintenance import Maintenance
from bot.web.server import build_web
from tests.conftest import Chat

T = TypeVar("T")
PASSWORD = "a long enough password"


async def guarded(step: Awaitable[T]) -> T:
    """A deadlock guard, not a timing: on the old shared lock these steps waited for ever."""
    return await asyncio.wait_for(step, timeout=60)


async def count(conn, sql: str) -> int:  # type: ignore[no-untyped-def]
    async with conn.execute(sql) as cur:
        return (await cur.fetchone())[0]


@pytest.fixture
async def web(app: App) -> AsyncIterator[httpx.AsyncClient]:
    async with app.db.transaction() as conn:
        await add_account(conn, "staff", PASSWORD, None, utcnow())
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://bot") as client:
        form = await client.get("/dashboard/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        login = await client.post(
            "/dashboard/login", data={"csrf": csrf.group(1), "username": "staff", "password": PASSWORD}
        )
        assert login.status_code == 303
        yield client


async def test_a_message_commits_while_a_reader_holds_an_open_read_transaction(app: App, chat: Chat) -> None:
    await chat.onboard()
    before = await count(app.db.conn, "SELECT COUNT(*) FROM events")
    async with app.db.reader() as reader:
        await reader.execute("BEGIN")
        assert await count(reader, "SELECT COUNT(*) FROM events") == before
        # And a cursor stopped in the middle of a long SELECT, on the other reader.
        async with app.db.reader() as other, other.execute("SELECT id FROM events ORDER BY id") as cursor:
            assert await cursor.fetchone() is not None
            replies = await guarded(chat.send("menu"))
            assert replies and chat.texts
        after = await count(app.db.conn, "SELECT COUNT(*) FROM events")
        assert after > before  # committed, and visible to the writer
        assert await count(reader, "SELECT COUNT(*) FROM events") == before  # the reader's snapshot
        await reader.execute("COMMIT")
        assert await count(reader, "SELECT COUNT(*) FROM events") == after


async def test_readers_are_read_only_and_pooled(app: App) -> None:
    async with app.db.reader() as first:
        with pytest.raises(sqlite3.OperationalError):
            await first.execute("DELETE FROM events")
    async with app.db.reader() as again:
        assert again is first  # opened once, reused


async def test_dashboard_stats_export_and_backup_answer_while_the_writer_holds_its_lock(
    app: App, chat: Chat, web: httpx.AsyncClient, settings: Settings, tmp_path: Path, capsys
) -> None:  # type: ignore[no-untyped-def]
    await chat.onboard()
    async with app.db.exclusive() as conn:
        await conn.execute("BEGIN IMMEDIATE")
        await conn.execute("INSERT INTO events (at, actor, type) VALUES ('2020-01-01', 'u_uncommitted', 'x')")

        page = await guarded(web.get("/dashboard"))
        assert page.status_code == 200 and "Dashboard" in page.text
        download = await guarded(web.get("/dashboard.csv"))
        assert download.status_code == 200 and download.text.startswith("metric,key,value")

        base = argparse.Namespace(club=None, district=None, language=None, channel=None, age_band=None)
        stats_args = argparse.Namespace(**vars(base), command="stats", since=None, until=None, format="json")
        assert await guarded(cli_stats.run(settings, stats_args)) == 0
        assert '"signups"' in capsys.readouterr().out
        export = argparse.Namespace(
            command="export", export_command="events", since=cli_stats._date("2000-01-01")
        )
        assert await guarded(cli_stats.run(settings, export)) == 0
        exported = capsys.readouterr().out
        assert "message_in" in exported and "u_uncommitted" not in exported

        if settings.postgres:  # pg_dump's, not the bot's (test_storage_and_outbox)
            await conn.execute("ROLLBACK")
            return
        await guarded(app.db.backup(tmp_path / "copy.db"))
        await conn.execute("ROLLBACK")
    with sqlite3.connect(tmp_path / "copy.db") as copy:
        assert copy.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)
        assert copy.execute("SELECT COUNT(*) FROM events WHERE actor = 'u_uncommitted'").fetchone() == (0,)


@pytest.mark.sqlite_only("SQLite's WAL file and its checkpoints; PostgreSQL checkpoints its own log")
async def test_checkpoints_run_off_the_writer_and_empty_the_wal_when_quiet(
    app: App, chat: Chat, settings: Settings
) -> None:
    assert await count(app.db.conn, "PRAGMA wal_autocheckpoint") == 0  # no checkpoint inside a COMMIT
    await chat.onboard()
    wal = app.db.path.with_name(app.db.path.name + "-wal")
    assert wal.stat().st_size > 0
    maintenance = Maintenance(app.db, settings, idle_s=0)
    assert await maintenance.checkpoint_if_due() == "PASSIVE"
    assert await maintenance.checkpoint_if_due() == "TRUNCATE"
    assert wal.stat().st_size == 0
    assert await maintenance.checkpoint_if_due() is None  # nothing written since
    await chat.send("menu")
    assert await maintenance.checkpoint_if_due() == "PASSIVE"


@pytest.mark.sqlite_only("SQLite's WAL file and its checkpoints; PostgreSQL checkpoints its own log")
async def test_truncate_gives_way_to_a_reader_instead_of_waiting(
    app: App, chat: Chat, settings: Settings
) -> None:
    await chat.onboard()
    maintenance = Maintenance(app.db, settings, idle_s=0)
    async with app.db.reader() as reader:
        await reader.execute("BEGIN")
        await count(reader, "SELECT COUNT(*) FROM users")  # holds a snapshot of the WAL
        assert await maintenance.checkpoint_if_due() == "PASSIVE"
        assert await guarded(maintenance.checkpoint_if_due()) == "TRUNCATE"
        await guarded(chat.send("menu"))  # and the writer is not held up by it either
        await reader.execute("COMMIT")


@pytest.mark.sqlite_only("SQLite's WAL file and its checkpoints; PostgreSQL checkpoints its own log")
async def test_the_wal_stays_bounded_under_writes_that_never_pause(app: App, settings: Settings) -> None:
    """Under steady load a PASSIVE checkpoint never catches the writer, so SQLite never starts
    the WAL over and it grew without end (3.3 GB after 80k messages). Once it is past its
    bound, a checkpoint taken between two write transactions lets the next one start over."""
    await app.db.conn.execute("CREATE TABLE filler (body BLOB)")
    maintenance = Maintenance(app.db, settings, idle_s=0.0, wal_pages=50, tick_s=0.001)
    wal = app.db.path.with_name(app.db.path.name + "-wal")
    checkpoints = asyncio.create_task(maintenance._checkpoints())
    largest = 0
    try:
        for _ in range(3000):  # about 24 MB through the WAL, with no quiet moment
            async with app.db.exclusive() as conn:
                await conn.execute("BEGIN IMMEDIATE")
                await conn.execute("INSERT INTO filler VALUES (randomblob(8000))")
                await conn.execute("COMMIT")
            largest = max(largest, wal.stat().st_size)
    finally:
        checkpoints.cancel()
    assert largest < 4 * maintenance.wal_limit_pages * 4096, largest
