"""Early warning (INAMA): citizen reporters file reports of incidents and peace initiatives; a
committee reviews, verifies and refers them. Reporter safety comes first: see README,
"Early warning"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from starlette.routing import BaseRoute

from bot.authz import ReportAction, report_allowed
from bot.config import Settings
from bot.core.router import Command, Router
from bot.core.turn import Turn
from bot.i18n import N_, format_date
from bot.messages import Choice
from bot.reports import committee, model, reporter
from bot.reports.config import EarlyWarning
from bot.reports.notify import STATUS_WORDS
from bot.storage.db import Database

MENU_LABEL = N_("Report an incident or a peace initiative")


async def may_report(turn: Turn) -> bool:
    roles = set(await model.chat_roles(turn.conn, turn.user.id))
    if turn.user.role == "admin":
        roles.add("admin")
    # Open reporting is not for a child whose guardian has not agreed (Law 058/2021).
    open_to_all = turn.service(EarlyWarning).open_to_all and (
        turn.user.age_band != "u16" or turn.user.consent == "guardian_given"
    )
    return report_allowed(roles, ReportAction.FILE, open_to_all=open_to_all)


def register(router: Router) -> None:
    async def start_report(turn: Turn) -> None:
        if not await may_report(turn):
            turn.event("denied", action=ReportAction.FILE.value)
            await turn.home(
                turn._(
                    "Reporting is open to trained reporters. If you want to become one, ask your "
                    "club's facilitator."
                )
            )
            return
        await reporter.start(turn)

    router.menu_entry("report", MENU_LABEL, may_report)(start_report)

    @router.command("report", ("report", "raporo", "tanga amakuru", "signaler", "signalement"))
    async def report(turn: Turn, command: Command) -> None:
        await start_report(turn)

    @router.command("myreports", ("my reports", "myreports", "raporo zanjye", "mes signalements"))
    async def my_reports(turn: Turn, command: Command) -> None:
        reports = await model.reports_of(turn.conn, turn.user.id)
        _ = turn._
        if not reports:
            turn.say(_("You have no reports linked to you."))
        else:
            lines = [_("Your reports:")]
            for r in reports:
                day = format_date(datetime.fromisoformat(r.created_at), turn.lang, turn.timezone)
                status = _(STATUS_WORDS[r.status])
                lines.append(f"· {r.ref} · {reporter.type_label(turn, r.type)} · {day} · {status}")
            turn.say("\n".join(lines))
        await turn.reprompt()

    # A quick exit: unlink the reporter from every report, and erase the conversations from
    # the chat where the channel can. It needs no confirmation: speed is the point.
    @router.command(
        "forget",
        ("forget", "forget me", "nyibagirwa", "kwibagirwa", "oublier", "oublie moi", "oubliez moi"),
        before_language=True,
        while_stopped=True,
    )
    async def forget(turn: Turn, command: Command) -> None:
        draft = reporter.draft_of(turn) if turn.data.get("report") else None
        ranges = await model.forget(turn.conn, turn.user.id)
        if draft is not None and draft.conversation:
            ranges.append(draft.conversation)
        turn.event("reporter_forgotten")
        reporter.drop_draft(turn)
        reporter.erase(turn, ranges)
        await turn.home(turn._("Done."))

    async def on_report_screen(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        return await reporter.answer(turn, turn.screen or "", text, choice)

    # The report's own words are read for danger by the report itself (a report of a threat is
    # not the reporter's distress); "are you safe?" takes the safeguarding path.
    router.screen(
        "report_*",
        needs_choice=False,
        reask=True,
        distress_check="never",
        accepts_media=True,
        expects_text=True,
    )(on_report_screen)

    @router.command("reports", ("reports", "raporo zose", "signalements"))
    async def reports(turn: Turn, command: Command) -> None:
        await committee.show_queue(turn)

    async def on_review_screen(turn: Turn, text: str | None, choice: Choice | None) -> bool:
        return await committee.answer(turn, turn.screen or "", text, choice)

    router.screen("review_*", needs_choice=False, reask=True, distress_check="never")(on_review_screen)


def web_routes(db: Database, settings: Settings, outbox_changed: Callable[[str], None]) -> list[BaseRoute]:
    """The committee's pages: the review queue, a report, the overview."""
    from bot.reports.dashboard import routes

    return routes(db, settings, outbox_changed)
