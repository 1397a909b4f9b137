"""Reports, reporters and the review: the SQL early warning runs on.

A reporter is known by a code (R-7K2Q) everywhere but in `reporters`; only `resolve_code`
follows a code to a person, and it writes who asked and why first. Every change to a report
goes with an event in `report_events`, which the database refuses to edit.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from bot.storage.repo import Conn, iso

STATUSES = ("received", "in_review", "verified", "unverifiable", "referred", "closed")
OPEN_STATUSES = ("received", "in_review", "verified", "unverifiable", "referred")
URGENCIES = ("low", "medium", "high", "critical")
PEOPLE = ("none", "1_5", "6_20", "21p", "unknown")
# Where a report may go from each status. Closed reports can be opened again.
NEXT_STATUS = {
    "received": ("in_review", "verified", "unverifiable", "closed"),
    "in_review": ("verified", "unverifiable", "closed"),
    "verified": ("referred", "closed"),
    "unverifiable": ("in_review", "closed"),
    "referred": ("closed",),
    "closed": ("in_review",),
}
CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O or 1/I to misread

PHONE = re.compile(r"(?<![\w+(])[+(]?\d[\d \-./()]{6,}\d(?![\w])")
A_DATE = re.compile(r"^\d{1,2}[/.\-]\d{1,2}[/.\-]\d{2,4}$")
EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(\.[\w\-]+)+")


def mask(text: str) -> str:
    """What a reviewer reads: phone numbers and e-mail addresses replaced. The original is kept
    for admins (the committee never needs to call the reporter's neighbour)."""

    def phone(found: re.Match[str]) -> str:
        number = found.group(0)
        digits = sum(c.isdigit() for c in number)
        return number if digits < 8 or A_DATE.match(number) else "[phone]"

    return PHONE.sub(phone, EMAIL.sub("[e-mail]", text))


class ReportError(ValueError):
    """A review action that cannot be done; the message says why, in plain words."""


@dataclass(frozen=True)
class Scope:
    """The areas a committee member reviews: everything, whole countries, or given level-1
    areas ("BI", "RW/Gasabo")."""

    everything: bool = False
    countries: frozenset[str] = frozenset()
    areas: frozenset[tuple[str, str]] = frozenset()

    @classmethod
    def parse(cls, value: str | None) -> Scope:
        parts = [p.strip() for p in (value or "").split(",") if p.strip()]
        if "*" in parts:
            return cls(everything=True)
        countries = {p.upper() for p in parts if "/" not in p}
        areas = {(p.split("/", 1)[0].upper(), p.split("/", 1)[1]) for p in parts if "/" in p}
        return cls(False, frozenset(countries), frozenset(areas))

    def covers(self, country: str, area1: str) -> bool:
        return self.everything or country in self.countries or (country, area1) in self.areas

    def sql(self, alias: str = "r") -> tuple[str, list[str]]:
        """A WHERE condition with its parameters (never text from the user in the SQL)."""
        if self.everything:
            return "1 = 1", []
        terms, params = [], []
        for country in sorted(self.countries):
            terms.append(f"{alias}.country = ?")
            params.append(country)
        for country, area in sorted(self.areas):
            terms.append(f"({alias}.country = ? AND {alias}.area1 = ?)")
            params += [country, area]
        return ("(" + " OR ".join(terms) + ")" if terms else "1 = 0"), params

    def __str__(self) -> str:
        if self.everything:
            return "*"
        return ",".join(sorted(self.countries) + [f"{c}/{a}" for c, a in sorted(self.areas)])


@dataclass(frozen=True)
class Report:
    id: int
    ref: str
    reporter_id: int | None
    reporter_code: str | None
    type: str
    happened_on: str
    ongoing: bool
    country: str
    area1: str
    area2: str | None
    text: str
    text_masked: str
    people: str
    reporter_safe: bool
    danger: bool
    committee_only: bool
    language: str | None
    status: str
    urgency: str | None
    checklist: tuple[str, ...]
    duplicate_of: int | None
    claimed_by: str | None
    claimed_until: str | None
    created_at: str
    updated_at: str
    verified_at: str | None
    trusted: bool = False
    photos: int = 0

    def claim_holder(self, now: datetime) -> str | None:
        if self.claimed_by and self.claimed_until and self.claimed_until > iso(now):
            return self.claimed_by
        return None


_COLS = (
    "r.id, r.ref, r.reporter_id, p.code AS reporter_code, r.type, r.happened_on, r.ongoing, r.country, "
    "r.area1, r.area2, r.text, r.text_masked, r.people, r.reporter_safe, r.danger, r.committee_only, "
    "r.language, r.status, r.urgency, r.checklist, r.duplicate_of, r.claimed_by, r.claimed_until, "
    "r.created_at, r.updated_at, r.verified_at, COALESCE(p.trusted, 0) AS trusted, "
    "(SELECT COUNT(*) FROM report_photos ph WHERE ph.report_id = r.id) AS photos"
)
_FROM = "FROM reports r LEFT JOIN reporters p ON p.id = r.reporter_id"


def _report(row: Any) -> Report:
    return Report(
        id=row["id"],
        ref=row["ref"],
        reporter_id=row["reporter_id"],
        reporter_code=row["reporter_code"],
        type=row["type"],
        happened_on=row["happened_on"],
        ongoing=bool(row["ongoing"]),
        country=row["country"],
        area1=row["area1"],
        area2=row["area2"],
        text=row["text"],
        text_masked=row["text_masked"],
        people=row["people"],
        reporter_safe=bool(row["reporter_safe"]),
        danger=bool(row["danger"]),
        committee_only=bool(row["committee_only"]),
        language=row["language"],
        status=row["status"],
        urgency=row["urgency"],
        checklist=tuple(json.loads(row["checklist"] or "[]")),
        duplicate_of=row["duplicate_of"],
        claimed_by=row["claimed_by"],
        claimed_until=row["claimed_until"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        verified_at=row["verified_at"],
        trusted=bool(row["trusted"]),
        photos=row["photos"],
    )


# -- roles ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatRole:
    role: str
    scope: Scope
    on_duty: bool


async def chat_roles(conn: Conn, user_id: int) -> dict[str, ChatRole]:
    rows = await conn.execute_fetchall(
        "SELECT role, scope, on_duty FROM report_roles WHERE user_id = ?", (user_id,)
    )
    return {r["role"]: ChatRole(r["role"], Scope.parse(r["scope"]), bool(r["on_duty"])) for r in rows}


async def grant(conn: Conn, user_id: int, role: str, scope: str, on_duty: bool, now: datetime) -> None:
    await conn.execute(
        "INSERT INTO report_roles (user_id, role, scope, on_duty, granted_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id, role) DO UPDATE SET scope = excluded.scope, on_duty = excluded.on_duty",
        (user_id, role, scope, int(on_duty), iso(now)),
    )


async def revoke(conn: Conn, user_id: int, role: str) -> bool:
    cur = await conn.execute("DELETE FROM report_roles WHERE user_id = ? AND role = ?", (user_id, role))
    return cur.rowcount > 0


@dataclass(frozen=True)
class Contact:
    user_id: int
    channel: str
    address: str
    language: str


async def on_duty(conn: Conn, country: str, area1: str) -> list[Contact]:
    """The committee members on duty for an area: they are alerted at once."""
    rows = await conn.execute_fetchall(
        "SELECT u.id, u.channel, u.address, COALESCE(u.language, u.language_hint, 'en') AS lang, rr.scope "
        "FROM report_roles rr JOIN users u ON u.id = rr.user_id "
        "WHERE rr.role = 'committee' AND rr.on_duty = 1 AND u.unreachable = 0 ORDER BY u.id"
    )
    return [
        Contact(r["id"], r["channel"], r["address"], r["lang"])
        for r in rows
        if Scope.parse(r["scope"]).covers(country, area1)
    ]


# -- reporters --------------------------------------------------------------------------


async def reporter_code(conn: Conn, user_id: int, now: datetime) -> tuple[int, str]:
    """The reporter's id and code, made on their first report."""
    rows = await conn.execute_fetchall("SELECT id, code FROM reporters WHERE user_id = ?", (user_id,))
    if rows:
        return rows[0]["id"], rows[0]["code"]
    while True:
        code = "R-" + "".join(secrets.choice(CODE_ALPHABET) for _ in range(4))
        rows = await conn.execute_fetchall(
            "INSERT INTO reporters (code, user_id, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING RETURNING id",
            (code, user_id, iso(now)),
        )
        if rows:
            return int(rows[0][0]), code


async def forget(conn: Conn, user_id: int) -> list[dict[str, Any]]:
    """Unlink a reporter from all their reports (which stay, anonymous). Returns the chat ranges
    of their report conversations, for the channel to erase where it can."""
    rows = await conn.execute_fetchall(
        "SELECT r.conversation, r.created_at FROM reports r JOIN reporters p ON p.id = r.reporter_id "
        "WHERE p.user_id = ? AND r.conversation IS NOT NULL",
        (user_id,),
    )
    await conn.execute(
        "UPDATE reports SET conversation = NULL WHERE reporter_id IN "
        "(SELECT id FROM reporters WHERE user_id = ?)",
        (user_id,),
    )
    await conn.execute("DELETE FROM reporters WHERE user_id = ?", (user_id,))
    return [json.loads(r["conversation"]) | {"created_at": r["created_at"]} for r in rows]


async def resolve_code(
    conn: Conn, code: str, admin: str, reason: str, now: datetime
) -> tuple[str, str] | None:
    """(channel, address) behind a reporter code, for an admin with a reason; the lookup is
    logged before the answer is read, so no lookup goes unrecorded."""
    if not admin.strip() or not reason.strip():
        raise ReportError("a lookup needs the admin's name and a reason")
    await conn.execute(
        "INSERT INTO reporter_lookups (at, admin, code, reason) VALUES (?, ?, ?, ?)",
        (iso(now), admin.strip(), code.strip().upper(), reason.strip()),
    )
    rows = await conn.execute_fetchall(
        "SELECT u.channel, u.address FROM reporters p JOIN users u ON u.id = p.user_id WHERE p.code = ?",
        (code.strip().upper(),),
    )
    return (rows[0]["channel"], rows[0]["address"]) if rows else None


async def set_trusted(
    conn: Conn,
    code: str,
    trusted: bool,
    actor: str,
    minimum: int,
    now: datetime,
    report_id: int | None = None,
) -> None:
    """Mark a reporter trusted (their reports go up the queue); the event goes on the report
    the reviewer was reading, or on the reporter's newest one from the command line."""
    rows = await conn.execute_fetchall(
        "SELECT p.id, COUNT(r.verified_at) AS verified FROM reporters p LEFT JOIN reports r "
        "ON r.reporter_id = p.id WHERE p.code = ? GROUP BY p.id",
        (code.strip().upper(),),
    )
    if not rows:
        raise ReportError(f"no reporter has the code {code}")
    if trusted and rows[0]["verified"] < minimum:
        raise ReportError(f"{code} has {rows[0]['verified']} verified reports; trusted needs {minimum}")
    await conn.execute("UPDATE reporters SET trusted = ? WHERE id = ?", (int(trusted), rows[0]["id"]))
    if report_id is None:
        newest = await conn.execute_fetchall(
            "SELECT id FROM reports WHERE reporter_id = ? ORDER BY id DESC LIMIT 1", (rows[0]["id"],)
        )
        report_id = newest[0]["id"] if newest else None
    if report_id is not None:
        kind = "reporter_trusted" if trusted else "reporter_untrusted"
        await add_event(conn, report_id, actor, kind, {"reporter": code.strip().upper()}, now)


@dataclass(frozen=True)
class ReporterRecord:
    filed: int
    verified: int
    trusted: bool

    @property
    def share_verified(self) -> float | None:
        return self.verified / self.filed if self.filed else None


async def reporter_record(conn: Conn, reporter_id: int | None) -> ReporterRecord | None:
    if reporter_id is None:
        return None
    rows = await conn.execute_fetchall(
        "SELECT COUNT(r.id) AS filed, COUNT(r.verified_at) AS verified, p.trusted FROM reporters p "
        "LEFT JOIN reports r ON r.reporter_id = p.id WHERE p.id = ? GROUP BY p.id",
        (reporter_id,),
    )
    return ReporterRecord(rows[0]["filed"], rows[0]["verified"], bool(rows[0]["trusted"])) if rows else None


# -- filing -------------------------------------------------------------------------------


@dataclass
class Draft:
    """A report being written in the chat; kept in the dialog state until it is filed."""

    type: str | None = None
    happened_on: str | None = None
    ongoing: bool = False
    country: str | None = None
    area1: str | None = None
    area2: str | None = None
    text: str | None = None
    photos: list[str] = field(default_factory=list)
    people: str | None = None
    safe: bool | None = None
    danger: bool = False
    committee_only: bool | None = None
    alerted: bool = False
    conversation: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Draft:
        known = {k: v for k, v in (data or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


async def file_report(
    conn: Conn, draft: Draft, reporter_id: int, channel: str, language: str, now: datetime
) -> Report:
    assert draft.type and draft.happened_on and draft.country and draft.area1 and draft.text is not None
    year = now.year
    rows = await conn.execute_fetchall("SELECT COUNT(*) FROM reports WHERE ref LIKE ?", (f"EW-{year}-%",))
    ref = f"EW-{year}-{rows[0][0] + 1:04d}"
    inserted = await conn.execute_fetchall(
        "INSERT INTO reports (ref, reporter_id, type, happened_on, ongoing, country, area1, area2, text, "
        "text_masked, people, reporter_safe, danger, committee_only, language, conversation, created_at, "
        "updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            ref,
            reporter_id,
            draft.type,
            draft.happened_on,
            int(draft.ongoing),
            draft.country,
            draft.area1,
            draft.area2,
            draft.text,
            mask(draft.text),
            draft.people or "unknown",
            int(draft.safe is not False),
            int(draft.danger or draft.safe is False),
            int(bool(draft.committee_only)),
            language,
            json.dumps({"channel": channel} | draft.conversation) if draft.conversation else None,
            iso(now),
            iso(now),
        ),
    )
    report_id = int(inserted[0][0])
    await conn.executemany(
        "INSERT INTO report_photos (report_id, channel, ref) VALUES (?, ?, ?)",
        [(report_id, channel, ref_) for ref_ in draft.photos],
    )
    await add_event(conn, report_id, "reporter", "filed", {"status": "received"}, now)
    found = await get_report(conn, ref)
    assert found is not None
    return found


async def add_event(
    conn: Conn, report_id: int, actor: str, type_: str, data: dict[str, Any], now: datetime
) -> None:
    await conn.execute(
        "INSERT INTO report_events (report_id, at, actor, type, data) VALUES (?, ?, ?, ?, ?)",
        (report_id, iso(now), actor, type_, json.dumps(data, ensure_ascii=False) if data else None),
    )


# -- reading ------------------------------------------------------------------------------


async def get_report(conn: Conn, ref: str) -> Report | None:
    rows = await conn.execute_fetchall(f"SELECT {_COLS} {_FROM} WHERE r.ref = ?", (ref.strip().upper(),))
    return _report(rows[0]) if rows else None


async def reports_of(conn: Conn, user_id: int) -> list[Report]:
    rows = await conn.execute_fetchall(
        f"SELECT {_COLS} {_FROM} WHERE p.user_id = ? ORDER BY r.id DESC LIMIT 20", (user_id,)
    )
    return [_report(r) for r in rows]


@dataclass(frozen=True)
class Filters:
    status: str | None = None  # a status, or "open" for every status but closed
    type: str | None = None
    country: str | None = None
    area1: str | None = None
    since: str | None = None  # ISO dates, on the filing date
    until: str | None = None
    urgency: str | None = None


def _where(scope: Scope, f: Filters) -> tuple[str, list[Any]]:
    condition, params = scope.sql()
    terms = [condition]
    if f.status == "open":
        terms.append("r.status != 'closed'")
    elif f.status:
        terms.append("r.status = ?")
        params.append(f.status)
    for column, value in (
        ("type", f.type),
        ("country", f.country),
        ("area1", f.area1),
        ("urgency", f.urgency),
    ):
        if value:
            terms.append(f"r.{column} = ?")
            params.append(value)
    if f.since:
        terms.append("r.created_at >= ?")
        params.append(f.since)
    if f.until:
        terms.append("r.created_at < ?")
        params.append(f.until + "T99")  # the whole last day
    return " AND ".join(terms), params


# Most urgent first (danger, then critical … low), trusted reporters next, then the newest:
# `rank` and `trusted` are kept by triggers, so this order is an index walk.
QUEUE_ORDER = "r.rank DESC, r.trusted DESC, r.created_at DESC"


async def queue(conn: Conn, scope: Scope, f: Filters, limit: int = 50, offset: int = 0) -> list[Report]:
    where, params = _where(scope, f)
    rows = await conn.execute_fetchall(
        f"SELECT {_COLS} {_FROM} WHERE {where} ORDER BY {QUEUE_ORDER} LIMIT ? OFFSET ?",
        (*params, limit, offset),
    )
    return [_report(r) for r in rows]


async def count_by_status(conn: Conn, scope: Scope, f: Filters = Filters()) -> dict[str, int]:
    if f.type or f.urgency or f.since or f.until:
        where, params = _where(scope, replace(f, status=None))
        sql = f"SELECT r.status, COUNT(*) AS n FROM reports r WHERE {where} GROUP BY r.status"
    else:  # by area only: the running totals, whatever the number of reports
        where, params = _where(scope, Filters(country=f.country, area1=f.area1))
        sql = f"SELECT r.status, SUM(r.n) AS n FROM report_status_counts r WHERE {where} GROUP BY r.status"
    rows = await conn.execute_fetchall(sql, params)
    return {s: next((r["n"] for r in rows if r["status"] == s), 0) for s in STATUSES}


async def events_of(conn: Conn, report_id: int) -> list[dict[str, Any]]:
    rows = await conn.execute_fetchall(
        "SELECT at, actor, type, data FROM report_events WHERE report_id = ? ORDER BY id", (report_id,)
    )
    return [
        {"at": r["at"], "actor": r["actor"], "type": r["type"], **json.loads(r["data"] or "{}")} for r in rows
    ]


async def possible_duplicates(conn: Conn, report: Report, hours: int) -> list[Report]:
    """Reports of the same type in the same area filed within `hours` of this one."""
    at = datetime.fromisoformat(report.created_at)
    rows = await conn.execute_fetchall(
        f"SELECT {_COLS} {_FROM} WHERE r.id != ? AND r.type = ? AND r.country = ? AND r.area1 = ? "
        "AND r.created_at BETWEEN ? AND ? ORDER BY r.created_at DESC LIMIT 10",
        (
            report.id,
            report.type,
            report.country,
            report.area1,
            iso(at - timedelta(hours=hours)),
            iso(at + timedelta(hours=hours)),
        ),
    )
    return [_report(r) for r in rows]


async def photo_refs(conn: Conn, report_id: int) -> list[tuple[str, str]]:
    rows = await conn.execute_fetchall(
        "SELECT channel, ref FROM report_photos WHERE report_id = ? ORDER BY id", (report_id,)
    )
    return [(r["channel"], r["ref"]) for r in rows]


# -- reviewing ---------------------------------------------------------------------------


async def claim(conn: Conn, report: Report, who: str, minutes: int, now: datetime) -> None:
    """Lock the report to one reviewer for `minutes`; refused while someone else holds it."""
    holder = report.claim_holder(now)
    if holder is not None and holder != who:
        raise ReportError(f"{report.ref} is being reviewed by {holder}")
    until = iso(now + timedelta(minutes=minutes))
    await conn.execute(
        "UPDATE reports SET claimed_by = ?, claimed_until = ?, updated_at = ? WHERE id = ?",
        (who, until, iso(now), report.id),
    )
    await add_event(conn, report.id, who, "claimed", {"until": until}, now)


async def release(conn: Conn, report: Report, who: str, now: datetime) -> None:
    if report.claim_holder(now) == who:
        await conn.execute(
            "UPDATE reports SET claimed_by = NULL, claimed_until = NULL WHERE id = ?", (report.id,)
        )
        await add_event(conn, report.id, who, "released", {}, now)


def _not_held_by_other(report: Report, who: str, now: datetime) -> None:
    holder = report.claim_holder(now)
    if holder is not None and holder != who:
        raise ReportError(f"{report.ref} is being reviewed by {holder}; wait until they finish")


async def set_status(conn: Conn, report: Report, status: str, reason: str, who: str, now: datetime) -> None:
    _not_held_by_other(report, who, now)
    if status not in NEXT_STATUS.get(report.status, ()):
        allowed = ", ".join(NEXT_STATUS.get(report.status, ())) or "nothing"
        raise ReportError(f"{report.ref} is {report.status}; it can go to {allowed}, not {status}")
    if not reason.strip():
        raise ReportError("a status change needs a reason")
    verified = iso(now) if status == "verified" else None
    await conn.execute(
        "UPDATE reports SET status = ?, updated_at = ?, verified_at = COALESCE(verified_at, ?) WHERE id = ?",
        (status, iso(now), verified, report.id),
    )
    await add_event(
        conn, report.id, who, "status", {"from": report.status, "to": status, "reason": reason.strip()}, now
    )


async def set_urgency(conn: Conn, report: Report, urgency: str, who: str, now: datetime) -> None:
    _not_held_by_other(report, who, now)
    if urgency not in URGENCIES:
        raise ReportError(f"urgency is one of {', '.join(URGENCIES)}")
    await conn.execute(
        "UPDATE reports SET urgency = ?, updated_at = ? WHERE id = ?", (urgency, iso(now), report.id)
    )
    await add_event(conn, report.id, who, "urgency", {"from": report.urgency, "to": urgency}, now)


async def set_checklist(
    conn: Conn, report: Report, done: list[str], known: set[str], who: str, now: datetime
) -> None:
    _not_held_by_other(report, who, now)
    unknown = set(done) - known
    if unknown:
        raise ReportError(f"not on the checklist: {', '.join(sorted(unknown))}")
    ordered = sorted(set(done))
    await conn.execute(
        "UPDATE reports SET checklist = ?, updated_at = ? WHERE id = ?",
        (json.dumps(ordered), iso(now), report.id),
    )
    await add_event(conn, report.id, who, "checklist", {"done": ordered}, now)


async def add_note(conn: Conn, report: Report, note: str, who: str, now: datetime) -> None:
    if not note.strip():
        raise ReportError("the note is empty")
    await add_event(conn, report.id, who, "note", {"note": note.strip()[:2000]}, now)


async def mark_duplicate(conn: Conn, report: Report, original: Report, who: str, now: datetime) -> None:
    _not_held_by_other(report, who, now)
    if original.id == report.id:
        raise ReportError("a report cannot duplicate itself")
    if original.duplicate_of == report.id:
        raise ReportError(f"{original.ref} is already marked as a duplicate of {report.ref}")
    await conn.execute(
        "UPDATE reports SET duplicate_of = ?, updated_at = ? WHERE id = ?", (original.id, iso(now), report.id)
    )
    await add_event(conn, report.id, who, "duplicate", {"of": original.ref}, now)


async def record_referral(conn: Conn, report: Report, to: str, when: str, who: str, now: datetime) -> None:
    _not_held_by_other(report, who, now)
    if not to.strip():
        raise ReportError("say to whom the report was referred")
    if report.committee_only:
        raise ReportError(f"the reporter asked that {report.ref} is never shared beyond the committee")
    if report.status not in ("verified", "referred"):
        raise ReportError(f"{report.ref} is {report.status}: verify it before referring it")
    await add_event(
        conn, report.id, who, "referral", {"to": to.strip()[:200], "when": when.strip()[:40]}, now
    )
    if report.status == "verified":
        await set_status(conn, report, "referred", f"referred to {to.strip()[:200]}", who, now)


async def on_duty_everywhere(conn: Conn) -> list[Contact]:
    rows = await conn.execute_fetchall(
        "SELECT u.id, u.channel, u.address, COALESCE(u.language, u.language_hint, 'en') AS lang "
        "FROM report_roles rr JOIN users u ON u.id = rr.user_id "
        "WHERE rr.role = 'committee' AND rr.on_duty = 1 AND u.unreachable = 0 ORDER BY u.id"
    )
    return [Contact(r["id"], r["channel"], r["address"], r["lang"]) for r in rows]
