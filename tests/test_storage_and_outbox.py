"""Migrations, backups and the outbox sender on a real SQLite file."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from bot.app import App
from bot.delivery import queries as delivery_queries
from bot.delivery.outbox import Delivery, OutboxSender
from bot.messages import BULK, REPLY, Inbound, Outbound, utcnow
from bot.storage import repo
from bot.storage.db import Database, migrations


async def test_migrations_track_user_version_and_are_idempotent(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "a.db")
    try:
        assert await db.version() == migrations()[-1][0]
        assert await db.migrate() == []
        async with db.conn.execute("PRAGMA journal_mode") as cur:
            assert (await cur.fetchone())[0] == "wal"
    finally:
        await db.close()


async def test_backup_is_a_consistent_copy(app: App, tmp_path: Path) -> None:
    await app.engine.handle(Inbound("console", "someone", text="hi", external_id="1"))
    target = tmp_path / "backups" / "copy.db"
    if app.settings.postgres:  # PostgreSQL's own tool does it: the bot says which command
        with pytest.raises(NotImplementedError, match="pg_dump --format=custom"):
            await app.db.backup(target)
        return
    await app.db.backup(target)
    with sqlite3.connect(target) as copy:
        assert copy.execute("SELECT COUNT(*) FROM users").fetchone() == (1,)
        assert copy.execute("PRAGMA user_version").fetchone()[0] == migrations()[-1][0]


class RecordingTransport:
    """A transport whose answers the test scripts: `plan` maps a text to Deliveries in turn."""

    channel = "console"

    def __init__(self, plan: dict[str, list[Delivery]] | None = None):
        self.plan = plan or {}
        self.sent: list[Outbound] = []

    async def send(self, message: Outbound) -> Delivery:
        outcomes = self.plan.get(message.text)
        result = outcomes.pop(0) if outcomes else Delivery.sent(f"id-{len(self.sent)}")
        if result.status == "sent":
            self.sent.append(message)
        return result


async def enqueue(app: App, *messages: Outbound) -> None:
    async with app.db.transaction() as conn:
        await repo.in_thread(conn, repo.enqueue, list(messages), utcnow())


def msg(address: str, text: str, priority: int = REPLY, user_id: int | None = None) -> Outbound:
    return Outbound("console", address, text, priority=priority, user_id=user_id)


async def statuses(app: App) -> dict[str, str]:
    async with app.db.conn.execute("SELECT payload, status FROM outbox") as cur:
        return {Outbound.from_row("console", "", r[0], 0, None).text: r[1] for r in await cur.fetchall()}


async def test_replies_go_before_bulk_and_each_user_in_order(app: App) -> None:
    await enqueue(
        app,
        msg("a", "bulk-a", BULK),
        msg("b", "bulk-b", BULK),
        msg("a", "reply-a1"),
        msg("a", "reply-a2"),
        msg("c", "reply-c"),
    )
    transport = RecordingTransport()
    await OutboxSender(app.db, transport, max_in_flight=1).run_once()
    assert [m.text for m in transport.sent] == ["reply-a1", "reply-a2", "reply-c", "bulk-a", "bulk-b"]


async def test_a_message_waiting_for_retry_holds_back_that_user_only(app: App) -> None:
    await enqueue(app, msg("a", "question"), msg("a", "feedback"), msg("b", "other user"))
    transport = RecordingTransport({"question": [Delivery("retry", error="429", retry_after=0.3)]})
    sender = OutboxSender(app.db, transport)
    await sender.run_once()
    # "feedback" must not overtake "question"; the other user is not held up.
    assert [m.text for m in transport.sent] == ["other user"]
    assert (await statuses(app))["feedback"] == "queued"
    await asyncio.sleep(0.35)
    await sender.run_once()
    assert [m.text for m in transport.sent] == ["other user", "question", "feedback"]
    async with app.db.conn.execute("SELECT attempts FROM outbox ORDER BY id") as cur:
        assert [r[0] for r in await cur.fetchall()] == [2, 1, 1]  # a held-back message used no attempt


async def test_retry_after_is_honoured_and_sent_exactly_once(app: App) -> None:
    await enqueue(app, msg("a", "hello"))
    transport = RecordingTransport({"hello": [Delivery("retry", error="429", retry_after=0)]})
    sender = OutboxSender(app.db, transport)
    await sender.run_once()
    await sender.run_once()
    assert [m.text for m in transport.sent] == ["hello"]
    assert await statuses(app) == {"hello": "sent"}


async def test_permanent_failure_and_unreachable_user(app: App) -> None:
    replies = await app.engine.handle(Inbound("console", "blocked", text="hi", external_id="1"))
    assert replies
    user_id = replies[0].user_id
    await enqueue(app, msg("blocked", "later", BULK, user_id), msg("x", "bad"))
    transport = RecordingTransport(
        {
            replies[0].text: [Delivery("unreachable", error="Forbidden: bot was blocked by the user")],
            "bad": [Delivery("failed", error="Bad Request: chat not found")],
        }
    )
    await OutboxSender(app.db, transport).run_once()
    assert transport.sent == []
    st = await statuses(app)
    assert st["later"] == "failed" and st["bad"] == "failed"
    async with app.db.conn.execute("SELECT unreachable FROM users WHERE id = ?", (user_id,)) as cur:
        assert (await cur.fetchone())[0] == 1


async def test_crash_leftovers_are_sent_after_restart(app: App) -> None:
    await enqueue(app, msg("a", "in flight when we died"))
    async with app.db.exclusive() as conn:
        claim = await repo.in_thread(conn, delivery_queries.claim_due, "console", 10, 4, set(), utcnow())
    assert [len(b) for b in claim.batches] == [1]  # now 'sending', and the process "dies"
    transport = RecordingTransport()
    sender = OutboxSender(app.db, transport)
    assert await sender.recover() == 1
    await sender.run_once()
    assert [m.text for m in transport.sent] == ["in flight when we died"]


async def test_transport_that_raises_is_retried_not_fatal(app: App) -> None:
    class Exploding(RecordingTransport):
        calls = 0

        async def send(self, message: Outbound) -> Delivery:
            self.calls += 1
            if self.calls == 1:
                raise ConnectionError("network down")
            return await super().send(message)

    await enqueue(app, msg("a", "x"))
    transport = Exploding()
    frozen = utcnow()  # the retry is due later than this clock ever gets
    sender = OutboxSender(app.db, transport, clock=lambda: frozen)
    await sender.run_once()
    async with app.db.conn.execute("SELECT status, attempts FROM outbox") as cur:
        assert tuple(await cur.fetchone()) == ("queued", 1)
