"""`python -m bot run`: one process with the web app (Starlette + uvicorn),
the configured channels and an outbox sender per channel."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.app import App
from bot.config import Settings
from bot.outbox import OutboxSender

log = logging.getLogger(__name__)

NO_CHANNEL_HELP = (
    "No channel is configured, so only the web server runs. To chat now, try `python -m bot console`. "
    "To connect Telegram, set TELEGRAM_BOT_TOKEN; for WhatsApp, set TWILIO_ACCOUNT_SID, "
    "TWILIO_AUTH_TOKEN, TWILIO_WHATSAPP_FROM and PUBLIC_BASE_URL (see README)."
)


def build_web(app: App, routes: list[Route] | None = None) -> Starlette:
    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "schema": await app.db.version()})

    return Starlette(routes=[Route("/healthz", healthz), *(routes or [])])


async def serve(settings: Settings) -> None:
    app = await App.create(settings)
    senders: dict[str, OutboxSender] = {}
    tasks: list[asyncio.Task[None]] = []
    try:
        if not senders:
            log.warning(NO_CHANNEL_HELP)
        app.engine.set_outbox_listener(
            lambda channel: senders[channel].wake() if channel in senders else None
        )
        tasks = [asyncio.create_task(s.run(), name=f"outbox-{c}") for c, s in senders.items()]
        web = build_web(app)
        server = uvicorn.Server(uvicorn.Config(web, host=settings.host, port=settings.port, log_level="info"))
        log.info("web server on http://%s:%d", settings.host, settings.port)
        await server.serve()
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await app.close()
