"""The committee in the chat: the open queue with counts, and a report opened, claimed and given
a status with buttons. What a member reads is what the dashboard shows: masked text, an area, a
reporter code, never a person."""

from __future__ import annotations

from bot.authz import ReportAction, report_allowed
from bot.core.turn import Turn
from bot.messages import Choice
from bot.reports import model, review
from bot.reports.config import EarlyWarning
from bot.reports.model import ReportError, Scope
from bot.reports.notify import STATUS_WORDS
from bot.reports.reporter import PEOPLE, type_label
from bot.reports.review import Reviewer

QUEUE_SIZE = 8


async def reviewer_of(turn: Turn) -> Reviewer | None:
    roles = await model.chat_roles(turn.conn, turn.user.id)
    names = set(roles) | ({"admin"} if turn.user.role == "admin" else set())
    if not report_allowed(names, ReportAction.VIEW_QUEUE):
        return None
    name = turn.user.display_name or turn.user.pseudonym
    if "admin" in names:
        return Reviewer(name, "admin", Scope(everything=True))
    return Reviewer(name, "committee", roles["committee"].scope)


async def show_queue(turn: Turn) -> None:
    reviewer = await reviewer_of(turn)
    if reviewer is None:
        turn.event("denied", action=ReportAction.VIEW_QUEUE.value)
        turn.say(turn._("Sorry, only members of the early-warning committee can see reports."))
        await turn.home()
        return
    counts = await model.count_by_status(turn.conn, reviewer.scope)
    waiting = await model.queue(turn.conn, reviewer.scope, model.Filters(status="open"), limit=QUEUE_SIZE)
    _ = turn._
    lines = [_("Reports in your areas:")]
    lines += [f"· {_(STATUS_WORDS[s])}: {n}" for s, n in counts.items() if n and s != "closed"]
    if not waiting:
        lines.append(_("Nothing is waiting for review."))
    choices = [
        Choice(f"r{r.id}", f"{'⚠ ' if r.danger or r.urgency == 'critical' else ''}{r.ref} · {r.area1}")
        for r in waiting
    ]
    turn.data["review_refs"] = {f"r{r.id}": r.ref for r in waiting}
    turn.ask("\n".join(lines), "review_queue", [*choices, Choice("menu", _("Main menu"))])


async def show_report(turn: Turn, ref: str, note: str | None = None) -> None:
    reviewer = await reviewer_of(turn)
    if reviewer is None:
        await show_queue(turn)
        return
    try:
        report = await review.open_report(turn.conn, reviewer, ref)
    except ReportError:
        await show_queue(turn)
        return
    record = await model.reporter_record(turn.conn, report.reporter_id)
    _ = turn._
    holder = report.claim_holder(turn.now)
    lines = [
        f"{report.ref} · {type_label(turn, report.type)}",
        _("Status: {status}").format(status=_(STATUS_WORDS[report.status])),
        _("Where: {where}").format(
            where=", ".join(p for p in (report.area2, report.area1, report.country) if p)
        ),
        _("When: {when}").format(when=report.happened_on + (" ⏱" if report.ongoing else "")),
        _("People affected: {people}").format(people=_(PEOPLE.get(report.people, PEOPLE["unknown"]))),
        report.text_masked[:1500],
    ]
    if report.danger:
        lines.append(_("⚠ Someone may be in danger."))
    if report.committee_only:
        lines.append(_("The reporter asked that this report stays with the committee."))
    if record is not None:
        lines.append(
            _("Reporter {code}: {filed} reports, {verified} verified.").format(
                code=report.reporter_code, filed=record.filed, verified=record.verified
            )
        )
    if holder:
        lines.append(_("Being reviewed by {name}.").format(name=holder))
    turn.data["review_ref"] = report.ref
    choices = []
    minutes = turn.service(EarlyWarning).claim_minutes
    if holder in (None, reviewer.name):
        choices.append(
            Choice(
                "claim",
                _("Claim it for {minutes} minutes").format(minutes=minutes)
                if holder is None
                else _("Keep it {minutes} more minutes").format(minutes=minutes),
            )
        )
        for status in model.NEXT_STATUS.get(report.status, ()):
            if status != "referred":
                choices.append(
                    Choice(f"s_{status}", _("Mark: {status}").format(status=_(STATUS_WORDS[status])))
                )
    choices.append(Choice("back", _("◀ Back")))
    text = "\n".join(lines)
    turn.ask(f"{note}\n\n{text}" if note else text, "review_report", choices)


async def answer(turn: Turn, screen: str, text: str | None, choice: Choice | None) -> bool:
    reviewer = await reviewer_of(turn)
    if reviewer is None:
        await turn.home()
        return True
    ref = turn.data.get("review_ref") or ""
    if screen == "review_queue":
        if choice is None:
            return False
        if choice.id == "menu":
            await turn.home()
            return True
        picked = (turn.data.get("review_refs") or {}).get(choice.id)
        if picked is None:
            return False
        await show_report(turn, picked)
        return True
    if screen == "review_report":
        if choice is None:
            return False
        if choice.id == "back":
            await show_queue(turn)
            return True
        ew = turn.service(EarlyWarning)
        try:
            if choice.id == "claim":
                await review.claim_and_tell(turn.conn, turn.catalogs, ew, reviewer, ref, turn.now)
                await show_report(
                    turn, ref, turn._("It is yours for {minutes} minutes.").format(minutes=ew.claim_minutes)
                )
                return True
            if choice.id.startswith("s_"):
                turn.data["review_status"] = choice.id[2:]
                turn.ask(
                    turn._("Why? Write the reason in a few words (it stays in the committee's record)."),
                    "review_reason",
                    [Choice("back", turn._("◀ Back"))],
                )
                return True
        except ReportError as exc:
            await show_report(turn, ref, str(exc))
            return True
        return False
    if screen == "review_reason":
        if choice is not None and choice.id == "back":
            await show_report(turn, ref)
            return True
        if not (text or "").strip():
            return False
        status = turn.data.pop("review_status", "")
        try:
            await review.change_status(turn.conn, turn.catalogs, reviewer, ref, status, text or "", turn.now)
            note = turn._("Done: the reporter is told.")
        except ReportError as exc:
            note = str(exc)
        turn.event("report_reviewed", status=status)
        await show_report(turn, ref, note)
        return True
    return False
