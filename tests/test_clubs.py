"""Clubs, sessions, invitations, RSVP, reminders and roles, on a real database with an injected clock."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.authz import Action, Role, allowed
from bot.clubs import model as clubs
from bot.clubs.scheduler import Scheduler
from bot.messages import BULK, utcnow
from bot.storage import repo
from tests.conftest import Chat


async def make_club(app: App, name: str = "Huye Peace Club") -> clubs.Club:
    async with app.db.transaction() as conn:
        return await clubs.create_club(conn, name, "Huye", "rw", utcnow())


async def member(app: App, club: clubs.Club, address: str, language: int) -> Chat:
    chat = Chat(app, address=address)
    await chat.onboard(language=language)
    await chat.send(f"join {club.code}")
    return chat


async def outbox_for(app: App, address: str) -> list[dict]:
    async with app.db.conn.execute(
        "SELECT payload, priority FROM outbox WHERE address = ? ORDER BY id", (address,)
    ) as cur:
        return [json.loads(r[0]) | {"priority": r[1]} for r in await cur.fetchall()]


async def plan(app: App, club: clubs.Club, starts_at: datetime) -> clubs.Session:
    async with app.db.transaction() as conn:
        session_id = await clubs.create_session(
            conn, club, starts_at, "Huye sector hall", "Listening", None, utcnow()
        )
        session = await clubs.get_session(conn, session_id)
    assert session is not None
    return session


async def invite(app: App, session: clubs.Session, at: datetime) -> int:
    render = clubs.Renderer(app.engine.catalogs)
    async with app.db.exclusive() as conn:
        return await repo.in_thread(conn, clubs.invite, session, render, at)


async def test_joining_by_code_keyword_or_deep_link_and_leaving(app: App) -> None:
    club = await make_club(app)
    tr = app.engine.catalogs.gettext
    amina = Chat(app, address="amina")
    await amina.onboard(language=2)
    await amina.send(f"rejoindre {club.code.lower()}")
    assert "Bienvenue dans Huye Peace Club (Huye)" in amina.texts
    await amina.send(f"join {club.code}")
    assert tr("fr", "You are already a member of {club}.").format(club=club.name) in amina.texts
    # A new learner arriving by the Telegram deep link joins, then chooses a language.
    newcomer = Chat(app, address="newcomer", channel="telegram")
    await newcomer.send(f"/start club_{club.code}")
    assert "Huye Peace Club" in newcomer.texts and newcomer.last[-1].choices[0].label == "Ikinyarwanda"
    await amina.send("injira ZZZZ9")
    assert "ZZZZ9" in amina.texts and "animateur" in amina.texts
    await amina.send("quitter")
    assert "Huye Peace Club" in amina.texts
    async with app.db.conn.execute("SELECT COUNT(*) FROM memberships") as cur:
        assert (await cur.fetchone())[0] == 1  # only the newcomer


@pytest.mark.parametrize("action", list(Action))
def test_authorisation_matrix(action: Action) -> None:
    club_a, club_b = 1, 2
    organisation_wide = action in (Action.ANNOUNCE_ALL, Action.VIEW_ALL_STATS, Action.CREATE_CLUB)
    expected = {
        (Role.LEARNER, club_a): False,
        (Role.LEARNER, club_b): False,
        (Role.FACILITATOR, club_a): not organisation_wide and action is not Action.GRANT_ROLE,
        (Role.FACILITATOR, club_b): False,
        (Role.STAFF, club_a): action is not Action.GRANT_ROLE,
        (Role.STAFF, club_b): action is not Action.GRANT_ROLE,
        (Role.ADMIN, club_a): True,
        (Role.ADMIN, club_b): True,
    }
    for (role, club), want in expected.items():
        org_role = Role.LEARNER if role is Role.FACILITATOR else role
        facilitates = {club_a} if role is Role.FACILITATOR else set()
        assert allowed(org_role, facilitates, action, club) is want, (role, club, action)


async def test_invitations_go_once_to_each_member_in_their_language_and_rsvp_is_recorded(app: App) -> None:
    club = await make_club(app)
    rw, fr, en = [await member(app, club, name, lang) for name, lang in (("rw1", 1), ("fr1", 2), ("en1", 3))]
    stopped = await member(app, club, "stopped1", 3)
    await stopped.send("stop")
    now = utcnow()
    session = await plan(app, club, now + timedelta(days=3))
    assert await invite(app, session, now) == 3  # the one who sent STOP is not invited
    assert await invite(app, session, now) == 0  # nobody twice
    for chat, lang, word in ((rw, "rw", "rigutumiye"), (fr, "fr", "t'invite"), (en, "en", "invites you")):
        invitation = (await outbox_for(app, chat.address))[-1]
        assert word in invitation["text"] and invitation["language"] == lang
        assert invitation["priority"] == BULK and invitation["key"] == "session_invitation"
        assert [c[0].rsplit(".", 1)[1] for c in invitation["choices"]] == ["yes", "maybe", "no"]
    # A tap on the button, a typed number, a typed word: each is recorded once.
    yes_id = (await outbox_for(app, en.address))[-1]["choices"][0][0]
    await en.send(payload=yes_id)
    assert "Thank you! Your answer for Huye Peace Club" in en.texts
    await fr.send("2")  # the last message was the invitation: "2" is "Peut-être"
    await rw.send("oya")
    async with app.db.conn.execute("SELECT rsvp FROM invitations ORDER BY user_id") as cur:
        assert [r[0] for r in await cur.fetchall()] == ["no", "maybe", "yes"]
    # Somebody else's invitation cannot be answered.
    await rw.send(payload=yes_id)
    assert "not yours" in rw.texts or "si ubwawe" in rw.texts
    async with app.db.transaction() as conn:
        status = await clubs.session_status(conn, session.id)
    assert (status["invited"], status["yes"], status["maybe"], status["no"], status["no_answer"]) == (
        3,
        1,
        1,
        1,
        0,
    )


async def test_reminders_and_one_nudge_fire_once_at_the_right_times(app: App) -> None:
    club = await make_club(app)
    yes, silent = await member(app, club, "yes1", 3), await member(app, club, "silent1", 3)
    no = await member(app, club, "no1", 3)
    start = utcnow()
    session = await plan(app, club, start + timedelta(days=3))
    await invite(app, session, start)
    for chat, answer in ((yes, "yes"), (no, "no")):
        choice = next(
            c for c in (await outbox_for(app, chat.address))[-1]["choices"] if c[0].endswith(answer)
        )
        await chat.send(payload=choice[0])
    clock = [start]
    scheduler = Scheduler(app.db, clubs.Renderer(app.engine.catalogs), clock=lambda: clock[0])

    async def texts_at(moment: datetime) -> dict[str, list[str]]:
        clock[0] = moment
        await scheduler.run_once()
        await scheduler.run_once()  # a second run fires nothing again
        return {c.address: [m["text"] for m in await outbox_for(app, c.address)] for c in (yes, silent, no)}

    before = await texts_at(start + timedelta(hours=23))
    after_nudge = await texts_at(start + timedelta(hours=24, minutes=1))
    assert [len(after_nudge[a]) - len(before[a]) for a in ("yes1", "silent1", "no1")] == [0, 1, 0]
    assert "waiting for your answer" in after_nudge["silent1"][-1]
    day_before = await texts_at(session.starts_at - timedelta(hours=24))
    two_hours = await texts_at(session.starts_at - timedelta(hours=2))
    for address, want in (("yes1", 2), ("silent1", 0), ("no1", 0)):
        reminders = [t for t in two_hours[address] if t.startswith("Reminder:")]
        assert len(reminders) == want, address
    assert day_before["yes1"][-1].startswith("Reminder:")
    async with app.db.conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'pending'") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_cancelling_tells_everyone_invited_and_drops_the_reminders(app: App) -> None:
    club = await make_club(app)
    a, b = await member(app, club, "a1", 1), await member(app, club, "b1", 2)
    now = utcnow()
    session = await plan(app, club, now + timedelta(days=2))
    await invite(app, session, now)
    async with app.db.exclusive() as conn:
        told = await repo.in_thread(conn, clubs.cancel, session, clubs.Renderer(app.engine.catalogs), now)
    assert told == 2
    assert (await outbox_for(app, b.address))[-1]["text"].startswith("Annulé")
    assert (await outbox_for(app, a.address))[-1]["text"].startswith("Byahagaritswe")
    async with app.db.conn.execute("SELECT COUNT(*) FROM jobs WHERE status = 'pending'") as cur:
        assert (await cur.fetchone())[0] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05 15:00", datetime(2026, 12, 5, 13, 0)),
        ("5/12/2026 15h", datetime(2026, 12, 5, 13, 0)),
        ("05/12/2026 15H30", datetime(2026, 12, 5, 13, 30)),
        ("2026-12-05T09:05", datetime(2026, 12, 5, 7, 5)),
        ("next saturday", None),
        ("2026-13-05 15:00", None),
    ],
)
def test_session_times_are_read_leniently_in_kigali_time(text: str, expected: datetime | None) -> None:
    parsed = clubs.parse_when(text)
    assert (parsed.replace(tzinfo=None) if parsed else None) == expected


async def facilitator_of(app: App, club: clubs.Club, address: str = "keza") -> Chat:
    chat = Chat(app, address=address)
    await chat.onboard()
    async with app.db.transaction() as conn:
        user = await repo.find_user(conn, "console", address)
        assert user is not None
        await clubs.grant(conn, user.id, "facilitator", club, utcnow())
    return chat


async def test_a_facilitator_plans_invites_follows_and_marks_attendance_in_chat(app: App) -> None:
    club = await make_club(app)
    learners = [await member(app, club, f"m{n}", 3) for n in range(3)]
    keza = await facilitator_of(app, club)
    await keza.send("new session")
    assert "When?" in keza.texts
    await keza.send("tomorrow-ish")  # not a date: asked again, nothing lost
    assert "could not read that date" in keza.texts
    starts = (utcnow() + timedelta(days=4)).astimezone(ZoneInfo("Africa/Kigali"))
    await keza.send(starts.strftime("%d/%m/%Y 15h"))
    await keza.send("Cell office")
    await keza.send("Listening without judging")
    assert "Send the invitations to every member now?" in keza.texts
    await keza.tap("Send invitations")
    assert "Invitations are on their way to 4 member(s)" in keza.texts  # 3 learners and Keza
    for learner in learners:
        assert "Listening without judging" in (await outbox_for(app, learner.address))[-1]["text"]
    await learners[0].send("1")  # yes
    await learners[1].send("maybe")
    await keza.send("sessions")
    assert "yes 1, maybe 1" in keza.texts
    await keza.tap(1)
    await keza.tap("Mark attendance")
    people = keza.last[-1].choices
    assert len(people) == 3 and all(c.label.startswith("◻️") for c in people[:2])  # yes and maybe, then Done
    await keza.tap(1)  # ticks the first one who answered
    assert keza.last[-1].choices[0].label.startswith("✅")
    async with app.db.conn.execute("SELECT COUNT(*) FROM invitations WHERE attended = 1") as cur:
        assert (await cur.fetchone())[0] == 1
    await keza.tap("Done")  # says what was saved, then the menu
    assert "Saved: 1 of 2 came to session" in keza.texts


async def test_a_learner_is_refused_politely_and_the_refusal_is_logged(app: App) -> None:
    club = await make_club(app)
    learner = await member(app, club, "curious", 3)
    for command in ("new session", "sessions", "announce"):
        await learner.send(command)
        assert "only a club's facilitator or our staff" in learner.texts
    async with app.db.conn.execute("SELECT COUNT(*) FROM events WHERE type = 'denied'") as cur:
        assert (await cur.fetchone())[0] == 3
    async with app.db.conn.execute("SELECT COUNT(*) FROM club_sessions") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_an_announcement_has_a_preview_and_goes_once_to_each_member(app: App) -> None:
    club, other = await make_club(app), await make_club(app, "Gisagara Club")
    inside = await member(app, club, "inside", 1)
    outside = await member(app, other, "outside", 1)
    keza = await facilitator_of(app, club)
    await keza.send("announce")
    assert [c.label for c in keza.last[-1].choices] == ["Huye Peace Club", "Cancel"]  # only her club
    await keza.tap("Huye Peace Club")
    await keza.send("Umuganda: bring a hoe on Saturday.")
    assert "Preview" in keza.texts and "bring a hoe" in keza.texts
    await keza.tap("Send")
    assert "Sent to 2 member(s)" in keza.texts
    # Under a line naming the club and the sender, in the member's language (inside reads rw).
    told = (await outbox_for(app, inside.address))[-1]
    assert told["text"].endswith("\nUmuganda: bring a hoe on Saturday.")
    heading = app.engine.catalogs.gettext("rw", "📣 {club}, from your facilitator:").format(club=club.name)
    assert told["text"].startswith(heading) and told["language"] == "rw"
    assert all("hoe" not in m["text"] for m in await outbox_for(app, outside.address))


def test_the_join_poster_has_both_links_in_the_club_language(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys

    from PIL import Image

    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
        "TELEGRAM_BOT_USERNAME": "@ClubSpeakBot",
        "TWILIO_WHATSAPP_FROM": "whatsapp:+250788000000",
    }

    def bot(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bot", *args], env=env, cwd=tmp_path, capture_output=True, text=True
        )

    created = bot("clubs", "create", "--name", "Nyabihu Club", "--district", "Nyabihu").stdout
    code = created.split("join code ")[1].split()[0]
    out = bot("clubs", "qr", code, "--out", "poster.png").stdout
    assert f"https://t.me/ClubSpeakBot?start=club_{code}" in out
    assert f"https://wa.me/250788000000?text=join%20{code}" in out
    assert Image.open(tmp_path / "poster.png").size == (1240, 1754)
    missing = bot("clubs", "qr", "NOPE9")
    assert missing.returncode == 2 and "no club with the code" in missing.stderr
    # Nothing configured yet: a poster with the join code alone, and what each setting would add.
    del env["TELEGRAM_BOT_USERNAME"], env["TWILIO_WHATSAPP_FROM"]
    bare = bot("clubs", "qr", code, "--out", "bare.png")
    assert bare.returncode == 0, bare.stderr
    assert "TELEGRAM_BOT_USERNAME" in bare.stdout and "TWILIO_WHATSAPP_FROM" in bare.stdout
    assert Image.open(tmp_path / "bare.png").size == (1240, 1754)


async def test_only_an_admin_grants_roles_in_chat(app: App) -> None:
    club = await make_club(app)
    boss, keza = Chat(app, address="boss"), await member(app, club, "keza2", 3)
    await boss.onboard()
    await keza.send(f"grant facilitator console:keza2 {club.code}")
    assert "only an admin can do that" in keza.texts  # what is really needed, even for a facilitator
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET role = 'admin' WHERE address = 'boss'")
    await boss.send("grant facilitator console:keza2")  # no club: explained, nothing done
    assert "grant ROLE CHANNEL:ADDRESS" in boss.texts
    await boss.send(f"grant facilitator console:keza2 {club.code}")
    assert f"Done: console:keza2 is now a facilitator of {club.name}." in boss.texts  # as typed
    await keza.send("sessions")
    assert "No upcoming sessions" in keza.texts


async def test_changing_a_session_tells_those_still_coming_and_moves_the_reminders(app: App) -> None:
    club = await make_club(app)
    coming, declined = await member(app, club, "coming", 2), await member(app, club, "declined", 3)
    keza = await facilitator_of(app, club)
    session = await plan(app, club, utcnow() + timedelta(days=3))
    await invite(app, session, utcnow())
    await declined.send("no")
    await keza.send("sessions")
    await keza.tap(1)
    await keza.tap("Change it")
    await keza.tap("Place")
    await keza.send("Under the big tree")
    assert "Changed. 2 invited member(s) will be told." in keza.texts  # Keza and the one still coming
    changed = (await outbox_for(app, coming.address))[-1]["text"]
    assert changed.startswith("Changé") and "Under the big tree" in changed  # in French, her language
    assert all("big tree" not in m["text"] for m in await outbox_for(app, declined.address))
    later = (utcnow() + timedelta(days=6)).astimezone(ZoneInfo("Africa/Kigali"))
    await keza.send("sessions")
    await keza.tap(1)
    await keza.tap("Change it")
    await keza.tap("Date and time")
    await keza.send(later.strftime("%Y-%m-%d %H:%M"))
    async with app.db.conn.execute(
        "SELECT MAX(run_at) FROM jobs WHERE status = 'pending' AND kind = 'reminder'"
    ) as cur:
        last_reminder = datetime.fromisoformat((await cur.fetchone())[0])
    assert abs(last_reminder - (later - timedelta(hours=2))) < timedelta(minutes=1)


async def test_staff_announce_to_one_district(app: App) -> None:
    huye = await make_club(app)
    async with app.db.transaction() as conn:
        nyabihu = await clubs.create_club(conn, "Nyabihu Club", "Nyabihu", "rw", utcnow())
    in_huye, in_nyabihu = await member(app, huye, "h1", 3), await member(app, nyabihu, "n1", 3)
    staff = Chat(app, address="staff1")
    await staff.onboard()
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET role = 'staff' WHERE address = 'staff1'")
    await staff.send("announce")
    assert [c.label for c in staff.last[-1].choices] == ["All clubs", "Huye", "Nyabihu", "Cancel"]
    await staff.tap("Nyabihu")
    await staff.send("Training on Friday.")
    await staff.tap("Send")
    told = (await outbox_for(app, in_nyabihu.address))[-1]["text"]
    assert told.endswith("\nTraining on Friday.") and "from the Club Speak team" in told
    assert all(m["text"] != "Training on Friday." for m in await outbox_for(app, in_huye.address))


async def test_stats_in_chat_staff_see_all_facilitators_their_clubs_learners_nothing(app: App) -> None:
    club = await make_club(app)
    learner = await member(app, club, "learner9", 3)
    keza = await facilitator_of(app, club)
    await learner.send("stats")
    assert "only a club's facilitator or our staff" in learner.texts
    await keza.send("stats")
    assert "Figures for Huye Peace Club" in keza.texts and "Active learners: <5" in keza.texts
    staff = Chat(app, address="staff9")
    await staff.onboard()
    async with app.db.transaction() as conn:
        await conn.execute("UPDATE users SET role = 'staff' WHERE address = 'staff9'")
    await staff.send("imibare")
    assert "Figures for all clubs" in staff.texts
