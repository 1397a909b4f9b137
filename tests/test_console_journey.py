"""End to end in the real console (`python -m bot console`, one process per sitting): a
facilitator and two learners in different languages, on one database, through invite → a typed
"1" RSVP → a change of time → a cancellation; each person's transcript is checked."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import Settings
from bot.content.loader import load_content
from bot.content.models import ChoicesStep, EndStep, FreeTextStep, RouteStep, SayStep
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
    assert tr("rw", "Cancelled") in aline or "Byahagaritswe" in aline


def test_a_branching_exercise_in_kinyarwanda_ends_by_the_path_taken(tmp_path: Path) -> None:
    """Two learners in the real console take the harvest-money exercise in Kinyarwanda, one on
    its best choices and one on its poorest, typing the buttons' words: two paths, two endings."""
    env = os.environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'club.db'}"}
    settings = Settings()
    catalogs = Catalogs.load(settings.locales_dir)
    content, errors = load_content(settings.dialogs_dir, catalogs)
    dialog = content.get("couple_money")
    assert dialog is not None and errors == []

    def rw(step: str, field: str, source: str) -> str:
        return catalogs.gettext("rw", source, f"couple_money/{step}/{field}")

    def walk(best: bool) -> tuple[list[str], str, list[str]]:
        """What the learner types, the ending they must reach, and the steps on the way."""
        typed, seen, score = [], [], 0
        step = dialog.step(dialog.first_step)
        while not isinstance(step, EndStep):
            seen.append(step.id)
            if isinstance(step, SayStep):
                typed += ["1"] if step.pause else []
                step = dialog.step(step.next)
            elif isinstance(step, ChoicesStep):
                pick = (max if best else min)(step.choices, key=lambda c: c.score)
                typed.append(rw(step.id, f"choices.{pick.id}.label", pick.label))
                score += pick.score
                step = dialog.step(pick.next)
            elif isinstance(step, FreeTextStep):
                typed.append("Ndumva mpangayitse, nkeneye ko tuganira" if best else "Uhora ufata byose!")
                step = dialog.step(step.next)
            else:
                assert isinstance(step, RouteStep)
                step = dialog.step(step.pick(score))
        return typed, rw(step.id, "text", step.text), seen

    endings = []
    for user, best in (("ineza", True), ("gatete", False)):
        typed, ending, seen = walk(best)
        lines = ["muraho", "1", "3", "1", "1", rw("meta", "title", dialog.title), *typed]
        done = run_bot("console", "--user", user, env=env, stdin="".join(f"{line}\n" for line in lines))
        assert done.returncode == 0, done.stderr
        assert ending.split("\n")[0] in done.stdout, (user, done.stdout[-1500:])
        endings.append((ending, tuple(seen)))
    (best_end, best_path), (poor_end, poor_path) = endings
    assert best_end != poor_end and best_path != poor_path
