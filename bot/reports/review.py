"""The review actions, one set for the dashboard, the command line and the chat: each checks
the reviewer's scope, writes its event, and tells the reporter or the on-duty committee."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.i18n import Catalogs
from bot.reports import model, notify
from bot.reports.config import EarlyWarning
from bot.reports.model import Report, ReportError, Scope
from bot.storage.repo import Conn


@dataclass(frozen=True)
class Reviewer:
    name: str  # shown in claims ("being reviewed by M.") and the audit trail
    role: str  # "committee" or "admin"
    scope: Scope

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


async def open_report(conn: Conn, reviewer: Reviewer, ref: str) -> Report:
    """The report, if it is in the reviewer's areas; the same answer whether it does not exist
    or is out of scope, so a reference number tells an outsider nothing."""
    report = await model.get_report(conn, ref)
    if report is None or not (reviewer.is_admin or reviewer.scope.covers(report.country, report.area1)):
        raise ReportError(f"no report {ref.strip().upper()} in your areas")
    return report


async def change_status(
    conn: Conn, catalogs: Catalogs, reviewer: Reviewer, ref: str, status: str, reason: str, now: datetime
) -> Report:
    if status == "referred":
        raise ReportError("record a referral (to whom and when) to mark a report referred")
    report = await open_report(conn, reviewer, ref)
    await model.set_status(conn, report, status, reason, reviewer.name, now)
    await notify.status_update(conn, catalogs, report, status, now)
    return await open_report(conn, reviewer, ref)


async def refer(
    conn: Conn, catalogs: Catalogs, reviewer: Reviewer, ref: str, to: str, when: str, now: datetime
) -> Report:
    report = await open_report(conn, reviewer, ref)
    was = report.status
    await model.record_referral(conn, report, to, when, reviewer.name, now)
    if was != "referred":
        await notify.status_update(conn, catalogs, report, "referred", now)
    return await open_report(conn, reviewer, ref)


async def set_urgency(
    conn: Conn,
    catalogs: Catalogs,
    ew: EarlyWarning,
    reviewer: Reviewer,
    ref: str,
    urgency: str,
    now: datetime,
) -> Report:
    report = await open_report(conn, reviewer, ref)
    await model.set_urgency(conn, report, urgency, reviewer.name, now)
    if urgency == "critical" and report.urgency != "critical" and not ew.is_peace(report.type):
        await notify.alert_critical(conn, catalogs, ew, report, now)
    return await open_report(conn, reviewer, ref)


async def claim(conn: Conn, ew: EarlyWarning, reviewer: Reviewer, ref: str, now: datetime) -> Report:
    report = await open_report(conn, reviewer, ref)
    await model.claim(conn, report, reviewer.name, ew.claim_minutes, now)
    if report.status == "received":  # a reviewer has it: the reporter hears it is being reviewed
        await model.set_status(conn, report, "in_review", "claimed for review", reviewer.name, now)
    return await open_report(conn, reviewer, ref)


async def claim_and_tell(
    conn: Conn, catalogs: Catalogs, ew: EarlyWarning, reviewer: Reviewer, ref: str, now: datetime
) -> Report:
    before = await open_report(conn, reviewer, ref)
    report = await claim(conn, ew, reviewer, ref, now)
    if before.status != report.status:
        await notify.status_update(conn, catalogs, report, report.status, now)
    return report
