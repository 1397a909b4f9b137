"""Telegram through python-telegram-bot 22: normalise updates in, render Outbound out.

No logic lives here: commands, keywords, buttons and stale taps are the engine's.
Rate limits and retries belong to our durable outbox sender (30 msg/s by default),
so PTB's AIORateLimiter is not used: two limiters would fight, and only the outbox
survives a restart.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import HTTPXRequest

from bot.config import ConfigError, Settings
from bot.engine.core import Engine
from bot.engine.messages import Inbound, Outbound
from bot.i18n import LANGUAGES, N_, Catalogs
from bot.media import MediaStore, is_media
from bot.outbox import Delivery, RateLimiter
from bot.privacy import log_id

log = logging.getLogger(__name__)

CHANNEL = "telegram"
WEBHOOK_PATH = "/telegram/webhook"
ALLOWED_UPDATES = ["message", "callback_query"]
MAX_BODY = 1_000_000  # a Telegram update is a few KB; anything larger is not from Telegram
COMMANDS = {
    "start": N_("Start or restart"),
    "menu": N_("Main menu"),
    "language": N_("Change language"),
    "progress": N_("My progress"),
    "help": N_("Help, and a person to talk to"),
    "stop": N_("Stop invitations and reminders"),
}


def build_application(settings: Settings, *, webhook: bool) -> Application:
    if not settings.telegram_bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")

    def request() -> HTTPXRequest:
        # trust_env=False: a stray HTTPS_PROXY must not reroute the Bot API (or a test's loopback fake).
        return HTTPXRequest(connection_pool_size=32, httpx_kwargs={"trust_env": False})

    builder = (
        ApplicationBuilder()
        .token(settings.telegram_bot_token)
        .base_url(f"{settings.telegram_api_url}/bot")
        .base_file_url(f"{settings.telegram_api_url}/file/bot")
        .request(request())
        .get_updates_request(request())
        .concurrent_updates(True)  # the engine orders each user's updates itself
    )
    if webhook:
        builder = builder.updater(None)
    return builder.build()


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
        return Inbound(payload=update.callback_query.data or "", **common)
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
    return Inbound(text=text, media_count=int(media), **common)


@dataclass
class TelegramChannel:
    settings: Settings
    engine: Engine
    application: Application
    webhook: bool
    poll_timeout: int = 10  # seconds a getUpdates long poll may wait; stopping waits for it too
    media: MediaStore = field(default_factory=lambda: MediaStore(Path("data/media")))
    # "typing…" only when a reply is slow to come: a fast reply makes it a wasted call.
    typing_after: float = 0.5
    _awaiting: dict[str, float] = field(default_factory=dict)  # chat -> when its message came
    _typing_tasks: set[asyncio.Task[None]] = field(default_factory=set)

    channel = CHANNEL

    @classmethod
    def create(cls, settings: Settings, engine: Engine) -> TelegramChannel:
        webhook = bool(settings.public_base_url)
        if webhook and not settings.telegram_webhook_secret:
            raise ConfigError(
                "PUBLIC_BASE_URL is set, so Telegram runs by webhook: set TELEGRAM_WEBHOOK_SECRET too"
            )
        channel = cls(
            settings,
            engine,
            build_application(settings, webhook=webhook),
            webhook,
            media=MediaStore(settings.media_dir),
        )
        channel.application.add_handler(MessageHandler(filters.ALL, channel._on_update))
        channel.application.add_handler(CallbackQueryHandler(channel._on_update))
        channel.application.add_error_handler(channel._on_error)
        return channel

    # -- inbound --------------------------------------------------------------

    async def _on_update(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        inbound = inbound_from(update)
        if inbound is None:
            return
        query = update.callback_query
        if query is not None:
            await _quietly(query.answer())
            # The keyboard goes once tapped, so a second tap rarely happens; when it
            # does, the engine recognises the old prompt and does not count it.
            await _quietly(query.edit_message_reply_markup(reply_markup=None))
        arrived = time.monotonic()
        self._awaiting[inbound.address] = arrived
        typing = asyncio.create_task(self._typing(inbound.address, arrived))
        self._typing_tasks.add(typing)  # held, or the loop may collect it mid-sleep
        typing.add_done_callback(self._typing_tasks.discard)
        await self.engine.handle(inbound)

    async def _typing(self, chat: str, arrived: float) -> None:
        """Show "typing…" if nothing has been sent to the chat since its message came."""
        try:
            await asyncio.sleep(self.typing_after)
            if self._awaiting.get(chat) == arrived:
                await _quietly(self.application.bot.send_chat_action(int(chat), ChatAction.TYPING))
        finally:
            if self._awaiting.get(chat) == arrived:
                del self._awaiting[chat]

    async def _on_error(self, update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
        # One bad update never blocks the others: log it (without content) and go on.
        log.error("telegram update failed: %s", context.error, exc_info=context.error)

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
        await self.application.update_queue.put(update)
        return PlainTextResponse("ok")

    # -- lifecycle --------------------------------------------------------------

    async def start(self) -> None:
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
            assert app.updater is not None
            await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=self.poll_timeout)
        await app.start()
        log.info("telegram: running by %s", "webhook" if self.webhook else "polling")

    async def stop(self) -> None:
        for task in list(self._typing_tasks):
            task.cancel()
        app = self.application
        if app.updater is not None and app.updater.running:
            await app.updater.stop()
        if app.running:
            await app.stop()
        await app.shutdown()

    async def _set_commands(self, catalogs: Catalogs) -> None:
        for lang in LANGUAGES:
            commands = [BotCommand(name, catalogs.gettext(lang, text)) for name, text in COMMANDS.items()]
            await self.application.bot.set_my_commands(commands, language_code=lang)
        english = [BotCommand(name, text) for name, text in COMMANDS.items()]
        await self.application.bot.set_my_commands(english)

    # -- outbound (the Transport protocol) ----------------------------------------

    async def send(self, message: Outbound) -> Delivery:
        bot = self.application.bot
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
                photo = local.read_bytes() if local else message.image
                sent = await bot.send_photo(
                    int(message.address), photo=photo, caption=text[:1024], reply_markup=markup
                )
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
        except NetworkError as exc:  # includes TimedOut
            return Delivery("retry", error=f"{type(exc).__name__}: {exc.message}")
        except TelegramError as exc:
            return Delivery("failed", error=f"{type(exc).__name__}: {exc.message}")
        self._awaiting.pop(message.address, None)
        log.debug("sent to %s", log_id(CHANNEL, message.address))
        return Delivery.sent(str(sent.message_id))

    def runtime(self):  # -> ChannelRuntime (imported lazily to avoid a cycle)
        from bot.server import ChannelRuntime

        return ChannelRuntime(
            name=CHANNEL,
            transport=self,
            routes=[Route(WEBHOOK_PATH, self.webhook_route, methods=["POST"])] if self.webhook else [],
            start=self.start,
            stop=self.stop,
            max_in_flight=32,
            rate=RateLimiter(self.settings.telegram_mps),
        )


async def _quietly(awaitable) -> None:  # type: ignore[no-untyped-def]
    """Answering a tap or showing "typing" is a courtesy: its failure must not lose the message."""
    try:
        await awaitable
    except TelegramError as exc:
        log.debug("telegram courtesy call failed: %s", exc)
