"""Telegram through python-telegram-bot 22: normalise updates in, render Outbound out.

No logic lives here: commands, keywords, buttons and stale taps are the engine's.
Rate limits and retries belong to our durable outbox sender (30 msg/s by default),
so PTB's AIORateLimiter is not used: two limiters would fight, and only the outbox
survives a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import sqlite3
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, PhotoSize, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import Application, ApplicationBuilder
from telegram.request import HTTPXRequest

from bot.app import App
from bot.channels.runtime import ChannelRuntime
from bot.config import ConfigError, Settings
from bot.core.engine import Engine
from bot.delivery.inbox import Inbox
from bot.delivery.outbox import Delivery, RateLimiter
from bot.i18n import LANGUAGES, N_, Catalogs, negotiate
from bot.logsafe import mask_secrets
from bot.messages import Inbound, Outbound
from bot.privacy import log_id
from bot.storage.media import MediaStore, file_id_for, is_media, keep_file_id

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
# channel_post and my_chat_member: so that the bot sees it was put in a channel or group, and leaves.
ALLOWED_UPDATES = ["message", "callback_query", "channel_post", "my_chat_member"]
PRIVATE_ONLY = N_(
    "I only talk in private chats, so that what you share stays between us. Write to me here: {link}"
)
MAX_BODY = 1_000_000  # a Telegram update is a few KB; anything larger is not from Telegram
COMMANDS = {
    "start": N_("Start or restart"),
    "menu": N_("Main menu"),
    "language": N_("Change language"),
    "progress": N_("My progress"),
    "help": N_("Help, and a person to talk to"),
    "stop": N_("Stop all messages from us"),
}


# Connections to the Bot API: the sender's 32 sends in flight, and room beside them for a tap's
# answer, "typing…" and the like, so that those never make a send wait for a connection.
POOL = 48


def build_application(settings: Settings, pool: int = POOL) -> Application:
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")

    def request() -> HTTPXRequest:
        # trust_env=False: a stray HTTPS_PROXY must not reroute the Bot API (or a test's loopback fake).
        return HTTPXRequest(connection_pool_size=pool, httpx_kwargs={"trust_env": False})

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .request(request())
        .get_updates_request(request())
    )
    # Our own inbox takes updates (webhook) and our own loop polls: PTB's Updater and
    # handlers would acknowledge an update before it is stored.
    return builder.updater(None).build()


# A quick exit erases the conversation up to the user's message and our few replies after it,
# and never more than this many messages.
ERASE_TAIL = 10
ERASE_MOST = 1000


def is_private(update: Update) -> bool:
    chat = update.effective_chat
    return chat is None or chat.type == ChatType.PRIVATE


def inbound_from(update: Update) -> Inbound | None:
    """Normalise a Message or CallbackQuery; None for anything else."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return None
    common = {
        "channel": CHANNEL,
        "address": str(chat.id),
        "external_id": str(update.update_id),
        "name": user.first_name,
        "language_code": user.language_code,
    }
    if update.callback_query is not None:
        keyboard = update.callback_query.message
        ref = str(keyboard.message_id) if keyboard is not None else None
        return Inbound(payload=update.callback_query.data or "", message_ref=ref, **common)
    message = update.message
    if message is None:
        return None
    text = message.text or message.caption
    media = bool(
        message.photo
        or message.document
        or message.voice
        or message.audio
        or message.video
        or message.sticker
        or message.video_note
        or message.location
        or message.contact
    )
    # Only a file_id (Telegram keeps the photo); the largest size is the last.
    photos = (message.photo[-1].file_id,) if message.photo else ()
    place = message.location
    # Coarsened here, before it is stored anywhere: about 1 km is enough to find an area.
    location = (round(place.latitude, 2), round(place.longitude, 2)) if place is not None else None
    return Inbound(
        text=text,
        media_count=int(media),
        media=photos,
        location=location,
        message_ref=str(message.message_id),
        **common,
    )


@dataclass
class TelegramChannel:
    settings: Settings
    engine: Engine
    application: Application
    webhook: bool
    inbox: Inbox
    poll_timeout: int = 10  # seconds a getUpdates long poll may wait; stopping waits for it too
    media: MediaStore = field(default_factory=lambda: MediaStore(Path("data/media")))
    # "typing…" only when a reply is slow to come: a fast reply makes it a wasted call.
    typing_after: float = 0.5
    ready: bool = False  # connected to the Bot API
    _awaiting: dict[str, float] = field(default_factory=dict)  # chat -> when its message came
    _left: set[int] = field(default_factory=set)  # group chats already told and left
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _connected: asyncio.Event = field(default_factory=asyncio.Event)

    channel = CHANNEL

    @classmethod
    def create(cls, settings: Settings, app: App) -> TelegramChannel:
        webhook = bool(settings.public_base_url)
        if webhook and not settings.telegram_webhook_secret:
            raise ConfigError(
                "PUBLIC_BASE_URL is set, so Telegram runs by webhook: set TELEGRAM_WEBHOOK_SECRET too"
            )
        mask_secrets(settings)  # the token is in every Bot API URL that httpx and PTB may log
        return cls(
            settings,
            app.engine,
            build_application(settings),
            webhook,
            app.inbox,
            media=MediaStore(settings.media_dir),
        )

    # -- inbound --------------------------------------------------------------

    async def _take(self, updates: list[Update]) -> None:
        """Commit the updates to the inbox (raises if the database cannot), then be polite.

        Only private chats reach the engine: in a group, what one member sends (or asks for,
        such as `mydata`) would be shown to all. A group or channel gets one pointer to a
        private chat, and the bot leaves it, keeping nothing about its members.
        """
        private = [u for u in updates if is_private(u)]
        for update in updates:
            if not is_private(update):
                self._spawn(self._leave(update))
        pairs = [(u, inbound_from(u)) for u in private]
        await self.inbox.accept(*(i for _, i in pairs if i is not None))
        for update, inbound in pairs:
            if inbound is not None:
                self._courtesy(update, inbound.address)

    async def _leave(self, update: Update) -> None:
        chat = update.effective_chat
        if chat is None or chat.id in self._left or not self.ready:
            return
        self._left.add(chat.id)
        user = update.effective_user
        language = negotiate(user.language_code if user else None)
        username = self.settings.telegram_bot_username or self.application.bot.username
        text = self.engine.catalogs.gettext(language, PRIVATE_ONLY).format(link=f"https://t.me/{username}")
        await _quietly(self.application.bot.send_message(chat.id, text))
        await _quietly(self.application.bot.leave_chat(chat.id))
        log.info("telegram: left a %s chat; the bot talks in private chats only", chat.type)

    def _courtesy(self, update: Update, chat: str) -> None:
        """Answer a tap and show "typing…" if the reply is slow; never in the way of the message."""
        query = update.callback_query
        if query is not None:
            # The tapped keyboard stays: taking it away cost one Bot API call per tap (the
            # bench: 0.51x the echo bot's throughput with it, 0.73x without), and counts
            # against the bot's Telegram limits. A tap on an old keyboard is recognised by
            # the engine (every prompt's buttons carry its sequence number), answered
            # "that button belongs to an earlier message", and never counted.
            self._spawn(_quietly(query.answer()))
        arrived = time.monotonic()
        self._awaiting[chat] = arrived
        self._spawn(self._typing(chat, arrived))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)  # held, or the loop may collect it mid-sleep
        task.add_done_callback(self._tasks.discard)

    async def _typing(self, chat: str, arrived: float) -> None:
        """Show "typing…" if nothing has been sent to the chat since its message came."""
        try:
            await asyncio.sleep(self.typing_after)
            if self._awaiting.get(chat) == arrived and self.ready:
                await _quietly(self.application.bot.send_chat_action(int(chat), ChatAction.TYPING))
        finally:
            if self._awaiting.get(chat) == arrived:
                del self._awaiting[chat]

    async def webhook_route(self, request: Request) -> Response:
        secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        expected = self.settings.telegram_webhook_secret or ""
        if not expected or not hmac.compare_digest(secret.encode(), expected.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        body = await request.body()
        if len(body) > MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, self.application.bot) if isinstance(data, dict) else None
        except Exception:  # PTB's parser raises many kinds on malformed input: all are a bad request
            update = None
        if update is None:
            return PlainTextResponse("bad request", status_code=400)
        try:
            await self._take([update])
        except sqlite3.Error as exc:
            # Not stored, so not acknowledged: Telegram delivers it again later.
            log.error("telegram: could not store an update, answering 503: %s", exc)
            return PlainTextResponse("unavailable", status_code=503)
        return PlainTextResponse("ok")

    async def _poll(self) -> None:
        """Long-poll getUpdates. The offset moves past updates only once they are committed,
        so an update is confirmed to Telegram only when it is safe in the inbox."""
        offset: int | None = None
        pause = 1.0
        while True:
            try:
                updates = await self.application.bot.get_updates(
                    offset=offset, timeout=self.poll_timeout, allowed_updates=ALLOWED_UPDATES
                )
                await self._take(list(updates))
            except (NetworkError, sqlite3.Error) as exc:
                log.warning("telegram: polling paused %.0fs: %s", pause, exc)
                await asyncio.sleep(pause)
                pause = min(60.0, pause * 2)
                continue
            pause = 1.0
            if updates:
                offset = updates[-1].update_id + 1

    # -- lifecycle --------------------------------------------------------------

    async def polling(self) -> None:
        """The long poll, as a role only one worker holds (a second getUpdates would get
        "Conflict" from Telegram): it starts once this worker's start() has connected."""
        await self._connected.wait()
        await self._poll()

    async def start(self, poll: bool = True) -> None:
        """Connect to the Bot API; raises if it cannot (the process retries, other channels go on).
        Without `poll`, the long poll is left to `polling`, run by whichever worker holds it."""
        app = self.application
        await app.initialize()
        await self._set_commands(self.engine.catalogs)
        if self.webhook:
            await app.bot.set_webhook(
                url=f"{self.settings.public_base_url}{WEBHOOK_PATH}",
                secret_token=self.settings.telegram_webhook_secret,
                allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await app.bot.delete_webhook()
            if poll:
                self._spawn(self._poll())
        self.ready = True
        self._connected.set()
        log.info("telegram: running by %s", "webhook" if self.webhook else "polling")

    async def stop(self) -> None:
        self.ready = False
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(TelegramError):
            await self.application.shutdown()  # a no-op when start() never got through

    async def _set_commands(self, catalogs: Catalogs) -> None:
        for lang in LANGUAGES:
            commands = [BotCommand(name, catalogs.gettext(lang, text)) for name, text in COMMANDS.items()]
            await self.application.bot.set_my_commands(commands, language_code=lang)
        english = [BotCommand(name, text) for name, text in COMMANDS.items()]
        await self.application.bot.set_my_commands(english)

    # -- outbound (the Transport protocol) ----------------------------------------

    async def send(self, message: Outbound) -> Delivery:
        if not self.ready:
            return Delivery("retry", error="telegram is not connected yet", outage=True)
        bot = self.application.bot
        if message.erase:
            return await self._erase(int(message.address), message.erase)
        markup = None
        if message.choices:
            for choice in message.choices:
                assert len(choice.id.encode()) <= 64, "callback_data is limited to 64 bytes"
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(c.label, callback_data=c.id)] for c in message.choices]
            )
        text = message.text
        if message.attachment:
            name, body = message.attachment
            text = f"{text}\n\n{name}:\n{body}"[:4096]
        try:
            # Plain text, no parse mode: nothing a learner or an author writes can break the markup.
            if message.image:
                local = self.media.path(message.image) if is_media(message.image) else None
                photo = local.read_bytes() if local else await self._telegram_copy(message.image)
                sent = await bot.send_photo(
                    int(message.address), photo=photo, caption=text[:1024], reply_markup=markup
                )
                if local is not None:
                    await self._keep_telegram_copy(message.image, sent.photo)
            else:
                sent = await bot.send_message(int(message.address), text[:4096], reply_markup=markup)
        except Forbidden as exc:
            return Delivery("unreachable", error=f"Forbidden: {exc.message}")
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return Delivery("retry", error="429 Too Many Requests", retry_after=seconds)
        except BadRequest as exc:
            return Delivery("failed", error=f"BadRequest: {exc.message}")
        except NetworkError as exc:  # includes TimedOut and Telegram's 5xx answers
            if _pool_full(exc):  # our own connections are all busy: Telegram is not down
                return Delivery("retry", error=f"{type(exc).__name__}: {exc.message}")
            return Delivery("retry", error=f"{type(exc).__name__}: {exc.message}", outage=True)
        except TelegramError as exc:
            return Delivery("failed", error=f"{type(exc).__name__}: {exc.message}")
        self._awaiting.pop(message.address, None)
        log.debug("sent to %s", log_id(CHANNEL, message.address))
        return Delivery.sent(str(sent.message_id))

    async def _erase(self, chat_id: int, span: tuple[str, str]) -> Delivery:
        """Delete a range of the chat's messages, ours and the user's (a reporter's quick exit).
        Ids in a private chat are one sequence for both sides; the few after `last` are our
        replies to it. Telegram skips what it cannot delete (gone, or older than 48 hours)."""
        first, last = int(span[0]), int(span[1]) + ERASE_TAIL
        ids = list(range(max(1, first), last + 1))[-ERASE_MOST:]
        try:
            for start in range(0, len(ids), 100):  # deleteMessages takes up to 100 ids
                await self.application.bot.delete_messages(chat_id, ids[start : start + 100])
        except RetryAfter as exc:
            wait = exc.retry_after
            seconds = wait.total_seconds() if isinstance(wait, timedelta) else float(wait)
            return Delivery("retry", error="429 Too Many Requests", retry_after=seconds)
        except NetworkError as exc:
            return Delivery("retry", error=f"{type(exc).__name__}: {exc.message}", outage=True)
        except TelegramError as exc:  # nothing left to delete is not worth a retry
            log.info("telegram: erasing a conversation partly failed: %s", exc.message)
        return Delivery.sent(None)

    async def _telegram_copy(self, image: str) -> str:
        """A picture of ours that Telegram already has (our file is gone): its file_id."""
        if not is_media(image):
            return image  # a URL or a file_id
        return await file_id_for(self.engine.db.conn, image) or image

    async def _keep_telegram_copy(self, ref: str, sizes: tuple[PhotoSize, ...]) -> None:
        """Telegram has the picture (a certificate, with the learner's name): keep its file_id to
        send it again by, and delete our file."""
        if not sizes:
            return  # no id to send it again by: the file stays, until the learner's data goes
        try:
            async with self.engine.db.transaction() as conn:
                await keep_file_id(conn, ref, sizes[-1].file_id)
            self.media.delete(ref)
        except (sqlite3.Error, OSError) as exc:  # it was sent: a failure here must not send it again
            log.warning("telegram: a certificate's file_id was not kept, or its file not deleted: %s", exc)

    def runtime(self) -> ChannelRuntime:
        return ChannelRuntime(
            name=CHANNEL,
            transport=self,
            routes=[Route(WEBHOOK_PATH, self.webhook_route, methods=["POST"])] if self.webhook else [],
            start=lambda: self.start(poll=False),
            stop=self.stop,
            poll=None if self.webhook else self.polling,
            max_in_flight=32,
            rate=RateLimiter(self.settings.telegram_mps),
        )


def _pool_full(exc: NetworkError) -> bool:
    """PTB's TimedOut for a request that never left: no free connection in our own pool."""
    return isinstance(exc, TimedOut) and exc.message.startswith("Pool timeout")


async def _quietly(awaitable) -> None:  # type: ignore[no-untyped-def]
    """Answering a tap or showing "typing" is a courtesy: its failure must not lose the message."""
    try:
        await awaitable
    except TelegramError as exc:
        log.debug("telegram courtesy call failed: %s", exc)
