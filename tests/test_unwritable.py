"""When the database cannot take writes, nothing is acknowledged, and nothing is lost.

The writer connection is switched to `PRAGMA query_only` (on PostgreSQL, to read-only
transactions), so every write fails inside the database the way a full or read-only disk
makes it fail. (tests/test_disk_full.py does it with a real
full filesystem, through the real process.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest

from bot.app import App
from bot.config import Settings
from tests.fake_telegram import Call, FakeBotAPI, running, wait_for
from tests.test_telegram import bot_running

Before = Callable[[App], Awaitable[None]]


async def writable(app: App, yes: bool) -> None:
    if app.settings.postgres:
        await app.db.conn.execute(f"SET default_transaction_read_only = {'off' if yes else 'on'}")
    else:
        await app.db.conn.execute(f"PRAGMA query_only={0 if yes else 1}")


@contextlib.asynccontextmanager
async def telegram(
    settings: Settings, webhook: bool, fake: FakeBotAPI | None = None, before: Before | None = None
) -> AsyncIterator[tuple]:
    async with (
        running(fake or FakeBotAPI()) as fake,
        bot_running(settings, fake, webhook, before) as (app, _, web),
    ):
        yield app, fake, web


async def read_only(app: App) -> None:
    await writable(app, False)


def logged(caplog: pytest.LogCaptureFixture, words: str) -> bool:
    return any(words in record.getMessage() for record in caplog.records)


async def test_the_sender_outlives_a_database_that_refuses_writes(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Its first write (putting back what a crash left in flight) is refused: it pauses, then sends."""
    async with telegram(settings, webhook=False, before=read_only) as (app, fake, _):
        await wait_for(lambda: logged(caplog, "sender paused"))
        await writable(app, True)
        fake.push_text(501, "hello")
        await wait_for(lambda: fake.sent(501), within=30)


async def test_an_outcome_the_database_refuses_is_sent_again(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    """Telegram fails a send, and the database refuses to record it: the message is not stranded."""
    fake = FakeBotAPI(errors={"sendMessage": [(500, None)]})
    refused: list[App] = []

    async def refuse_as_it_fails(call: Call) -> None:
        if call.method == "sendMessage" and fake.errors["sendMessage"] and refused:
            await writable(refused[0], False)

    fake.on_call = refuse_as_it_fails
    async with telegram(settings, webhook=False, fake=fake) as (app, _, _):
        refused.append(app)
        fake.push_text(502, "hello")
        await wait_for(lambda: logged(caplog, "refused a delivery's outcome"), within=30)
        await writable(app, True)
        await wait_for(lambda: fake.sent(502), within=30)
        await asyncio.sleep(0.3)
        assert len(fake.sent(502)) == 1


async def test_polling_confirms_only_committed_updates(settings: Settings) -> None:
    async with telegram(settings, webhook=False) as (app, fake, _):
        await polling_waits_for_the_database(app, fake)


async def polling_waits_for_the_database(app: App, fake: FakeBotAPI) -> None:
    await writable(app, False)
    chats = [301, 302, 303]
    for chat in chats:
        fake.push_text(chat, "hello")
    polls = lambda: [c for c in fake.calls if c.method == "getUpdates"]  # noqa: E731
    start = len(polls())
    await wait_for(lambda: len(polls()) >= start + 2, within=20)  # tried, failed, tried again
    assert not fake.sent()
    await writable(app, True)
    await wait_for(lambda: all(fake.sent(chat) for chat in chats), within=30)
    await asyncio.sleep(0.3)
    assert [len(fake.sent(chat)) for chat in chats] == [1, 1, 1]  # each answered once


async def test_a_webhook_answers_503_until_the_database_takes_writes(settings: Settings) -> None:
    async with telegram(settings, webhook=True) as (app, fake, web):
        await webhook_waits_for_the_database(app, fake, web)


async def webhook_waits_for_the_database(app: App, fake: FakeBotAPI, web: httpx.AsyncClient) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
    updates = []
    for chat in (401, 402):
        fake.push_text(chat, "hello")
        updates.append(fake.updates.get_nowait())
    assert (await web.get("/healthz")).status_code == 200
    await writable(app, False)
    for update in updates:
        assert (await web.post("/telegram/webhook", json=update, headers=headers)).status_code == 503
    health = await web.get("/healthz")
    assert health.status_code == 503 and health.json()["database"].startswith("not writable")
    await writable(app, True)
    assert (await web.get("/healthz")).status_code == 200
    for update in updates:  # Telegram delivers again what was not acknowledged
        assert (await web.post("/telegram/webhook", json=update, headers=headers)).status_code == 200
    await wait_for(lambda: fake.sent(401) and fake.sent(402))
    report = (await web.get("/healthz")).json()
    assert report["inbox"]["waiting"] == 0 and report["telegram"]["outbox_backlog"] == 0
