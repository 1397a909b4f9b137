"""Both APIs down for 10 minutes, then back: every reply and every officer alert goes out
after recovery, and the outage costs a handful of probes, not a retry storm.

The senders run on an injected clock that the test moves in 5-second steps; the fakes answer
502 (Telegram) and 503 (Twilio) while they are "down".
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.care.safeguarding import Safeguarding, parse_officers
from bot.channels.telegram import TelegramChannel
from bot.channels.whatsapp import WhatsAppChannel
from bot.config import Settings
from bot.delivery.outbox import OutboxSender
from bot.messages import Inbound, utcnow
from tests import fake_twilio
from tests.fake_telegram import FakeBotAPI, running, wait_for
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, FakeTwilio

OFFICER = 900
LEARNERS = 12


class Clock:
    def __init__(self) -> None:
        self.now = utcnow()

    def __call__(self) -> datetime:
        return self.now


async def advance(clock: Clock, senders: list[OutboxSender], seconds: int, until: Callable[[], bool]) -> None:
    """Move the senders' clock in 5 s steps, letting them act at each step."""
    for _ in range(seconds // 5):
        if until():
            return
        clock.now += timedelta(seconds=5)
        for sender in senders:
            sender.wake()
        await asyncio.sleep(0.03)


@pytest.fixture
async def both(settings: Settings, tmp_path: Path):
    async with running(FakeBotAPI()) as tg, fake_twilio.running(FakeTwilio()) as tw:
        settings = replace(
            settings,
            telegram_bot_token=tg.token,
            telegram_api_url=tg.url,
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from="whatsapp:+14155238886",
            twilio_api_url=tw.url,
            public_base_url=PUBLIC_URL,
            telegram_webhook_secret="s",
            safeguarding_officers=f"telegram:{OFFICER}",
        )
        app = await App.create(settings)
        telegram = TelegramChannel.create(settings, app)
        whatsapp = WhatsAppChannel.create(settings, app)
        await telegram.start()
        await whatsapp.start()
        clock = Clock()
        senders = [OutboxSender(app.db, ch, max_in_flight=32, clock=clock) for ch in (telegram, whatsapp)]
        tasks = [asyncio.create_task(s.run()) for s in senders] + [asyncio.create_task(app.inbox.run())]
        try:
            yield app, tg, tw, clock, senders
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await telegram.stop()
            await whatsapp.stop()
            await app.close()


async def test_ten_minutes_down_then_everything_is_delivered_without_a_retry_storm(both) -> None:
    app, tg, tw, clock, senders = both
    tg.down = tw.down = True
    messages = [Inbound("telegram", str(800 + n), text="hello", external_id=f"t{n}") for n in range(LEARNERS)]
    messages += [
        Inbound("whatsapp", f"whatsapp:+2507880000{n:02d}", text="hello", external_id=f"w{n}")
        for n in range(LEARNERS)
    ]
    messages.append(
        Inbound("whatsapp", "whatsapp:+250788000099", text="I want to kill myself", external_id="sos")
    )
    await app.inbox.accept(*messages)
    await app.inbox.run_once()
    learners_tg = {str(800 + n) for n in range(LEARNERS)}
    learners_wa = {m.address for m in messages if m.channel == "whatsapp"}

    def tg_sends() -> int:
        return sum(1 for c in tg.calls if c.method in ("sendMessage", "sendPhoto"))

    await advance(clock, senders, 600, until=lambda: False)  # ten minutes of outage
    calls_during_outage = (tg_sends(), tw.attempts)
    assert not tg.sent() and not tw.sent
    assert all("paused" in s.state() for s in senders)

    tg.down = tw.down = False

    def everyone_answered() -> bool:
        chats = {str(c.params["chat_id"]) for c in tg.sent()}
        return learners_tg | {str(OFFICER)} <= chats and learners_wa <= {m.to for m in tw.sent}

    await advance(clock, senders, 180, until=everyone_answered)
    await wait_for(everyone_answered)
    alert = [c.params["text"] for c in tg.sent(OFFICER)]
    assert alert and "Safeguarding alert" in alert[0]
    assert all(s.state() == "sending" for s in senders)

    async def all_marked_sent() -> bool:
        for sender in senders:  # "sent" marks are written with a sender's next claim
            sender.wake()
        async with app.db.conn.execute("SELECT DISTINCT status FROM outbox") as cur:
            return [tuple(r) for r in await cur.fetchall()] == [("sent",)]

    await wait_for(all_marked_sent)
    print(
        f"\nsend attempts during 10 minutes of outage: telegram {calls_during_outage[0]}, "
        f"whatsapp {calls_during_outage[1]} (for {2 * LEARNERS + 2} messages waiting)"
    )
    # The messages in flight when it went down, then one probe at a time with growing gaps
    # (1, 2, 4 ... 60 s): about 16 probes in ten minutes. Six tries per message would be 150.
    assert max(calls_during_outage) <= 32 + 25, calls_during_outage


async def test_an_urgent_alert_outlives_the_retry_window_and_a_reply_does_not(both) -> None:
    app, tg, tw, clock, senders = both
    tg.down = True
    await app.inbox.accept(
        Inbound("telegram", "801", text="hello", external_id="a"),
        Inbound("whatsapp", "whatsapp:+250788000001", text="I want to kill myself", external_id="b"),
    )
    await app.inbox.run_once()
    await advance(clock, senders, 30, until=lambda: bool(tw.sent))
    assert tw.sent  # the learner on WhatsApp is answered: only Telegram is down
    clock.now += timedelta(hours=25)  # Telegram down for longer than OUTBOX_RETRY_HOURS
    tg_sender = senders[0]
    tg_sender.wake()
    await advance(clock, senders, 120, until=lambda: False)
    async with app.db.conn.execute(
        "SELECT address, status, error FROM outbox WHERE channel = 'telegram'"
    ) as cur:
        rows = {r[0]: (r[1], r[2]) for r in await cur.fetchall()}
    assert rows["801"][0] == "failed" and "gave up" in rows["801"][1]
    assert rows[str(OFFICER)][0] == "queued"  # the alert is still waiting, never given up
    tg.down = False
    await advance(clock, senders, 120, until=lambda: bool(tg.sent(OFFICER)))
    await wait_for(lambda: tg.sent(OFFICER))


async def test_an_alert_the_first_channel_cannot_deliver_goes_to_the_officers_next_channel(both) -> None:
    app, tg, _tw, clock, senders = both
    # Every officer is alerted at once; each officer's contacts are tried in turn. This one's
    # WhatsApp is outside the 24-hour window with no approved template (held), so the alert
    # goes to their Telegram; that chat has blocked the bot, so to their second Telegram account.
    officers = parse_officers(f"whatsapp:whatsapp:+250788111111|telegram:{OFFICER}|telegram:901")
    app.engine.services.add(replace(app.engine.services.get(Safeguarding), officers=officers))
    tg.forbidden_chats.add(OFFICER)
    await app.inbox.accept(Inbound("telegram", "802", text="I want to kill myself", external_id="c"))
    await app.inbox.run_once()
    await advance(clock, senders, 60, until=lambda: bool(tg.sent(901)))
    assert [c.params["chat_id"] for c in tg.sent(refused=True)] == [str(OFFICER)]  # tried, blocked
    assert "Safeguarding alert" in tg.sent(901)[0].params["text"]

    async def trail() -> list[tuple[str, str]]:
        for sender in senders:  # "sent" marks are written with a sender's next claim
            sender.wake()
        sql = "SELECT channel, status FROM outbox WHERE payload LIKE '%safeguarding_alert%' ORDER BY id"
        async with app.db.conn.execute(sql) as cur:
            return [tuple(r) for r in await cur.fetchall()]

    expected = [("whatsapp", "held"), ("telegram", "failed"), ("telegram", "sent")]
    await wait_for(lambda: trail_is(trail, expected))


async def trail_is(trail, expected: list[tuple[str, str]]) -> bool:  # type: ignore[no-untyped-def]
    return await trail() == expected
