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
    turn.event("denied", action=action.value)
    turn.say(turn._("Sorry, only a club's facilitator or our staff can do that."))
