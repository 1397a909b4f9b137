"""Clubs: clubs and join codes, sessions, invitations and reminders, facilitator chat, posters."""

from __future__ import annotations

from bot.clubs import chat, facilitator
from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.messages import Choice

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
    @router.command("join", with_argument=("join", "injira", "rejoindre", "kwinjira"), before_language=True)
    async def join_club(turn: Turn, command: Command) -> None:
        await chat.join(turn, command.argument)
        await (turn.home() if turn.user.language is None else turn.reprompt())

    @router.command("leave", with_argument=("leave", "sohoka", "quitter", "kuvamo"), before_language=True)
    async def leave_club(turn: Turn, command: Command) -> None:
        await chat.leave(turn, command.argument)
        await (turn.home() if turn.user.language is None else turn.reprompt())

    @router.deep_link("club_")
    async def join_by_link(turn: Turn, argument: str) -> None:
        await chat.join(turn, argument)

    router.payload("rsvp.")(chat.rsvp_tap)  # invitations are answered at any time
    router.text_hook(chat.typed_rsvp)

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
        # A facilitator's form input (a session topic on violence prevention) is never a disclosure.
        router.screen(screen, needs_choice=False, distress_check="never")(staff_answer)
