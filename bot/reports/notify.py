"""What early warning tells people: the on-duty committee's alerts (on the never-expiring path of
safeguarding alerts) and the reporter's status updates (through the outbox, with a WhatsApp
template outside the 24-hour window). No message ever names a reporter, or a reviewer's notes.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.i18n import N_, Catalogs
from bot.messages import BULK, REPLY, Outbound
from bot.reports import model
from bot.reports.config import TYPE_CONTEXT, EarlyWarning
from bot.storage import repo
from bot.storage.repo import Conn

if TYPE_CHECKING:
    from bot.core.turn import Turn
    from bot.reports.model import Draft, Report

# The words a reporter reads for each status.
STATUS_WORDS = {
    "received": N_("received"),
    "in_review": N_("being reviewed"),
    "verified": N_("verified"),
    "unverifiable": N_("could not be verified"),
    "referred": N_("passed on to people who can act"),
    "closed": N_("closed"),
}
ALERT = N_("⚠ Early-warning alert: {what} in {where}, {why}. {ref}Send reports to review it.")


def _alerts(
    catalogs: Catalogs,
    contacts: list[model.Contact],
    ew: EarlyWarning,
    type_id: str,
    where: str,
    why: str,
    ref: str | None,
) -> list[Outbound]:
    out = []
    for c in contacts:
        label = ew.type(type_id)
        what = catalogs.gettext(c.language, label.label, TYPE_CONTEXT) if label else type_id
        text = catalogs.gettext(c.language, ALERT).format(
            what=what,
            where=where,
            why=catalogs.gettext(c.language, why),
            ref=f"{ref}. " if ref else "",
        )
        out.append(
            Outbound(
                c.channel,
                c.address,
                text,
                priority=REPLY,
                language=c.language,
                user_id=c.user_id,
                key="report_alert",
                args={"ref": ref or "-", "where": where},
                urgent=True,  # retried until it is delivered, like a safeguarding alert
            )
        )
    return out


async def alert_draft(turn: Turn, draft: Draft, why: str, ref: str | None) -> None:
    """Alert the on-duty members for the draft's area (or everyone on duty if it has none yet)."""
    ew = turn.service(EarlyWarning)
    if draft.area1:
        contacts = await model.on_duty(turn.conn, draft.country or "", draft.area1)
    else:
        contacts = await model.on_duty_everywhere(turn.conn)
    where = draft.area1 or "?"
    turn.out.extend(_alerts(turn.catalogs, contacts, ew, draft.type or "other", where, why, ref))
    turn.event("report_alert", reason=why)


async def alert(turn: Turn, report: Report, why: str) -> None:
    ew = turn.service(EarlyWarning)
    contacts = await model.on_duty(turn.conn, report.country, report.area1)
    turn.out.extend(_alerts(turn.catalogs, contacts, ew, report.type, report.area1, why, report.ref))


async def alert_critical(
    conn: Conn, catalogs: Catalogs, ew: EarlyWarning, report: Report, now: datetime
) -> int:
    """A reviewer set a report to critical: the on-duty members hear of it at once."""
    contacts = await model.on_duty(conn, report.country, report.area1)
    messages = _alerts(catalogs, contacts, ew, report.type, report.area1, N_("marked critical"), report.ref)
    await repo.in_thread(conn, repo.enqueue, messages, now)
    return len(messages)


async def status_update(conn: Conn, catalogs: Catalogs, report: Report, status: str, now: datetime) -> bool:
    """Tell the reporter, in their language, that their report's status changed. False when no
    reporter is linked any more (they used `forget`, or erased their data)."""
    if report.reporter_id is None:
        return False
    rows = await conn.execute_fetchall(
        "SELECT u.id FROM reporters p JOIN users u ON u.id = p.user_id WHERE p.id = ? AND u.stopped = 0",
        (report.reporter_id,),
    )
    if not rows:
        return False
    user = await repo.get_user(conn, rows[0]["id"])
    if user is None:
        return False
    words = catalogs.gettext(user.lang, STATUS_WORDS[status])
    text = catalogs.gettext(user.lang, N_("Update on your report {ref}: it is now {status}.")).format(
        ref=report.ref, status=words
    )
    if status == "referred":
        text += "\n" + catalogs.gettext(user.lang, N_("Thank you: your report is helping people act."))
    message = Outbound(
        user.channel,
        user.address,
        text,
        priority=BULK,
        language=user.lang,
        user_id=user.id,
        key="report_status",  # an approved template outside WhatsApp's 24-hour window
        args={"ref": report.ref, "status": words},
    )
    await repo.in_thread(conn, repo.enqueue, [message], now)
    return True
