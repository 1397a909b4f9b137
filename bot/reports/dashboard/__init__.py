"""The committee's web pages for early warning, under /dashboard/reports (see `web`)."""

from __future__ import annotations

from collections.abc import Callable

from starlette.routing import BaseRoute

from bot.config import Settings
from bot.storage.db import Database


def routes(db: Database, settings: Settings, outbox_changed: Callable[[str], None]) -> list[BaseRoute]:
    """The review queue, a report with its review actions, and the overview."""
    from bot.reports.dashboard.web import ReportsPages

    return ReportsPages.create(db, settings, outbox_changed).routes()
