"""Stats: every engagement metric, demo data, the command line, the chat summary and the dashboard."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute

from bot.config import Settings
from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.stats import chat
from bot.stats.dashboard import unclear
from bot.stats.dashboard.web import Dashboard
from bot.storage.db import Database


def register(router: Router) -> None:
    @router.command("stats", ("stats", "statistics", "imibare", "statistiques"))
    async def stats_command(turn: Turn, command: Command) -> None:
        await chat.stats_summary(turn)


def web_routes(db: Database, settings: Settings, outbox_changed: Callable[[str], None]) -> list[BaseRoute]:
    """The dashboard's pages, its login and its CSV download."""
    return unclear.with_page(Dashboard.create(db, settings))
