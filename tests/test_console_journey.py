"""End to end in the real console (`python -m bot console`, one process per sitting): a
facilitator and two learners in different languages, on one database, through invite → a typed
"1" RSVP → a change of time → a cancellation; each person's transcript is checked."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.i18n import Catalogs
from bot.messages import utcnow
from tests.run_bot import run_bot


def test_a_facilitator_and_two_learners_in_the_console(tmp_path: Path) -> None:
    env = os.environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'club.db'}"}
    for name in ("TELEGRAM_BOT_USERNAME", "TWILIO_WHATSAPP_FROM", "REPORTS_OPEN"):
        env.pop(name, None)
    tr = Catalogs.load(Settings().locales_dir).gettext

    def bot(*args: str) -> str:
        done = run_bot(*args, env=env)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def console(user: str, *lines: str) -> str:
        done = run_bot("console", "--user", user, env=env, stdin="".join(f"{line}\n" for line in lines))
        assert done.returncode == 0, done.stderr
        return done.stdout

    code = (
        bot("clubs", "create", "--name", "Huye Peace Club", "--district", "Huye")
        .split("join code ")[1]
        .split()[0]
    )
    console("aline", "muraho", "1", "3", "1", f"injira {code}")  # Kinyarwanda, 18–24, agrees, joins
    console("benoit", "bonjour", "2", "3", "1", f"rejoindre {code}")  # French
    console("keza", "hello", "3", "3", "1")
    granted = bot("users", "grant", "facilitator", "console:keza", "--club", code)
    assert granted.startswith("console:keza is now facilitator of Huye Peace Club")  # as typed, no pseudonym

    kigali = ZoneInfo("Africa/Kigali")
    first = (utcnow() + timedelta(days=5)).astimezone(kigali).replace(hour=15, minute=0)
    later = first + timedelta(days=1, hours=1)
    keza = console(
        "keza",
        "new session",
        first.strftime("%Y-%m-%d %H:%M"),
        "Cell office",
        "Listening without judging",
        "1",
    )
    assert "Invitations are on their way to 3 member(s)" in keza

    # Each learner opens the console: the invitation waiting for them comes first, and a typed
    # "1" answers it (not the menu shown before it).
    aline = console("aline", "1")
    assert aline.index("Listening without judging") < aline.index("you> 1")
    assert tr("rw", "Yes") in aline and "Huye Peace Club" in aline
    assert "Ku wa " in aline and "saa 15:00" in aline  # the day as Kinyarwanda writes it
    benoit = console("benoit", "1")
    assert benoit.index("Listening without judging") < benoit.index("you> 1")
    assert "à 15:00" in benoit and "Merci" in benoit

    keza = console("keza", "sessions")
    assert "yes 2" in keza
    keza = console("keza", "sessions", "1", "2", "1", later.strftime("%Y-%m-%d %H:%M"))
    aline = console("aline")
    assert "saa 16:00" in aline  # the change, in her language
    keza = console("keza", "sessions", "1", "3", "1")
    assert "Cancelled. 3 invited member(s) will be told." in keza  # Keza is a member too
    keza = console("keza", "sessions", "1", "3", "1")  # a second cancel tells nobody again
    benoit = console("benoit")
    assert "16:00" in benoit and "Annulé" in benoit
    assert benoit.count("Annulé") == 1
    aline = console("aline")
    assert tr("rw", "Cancelled") in aline or "Byasubitswe" in aline
