"""`python -m bot run`: one process with the web app (Starlette + uvicorn),
the configured channels and an outbox sender per channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta
from functools import partial

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from bot.app import App
from bot.channels.runtime import ChannelRuntime
from bot.config import Settings
from bot.delivery.outbox import OutboxSender
from bot.domains import BACKGROUND, WEB_ROUTES
from bot.logsafe import mask_secrets
from bot.storage.maintenance import Maintenance
from bot.storage.media import MediaStore
from bot.storage.roles import Role, Roles
from bot.web.health import Health

log = logging.getLogger(__name__)

NO_CHANNEL_HELP = (
    "No channel is configured, so only the web server runs. To chat now, try `python -m bot console`. "
    "To connect Telegram, set TELEGRAM_BOT_TOKEN; for WhatsApp, set TWILIO_ACCOUNT_SID, "
    "TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM and PUBLIC_BASE_URL (see README)."
)


def configured_channels(settings: Settings, app: App) -> list[ChannelRuntime]:
    """Each channel whose settings are present. Adapters are imported only when used."""
    channels: list[ChannelRuntime] = []
    if settings.telegram_bot_token:
        from bot.channels.telegram import TelegramChannel

        channels.append(TelegramChannel.create(settings, app).runtime())
    if settings.twilio_account_sid or settings.twilio_auth_token:
        from bot.channels.whatsapp import WhatsAppChannel

        channels.append(WhatsAppChannel.create(settings, app).runtime())
    return channels


def build_web(
    app: App, channels: list[ChannelRuntime] | None = None, health: Health | None = None
) -> Starlette:
    health = health or Health(app.db)

    async def healthz(request: Request) -> JSONResponse:
        healthy, report = await health.report()
        return JSONResponse(report, status_code=200 if healthy else 503)

    media = MediaStore(app.settings.media_dir)
    no_store = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex"}

    async def media_file(request: Request) -> Response:
        # Certificates (they carry a name) for channels that fetch by URL (WhatsApp): only through a
        # signed link that has not expired, and for nobody to keep a copy of on the way.
        query = request.query_params
        path = media.verified(request.path_params["name"], query.get("exp"), query.get("sig"))
        if path is None:  # unknown, unsigned, tampered with, expired or already delivered: all alike
            return PlainTextResponse("not found", status_code=404, headers=no_store)
        return FileResponse(path, media_type="image/png", headers=no_store)

    routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/media/{name}", media_file)]
    for domain_routes in WEB_ROUTES:
        routes += domain_routes(app.db, app.settings, app.engine.notify_outbox)
    for channel in channels or []:
        routes += channel.routes
    return Starlette(routes=routes)


def make_senders(app: App, channels: list[ChannelRuntime]) -> dict[str, OutboxSender]:
    senders = {
        c.name: OutboxSender(
            app.db,
            c.transport,
            max_in_flight=c.max_in_flight,
            rate=c.rate,
            retry_for=timedelta(hours=app.settings.outbox_retry_hours),
            on_enqueue=lambda channel: wake(channel),
        )
        for c in channels
    }

    def wake(name: str) -> None:
        for channel, sender in senders.items():
            if name in (channel, "*"):
                sender.wake()

    app.engine.set_outbox_listener(wake)
    return senders


async def keep_started(channel: ChannelRuntime, health: Health) -> None:
    """Connect a channel, and if it cannot, say why and try again: the rest keeps serving."""
    pause = 1.0
    while True:
        try:
            if channel.start:
                await channel.start()
        except Exception as exc:
            health.channels[channel.name] = f"down: {type(exc).__name__}: {exc}"[:200]
            log.warning("%s could not start (%s); trying again in %.0fs", channel.name, exc, pause)
            await asyncio.sleep(pause)
            pause = min(60.0, pause * 2)
            continue
        health.channels[channel.name] = "up"
        return


def _ended(task: asyncio.Task[object], server: uvicorn.Server, ended: list[str]) -> None:
    """A background task (a sender, the inbox, a scheduler) should run until it is cancelled.

    If one ends anyway, the process stops, so its supervisor starts it again, rather than
    serving on without it: a sender that ended silently would leave every reply queued.
    """
    if task.cancelled() or server.should_exit:
        return
    exc = task.exception()
    if exc is None and task.get_name().startswith("start-"):
        return  # a channel that has connected
    log.critical(
        "%s ended: %r; stopping so that the process is started again", task.get_name(), exc, exc_info=exc
    )
    ended.append(task.get_name())
    server.should_exit = True


def worker_roles(
    app: App,
    settings: Settings,
    channels: list[ChannelRuntime],
    senders: dict[str, OutboxSender],
) -> list[Role]:
    """What only one worker does at a time: each channel's sender (so its rate limit holds for
    the whole bot), Telegram's long poll, club reminders, spaced recall, and maintenance."""
    roles = [Role(f"sender:{name}", sender.run, settle=1.0) for name, sender in senders.items()]
    roles += [Role(f"poller:{c.name}", c.poll) for c in channels if c.poll is not None]
    wake = partial(app.engine.notify_outbox, "*")  # what they queue may be for any channel
    for name, background in BACKGROUND:  # club reminders, spaced recall
        roles.append(
            Role(name, partial(background, app.db, app.engine.content, app.engine.catalogs, settings, wake))
        )
    # WAL checkpoints when idle, and pruning of finished outbox rows and seen ids.
    roles.append(Role("maintenance", Maintenance(app.db, settings).run))
    return roles


async def serve(settings: Settings) -> None:
    mask_secrets(settings)  # also when serve() is started by something other than the CLI
    app = await App.create(settings)
    channels = configured_channels(settings, app)
    if not channels:
        log.warning(NO_CHANNEL_HELP)
    senders = make_senders(app, channels)
    roles = Roles(app.db, worker_roles(app, settings, channels, senders))
    health = Health(app.db, {c.name: "starting" for c in channels}, senders, roles)
    # Every worker takes messages in (its inbox claims rows per user) and serves the web;
    # what must run once across workers is a role (bot/storage/roles.py).
    tasks = [asyncio.create_task(app.inbox.run(), name="inbox")]
    tasks.append(asyncio.create_task(roles.run(), name="roles"))
    if app.db.several_workers:
        # A message queued by another worker wakes this one's sender (if it holds the role).
        from bot.storage.postgres import listen

        heard = app.engine.notify_outbox
        listening = listen(app.db.url, "clubspeak_outbox", heard, app.db.worker)  # type: ignore[attr-defined]
        tasks.append(asyncio.create_task(listening, name="outbox-listener"))
    tasks += [asyncio.create_task(keep_started(c, health), name=f"start-{c.name}") for c in channels]
    try:
        server = uvicorn.Server(
            uvicorn.Config(
                build_web(app, channels, health),
                host=settings.host,
                port=settings.port,
                log_level="info",
                # uvicorn would believe X-Forwarded-For from 127.0.0.1; only listed proxies are.
                forwarded_allow_ips=list(settings.forwarded_allow_ips),
            )
        )
        log.info("web server on http://%s:%d", settings.host, settings.port)
        ended: list[str] = []
        for task in tasks:
            task.add_done_callback(lambda t: _ended(t, server, ended))
        await server.serve()
        if ended:
            raise SystemExit(f"stopped: {', '.join(ended)} ended unexpectedly (see the log)")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):  # logged by _ended
                await task
        for channel in channels:
            if channel.stop:
                with contextlib.suppress(Exception):
                    await channel.stop()
        await app.close()
