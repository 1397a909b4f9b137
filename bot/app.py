"""Assemble the bot from settings: catalogs, content, database, engine."""

from __future__ import annotations

import logging
import secrets
import sqlite3
from dataclasses import dataclass, replace
from datetime import timedelta

from bot.care.safeguarding import Safeguarding
from bot.clubs.model import SessionReminders
from bot.config import ConfigError, Settings
from bot.content.loader import Content, InvalidContent, load_content
from bot.core.engine import Engine
from bot.core.turn import Services
from bot.delivery.inbox import Inbox
from bot.domains import build_router
from bot.i18n import Catalogs
from bot.reports.config import EarlyWarning
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.media import MediaStore

log = logging.getLogger(__name__)


def load_checked_content(settings: Settings) -> tuple[Content, Catalogs]:
    """The bot refuses to start on invalid content: this raises with every error."""
    catalogs = Catalogs.load(settings.locales_dir)
    content, errors = load_content(settings.dialogs_dir, catalogs)
    if errors:
        raise InvalidContent(errors)
    return content, catalogs


async def _dashboard_secret(db: Database) -> str:
    """The key that signs dashboard sessions when DASHBOARD_SECRET is not set: one kept in the
    database, so that a login holds on every worker and across restarts. If the database
    cannot take it now (a full disk), one for this process, and logins end with it."""
    try:
        async with db.exclusive() as conn:
            return await repo.in_thread(conn, repo.shared_secret, "dashboard")
    except sqlite3.Error as exc:
        log.warning("dashboard sessions are signed with a key for this process only: %s", exc)
        return secrets.token_hex(32)


@dataclass
class App:
    settings: Settings
    db: Database
    engine: Engine
    inbox: Inbox

    @classmethod
    async def create(cls, settings: Settings) -> App:
        content, catalogs = load_checked_content(settings)
        try:
            safeguarding = Safeguarding.load(settings.safeguarding_file, settings.safeguarding_officers)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"safeguarding: {exc}") from exc
        early_warning = EarlyWarning.load(settings.reports_file, settings.areas_dir, settings.reports_open)
        db = await Database.open(settings.database_url)
        if not settings.dashboard_secret:
            settings = replace(settings, dashboard_secret=await _dashboard_secret(db))
        engine = Engine(
            db,
            content,
            catalogs,
            build_router(),
            timezone=settings.timezone,
            max_inbound_chars=settings.max_inbound_chars,
            services=Services(
                safeguarding,
                MediaStore(settings.media_dir),
                SessionReminders(tuple(timedelta(hours=h) for h in settings.session_reminders)),
                early_warning,
            ),
        )
        return cls(settings, db, engine, Inbox(db, engine.handle))

    async def close(self) -> None:
        await self.db.close()
