"""Turns that queue share one COMMIT (one wait for the disk), and that changes nothing a
learner or the inbox can see: each turn is all or nothing, nothing is returned before it is on
disk, a failing turn takes back its own writes only, and a failed COMMIT fails every turn in it,
whose inbox rows stay to be handled again."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any

import pytest

from bot.app import App
from bot.core.engine import APOLOGY
from bot.messages import Inbound
from bot.storage import repo

USERS = 12


def hello(n: int, i: int = 0) -> Inbound:
    return Inbound("console", f"learner-{n}", text="hello", external_id=f"m-{n}-{i}")


def count_commits(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    commits = [0]
    end = repo.end_transaction

    def counted(conn: repo.Raw, commit: bool) -> None:
        if commit and conn.in_transaction:
            commits[0] += 1
        end(conn, commit)

    monkeypatch.setattr(repo, "end_transaction", counted)
    return commits


async def visible_elsewhere(app: App, address: str) -> bool:
    """Whether another connection sees the learner's state: committed, on disk."""
    async with app.db.reader() as reader:
        rows = await reader.execute_fetchall(
            "SELECT 1 FROM dialog_state d JOIN users u ON u.id = d.user_id WHERE u.address = ?", (address,)
        )
    return bool(rows)


async def test_queued_turns_share_commits_and_each_returns_once_committed(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    commits = count_commits(monkeypatch)

    async def learner(n: int) -> bool:
        replies = await app.engine.handle(hello(n))
        assert replies and replies[-1].choices  # the language question
        return await visible_elsewhere(app, f"learner-{n}")

    assert all(await asyncio.gather(*(learner(n) for n in range(USERS))))
    assert 1 <= commits[0] < USERS  # several turns to a COMMIT
    rows = await app.db.conn.execute_fetchall("SELECT COUNT(*) FROM outbox")
    assert rows[0][0] == USERS


async def test_a_failing_turn_takes_back_its_own_writes_only(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    dispatch = app.engine._dispatch

    async def broken_for_one(turn: Any, inbound: Inbound) -> None:
        await dispatch(turn, inbound)
        if inbound.address == "learner-3":
            raise RuntimeError("a bug in a handler")

    monkeypatch.setattr(app.engine, "_dispatch", broken_for_one)
    replies = await asyncio.gather(*(app.engine.handle(hello(n)) for n in range(USERS)))
    apology = app.engine.catalogs.gettext("en", APOLOGY)
    assert [r.text for r in replies[3] or []] == [apology]
    assert all(r and r[-1].choices for n, r in enumerate(replies) if n != 3)
    users = {r[0] for r in await app.db.conn.execute_fetchall("SELECT address FROM users")}
    assert users == {f"learner-{n}" for n in range(USERS) if n != 3}  # its sender row went too


async def test_a_failed_commit_keeps_every_inbox_row_of_its_batch(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    end = repo.end_transaction
    failures = [1]

    def failing_once(conn: repo.Raw, commit: bool) -> None:
        if commit and conn.in_transaction and failures[0]:
            failures[0] -= 1
            conn.execute("ROLLBACK")
            raise sqlite3.OperationalError("disk I/O error")
        end(conn, commit)

    monkeypatch.setattr(repo, "end_transaction", failing_once)
    await app.inbox.accept(*(hello(n) for n in range(USERS)))
    await app.inbox.run_once()
    waiting = (await app.db.conn.execute_fetchall("SELECT COUNT(*) FROM inbox"))[0][0]
    assert waiting >= 1  # the failed batch's rows, held for a retry
    answered = (await app.db.conn.execute_fetchall("SELECT COUNT(DISTINCT address) FROM outbox"))[0][0]
    assert answered == USERS - waiting  # nothing of the failed turns was kept
    app.inbox._held.clear()  # the retry is due at once
    await app.inbox.run_once()
    rows = await app.db.conn.execute_fetchall("SELECT address, COUNT(*) FROM outbox GROUP BY address")
    assert sorted(tuple(r) for r in rows) == sorted((f"learner-{n}", 1) for n in range(USERS))  # once each
    assert (await app.db.conn.execute_fetchall("SELECT COUNT(*) FROM inbox"))[0][0] == 0


async def test_a_turn_cancelled_in_the_queue_leaves_no_transaction_open(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    close = repo.close_turn
    closing: list[bool] = []
    go = threading.Event()

    def held(conn: repo.Raw, *args: Any) -> None:  # runs in the database's thread
        closing.append(args[-1])  # commit: False while another turn is queued
        go.wait(timeout=10)
        close(conn, *args)

    monkeypatch.setattr(repo, "close_turn", held)
    first = asyncio.create_task(app.engine.handle(hello(1)))
    await asyncio.sleep(0)
    second = asyncio.create_task(app.engine.handle(hello(2)))
    while not closing:  # noqa: ASYNC110 - the first turn closes in the database's thread
        await asyncio.sleep(0)
    second.cancel()  # the first turn leaves the COMMIT to the second, which will not come
    await asyncio.sleep(0)
    go.set()
    assert await asyncio.wait_for(first, timeout=10)  # committed all the same
    assert closing == [False]
    with pytest.raises(asyncio.CancelledError):
        await second
    assert await visible_elsewhere(app, "learner-1")
    async with app.db.transaction() as conn:  # the write lock is free, and no transaction is open
        await conn.execute("SELECT 1")
