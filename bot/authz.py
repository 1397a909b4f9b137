"""Who may do what: the one place every privileged action is checked.

Roles: a learner; a facilitator of given clubs (memberships.role); staff and admin
(users.role). Club actions need the club; organisation-wide actions do not.
"""

from __future__ import annotations

from enum import StrEnum

from bot.core.turn import Turn


class Role(StrEnum):
    LEARNER = "learner"
    FACILITATOR = "facilitator"
    STAFF = "staff"
    ADMIN = "admin"


class Action(StrEnum):
    CREATE_SESSION = "create_session"
    INVITE = "invite"
    CANCEL_SESSION = "cancel_session"
    MARK_ATTENDANCE = "mark_attendance"
    SESSION_STATUS = "session_status"
    ANNOUNCE_CLUB = "announce_club"
    ANNOUNCE_ALL = "announce_all"
    VIEW_ALL_STATS = "view_all_stats"
    GRANT_ROLE = "grant_role"
    CREATE_CLUB = "create_club"


# Actions on one club: its facilitators may, and staff and admins may for every club.
CLUB_ACTIONS = {
    Action.CREATE_SESSION,
    Action.INVITE,
    Action.CANCEL_SESSION,
    Action.MARK_ATTENDANCE,
    Action.SESSION_STATUS,
    Action.ANNOUNCE_CLUB,
}
STAFF_ACTIONS = {Action.ANNOUNCE_ALL, Action.VIEW_ALL_STATS, Action.CREATE_CLUB}
ADMIN_ACTIONS = {Action.GRANT_ROLE}


def allowed(role: str, facilitated: set[int], action: Action, club_id: int | None = None) -> bool:
    """`role` is the user's organisation role; `facilitated` the ids of clubs they facilitate."""
    if role == Role.ADMIN:
        return True
    if action in ADMIN_ACTIONS:
        return False
    if role == Role.STAFF:
        return True
    if action in CLUB_ACTIONS:
        return club_id is not None and club_id in facilitated
    return False


def refuse(turn: Turn, action: Action) -> None:
    """Say what is really needed: a facilitator refused `grant` is told it takes an admin."""
    turn.event("denied", action=action.value)
    if action in ADMIN_ACTIONS:
        turn.say(turn._("Sorry, only an admin can do that."))
    elif action in STAFF_ACTIONS and action is not Action.VIEW_ALL_STATS:  # facilitators see their own
        turn.say(turn._("Sorry, only our staff can do that."))
    else:
        turn.say(turn._("Sorry, only a club's facilitator or our staff can do that."))


# -- early warning ----------------------------------------------------------------------------


class ReportAction(StrEnum):
    FILE = "file_report"
    VIEW_QUEUE = "view_reports"
    REVIEW = "review_report"  # claim, checklist, urgency, notes, duplicates, status, referral
    EXPORT = "export_reports"
    TRUST_REPORTER = "trust_reporter"
    RESOLVE_REPORTER = "resolve_reporter"  # who is behind a reporter code
    GRANT = "grant_report_role"


COMMITTEE_ACTIONS = {
    ReportAction.VIEW_QUEUE,
    ReportAction.REVIEW,
    ReportAction.EXPORT,
    ReportAction.TRUST_REPORTER,
}


def report_allowed(
    roles: set[str], action: ReportAction, covers_area: bool = True, open_to_all: bool = False
) -> bool:
    """`roles`: the user's early-warning roles ("reporter", "committee") and "admin" for an admin.
    A committee member acts only on reports in their areas (`covers_area`); only an admin may
    resolve a reporter code or grant roles. Reporting is for reporters, or anyone when
    REPORTS_OPEN=1."""
    if "admin" in roles:
        return True
    if action is ReportAction.FILE:
        return "reporter" in roles or open_to_all
    if action in COMMITTEE_ACTIONS:
        return "committee" in roles and covers_area
    return False
