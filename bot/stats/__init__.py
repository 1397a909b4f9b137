"""Stats: every engagement metric, demo data, the command line, the chat summary and the dashboard."""

from __future__ import annotations

from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.stats import chat


def register(router: Router) -> None:
    @router.command("stats", ("stats", "statistics", "imibare", "statistiques"))
    async def stats_command(turn: Turn, command: Command) -> None:
        await chat.stats_summary(turn)
