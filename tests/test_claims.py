"""Claims and roles between workers on one PostgreSQL database (#18), in one test process:
two `Database`s are two workers. (tests/test_workers.py runs real processes.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bot.delivery.inbox import LEASE, claim, insert
from bot.messages import Inbound
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.postgres import Raw, open_sync
from bot.storage.roles import Role, Roles, holders
from tests.fake_telegram import wait_for

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.fixture
async def two(postgres_url: str) -> AsyncIterator[tuple[Database, Database]]:
    first, second = await Database.open(postgres_url), await Database.open(postgres_url)
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def accept(db: Database, address: str, n: int) -> None:
    message = Inbound("telegram", address, f"m{n}", external_id=f"{address}-{n}", received_at=NOW)
    async with db.exclusive() as conn:
        await repo.in_thread(conn, insert, [message], NOW)


async def claimed(db: Database, at: datetime) -> list[tuple[str, str]]:
    async with db.exclusive() as conn:
        rows = await repo.in_thread(conn, claim, db.worker, 100, at)
    return [(r.inbound.address, r.inbound.text or "") for r in rows]


async def test_a_user_is_handled_by_one_worker_at_a_time(two: tuple[Database, Database]) -> None:
    a, b = two
    await accept(a, "1", 1)
    await accept(a, "2", 1)
    assert await claimed(a, NOW) == [("1", "m1"), ("2", "m1")]
    await accept(b, "1", 2)  # user 1 writes again, while worker a holds their first message
    await accept(b, "3", 1)
    assert await claimed(b, NOW) == [("3", "m1")]  # not user 1's second: it would overtake the first
    assert await claimed(a, NOW) == [("1", "m1"), ("2", "m1"), ("1", "m2")]  # a's, renewed, in order


async def test_a_dead_workers_claims_are_taken_over_after_the_lease(two: tuple[Database, Database]) -> None:
    a, b = two
    await accept(a, "1", 1)
    assert await claimed(a, NOW) == [("1", "m1")]
    assert await claimed(b, NOW + LEASE - timedelta(seconds=1)) == []  # a may still be at work
    assert await claimed(b, NOW + LEASE) == [("1", "m1")]  # a renewed nothing: it is gone
    assert await claimed(a, NOW + LEASE) == []  # and a, back, keeps off


async def test_a_later_message_never_overtakes_one_still_in_a_turn(
    two: tuple[Database, Database], postgres_url: str
) -> None:
    """a's lease ran out while a was still in user 1's turn (its row locked): b takes over the
    user only once that turn has ended, never their next message first."""
    a, b = two
    await accept(a, "1", 1)
    assert await claimed(a, NOW) == [("1", "m1")]
    await accept(a, "1", 2)
    in_turn = Raw(open_sync(postgres_url))
    try:
        in_turn.execute("BEGIN")
        in_turn.execute("SELECT id FROM inbox WHERE payload LIKE ? FOR UPDATE", ('%"m1"%',))
        assert await claimed(b, NOW + LEASE) == []  # not m2 before m1
        in_turn.execute("DELETE FROM inbox WHERE payload LIKE ?", ('%"m1"%',))
        in_turn.execute("COMMIT")  # a's turn ends: m1 handled
    finally:
        in_turn.conn.close()
    assert await claimed(b, NOW + LEASE) == [("1", "m2")]


async def test_one_worker_holds_a_role_and_another_takes_it_over(two: tuple[Database, Database]) -> None:
    a, b = two
    working: list[str] = []

    def role(db: Database) -> Role:
        async def work() -> None:
            working.append(db.worker)
            await asyncio.Event().wait()

        return Role("sender:telegram", work)

    first, second = Roles(a, [role(a)], every=0.2), Roles(b, [role(b)], every=0.2)
    one = asyncio.create_task(first.run())
    await wait_for(lambda: working == [a.worker])
    two_ = asyncio.create_task(second.run())
    await asyncio.sleep(1)
    assert working == [a.worker] and second.held == []  # one holder at a time
    assert await holders(b, ["sender:telegram", "scheduler"]) == {
        "sender:telegram": a.worker,
        "scheduler": None,
    }
    one.cancel()  # the worker stops: its connection, and with it its lock, goes
    await asyncio.gather(one, return_exceptions=True)
    await wait_for(lambda: working == [a.worker, b.worker], within=10)
    assert await holders(a, ["sender:telegram"]) == {"sender:telegram": b.worker}
    two_.cancel()
    await asyncio.gather(two_, return_exceptions=True)
