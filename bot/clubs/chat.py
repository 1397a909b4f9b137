"""Clubs in the chat: join by code or deep link, leave, and answer invitations (RSVP)."""

from __future__ import annotations

import json

from bot.clubs import model as clubs
from bot.core.intents import match_choice
from bot.core.turn import Turn
from bot.i18n import format_when
from bot.messages import Choice

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
    if argument and argument.strip() and club is None:
        # A typo must not take the learner out of every club: an unknown code changes nothing.
        turn.event("club_leave_failed")
        turn.say(
            _("I could not find a club with the code {code}. Check the code with your facilitator.").format(
                code=argument.strip()[:12]
            )
        )
        return
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
    when = format_when(session.starts_at, turn.lang, turn.timezone)
    label = _(clubs.RSVP_LABELS[answer])
    turn.say(
        _("Thank you! Your answer for {club}, {when}: {answer}.").format(
            club=session.club.name, when=when, answer=label
        )
    )
