"""Telegram end to end: PTB's real HTTP stack against a fake Bot API on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.config import Settings
from bot.web.health import Health
from bot.web.server import build_web, make_senders
from tests.conftest import best_label
from tests.fake_telegram import FakeBotAPI, running, wait_for


@dataclass
class Bot:
    app: App
    fake: FakeBotAPI
    channel: TelegramChannel

    def tr(self, lang: str, msgid: str, context: str | None = None) -> str:
        return self.app.engine.catalogs.gettext(lang, msgid, context)

    async def say(self, chat_id: int, text: str, language_code: str | None = "en") -> None:
        before = len(self.fake.sent(chat_id))
        self.fake.push_text(chat_id, text, language_code)
        await wait_for(lambda: len(self.fake.sent(chat_id)) > before and self._settled(chat_id))

    async def tap(self, chat_id: int, label: str) -> None:
        keyboard = dict(self.fake.last_keyboard(chat_id))
        assert label in keyboard, f"{label!r} not in {list(keyboard)}"
        before = len(self.fake.sent(chat_id))
        self.fake.push_tap(chat_id, keyboard[label])
        await wait_for(lambda: len(self.fake.sent(chat_id)) > before and self._settled(chat_id))

    def _settled(self, chat_id: int) -> bool:
        # The turn's replies end with a prompt (buttons) or a plain message; wait one beat for all.
        return bool(self.fake.sent(chat_id))

    def texts(self, chat_id: int) -> str:
        return "\n".join(c.params.get("text", "") for c in self.fake.sent(chat_id))


async def start_bot(
    settings: Settings,
    fake: FakeBotAPI,
    webhook: bool = False,
    before: Callable[[App], Awaitable[None]] | None = None,
) -> tuple[App, TelegramChannel, list]:
    settings = replace(
        settings,
        telegram_bot_token=fake.token,
        telegram_api_url=fake.url,
        public_base_url="https://bot.example.org" if webhook else None,
        telegram_webhook_secret="s3cret" if webhook else None,
    )
    app = await App.create(settings)
    if before is not None:  # what the database is like as the sender and the inbox start
        await before(app)
    channel = TelegramChannel.create(settings, app)
    channel.poll_timeout = 0  # short polls: the fake answers at once, and stopping is quick
    channel.typing_after = 0  # show "typing…" on every message, to see that it is shown
    runtime = channel.runtime()
    senders = make_senders(app, [runtime])
    tasks = [asyncio.create_task(s.run()) for s in senders.values()]
    tasks.append(asyncio.create_task(app.inbox.run()))
    await channel.start()
    return app, channel, tasks


@contextlib.asynccontextmanager
async def bot_running(
    settings: Settings,
    fake: FakeBotAPI,
    webhook: bool = False,
    before: Callable[[App], Awaitable[None]] | None = None,
) -> AsyncIterator[tuple[App, TelegramChannel, httpx.AsyncClient]]:
    """The bot on the fake Bot API, with its web app (webhook, /healthz) on an ASGI client."""
    app, channel, tasks = await start_bot(settings, fake, webhook=webhook, before=before)
    health = Health(app.db, {"telegram": "up"})
    web = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app, [channel.runtime()], health)), base_url="http://bot"
    )
    try:
        yield app, channel, web
    finally:
        await web.aclose()
        await channel.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await app.close()


@pytest.fixture
async def bot(settings: Settings) -> AsyncIterator[Bot]:
    async with running(FakeBotAPI()) as fake, bot_running(settings, fake) as (app, channel, _):
        yield Bot(app, fake, channel)


async def onboard(bot: Bot, chat: int, lang: str, code: str | None) -> None:
    await bot.say(chat, "/start", code)
    await wait_for(lambda: bot.fake.last_keyboard(chat))
    names = {"rw": "Ikinyarwanda", "fr": "Français", "en": "English"}
    await bot.tap(chat, names[lang])
    await wait_for(lambda: any(b[0] == "18–24" for b in bot.fake.last_keyboard(chat)))
    await bot.tap(chat, "18–24")
    await wait_for(lambda: any(b[0] == bot.tr(lang, "I agree") for b in bot.fake.last_keyboard(chat)))
    await bot.tap(chat, bot.tr(lang, "I agree"))
    await wait_for(lambda: any(b[0] == bot.tr(lang, "Quizzes") for b in bot.fake.last_keyboard(chat)))


async def tap_when_shown(bot: Bot, chat: int, label: str) -> None:
    await wait_for(lambda: any(b[0] == label for b in bot.fake.last_keyboard(chat)))
    await bot.tap(chat, label)


@pytest.mark.parametrize(("lang", "code"), [("en", "en"), ("fr", "fr"), ("rw", None)])
async def test_journey_by_taps_then_progress(bot: Bot, lang: str, code: str | None) -> None:
    chat = {"en": 101, "fr": 102, "rw": 103}[lang]
    await onboard(bot, chat, lang, code)
    t = bot.tr
    # The exercise: three taps, a written answer, and it ends.
    await tap_when_shown(bot, chat, t(lang, "Exercises"))
    await tap_when_shown(bot, chat, t(lang, "The shared water point", "water_point/meta/title"))
    for step in ("position", "interest", "options"):  # the best path
        await tap_when_shown(bot, chat, best_label(bot.app, lang, "water_point", step))
    await wait_for(
        lambda: (
            t(
                lang,
                "Your turn. Write one sentence Kalisa could say to Mama Keza to open the talk. "
                "Start with how he feels and what he needs.",
                "water_point/practice/text",
            )
            in bot.texts(chat)
        )
    )
    await bot.say(
        chat,
        {
            "en": "I feel worried, I need water",
            "fr": "Je me sens inquiet, j'ai besoin d'eau",
            "rw": "Ndumva mpangayitse, nkeneye amazi",
        }[lang],
    )
    # The only exercise, so the whole track: a certificate, with the Telegram name on it.
    await tap_when_shown(bot, chat, f"User{chat}")
    await wait_for(lambda: any(c.method == "sendPhoto" for c in bot.fake.calls))
    photo = next(c for c in bot.fake.calls if c.method == "sendPhoto")
    assert int(photo.params["chat_id"]) == chat
    assert (await photo.params["photo"].read()).startswith(b"\x89PNG")
    # The quiz, by taps.
    await tap_when_shown(bot, chat, t(lang, "Quizzes"))
    await tap_when_shown(bot, chat, t(lang, "Interests or positions?", "interests_positions/meta/title"))
    for n in range(1, 9):
        await tap_when_shown(bot, chat, best_label(bot.app, lang, "interests_positions", f"q{n}"))
    score = t(lang, "Your score: {score} out of {total}.").format(score=8, total=8)
    await wait_for(lambda: score in bot.texts(chat))

    await bot.say(chat, "/progress", code)
    heading = t(lang, "Your progress") + "\n"

    def progress_message() -> str | None:
        texts = (c.params.get("text", "") for c in bot.fake.sent(chat))
        return next((text for text in texts if text.startswith(heading)), None)

    await wait_for(progress_message)
    progress = progress_message() or ""
    assert "✅" in progress and "8/8" in progress
    # Every tap was answered; keyboards stay (a tap on an old one is refused, see below).
    methods = [c.method for c in bot.fake.calls]
    assert methods.count("answerCallbackQuery") >= 9 and "editMessageReplyMarkup" not in methods
    assert "sendChatAction" in methods
    # Commands are registered in the three languages.
    langs = {c.params.get("language_code") for c in bot.fake.calls if c.method == "setMyCommands"}
    assert {"en", "fr", "rw", None} <= langs


async def test_double_tap_counts_once(bot: Bot) -> None:
    chat = 201
    await onboard(bot, chat, "en", "en")
    await tap_when_shown(bot, chat, "Quizzes")
    await tap_when_shown(bot, chat, "Interests or positions?")
    await wait_for(lambda: any(b[0] == "A position" for b in bot.fake.last_keyboard(chat)))
    data = dict(bot.fake.last_keyboard(chat))["A position"]
    bot.fake.push_tap(chat, data)
    bot.fake.push_tap(chat, data)
    await wait_for(lambda: "earlier message" in bot.texts(chat))
    async with bot.app.db.conn.execute("SELECT COUNT(*) FROM events WHERE type = 'quiz_answer'") as cur:
        assert (await cur.fetchone())[0] == 1


async def test_blocked_bot_marks_the_user_unreachable(bot: Bot) -> None:
    chat = 301
    await onboard(bot, chat, "en", "en")
    bot.fake.forbidden_chats.add(chat)
    bot.fake.push_text(chat, "menu")

    async def unreachable() -> bool:
        async with bot.app.db.conn.execute(
            "SELECT unreachable FROM users WHERE address = ?", (str(chat),)
        ) as cur:
            return (await cur.fetchone())[0] == 1

    await wait_for(unreachable)


async def test_429_retry_after_delivers_exactly_once(bot: Bot) -> None:
    chat = 401
    await onboard(bot, chat, "en", "en")
    bot.fake.errors["sendMessage"] = [(429, 1)]
    before = len(bot.fake.sent(chat))
    bot.fake.push_text(chat, "/help")
    offer = "Would you like a person from our team to contact you?"
    await wait_for(lambda: offer in bot.texts(chat), within=20)
    refused = [c.params["text"] for c in bot.fake.sent(chat, refused=True)]
    delivered = [c.params["text"] for c in bot.fake.sent(chat)[before:]]
    # The first attempt was refused (429); after the wait the same message arrived, once.
    assert len(refused) == 1 and offer in refused[0]
    assert delivered == refused
    await asyncio.sleep(1.5)  # nothing more comes: it is not sent twice
    assert [c.params["text"] for c in bot.fake.sent(chat)[before:]] == delivered
    async with bot.app.db.conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status") as cur:
        assert dict(await cur.fetchall()).get("sent", 0) > 0


async def test_webhook_route_checks_the_secret(settings: Settings) -> None:
    async with running(FakeBotAPI()) as fake:
        app, channel, tasks = await start_bot(settings, fake, webhook=True)
        try:
            assert any(
                c.method == "setWebhook"
                and c.params.get("secret_token") == "s3cret"
                and c.params.get("url") == "https://bot.example.org/telegram/webhook"
                for c in fake.calls
            )
            web = build_web(app, [channel.runtime()])
            update = {
                "update_id": 7,
                "message": {
                    "message_id": 1,
                    "date": 0,
                    "text": "hello",
                    "chat": {"id": 55, "type": "private"},
                    "from": {"id": 55, "is_bot": False, "first_name": "A"},
                },
            }
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=web), base_url="http://t"
            ) as client:
                url = "/telegram/webhook"
                assert (await client.post(url, json=update)).status_code == 403
                bad = {"X-Telegram-Bot-Api-Secret-Token": "nope"}
                assert (await client.post(url, json=update, headers=bad)).status_code == 403
                good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
                assert (await client.post(url, content=b"{not json", headers=good)).status_code == 400
                async with app.db.conn.execute("SELECT COUNT(*) FROM users") as cur:
                    assert (await cur.fetchone())[0] == 0  # nothing processed so far
                assert (await client.post(url, content=json.dumps(update), headers=good)).status_code == 200
            await wait_for(lambda: fake.sent(55))
        finally:
            await channel.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.close()


async def test_an_update_we_cannot_use_does_not_block_the_next(bot: Bot) -> None:
    # A message with no sender (as in a channel post) and a sticker: neither may stall the queue.
    bot.fake.updates.put_nowait(
        {
            "update_id": 5000,
            "message": {"message_id": 1, "date": 0, "chat": {"id": 77, "type": "channel"}, "text": "hi"},
        }
    )
    bot.fake.updates.put_nowait(
        {
            "update_id": 5001,
            "message": {
                "message_id": 2,
                "date": 0,
                "chat": {"id": 78, "type": "private"},
                "from": {"id": 78, "is_bot": False, "first_name": "S"},
                "sticker": {
                    "file_id": "x",
                    "file_unique_id": "y",
                    "type": "regular",
                    "width": 1,
                    "height": 1,
                    "is_animated": False,
                    "is_video": False,
                },
            },
        }
    )
    await bot.say(79, "/start")
    assert bot.fake.last_keyboard(79)  # the language choice reached the next user
    # A channel gets only the pointer to a private chat (then the bot leaves), never a reply.
    assert all("t.me/" in c.params["text"] for c in bot.fake.sent(77))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
update_like = st.fixed_dictionaries(
    {"update_id": st.integers(min_value=-5, max_value=10**12)},
    optional={
        "message": st.dictionaries(
            st.sampled_from(["message_id", "date", "text", "chat", "from", "photo", "entities"]), json_values
        ),
        "callback_query": st.dictionaries(st.sampled_from(["id", "from", "data", "message"]), json_values),
    },
)


async def test_the_webhook_answers_any_body_with_200_or_400_never_500(settings: Settings) -> None:
    async with running(FakeBotAPI()) as fake:
        app, channel, tasks = await start_bot(settings, fake, webhook=True)
        web = build_web(app, [channel.runtime()])
        good = {"X-Telegram-Bot-Api-Secret-Token": "s3cret"}
        try:
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=web), base_url="http://t"
            ) as client:
                statuses = set()
                examples: list[object] = []

                # Hypothesis draws the bodies; they are then sent through the real ASGI app.
                @hyp_settings(
                    max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), database=None
                )
                @given(body=st.one_of(update_like, json_values, st.binary(max_size=200)))
                def collect(body: object) -> None:
                    examples.append(body)

                collect()
                for body in examples:
                    content = body if isinstance(body, bytes) else json.dumps(body).encode()
                    response = await client.post("/telegram/webhook", content=content, headers=good)
                    statuses.add(response.status_code)
                    assert response.status_code in (200, 400), (body, response.status_code)
            assert 400 in statuses
        finally:
            await channel.stop()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await app.close()
