"""Facilitators and staff in the chat: plan a session and invite, follow the answers, mark
attendance, cancel, and announce. Every action is checked by `bot.authz` first.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from bot.authz import Action, allowed, refuse
from bot.clubs import model as clubs
from bot.clubs.model import SessionReminders
from bot.core.turn import Turn
from bot.i18n import N_, format_when
from bot.messages import Choice
from bot.storage import repo

TEXT_LIMIT = 120  # a place or a topic
ANNOUNCEMENT_LIMIT = 1000


async def _clubs_for(turn: Turn, action: Action) -> list[clubs.Club]:
    """The clubs this user may do `action` for (every club for staff and admins)."""
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    every = await clubs.clubs_by_ids(turn.conn, None)
    return [c for c in every if allowed(turn.user.role, mine, action, c.id)]


def _when(turn: Turn, session: clubs.Session) -> str:
    return format_when(session.starts_at, turn.lang, turn.timezone)


# -- planning a session -------------------------------------------------------------


async def new_session(turn: Turn) -> None:
    allowed_clubs = await _clubs_for(turn, Action.CREATE_SESSION)
    if not allowed_clubs:
        refuse(turn, Action.CREATE_SESSION)
        return
    turn.data["plan"] = {}
    if len(allowed_clubs) == 1:
        turn.data["plan"]["club"] = allowed_clubs[0].id
        _ask_when(turn)
        return
    turn.ask(
        turn._("For which club?"),
        "plan_club",
        [Choice(str(c.id), c.name[:20]) for c in allowed_clubs[:10]],
    )


def _ask_when(turn: Turn, note: str | None = None) -> None:
    text = turn._("When? Write the date and time, for example 2026-12-05 15:00.")
    turn.ask(f"{note}\n\n{text}" if note else text, "plan_when", [Choice("quit", turn._("Cancel"))])


async def answer_plan(turn: Turn, screen: str, text: str | None, choice: Choice | None) -> bool:
    _ = turn._
    plan = turn.data.get("plan")
    if plan is None:
        return False
    if choice is not None and choice.id == "quit":
        turn.data.pop("plan", None)
        turn.say(_("Nothing was sent."))
        return False
    if screen == "plan_club":
        if choice is None:
            return False
        plan["club"] = int(choice.id)
        _ask_when(turn)
        return True
    if screen == "plan_when":
        starts_at = clubs.parse_when(text or "", turn.timezone)
        if starts_at is None or starts_at <= turn.now + timedelta(hours=1):
            _ask_when(turn, _("I could not read that date, or it is not in the future."))
            return True
        plan["at"] = starts_at.isoformat()
        turn.ask(_("Where will you meet?"), "plan_place", [Choice("quit", _("Cancel"))])
        return True
    if screen == "plan_place":
        if not (text or "").strip():
            return False
        plan["place"] = text.strip()[:TEXT_LIMIT] if text else ""
        turn.ask(_("What is the topic?"), "plan_topic", [Choice("quit", _("Cancel"))])
        return True
    if screen == "plan_topic":
        if not (text or "").strip():
            return False
        plan["topic"] = text.strip()[:TEXT_LIMIT] if text else ""
        club = (await clubs.clubs_by_ids(turn.conn, {plan["club"]}) or [None])[0]
        if club is None:
            return False
        when = format_when(datetime.fromisoformat(plan["at"]), turn.lang, turn.timezone)
        turn.ask(
            _("{club}: {when}, {place}. Topic: {topic}. Send the invitations to every member now?").format(
                club=club.name, when=when, place=plan["place"], topic=plan["topic"]
            ),
            "plan_confirm",
            [Choice("send", _("Send invitations")), Choice("quit", _("Cancel"))],
        )
        return True
    if screen == "plan_confirm" and choice is not None and choice.id == "send":
        return await _create_and_invite(turn, plan)
    return False


async def _create_and_invite(turn: Turn, plan: dict) -> bool:
    club = (await clubs.clubs_by_ids(turn.conn, {plan["club"]}) or [None])[0]
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if club is None or not allowed(turn.user.role, mine, Action.INVITE, club.id):
        refuse(turn, Action.INVITE)
        return False
    starts_at = datetime.fromisoformat(plan["at"])
    session_id = await clubs.create_session(
        turn.conn, club, starts_at, plan["place"], plan["topic"], turn.user.id, turn.now
    )
    session = await clubs.get_session(turn.conn, session_id)
    assert session is not None
    render = clubs.Renderer(turn.catalogs, turn.timezone)
    invited = await repo.in_thread(
        turn.conn, clubs.invite_within, session, render, turn.now, turn.service(SessionReminders).hours
    )
    turn.data.pop("plan", None)
    turn.data["bulk_queued"] = True
    turn.event("session_invited", session=session_id, invited=invited)
    turn.say(
        turn._("Invitations are on their way to {n} member(s). Send sessions to follow the answers.").format(
            n=invited
        )
    )
    return False


# -- following sessions ---------------------------------------------------------------


async def list_sessions(turn: Turn) -> None:
    allowed_clubs = await _clubs_for(turn, Action.SESSION_STATUS)
    if not allowed_clubs:
        refuse(turn, Action.SESSION_STATUS)
        return
    sessions = await clubs.upcoming_sessions(
        turn.conn, [c.id for c in allowed_clubs], turn.now - timedelta(days=2)
    )
    if not sessions:
        turn.say(turn._("No upcoming sessions. Send new session to plan one."))
        return
    lines = []
    for s in sessions:
        n = await clubs.session_status(turn.conn, s.id)
        lines.append(
            turn._(
                "#{id} {club}, {when}: invited {invited}, delivered {delivered}, failed {failed}; "
                "yes {yes}, maybe {maybe}, no {no}, no answer {none}; attended {attended}."
            ).format(
                id=s.id,
                club=s.club.name,
                when=_when(turn, s),
                invited=n["invited"],
                delivered=n["sent"],
                failed=n["failed"],
                yes=n["yes"],
                maybe=n["maybe"],
                no=n["no"],
                none=n["no_answer"],
                attended=n["attended"],
            )
        )
    turn.ask(
        "\n\n".join(lines), "sessions", [Choice(str(s.id), f"#{s.id} {s.club.name}"[:20]) for s in sessions]
    )


async def answer_sessions(turn: Turn, screen: str, text: str | None, choice: Choice | None) -> bool:
    _ = turn._
    if screen == "session_new_value" and choice is None:
        return await _change(turn, text)
    if choice is None:
        return False
    if screen == "sessions":
        turn.data["session"] = int(choice.id)
        turn.ask(
            _("Session #{id}: what do you want to do?").format(id=choice.id),
            "session_action",
            [
                Choice("attendance", _("Mark attendance")),
                Choice("change", _("Change it")),
                Choice("cancel", _("Cancel session")),
                Choice("back", _("Back")),
            ],
        )
        return True
    session = await clubs.get_session(turn.conn, int(turn.data.get("session") or 0))
    if session is None:
        return False
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if screen == "session_action" and choice.id == "change":
        if not allowed(turn.user.role, mine, Action.CREATE_SESSION, session.club.id):
            refuse(turn, Action.CREATE_SESSION)
            return False
        turn.ask(
            _("What changes?"),
            "session_change",
            [
                Choice("when", _("Date and time")),
                Choice("place", _("Place")),
                Choice("topic", _("Topic")),
                Choice("back", _("Back")),
            ],
        )
        return True
    if screen == "session_change" and choice.id in ("when", "place", "topic"):
        turn.data["change"] = choice.id
        prompt = {
            "when": _("When? Write the date and time, for example 2026-12-05 15:00."),
            "place": _("Where will you meet?"),
            "topic": _("What is the topic?"),
        }[choice.id]
        turn.ask(prompt, "session_new_value", [Choice("back", _("Back"))])
        return True
    if screen == "session_action" and choice.id == "cancel":
        if not allowed(turn.user.role, mine, Action.CANCEL_SESSION, session.club.id):
            refuse(turn, Action.CANCEL_SESSION)
            return False
        turn.ask(
            _("Cancel #{id} and tell everyone invited?").format(id=session.id),
            "session_cancel",
            [Choice("yes", _("Yes, cancel it")), Choice("back", _("Back"))],
        )
        return True
    if screen == "session_cancel" and choice.id == "yes":
        if not allowed(turn.user.role, mine, Action.CANCEL_SESSION, session.club.id):
            refuse(turn, Action.CANCEL_SESSION)
            return False
        render = clubs.Renderer(turn.catalogs, turn.timezone)
        told = await repo.in_thread(turn.conn, clubs.cancel_within, session, render, turn.now)
        turn.data["bulk_queued"] = True
        turn.event("session_cancelled", session=session.id)
        turn.say(_("Cancelled. {n} invited member(s) will be told.").format(n=told))
        return False
    if screen == "attendance" and choice.id == "done":
        # Say what was saved before leaving: a facilitator should not have to guess.
        people = await clubs.attendees(turn.conn, session.id)
        came = sum(1 for _uid, _name, att in people if att)
        turn.say(
            turn.ngettext(
                "Saved: {n} of {total} came to session #{id}.",
                "Saved: {n} of {total} came to session #{id}.",
                came,
            ).format(n=came, total=len(people), id=session.id)
        )
        return False
    marking = (screen == "session_action" and choice.id == "attendance") or (
        screen == "attendance" and choice.id.isdigit()
    )
    if marking:
        if not allowed(turn.user.role, mine, Action.MARK_ATTENDANCE, session.club.id):
            refuse(turn, Action.MARK_ATTENDANCE)
            return False
        if choice.id.isdigit():
            current = {uid: att for uid, _name, att in await clubs.attendees(turn.conn, session.id)}
            user_id = int(choice.id)
            if user_id in current:
                await clubs.mark_attendance(turn.conn, session.id, user_id, not current[user_id])
        people = await clubs.attendees(turn.conn, session.id)
        if not people:
            turn.say(_("Nobody has answered yes or maybe yet."))
            return False
        choices = [Choice(str(uid), ("✅ " if att else "◻️ ") + name[:16]) for uid, name, att in people]
        choices.append(Choice("done", _("Done")))
        turn.ask(_("Tap each member who came."), "attendance", choices)
        return True
    return False


async def _change(turn: Turn, text: str | None) -> bool:
    _ = turn._
    session = await clubs.get_session(turn.conn, int(turn.data.get("session") or 0))
    field = turn.data.get("change")
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if session is None or field not in ("when", "place", "topic"):
        return False
    if not allowed(turn.user.role, mine, Action.CREATE_SESSION, session.club.id):
        refuse(turn, Action.CREATE_SESSION)
        return False
    value = (text or "").strip()[:TEXT_LIMIT]
    if not value:
        return False
    if field == "when":
        starts_at = clubs.parse_when(value, turn.timezone)
        if starts_at is None or starts_at <= turn.now + timedelta(hours=1):
            turn.ask(
                _("I could not read that date, or it is not in the future.")
                + "\n\n"
                + _("When? Write the date and time, for example 2026-12-05 15:00."),
                "session_new_value",
                [Choice("back", _("Back"))],
            )
            return True
        session = replace(session, starts_at=starts_at)
    else:
        session = replace(session, **{field: value})
    render = clubs.Renderer(turn.catalogs, turn.timezone)
    told = await repo.in_thread(
        turn.conn, clubs.change_within, session, render, turn.now, turn.service(SessionReminders).hours
    )
    turn.data.pop("change", None)
    turn.data["bulk_queued"] = True
    turn.event("session_changed", session=session.id, field=field)
    turn.say(_("Changed. {n} invited member(s) will be told.").format(n=told))
    return False


# -- announcements ---------------------------------------------------------------------


async def announce(turn: Turn) -> None:
    club_targets = await _clubs_for(turn, Action.ANNOUNCE_CLUB)
    if not club_targets:
        refuse(turn, Action.ANNOUNCE_CLUB)
        return
    choices = [Choice(str(c.id), c.name[:20]) for c in club_targets[:8]]
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if allowed(turn.user.role, mine, Action.ANNOUNCE_ALL):
        # Staff: every club, or every club of one district.
        districts = sorted({c.district for c in club_targets})
        choices = [Choice(f"district:{d}", d[:20]) for d in districts[:8]]
        choices.insert(0, Choice("all", turn._("All clubs")))
    turn.data["announce"] = {}
    turn.ask(
        turn._("Who should get the announcement?"),
        "announce_to",
        [*choices, Choice("quit", turn._("Cancel"))],
    )


async def answer_announce(turn: Turn, screen: str, text: str | None, choice: Choice | None) -> bool:
    _ = turn._
    draft = turn.data.get("announce")
    if draft is None:
        return False
    if choice is not None and choice.id == "quit":
        turn.data.pop("announce", None)
        turn.say(_("Nothing was sent."))
        return False
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if screen == "announce_to" and choice is not None:
        if choice.id == "all" or choice.id.startswith("district:"):
            if not allowed(turn.user.role, mine, Action.ANNOUNCE_ALL):
                refuse(turn, Action.ANNOUNCE_ALL)
                return False
            district = choice.id.removeprefix("district:") if choice.id != "all" else None
            every = await clubs.clubs_by_ids(turn.conn, None)
            draft["clubs"] = [c.id for c in every if district is None or c.district == district]
        else:
            if not allowed(turn.user.role, mine, Action.ANNOUNCE_CLUB, int(choice.id)):
                refuse(turn, Action.ANNOUNCE_CLUB)
                return False
            draft["clubs"] = [int(choice.id)]
        turn.ask(_("Write the announcement."), "announce_text", [Choice("quit", _("Cancel"))])
        return True
    if screen == "announce_text" and text and text.strip():
        draft["text"] = text.strip()[:ANNOUNCEMENT_LIMIT]
        turn.ask(
            _("Preview:\n\n{text}\n\nSend it?").format(text=draft["text"]),
            "announce_confirm",
            [Choice("send", _("Send")), Choice("quit", _("Cancel"))],
        )
        return True
    if screen == "announce_confirm" and choice is not None and choice.id == "send":
        for club_id in draft.get("clubs", []):
            if not allowed(turn.user.role, mine, Action.ANNOUNCE_CLUB, club_id):
                refuse(turn, Action.ANNOUNCE_CLUB)
                return False
        sender = "staff" if turn.user.role in ("staff", "admin") else "facilitator"
        sent = await repo.in_thread(
            turn.conn, clubs.announce_within, draft["clubs"], draft["text"], turn.catalogs, sender, turn.now
        )
        turn.data.pop("announce", None)
        turn.data["bulk_queued"] = True
        turn.event("announcement", clubs=len(draft["clubs"]), recipients=sent)
        turn.say(_("Sent to {n} member(s).").format(n=sent))
        return False
    return False


# -- roles ---------------------------------------------------------------------------------


ROLE_WORDS = {
    "learner": N_("a learner"),
    "facilitator": N_("a facilitator"),
    "staff": N_("a staff member"),
    "admin": N_("an admin"),
}


async def grant(turn: Turn, argument: str | None) -> None:
    """Admins only: "grant ROLE CHANNEL:ADDRESS [CLUB_CODE]"."""
    _ = turn._
    mine = await clubs.facilitated(turn.conn, turn.user.id)
    if not allowed(turn.user.role, mine, Action.GRANT_ROLE):
        refuse(turn, Action.GRANT_ROLE)
        return
    parts = (argument or "").split()
    usage = _(
        "Write: grant ROLE CHANNEL:ADDRESS [CLUB CODE], for example grant facilitator telegram:42 K7Q2."
    )
    if len(parts) < 2 or parts[0] not in ("learner", "facilitator", "staff", "admin") or ":" not in parts[1]:
        turn.say(usage)
        return
    role, (channel, _sep, address) = parts[0], parts[1].partition(":")
    club = await clubs.club_by_code(turn.conn, parts[2]) if len(parts) > 2 else None
    target = await repo.find_user(turn.conn, channel, address)
    if target is None or (role == "facilitator" and club is None):
        turn.say(usage)
        return
    await clubs.grant(turn.conn, target.id, role, club, turn.now)
    turn.event("role_granted", role=role)
    # The address as it was typed: the admin knows that, not our pseudonym.
    if club is not None and role == "facilitator":
        turn.say(_("Done: {who} is now a facilitator of {club}.").format(who=parts[1], club=club.name))
    else:
        turn.say(_("Done: {who} is now {role}.").format(who=parts[1], role=_(ROLE_WORDS[role])))


# -- engagement figures ----------------------------------------------------------------------
