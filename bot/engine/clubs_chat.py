"""Clubs in the chat: join by code or deep link, leave, and answer invitations (RSVP)."""

from __future__ import annotations

import json

from bot import clubs
from bot.engine.intents import match_choice
from bot.engine.messages import Choice
from bot.engine.router import Command, Router
from bot.engine.turn import Turn
from bot.i18n import format_datetime

# Typed answers to an invitation, besides its numbers and labels.
RSVP_WORDS = {
    "yes": ["yego", "oui", "ndaza", "nzaza", "je viens"],
    "maybe": ["wenda", "ahari", "peut-etre", "peut etre", "pt etre"],
    "no": ["oya", "non", "sinzaza", "je ne viens pas"],
}


async def join(turn: Turn, argument: str | None) -> None:
    _ = turn._
    code = clubs.normalise_code(argument or "")
    club = await clubs.club_by_code(turn.conn, code) if code else None
    if club is None:
        turn.event("club_join_failed")
        turn.say(
            _("I could not find a club with the code {code}. Check the code with your facilitator.").format(
                code=(argument or "").strip()[:12] or "?"
            )
        )
        return
    if await clubs.join(turn.conn, club, turn.user.id, turn.now):
        turn.event("club_joined", club=club.code)
        turn.say(
            _("Welcome to {club} ({district})! Its session invitations will come here.").format(
                club=club.name, district=club.district
            )
        )
    else:
        turn.say(_("You are already a member of {club}.").format(club=club.name))


async def leave(turn: Turn, argument: str | None) -> None:
    _ = turn._
    code = clubs.normalise_code(argument or "")
    club = await clubs.club_by_code(turn.conn, code) if code else None
    left = await clubs.leave(turn.conn, turn.user.id, club)
    if not left:
        turn.say(_("You are not a member of any club."))
        return
    turn.event("club_left", clubs=len(left))
    turn.say(
        _("You have left: {clubs}. You will not get their invitations any more.").format(
            clubs=", ".join(left)
        )
    )


async def rsvp_tap(turn: Turn, payload: str) -> None:
    """A tap on Yes / Maybe / No under an invitation, at any time."""
    _, invitation, answer = [*payload.split("."), "", ""][:3]
    await _record(turn, int(invitation) if invitation.isdigit() else 0, answer)


async def typed_rsvp(turn: Turn, text: str) -> bool:
    """A typed "1", "yego" or "Oui" when the last message we sent was an invitation."""
    if not turn.state.last_sent or '"rsvp.' not in turn.state.last_sent:
        return False  # the common case, decided without parsing
    offered = [Choice(i, label) for i, label in json.loads(turn.state.last_sent).get("choices", [])]
    if not offered or not all(c.id.startswith("rsvp.") for c in offered):
        return False
    aliases = {c.id: RSVP_WORDS.get(c.id.rsplit(".", 1)[-1], []) for c in offered}
    choice = match_choice(text, offered, aliases)
    if choice is None:
        return False
    await rsvp_tap(turn, choice.id)
    return True


async def _record(turn: Turn, invitation_id: int, answer: str) -> None:
    _ = turn._
    session = await clubs.record_rsvp(turn.conn, invitation_id, turn.user.id, answer, turn.now)
    if session is None:
        turn.say(_("That invitation is not yours or no longer open."))
        return
    turn.event("rsvp", answer=answer, session=session.id)
    when = format_datetime(session.starts_at, turn.lang, turn.timezone, "full")
    label = _(clubs.RSVP_LABELS[answer])
    turn.say(
        _("Thank you! Your answer for {club}, {when}: {answer}.").format(
            club=session.club.name, when=when, answer=label
        )
    )


# A facilitator following sessions: the screens `facilitator.answer_sessions` handles.
FOLLOW_SCREENS = (
    "sessions",
    "session_action",
    "session_cancel",
    "attendance",
    "session_change",
    "session_new_value",
)


def register(router: Router) -> None:
    from bot.engine import facilitator

    @router.command("join", with_argument=("join", "injira", "rejoindre", "kwinjira"), before_language=True)
    async def join_club(turn: Turn, command: Command) -> None:
        await join(turn, command.argument)
        await (turn.home() if turn.user.language is None else turn.reprompt())

    @router.command("leave", with_argument=("leave", "sohoka", "quitter", "kuvamo"), before_language=True)
    async def leave_club(turn: Turn, command: Command) -> None:
        await leave(turn, command.argument)
        await (turn.home() if turn.user.language is None else turn.reprompt())

    @router.deep_link("club_")
    async def join_by_link(turn: Turn, argument: str) -> None:
        await join(turn, argument)

    router.payload("rsvp.")(rsvp_tap)  # invitations are answered at any time
    router.text_hook(typed_rsvp)

    @router.command("newsession", ("new session", "newsession", "inama nshya", "nouvelle seance"))
    async def new_session(turn: Turn, command: Command) -> None:
        await facilitator.new_session(turn)

    @router.command("sessions", ("sessions", "seances", "inama z'ihuriro"))
    async def sessions(turn: Turn, command: Command) -> None:
        await facilitator.list_sessions(turn)

    @router.command("announce", ("announce", "announcement", "itangazo", "annonce"))
    async def announce(turn: Turn, command: Command) -> None:
        await facilitator.announce(turn)

    @router.command("grant", with_argument=("grant",))  # admins: "grant facilitator telegram:42 K7Q2"
    async def grant(turn: Turn, command: Command) -> None:
        await facilitator.grant(turn, command.argument)

    @router.command("stats", ("stats", "statistics", "imibare", "statistiques"))
    async def stats(turn: Turn, command: Command) -> None:
        await facilitator.stats_summary(turn)

    async def staff_answer(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        screen = turn.screen or ""
        if screen.startswith("plan_"):
            going = await facilitator.answer_plan(turn, screen, text, choice)
        elif screen.startswith("announce_"):
            going = await facilitator.answer_announce(turn, screen, text, choice)
        else:
            going = await facilitator.answer_sessions(turn, screen, text, choice)
        if not going:
            turn.data.pop("plan", None)
            turn.data.pop("announce", None)
            await turn.home()
        return True

    for screen in ("plan_*", "announce_*", *FOLLOW_SCREENS):
        router.screen(screen, needs_choice=False)(staff_answer)
