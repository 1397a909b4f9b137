"""The domains the bot is made of: each registers its chat commands, screens and guards, and
its command-line commands, here.

Adding a domain is a folder with a `register(router)` (and a `register_cli(cli)`, web routes)
and a line below.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from starlette.routing import BaseRoute

from bot import care, clubs, learning, reports, stats
from bot.care import cli as care_cli
from bot.clubs import cli as clubs_cli
from bot.clubs.model import Renderer
from bot.clubs.scheduler import Scheduler
from bot.commandline import CommandLine
from bot.config import Settings
from bot.content.loader import Content
from bot.core.router import Router
from bot.delivery import cli as delivery_cli
from bot.i18n import Catalogs
from bot.learning.recall import RecallSender
from bot.reports import cli as reports_cli
from bot.stats import cli as stats_cli
from bot.storage.db import Database

DOMAINS: tuple[Callable[[Router], None], ...] = (
    care.register,
    learning.register,
    clubs.register,
    stats.register,
    reports.register,
)

# Their commands on the command line (`python -m bot --help` lists them all).
COMMAND_LINES: tuple[Callable[[CommandLine], None], ...] = (
    care_cli.register_cli,
    delivery_cli.register_cli,
    clubs_cli.register_cli,
    stats_cli.register_cli,
    reports_cli.register_cli,
)

# Their pages in the web app.
# Each gets the database, the settings, and a way to wake a channel's sender after queueing.
WEB_ROUTES: tuple[Callable[[Database, Settings, Callable[[str], None]], list[BaseRoute]], ...] = (
    stats.web_routes,
    reports.web_routes,
)


# Their work in the background of `python -m bot run`: each gets the database, the content, the
# catalogs, the settings and a way to wake every channel's sender after queueing, and returns
# the coroutine to run until the process stops.
Background = Callable[[Database, Content, Catalogs, Settings, Callable[[], None]], Coroutine[Any, Any, None]]


def _club_reminders(
    db: Database, content: Content, catalogs: Catalogs, settings: Settings, wake: Callable[[], None]
) -> Coroutine[Any, Any, None]:
    return Scheduler(db, Renderer(catalogs, settings.timezone), on_outbox=wake).run()


def _recall(
    db: Database, content: Content, catalogs: Catalogs, settings: Settings, wake: Callable[[], None]
) -> Coroutine[Any, Any, None]:
    return RecallSender(db, content, catalogs, timezone=settings.timezone, on_outbox=wake).run()


BACKGROUND: tuple[tuple[str, Background], ...] = (
    ("scheduler", _club_reminders),
    ("recall", _recall),
)


def build_router(domains: tuple[Callable[[Router], None], ...] = DOMAINS) -> Router:
    router = Router()
    for register in domains:
        register(router)
    return router
