"""A tap's courtesy call (answerCallbackQuery) runs beside the engine, never before it: a slow or
failing Bot API answer to it neither delays nor loses the message, which is already in the
durable inbox. And the tap bench's plan is what it says."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from bench.telegram import button_for, plans
from bot.app import App
from bot.channels import telegram
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.messages import Outbound
from tests.fake_telegram import FakeBotAPI, running, wait_for
from tests.test_telegram import Bot, bot_running, onboard, tap_when_shown

COURTESY = ("answerCallbackQuery",)


@dataclass
class SlowCourtesy(FakeBotAPI):
    """A Bot API that holds its answers to courtesy calls until `release` is set."""

    release: asyncio.Event = field(default_factory=asyncio.Event)

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method in COURTESY:
            await self.release.wait()
        return await super()._result(method, params)


async def test_a_tap_is_answered_while_its_courtesy_calls_hang(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended: list[str] = []  # a tap's courtesy calls that ended, answered or given up on
    quietly = telegram._quietly

    async def noted(awaitable) -> None:  # type: ignore[no-untyped-def]
        try:
            await quietly(awaitable)
        finally:
            if awaitable.__qualname__.startswith("CallbackQuery."):
                ended.append(awaitable.__qualname__)

    monkeypatch.setattr(telegram, "_quietly", noted)
    async with running(SlowCourtesy()) as fake, bot_running(settings, fake) as (app, channel, _):
        bot = Bot(app, fake, channel)
        chat = 501
        fake.release.set()
        await onboard(bot, chat, "en", "en")
        await wait_for(lambda: len(ended) == 3)  # the three taps of onboarding
        fake.release.clear()
        ended.clear()
        before = len(fake.sent(chat))
        await tap_when_shown(bot, chat, "Quizzes")  # waits for the reply to the tap
        assert len(fake.sent(chat)) > before
        assert ended == []  # neither answered nor given up on (PTB waits 5 s) when the reply came
        # The reply came while the tap's answer was still unanswered.
        pending = [c.method for c in fake.calls[-6:] if c.method in COURTESY]
        assert set(pending) == set(COURTESY)
        assert "Choose a negotiation quiz:" in bot.texts(chat)
        fake.release.set()  # let the held calls end before the server stops


async def test_failing_courtesy_calls_lose_no_tap(settings: Settings) -> None:
    fake = FakeBotAPI()
    async with running(fake), bot_running(settings, fake) as (app, channel, _):
        bot = Bot(app, fake, channel)
        chat = 502
        await onboard(bot, chat, "en", "en")
        for method in COURTESY:
            fake.errors[method] = [(400, None), (500, None), (403, None)] * 3
        await tap_when_shown(bot, chat, "Quizzes")
        await tap_when_shown(bot, chat, "Interests or positions?")
        await tap_when_shown(bot, chat, "A position")
        await wait_for(lambda: "Right!" in bot.texts(chat))
        failed = [c.method for c in fake.calls if not c.ok]
        assert set(failed) == set(COURTESY)
        async with app.db.conn.execute("SELECT COUNT(*) FROM inbox") as cur:
            assert (await cur.fetchone())[0] == 0  # every tap handled, none left behind


def test_the_bench_taps_the_button_the_script_would_type() -> None:
    buttons = ["4.exercise", "4.quiz", "4.lesson"]
    assert button_for("2", buttons) == 1
    assert button_for("4", buttons) is None  # no fourth button: typed
    assert button_for("next", ["7.next"]) == 0
    assert button_for("menu", buttons) is None
    assert button_for("I feel worried", buttons) is None


def test_the_bench_taps_the_share_it_is_asked_for() -> None:
    tappable = [None, 2, 1, 0, None, 1, 0, 0, 0, 1]  # 8 of 10 steps can be tapped
    users = plans(tappable, 20, 0.5)
    taps = sum(b is not None for plan in users for b in plan)
    assert taps == 100  # half of the 200 messages
    assert all(plan[0] is None and plan[4] is None for plan in users)  # never a step with no button
    assert all(b == tappable[i] for plan in users for i, b in enumerate(plan) if b is not None)
    assert plans(tappable, 20, 0.5) == users  # seeded: every run taps the same
    assert sum(b is not None for plan in plans(tappable, 3, 1.0) for b in plan) == 24  # all it can


@dataclass
class SlowSends(FakeBotAPI):
    """A Bot API that takes 1.5 s to answer a sendMessage: longer than PTB waits for a free
    connection of its pool (1 s)."""

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "sendMessage":
            await asyncio.sleep(1.5)
        return await super()._result(method, params)


async def test_a_full_connection_pool_is_not_an_outage(settings: Settings) -> None:
    """When every connection of our own pool is busy, a send waits its turn in the queue; the
    channel is not taken for down (that would pause every user's replies and probe)."""
    fake = SlowSends()
    async with running(fake):
        ours = replace(settings, telegram_bot_token=fake.token, telegram_api_url=fake.url)
        app = await App.create(ours)
        channel = replace(TelegramChannel.create(ours, app), ready=True)
        channel.application = telegram.build_application(ours, pool=1)
        await channel.application.initialize()
        try:
            one, two = Outbound("telegram", "601", "one"), Outbound("telegram", "602", "two")
            first, second = await asyncio.gather(channel.send(one), channel.send(two))
        finally:
            await channel.application.shutdown()
            await app.close()
    assert first.status == "sent"
    assert second.status == "retry" and "Pool timeout" in (second.error or "") and not second.outage
