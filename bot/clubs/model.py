"""Clubs, members, sessions, invitations with RSVP, reminders and attendance.

Every bulk send is an outbox row (priority BULK), written in the same transaction as the
invitation or job it belongs to: a crash loses none and sends none twice. Messages are
rendered in each member's own language, and carry a template key for WhatsApp's 24-hour rule.
The functions that touch thousands of rows run on the raw connection in one thread hop.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from bot.i18n import N_, Catalogs, format_when
from bot.messages import BULK, Choice, Outbound
from bot.storage.repo import Conn, Raw, iso, skip_locked

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: codes are read aloud
CODE = re.compile(r"^[A-Z2-9]{4,8}$")
REMINDERS = (timedelta(hours=24), timedelta(hours=2))  # the default; SESSION_REMINDERS sets them
NUDGE_AFTER = timedelta(hours=24)
RSVP = ("yes", "maybe", "no")
RSVP_LABELS = {"yes": N_("Yes"), "maybe": N_("Maybe"), "no": N_("No")}
INVITATION = N_("{club} invites you to a club session: {topic}. When: {when}. Where: {place}. Will you come?")
NUDGE = N_("{club} is waiting for your answer: {topic}, {when}, {place}. Will you come?")
REMINDER = N_("Reminder: {club} meets {when} at {place}. Topic: {topic}. See you there!")
CANCELLED = N_("Cancelled: the {club} session of {when} ({topic}) will not take place.")
CHANGED = N_("Changed: {club} now meets {when} at {place}. Topic: {topic}.")
TEMPLATES = {
    "invitation": INVITATION,
    "nudge": NUDGE,
    "reminder": REMINDER,
    "cancelled": CANCELLED,
    "changed": CHANGED,
}


@dataclass(frozen=True)
class SessionReminders:
    """When reminders go before a session (SESSION_REMINDERS), as the engine's handlers see it."""

    hours: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2))


@dataclass(frozen=True)
class Club:
    id: int
    code: str
    name: str
    district: str
    language: str


@dataclass(frozen=True)
class Session:
    id: int
    club: Club
    starts_at: datetime
    place: str
    topic: str
    status: str


_WHEN_FORMATS = (
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %Hh%M",
    "%Y-%m-%d %Hh",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y %Hh%M",
    "%d/%m/%Y %Hh",
    "%d.%m.%Y %H:%M",
    "%d-%m-%Y %H:%M",
)


def parse_when(text: str, timezone: str = "Africa/Kigali") -> datetime | None:
    """A local date and time written the usual ways ("2026-12-05 15:00", "5/12/2026 15h"), as UTC."""
    from zoneinfo import ZoneInfo

    cleaned = " ".join(text.replace("H", "h").split())
    for fmt in _WHEN_FORMATS:
        try:
            local = datetime.strptime(cleaned, fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=ZoneInfo(timezone)).astimezone(ZoneInfo("UTC"))
    return None


def load_districts(path: Path) -> list[str]:
    if not path.is_file():
        return []
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return [str(d) for d in data.get("districts", [])]


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(5))


def normalise_code(text: str) -> str | None:
    code = text.strip().upper().removeprefix("CLUB_")
    return code if CODE.match(code) else None


# -- clubs and members ----------------------------------------------------------


async def create_club(conn: Conn, name: str, district: str, language: str, at: datetime) -> Club:
    for _ in range(10):
        code = new_code()
        rows = await conn.execute_fetchall(
            "INSERT INTO clubs (code, name, district, language, created_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (code, name, district, language, iso(at)),
        )
        if rows:
            return Club(rows[0][0], code, name, district, language)
    raise RuntimeError("could not find a free club code")


def _club(row: Any) -> Club:
    return Club(row["id"], row["code"], row["name"], row["district"], row["language"])


async def club_by_code(conn: Conn, code: str) -> Club | None:
    rows = await conn.execute_fetchall(
        "SELECT id, code, name, district, language FROM clubs WHERE code = ?", (code.upper(),)
    )
    return _club(rows[0]) if rows else None


async def clubs_by_ids(conn: Conn, ids: set[int] | None) -> list[Club]:
    """These clubs, or every club (None)."""
    rows = await conn.execute_fetchall("SELECT id, code, name, district, language FROM clubs ORDER BY name")
    return [_club(r) for r in rows if ids is None or r["id"] in ids]


async def upcoming_sessions(conn: Conn, club_ids: list[int], since: datetime) -> list[Session]:
    if not club_ids:
        return []
    rows = await conn.execute_fetchall(
        f"SELECT id FROM club_sessions WHERE club_id IN ({','.join('?' * len(club_ids))}) "
        "AND status = 'scheduled' AND starts_at >= ? ORDER BY starts_at LIMIT 8",
        (*club_ids, iso(since)),
    )
    sessions = [await get_session(conn, r[0]) for r in rows]
    return [s for s in sessions if s is not None]


async def attendees(conn: Conn, session_id: int) -> list[tuple[int, str, int | None]]:
    """(user id, display name or pseudonym, attended) of those who said yes or maybe."""
    rows = await conn.execute_fetchall(
        "SELECT u.id, COALESCE(u.display_name, u.pseudonym), i.attended FROM invitations i "
        "JOIN users u ON u.id = i.user_id WHERE i.session_id = ? AND i.rsvp IN ('yes', 'maybe') "
        "ORDER BY 2 LIMIT 30",
        (session_id,),
    )
    return [(r[0], r[1], r[2]) for r in rows]


async def list_clubs(conn: Conn) -> list[tuple[Club, int]]:
    rows = await conn.execute_fetchall(
        "SELECT c.id, c.code, c.name, c.district, c.language, COUNT(m.user_id) AS members FROM clubs c "
        "LEFT JOIN memberships m ON m.club_id = c.id GROUP BY c.id ORDER BY c.district, c.name"
    )
    return [(_club(r), r["members"]) for r in rows]


async def join(conn: Conn, club: Club, user_id: int, at: datetime) -> bool:
    """True if newly joined."""
    cur = await conn.execute(
        "INSERT INTO memberships (club_id, user_id, joined_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (club.id, user_id, iso(at)),
    )
    return bool(cur.rowcount)


async def leave(conn: Conn, user_id: int, club: Club | None = None) -> list[str]:
    """Leave one club, or every club; returns the names left."""
    clubs = await user_clubs(conn, user_id)
    left = [c for c in clubs if club is None or c.id == club.id]
    for c in left:
        await conn.execute("DELETE FROM memberships WHERE club_id = ? AND user_id = ?", (c.id, user_id))
    return [c.name for c in left]


async def user_clubs(conn: Conn, user_id: int) -> list[Club]:
    rows = await conn.execute_fetchall(
        "SELECT c.id, c.code, c.name, c.district, c.language FROM clubs c "
        "JOIN memberships m ON m.club_id = c.id WHERE m.user_id = ? ORDER BY c.name",
        (user_id,),
    )
    return [_club(r) for r in rows]


async def facilitated(conn: Conn, user_id: int) -> set[int]:
    rows = await conn.execute_fetchall(
        "SELECT club_id FROM memberships WHERE user_id = ? AND role = 'facilitator'", (user_id,)
    )
    return {r[0] for r in rows}


async def grant(conn: Conn, user_id: int, role: str, club: Club | None, at: datetime) -> None:
    """Facilitator of a club (membership role), or staff/admin/learner (organisation role)."""
    if role == "facilitator":
        assert club is not None, "a facilitator is granted for a club"
        await conn.execute(
            "INSERT INTO memberships (club_id, user_id, role, joined_at) VALUES (?, ?, 'facilitator', ?) "
            "ON CONFLICT (club_id, user_id) DO UPDATE SET role = 'facilitator'",
            (club.id, user_id, iso(at)),
        )
    else:
        await conn.execute("UPDATE users SET role = ? WHERE id = ?", (role, user_id))


# -- sessions -------------------------------------------------------------------


async def create_session(
    conn: Conn, club: Club, starts_at: datetime, place: str, topic: str, by: int | None, at: datetime
) -> int:
    rows = await conn.execute_fetchall(
        "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_by, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (club.id, iso(starts_at), place, topic, by, iso(at)),
    )
    return rows[0][0]


async def get_session(conn: Conn, session_id: int) -> Session | None:
    rows = await conn.execute_fetchall(
        "SELECT s.id AS sid, s.starts_at, s.place, s.topic, s.status, "
        "c.id, c.code, c.name, c.district, c.language "
        "FROM club_sessions s JOIN clubs c ON c.id = s.club_id WHERE s.id = ?",
        (session_id,),
    )
    if not rows:
        return None
    r = rows[0]
    return Session(
        r["sid"], _club(r), datetime.fromisoformat(r["starts_at"]), r["place"], r["topic"], r["status"]
    )


class Renderer:
    """Session messages in each member's language, with times in Kigali."""

    def __init__(self, catalogs: Catalogs, timezone: str = "Africa/Kigali"):
        self.catalogs = catalogs
        self.timezone = timezone

    def __call__(
        self, kind: str, session: Session, member: Any, invitation_id: int | None = None
    ) -> Outbound:
        lang = member["language"] or session.club.language
        template = TEMPLATES[kind]
        when = format_when(session.starts_at, lang, self.timezone)
        values = {"club": session.club.name, "topic": session.topic, "when": when, "place": session.place}
        choices: tuple[Choice, ...] = ()
        if kind in ("invitation", "nudge") and invitation_id is not None:
            choices = tuple(
                Choice(f"rsvp.{invitation_id}.{a}", self.catalogs.gettext(lang, RSVP_LABELS[a])) for a in RSVP
            )
        key = {"invitation": "session_invitation", "nudge": "session_invitation"}.get(kind, f"session_{kind}")
        return Outbound(
            channel=member["channel"],
            address=member["address"],
            text=self.catalogs.gettext(lang, template).format(**values),
            choices=choices,
            priority=BULK,
            language=lang,
            key=key,
            args={"club": session.club.name, "when": when, "place": session.place, "topic": session.topic},
            user_id=member["id"],
        )


def _enqueue_one(conn: Raw, message: Outbound, at: datetime) -> int:
    row = conn.execute(
        "INSERT INTO outbox (user_id, channel, address, priority, payload, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            message.user_id,
            message.channel,
            message.address,
            message.priority,
            message.to_json(),
            iso(at),
            iso(at),
        ),
    ).fetchone()
    return row[0]


# A job's session as text, compared with str(session id): a JSON number is an integer on SQLite
# and text on PostgreSQL, and text equals text on both.
_JOB_SESSION = "CAST(json_extract(payload, '$.session') AS TEXT)"

_MEMBERS = (
    "SELECT u.id, u.channel, u.address, u.language FROM memberships m JOIN users u ON u.id = m.user_id "
    "WHERE m.club_id = ? AND u.stopped = 0 AND u.unreachable = 0 AND u.address NOT LIKE 'retired:%'"
)


def invite(
    conn: Raw,
    session: Session,
    render: Callable[..., Outbound],
    at: datetime,
    reminders: tuple[timedelta, ...] = REMINDERS,
) -> int:
    """Invite every member not yet invited, and schedule reminders and one nudge: one
    transaction, one thread hop. Returns how many were invited now (0 on a repeat)."""
    return _in_transaction(conn, invite_within, session, render, at, reminders)


def invite_within(
    conn: Raw,
    session: Session,
    render: Callable[..., Outbound],
    at: datetime,
    reminders: tuple[timedelta, ...] = REMINDERS,
) -> int:
    """`invite`, inside a transaction the caller holds (a chat turn)."""
    invited = 0
    for member in conn.execute(_MEMBERS, (session.club.id,)).fetchall():
        row = conn.execute(
            "INSERT INTO invitations (session_id, user_id, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (session.id, member["id"], iso(at)),
        ).fetchone()
        if row is None:
            continue
        invitation_id = row[0]
        outbox_id = _enqueue_one(conn, render("invitation", session, member, invitation_id), at)
        conn.execute("UPDATE invitations SET outbox_id = ? WHERE id = ?", (outbox_id, invitation_id))
        invited += 1
    already = conn.execute(
        f"SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND {_JOB_SESSION} = ?",
        (str(session.id),),
    ).fetchone()[0]
    if invited and not already:
        jobs = [("reminder", session.starts_at - before) for before in reminders]
        jobs.append(("nudge", at + NUDGE_AFTER))
        for kind, run_at in jobs:
            if at < run_at < session.starts_at:
                conn.execute(
                    "INSERT INTO jobs (kind, run_at, payload) VALUES (?, ?, ?)",
                    (kind, iso(run_at), json.dumps({"session": session.id})),
                )
    return invited


def _in_transaction(conn: Raw, fn: Callable[..., Any], *args: Any) -> Any:
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
        return result
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def run_due_jobs(
    conn: Raw, sessions: dict[int, Session], render: Callable[..., Outbound], at: datetime
) -> int:
    """Fire every due job once: its messages and its 'done' mark commit together."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        sent = 0
        due = conn.execute(
            "SELECT id, kind, run_at, payload FROM jobs "
            "WHERE status = 'pending' AND run_at <= ? ORDER BY run_at" + skip_locked(conn),
            (iso(at),),
        ).fetchall()
        latest_reminder: dict[int, str] = {}
        for job in due:
            if job["kind"] == "reminder":
                sid = json.loads(job["payload"])["session"]
                latest_reminder[sid] = max(latest_reminder.get(sid, ""), job["run_at"])
        for job in due:
            session = sessions.get(json.loads(job["payload"])["session"])
            # After downtime, only the latest due reminder goes, and no nudge close to the start.
            stale = session is not None and (
                (job["kind"] == "reminder" and job["run_at"] < latest_reminder.get(session.id, ""))
                or (job["kind"] == "nudge" and at >= session.starts_at - timedelta(hours=2))
            )
            if session is not None and session.status == "scheduled" and not stale:
                if job["kind"] == "reminder":
                    where = "i.rsvp IN ('yes', 'maybe')"
                else:  # one nudge, to those who never answered
                    where = "i.rsvp IS NULL AND i.nudged = 0"
                rows = conn.execute(
                    "SELECT i.id AS invitation, u.id, u.channel, u.address, u.language FROM invitations i "
                    f"JOIN users u ON u.id = i.user_id WHERE i.session_id = ? AND {where} "
                    "AND u.stopped = 0 AND u.unreachable = 0",
                    (session.id,),
                ).fetchall()
                for r in rows:
                    _enqueue_one(conn, render(job["kind"], session, r, r["invitation"]), at)
                    if job["kind"] == "nudge":
                        conn.execute("UPDATE invitations SET nudged = 1 WHERE id = ?", (r["invitation"],))
                    sent += 1
            conn.execute("UPDATE jobs SET status = 'done', done_at = ? WHERE id = ?", (iso(at), job["id"]))
        conn.execute("COMMIT")
        return sent
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def due_session_ids(conn: Conn, at: datetime) -> list[int]:
    rows = await conn.execute_fetchall(
        "SELECT DISTINCT CAST(json_extract(payload, '$.session') AS INTEGER) FROM jobs "
        "WHERE status = 'pending' AND run_at <= ?",
        (iso(at),),
    )
    return [r[0] for r in rows]


async def next_job_at(conn: Conn) -> datetime | None:
    rows = await conn.execute_fetchall("SELECT MIN(run_at) FROM jobs WHERE status = 'pending'")
    return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None


def cancel(conn: Raw, session: Session, render: Callable[..., Outbound], at: datetime) -> int:
    """Cancel a session: tell everyone invited, and drop its pending jobs. One hop."""
    return _in_transaction(conn, cancel_within, session, render, at)


def cancel_within(conn: Raw, session: Session, render: Callable[..., Outbound], at: datetime) -> int:
    """Cancel once: a second cancel (a repeated command, a retried request) tells nobody again."""
    cur = conn.execute(
        "UPDATE club_sessions SET status = 'cancelled' WHERE id = ? AND status != 'cancelled'", (session.id,)
    )
    if not cur.rowcount:
        return 0
    conn.execute(
        f"UPDATE jobs SET status = 'cancelled', done_at = ? WHERE status = 'pending' AND {_JOB_SESSION} = ?",
        (iso(at), str(session.id)),
    )
    rows = conn.execute(
        "SELECT u.id, u.channel, u.address, u.language FROM invitations i "
        "JOIN users u ON u.id = i.user_id WHERE i.session_id = ? AND u.stopped = 0 AND u.unreachable = 0",
        (session.id,),
    ).fetchall()
    for r in rows:
        _enqueue_one(conn, render("cancelled", session, r), at)
    return len(rows)


def change_within(
    conn: Raw,
    session: Session,
    render: Callable[..., Outbound],
    at: datetime,
    reminders: tuple[timedelta, ...] = REMINDERS,
) -> int:
    """Save a changed session (time, place or topic), move its reminders, tell everyone invited."""
    conn.execute(
        "UPDATE club_sessions SET starts_at = ?, place = ?, topic = ? WHERE id = ?",
        (iso(session.starts_at), session.place, session.topic, session.id),
    )
    conn.execute(
        f"DELETE FROM jobs WHERE status = 'pending' AND kind = 'reminder' AND {_JOB_SESSION} = ?",
        (str(session.id),),
    )
    for before in reminders:
        run_at = session.starts_at - before
        if at < run_at:
            conn.execute(
                "INSERT INTO jobs (kind, run_at, payload) VALUES ('reminder', ?, ?)",
                (iso(run_at), json.dumps({"session": session.id})),
            )
    rows = conn.execute(
        "SELECT u.id, u.channel, u.address, u.language FROM invitations i "
        "JOIN users u ON u.id = i.user_id WHERE i.session_id = ? AND u.stopped = 0 AND u.unreachable = 0 "
        "AND COALESCE(i.rsvp, '') != 'no'",
        (session.id,),
    ).fetchall()
    for r in rows:
        _enqueue_one(conn, render("changed", session, r), at)
    return len(rows)


ANNOUNCEMENT = {
    "facilitator": N_("📣 {club}, from your facilitator:"),
    "staff": N_("📣 {club}, from the Club Speak team:"),
}


def announce_within(
    conn: Raw, club_ids: list[int], text: str, catalogs: Catalogs, sender: str, at: datetime
) -> int:
    """A facilitator's or staff member's own words to every member of these clubs, once each,
    under a line naming the club and the sender in the member's own language."""
    rows = conn.execute(
        "SELECT u.id, u.channel, u.address, u.language, MIN(c.name) AS club, "
        "MIN(c.language) AS club_language FROM memberships m JOIN users u ON u.id = m.user_id "
        "JOIN clubs c ON c.id = m.club_id "
        f"WHERE m.club_id IN ({','.join('?' * len(club_ids))}) "
        "AND u.stopped = 0 AND u.unreachable = 0 AND u.address NOT LIKE 'retired:%' GROUP BY u.id",
        club_ids,
    ).fetchall()
    for r in rows:
        lang = r["language"] or r["club_language"]
        heading = catalogs.gettext(lang, ANNOUNCEMENT[sender]).format(club=r["club"])
        message = Outbound(
            r["channel"],
            r["address"],
            f"{heading}\n{text}",
            priority=BULK,
            language=lang,  # the member's, so a WhatsApp template goes out in their language
            key="announcement",
            args={"club": r["club"], "text": text},
            user_id=r["id"],
        )
        _enqueue_one(conn, message, at)
    return len(rows)


# -- answers ----------------------------------------------------------------------


async def record_rsvp(
    conn: Conn, invitation_id: int, user_id: int, answer: str, at: datetime
) -> Session | None:
    """The session answered for, or None if the invitation is not this user's."""
    if answer not in RSVP:
        return None
    rows = await conn.execute_fetchall(
        "SELECT session_id FROM invitations WHERE id = ? AND user_id = ?", (invitation_id, user_id)
    )
    if not rows:
        return None
    await conn.execute(
        "UPDATE invitations SET rsvp = ?, rsvp_at = ? WHERE id = ?", (answer, iso(at), invitation_id)
    )
    return await get_session(conn, rows[0][0])


async def latest_open_invitation(conn: Conn, user_id: int, since: str | None) -> int | None:
    """The newest unanswered invitation sent after the user's last message, if any."""
    rows = await conn.execute_fetchall(
        "SELECT i.id FROM invitations i JOIN club_sessions s ON s.id = i.session_id "
        "WHERE i.user_id = ? AND i.rsvp IS NULL AND s.status = 'scheduled' AND i.created_at > ? "
        "ORDER BY i.created_at DESC LIMIT 1",
        (user_id, since or ""),
    )
    return rows[0][0] if rows else None


async def mark_attendance(conn: Conn, session_id: int, user_id: int, attended: bool) -> bool:
    cur = await conn.execute(
        "UPDATE invitations SET attended = ? WHERE session_id = ? AND user_id = ?",
        (int(attended), session_id, user_id),
    )
    return bool(cur.rowcount)


async def session_status(conn: Conn, session_id: int) -> dict[str, int]:
    """Counts for the facilitator and `broadcast status`: no names, no numbers."""
    rows = await conn.execute_fetchall(
        # An invitation whose outbox row was pruned keeps its status in `delivery`. Counted with
        # FILTER, not SUM of a comparison: PostgreSQL has no SUM of booleans.
        "SELECT COUNT(*) AS invited, "
        "COUNT(*) FILTER (WHERE d.status IN ('sent', 'delivered', 'read')) AS sent, "
        "COUNT(*) FILTER (WHERE d.status IN ('delivered', 'read')) AS delivered, "
        "COUNT(*) FILTER (WHERE d.status IN ('failed', 'undelivered')) AS failed, "
        "COUNT(*) FILTER (WHERE d.status = 'held') AS held, "
        "COUNT(*) FILTER (WHERE d.status IN ('queued', 'sending')) AS waiting, "
        "COUNT(*) FILTER (WHERE d.rsvp = 'yes') AS yes, "
        "COUNT(*) FILTER (WHERE d.rsvp = 'maybe') AS maybe, "
        "COUNT(*) FILTER (WHERE d.rsvp = 'no') AS no, "
        "COUNT(*) FILTER (WHERE d.rsvp IS NULL) AS no_answer, "
        "COUNT(*) FILTER (WHERE d.attended = 1) AS attended "
        "FROM (SELECT COALESCE(o.status, i.delivery) AS status, i.rsvp, i.attended "
        "FROM invitations i LEFT JOIN outbox o ON o.id = i.outbox_id WHERE i.session_id = ?) d",
        (session_id,),
    )
    return {k: int(rows[0][k] or 0) for k in rows[0].keys()}  # noqa: SIM118 - sqlite3.Row
