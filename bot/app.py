"""Assemble the bot from settings: catalogs, content, database, engine."""

from __future__ import annotations

import secrets
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
from bot.storage.db import Database
from bot.storage.media import MediaStore


def load_checked_content(settings: Settings) -> tuple[Content, Catalogs]:
    """The bot refuses to start on invalid content: this raises with every error."""
    catalogs = Catalogs.load(settings.locales_dir)
    content, errors = load_content(settings.dialogs_dir, catalogs)
    if errors:
        raise InvalidContent(errors)
    return content, catalogs


@dataclass
class App:
    settings: Settings
    db: Database
    engine: Engine
    inbox: Inbox

    @classmethod
    async def create(cls, settings: Settings) -> App:
        if not settings.dashboard_secret:
            # One secret for every dashboard page of this process (`serve` warns that logins will
            # not survive a restart; the console and the command line have no logins).
            settings = replace(settings, dashboard_secret=secrets.token_hex(32))
        content, catalogs = load_checked_content(settings)
        try:
            safeguarding = Safeguarding.load(settings.safeguarding_file, settings.safeguarding_officers)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"safeguarding: {exc}") from exc
        early_warning = EarlyWarning.load(settings.reports_file, settings.areas_dir, settings.reports_open)
        db = await Database.open(settings.database_url)
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
