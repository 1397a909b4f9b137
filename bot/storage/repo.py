"""Every SQL statement of the bot, as small functions over a connection.

Callers own the transaction (see `Database.transaction`). Values always travel
as parameters; no SQL is ever built from user input.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import aiosqlite

from bot.messages import BULK, Outbound

T = TypeVar("T")

Conn = aiosqlite.Connection
Raw = sqlite3.Connection


async def in_thread(conn: Conn, fn: Callable[..., T], *args: Any) -> T:
    """Run a synchronous function on the raw connection in aiosqlite's own thread.

    The hot path of a message makes several statements; running them as one call
    is one thread hop instead of one per statement. This leans on aiosqlite's
    `_execute`/`_conn`, which have been stable for years; it is used only here.
    """
    return await conn._execute(fn, conn._conn, *args)


def iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


@dataclass(frozen=True)
class User:
    id: int
    channel: str
    address: str
    pseudonym: str
    display_name: str | None
    language: str | None
    language_hint: str | None
    role: str
    stopped: bool
    unreachable: bool
    created_at: str
    last_inbound_at: str | None
    age_band: str | None = None
    consent: str | None = None

    @property
    def lang(self) -> str:
        return self.language or self.language_hint or "en"

    @property
    def may_keep_progress(self) -> bool:
        """Law 058/2021: progress is kept only with consent (a guardian's under 16)."""
        return self.consent in ("given", "guardian_given")


_USER_COLS = (
    "id, channel, address, pseudonym, display_name, language, language_hint, role, stopped, "
    "unreachable, created_at, last_inbound_at, age_band, consent"
)


def _user(row: Any) -> User:
    return User(
        id=row["id"],
        channel=row["channel"],
        address=row["address"],
        pseudonym=row["pseudonym"],
        display_name=row["display_name"],
        language=row["language"],
        language_hint=row["language_hint"],
        role=row["role"],
        stopped=bool(row["stopped"]),
        unreachable=bool(row["unreachable"]),
        created_at=row["created_at"],
        last_inbound_at=row["last_inbound_at"],
        age_band=row["age_band"],
        consent=row["consent"],
    )


def external_key(external_id: str) -> str:
    """Only a hash of a channel's message id is kept: whatever a channel uses as an id,
    it never becomes a second copy of something personal."""
    return hashlib.blake2b(external_id.encode(), digest_size=12).hexdigest()


def mark_inbound_seen(conn: Raw, channel: str, external_id: str, at: datetime) -> bool:
    """True the first time (channel, external id) is seen; False for a retry."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO inbound_seen (channel, external_id, seen_at) VALUES (?, ?, ?)",
        (channel, external_key(external_id), iso(at)),
    )
    return cur.rowcount == 1


async def find_user(conn: Conn, channel: str, address: str) -> User | None:
    rows = await conn.execute_fetchall(
        f"SELECT {_USER_COLS} FROM users WHERE channel = ? AND address = ?", (channel, address)
    )
    row = rows[0] if rows else None
    return _user(row) if row else None


async def get_user(conn: Conn, user_id: int) -> User | None:
    rows = await conn.execute_fetchall(f"SELECT {_USER_COLS} FROM users WHERE id = ?", (user_id,))
    row = rows[0] if rows else None
    return _user(row) if row else None


def touch_user(
    conn: Raw, channel: str, address: str, name: str | None, language_hint: str, at: datetime
) -> tuple[User, bool]:
    """Find or create the sender and record when they last wrote. Returns (user, created)."""
    rows = conn.execute(
        "UPDATE users SET last_inbound_at = ?, display_name = COALESCE(display_name, ?) "
        f"WHERE channel = ? AND address = ? RETURNING {_USER_COLS}",
        (iso(at), name, channel, address),
    ).fetchall()
    row = rows[0] if rows else None
    if row:
        return _user(row), False
    rows = conn.execute(
        "INSERT INTO users (channel, address, pseudonym, display_name, language_hint, created_at, "
        f"last_inbound_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING {_USER_COLS}",
        (channel, address, "u_" + secrets.token_hex(6), name, language_hint, iso(at), iso(at)),
    ).fetchall()
    return _user(rows[0]), True


async def set_language(conn: Conn, user_id: int, language: str) -> None:
    await conn.execute("UPDATE users SET language = ? WHERE id = ?", (language, user_id))


async def set_stopped(conn: Conn, user_id: int, stopped: bool) -> None:
    await conn.execute("UPDATE users SET stopped = ? WHERE id = ?", (int(stopped), user_id))


async def mark_unreachable(conn: Conn, user_id: int, at: datetime, reason: str) -> int:
    """Flag the user and fail their queued messages; returns how many were stopped."""
    await conn.execute("UPDATE users SET unreachable = 1 WHERE id = ?", (user_id,))
    cur = await conn.execute(
        "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? "
        "WHERE user_id = ? AND status IN ('queued', 'sending', 'held')",
        (reason, iso(at), user_id),
    )
    return cur.rowcount


# -- dialog state -------------------------------------------------------------


@dataclass
class DialogState:
    dialog_id: str | None = None
    step_id: str | None = None
    prompt_seq: int = 0
    data: dict[str, Any] | None = None
    last_sent: str | None = None  # the payload of the newest outbox row for the user (not saved)

    def __post_init__(self) -> None:
        if self.data is None:
            self.data = {}


def get_state(conn: Raw, user_id: int) -> DialogState:
    rows = conn.execute(
        "SELECT dialog_id, step_id, prompt_seq, data FROM dialog_state WHERE user_id = ?", (user_id,)
    ).fetchall()
    row = rows[0] if rows else None
    if not row:
        return DialogState()
    return DialogState(row["dialog_id"], row["step_id"], row["prompt_seq"], json.loads(row["data"]))


def save_state(conn: Raw, user_id: int, state: DialogState, at: datetime) -> None:
    conn.execute(
        "INSERT INTO dialog_state (user_id, dialog_id, step_id, prompt_seq, data, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET dialog_id = excluded.dialog_id, "
        "step_id = excluded.step_id, prompt_seq = excluded.prompt_seq, data = excluded.data, "
        "updated_at = excluded.updated_at",
        (user_id, state.dialog_id, state.step_id, state.prompt_seq, json.dumps(state.data), iso(at)),
    )


# -- progress -----------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    dialog_id: str
    status: str
    score: int | None
    max_score: int | None
    best_score: int | None
    attempts: int
    completed_at: str | None


async def start_module(conn: Conn, user_id: int, dialog_id: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO progress (user_id, dialog_id, status, attempts, started_at, updated_at) "
        "VALUES (?, ?, 'started', 1, ?, ?) ON CONFLICT (user_id, dialog_id) DO UPDATE SET "
        "attempts = attempts + 1, updated_at = excluded.updated_at, "
        "status = CASE WHEN status = 'completed' THEN 'completed' ELSE 'started' END",
        (user_id, dialog_id, iso(at), iso(at)),
    )


async def complete_module(
    conn: Conn, user_id: int, dialog_id: str, score: int | None, max_score: int | None, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO progress (user_id, dialog_id, status, score, max_score, best_score, attempts, "
        "started_at, completed_at, updated_at) VALUES (?, ?, 'completed', ?, ?, ?, 1, ?, ?, ?) "
        "ON CONFLICT (user_id, dialog_id) DO UPDATE SET status = 'completed', score = excluded.score, "
        "max_score = excluded.max_score, best_score = MAX(COALESCE(best_score, excluded.score), "
        "COALESCE(excluded.score, best_score)), completed_at = excluded.completed_at, "
        "updated_at = excluded.updated_at",
        (user_id, dialog_id, score, max_score, score, iso(at), iso(at), iso(at)),
    )


async def list_progress(conn: Conn, user_id: int) -> dict[str, Progress]:
    rows = await conn.execute_fetchall(
        "SELECT dialog_id, status, score, max_score, best_score, attempts, completed_at "
        "FROM progress WHERE user_id = ?",
        (user_id,),
    )
    return {r["dialog_id"]: Progress(*tuple(r)) for r in rows}


async def list_badges(conn: Conn, user_id: int) -> dict[str, str]:
    rows = await conn.execute_fetchall("SELECT badge, earned_at FROM badges WHERE user_id = ?", (user_id,))
    return {r[0]: r[1] for r in rows}


async def add_badge(conn: Conn, user_id: int, badge: str, at: datetime) -> None:
    await conn.execute(
        "INSERT OR IGNORE INTO badges (user_id, badge, earned_at) VALUES (?, ?, ?)", (user_id, badge, iso(at))
    )


async def add_certificate(conn: Conn, user_id: int, track: str, media: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO certificates (user_id, track, media, created_at) VALUES (?, ?, ?, ?)",
        (user_id, track, media, iso(at)),
    )


async def certificate_media(conn: Conn, user_id: int) -> list[str]:
    rows = await conn.execute_fetchall("SELECT media FROM certificates WHERE user_id = ?", (user_id,))
    return [r[0] for r in rows]


async def active_times(conn: Conn, pseudonym: str, since: datetime) -> list[datetime]:
    """When the learner wrote to us (from the analytics events kept with their consent)."""
    rows = await conn.execute_fetchall(
        "SELECT at FROM events WHERE type = 'message_in' AND at >= ? AND actor = ?", (iso(since), pseudonym)
    )
    return [datetime.fromisoformat(r[0]) for r in rows]


# -- events and reflections ---------------------------------------------------


@dataclass(frozen=True)
class Event:
    type: str
    dialog_id: str | None = None
    step_id: str | None = None
    data: dict[str, Any] | None = None


def add_events(conn: Raw, user: User, events: list[Event], at: datetime) -> None:
    if not events:
        return
    conn.executemany(
        "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                iso(at),
                user.pseudonym,
                e.type,
                user.channel,
                user.language,
                e.dialog_id,
                e.step_id,
                json.dumps(e.data) if e.data else None,
            )
            for e in events
        ],
    )


async def add_reflection(
    conn: Conn, user_id: int, dialog_id: str, step_id: str, text: str, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO reflections (user_id, dialog_id, step_id, text, at) VALUES (?, ?, ?, ?, ?)",
        (user_id, dialog_id, step_id, text, iso(at)),
    )


# -- outbox -------------------------------------------------------------------


def enqueue(conn: Raw, messages: list[Outbound], at: datetime) -> None:
    if not messages:
        return
    conn.executemany(
        "INSERT INTO outbox (user_id, channel, address, priority, payload, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(m.user_id, m.channel, m.address, m.priority, m.to_json(), iso(at), iso(at)) for m in messages],
    )


@dataclass(frozen=True)
class OutboxRow:
    id: int
    message: Outbound
    attempts: int
    created_at: datetime


@dataclass(frozen=True)
class Claim:
    """What one claim took: each address's messages in order, and when the next one is due."""

    batches: list[list[OutboxRow]]
    next_due: str | None


def claim_due(
    conn: Raw,
    channel: str,
    addresses: int,
    per_address: int,
    busy: set[str],
    at: datetime,
    sent: list[tuple[int, str | None, datetime]] | None = None,
) -> Claim:
    """Mark what was `sent`, then take due messages for up to `addresses` users, up to
    `per_address` each: one transaction, one thread hop.

    Nothing for an address already in flight (`busy`), and each address's messages
    in their order, keeps each user's messages in order while different users are
    sent to concurrently. Replies (priority 0) go before bulk sends.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if sent:
            mark_sent(conn, sent)
        rows = conn.execute(
            "SELECT o.id, o.user_id, o.address, o.priority, o.payload, o.attempts, o.not_before, "
            "o.created_at, "
            "COALESCE(u.stopped, 0) AS stopped FROM outbox o LEFT JOIN users u ON u.id = o.user_id "
            "WHERE o.channel = ? AND o.status = 'queued' ORDER BY o.priority, o.id LIMIT ?",
            (channel, max(addresses * per_address * 2, 64)),
        ).fetchall()
        now = iso(at)
        batches: dict[str, list[OutboxRow]] = {}
        closed = set(busy)  # addresses that may take no more rows in this claim
        opted_out: list[int] = []
        for r in rows:
            address = r["address"]
            if r["stopped"] and r["priority"] >= BULK:
                opted_out.append(r["id"])  # they sent STOP: no invitation or reminder goes out
                continue
            if address in closed:
                continue
            if r["not_before"] is not None and r["not_before"] > now:
                closed.add(address)  # waiting to be retried: what follows it waits too
                continue
            batch = batches.get(address)
            if batch and batch[0].message.priority != r["priority"]:
                closed.add(address)  # a user's bulk sends wait for other users' replies
                continue
            if batch is None:
                if len(batches) >= addresses:
                    closed.add(address)
                    continue
                batch = batches[address] = []
            message = Outbound.from_row(channel, address, r["payload"], r["priority"], r["user_id"])
            batch.append(OutboxRow(r["id"], message, r["attempts"], datetime.fromisoformat(r["created_at"])))
            if len(batch) >= per_address:
                closed.add(address)
        conn.executemany(
            "UPDATE outbox SET status = 'failed', error = 'opted out', updated_at = ? WHERE id = ?",
            [(now, outbox_id) for outbox_id in opted_out],
        )
        picked = [row.id for batch in batches.values() for row in batch]
        conn.executemany(
            "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated_at = ? WHERE id = ?",
            [(iso(at), outbox_id) for outbox_id in picked],
        )
        next_due = conn.execute(
            "SELECT MIN(not_before) FROM outbox WHERE channel = ? AND status = 'queued'", (channel,)
        ).fetchone()[0]
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Claim(list(batches.values()), next_due)


def mark_sent(conn: Raw, sent: list[tuple[int, str | None, datetime]]) -> None:
    """Mark (outbox id, external id, when) rows sent.

    A message to nobody we keep data on (an erased user, an unknown sender) keeps
    no address once it is out.
    """
    conn.executemany(
        "UPDATE outbox SET status = 'sent', external_id = ?, error = NULL, updated_at = ?, "
        "address = CASE WHEN user_id IS NULL THEN '' ELSE address END WHERE id = ?",
        [(external_id, iso(at), outbox_id) for outbox_id, external_id, at in sent],
    )


async def mark_failed(conn: Conn, outbox_id: int, error: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'failed', error = ?, updated_at = ? WHERE id = ?",
        (error[:500], iso(at), outbox_id),
    )


async def mark_held(conn: Conn, outbox_id: int, reason: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'held', error = ?, updated_at = ? WHERE id = ?",
        (reason[:500], iso(at), outbox_id),
    )


async def requeue(conn: Conn, outbox_id: int, not_before: datetime, error: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE outbox SET status = 'queued', not_before = ?, error = ?, updated_at = ? WHERE id = ?",
        (iso(not_before), error[:500], iso(at), outbox_id),
    )


async def release(conn: Conn, outbox_ids: list[int], at: datetime) -> None:
    """Claimed but not attempted: back to the queue, with the attempt given back."""
    await conn.executemany(
        "UPDATE outbox SET status = 'queued', attempts = attempts - 1, updated_at = ? "
        "WHERE id = ? AND status = 'sending'",
        [(iso(at), i) for i in outbox_ids],
    )


async def outbox_by_external_id(conn: Conn, channel: str, external_id: str) -> tuple[int, str] | None:
    rows = await conn.execute_fetchall(
        "SELECT id, status FROM outbox WHERE channel = ? AND external_id = ?", (channel, external_id)
    )
    return (rows[0][0], rows[0][1]) if rows else None


async def set_outbox_status(conn: Conn, outbox_id: int, status: str, error: str | None, at: datetime) -> None:
    await conn.execute(
        "UPDATE outbox SET status = ?, error = COALESCE(?, error), updated_at = ? WHERE id = ?",
        (status, error, iso(at), outbox_id),
    )


async def outbox_summary(conn: Conn) -> list[tuple[str, str, str | None, int]]:
    """(channel, status, reason, count); reasons only for held and failed messages."""
    rows = await conn.execute_fetchall(
        "SELECT channel, status, "
        "CASE WHEN status IN ('held', 'failed') THEN substr(error, 1, 80) END AS reason, COUNT(*) "
        "FROM outbox GROUP BY channel, status, reason ORDER BY channel, status, COUNT(*) DESC"
    )
    return [(r[0], r[1], r[2], r[3]) for r in rows]


async def requeue_held(conn: Conn, channel: str | None, at: datetime) -> int:
    cur = await conn.execute(
        "UPDATE outbox SET status = 'queued', not_before = NULL, updated_at = ? "
        "WHERE status = 'held' AND (? IS NULL OR channel = ?)",
        (iso(at), channel, channel),
    )
    return cur.rowcount


async def requeue_failed(conn: Conn, channel: str | None, since: datetime | None, at: datetime) -> int:
    """Failed messages back in the queue, e.g. after an outage longer than OUTBOX_RETRY_HOURS."""
    cur = await conn.execute(
        "UPDATE outbox SET status = 'queued', not_before = NULL, attempts = 0, updated_at = ? "
        "WHERE status IN ('failed', 'undelivered') AND (? IS NULL OR channel = ?) "
        "AND (? IS NULL OR created_at >= ?)",
        (iso(at), channel, channel, since and iso(since), since and iso(since)),
    )
    return cur.rowcount


async def requeue_in_flight(conn: Conn, at: datetime) -> int:
    """After a crash, rows left 'sending' go back to the queue (they may repeat once)."""
    cur = await conn.execute(
        "UPDATE outbox SET status = 'queued', updated_at = ? WHERE status = 'sending'", (iso(at),)
    )
    return cur.rowcount


async def outbox_counts(conn: Conn, channel: str | None = None) -> dict[str, int]:
    sql = "SELECT status, COUNT(*) FROM outbox"
    params: tuple[Any, ...] = ()
    if channel:
        sql += " WHERE channel = ?"
        params = (channel,)
    rows = await conn.execute_fetchall(sql + " GROUP BY status", params)
    return {r[0]: r[1] for r in rows}


# -- consent, escalations and the learner's own data --------------------------


async def set_age_band(conn: Conn, user_id: int, age_band: str) -> None:
    await conn.execute("UPDATE users SET age_band = ? WHERE id = ?", (age_band, user_id))


async def set_consent(conn: Conn, user_id: int, consent: str | None, at: datetime) -> None:
    await conn.execute(
        "UPDATE users SET consent = ?, consent_at = ? WHERE id = ?", (consent, iso(at), user_id)
    )


async def forget_progress(conn: Conn, user_id: int) -> None:
    """Consent withdrawn: what was kept because of it goes."""
    await conn.execute("DELETE FROM progress WHERE user_id = ?", (user_id,))
    await conn.execute("DELETE FROM reflections WHERE user_id = ?", (user_id,))


async def add_escalation(
    conn: Conn, user: User, severity: str, reason: str, excerpt: str | None, at: datetime
) -> int:
    rows = await conn.execute_fetchall(
        "INSERT INTO escalations (user_id, actor, severity, reason, excerpt, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (user.id, user.pseudonym, severity, reason, excerpt, iso(at)),
    )
    row = rows[0] if rows else None
    return int(row[0])


async def list_escalations(conn: Conn, status: str | None = "open") -> list[dict[str, Any]]:
    """Escalations, each with how many of its officer alerts reached an officer (`delivered`)
    and how many are still on their way or stuck (`undelivered`)."""
    sql = (
        "SELECT e.id, e.actor, e.severity, e.reason, e.status, e.created_at, e.closed_at, "
        "COUNT(o.id) FILTER (WHERE o.status IN ('sent', 'delivered', 'read')) AS delivered, "
        "COUNT(o.id) FILTER (WHERE o.status IN ('queued', 'sending', 'held')) AS undelivered "
        "FROM escalations e LEFT JOIN outbox o ON json_extract(o.payload, '$.key') = 'safeguarding_alert' "
        "AND json_extract(o.payload, '$.args.id') = e.id"
    )
    params: tuple[Any, ...] = ()
    if status:
        sql += " WHERE e.status = ?"
        params = (status,)
    rows = await conn.execute_fetchall(sql + " GROUP BY e.id ORDER BY e.id", params)
    return [dict(r) for r in rows]


async def get_escalation(conn: Conn, escalation_id: int) -> dict[str, Any] | None:
    rows = await conn.execute_fetchall(
        "SELECT e.*, u.channel AS channel, u.address AS address, u.language AS language "
        "FROM escalations e LEFT JOIN users u ON u.id = e.user_id WHERE e.id = ?",
        (escalation_id,),
    )
    row = rows[0] if rows else None
    return dict(row) if row else None


async def close_escalation(conn: Conn, escalation_id: int, note: str | None, at: datetime) -> bool:
    cur = await conn.execute(
        "UPDATE escalations SET status = 'closed', closed_at = ?, note = ? WHERE id = ? AND status = 'open'",
        (iso(at), note, escalation_id),
    )
    return cur.rowcount == 1


async def user_data(conn: Conn, user_id: int) -> dict[str, Any]:
    """Everything stored about one learner, for /mydata."""
    async with conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)) as cur:
        user = dict(await cur.fetchone() or {})
    out: dict[str, Any] = {"user": user}
    for table, cols in (
        ("progress", "dialog_id, status, score, max_score, best_score, attempts, started_at, completed_at"),
        ("reflections", "dialog_id, step_id, text, at"),
        ("dialog_state", "dialog_id, step_id, updated_at"),
        ("escalations", "id, severity, status, created_at"),
        ("badges", "badge, earned_at"),
        ("certificates", "track, created_at"),
    ):
        async with conn.execute(f"SELECT {cols} FROM {table} WHERE user_id = ?", (user_id,)) as cur:
            out[table] = [dict(r) for r in await cur.fetchall()]
    async with conn.execute("SELECT COUNT(*) FROM events WHERE actor = ?", (user["pseudonym"],)) as cur:
        out["activity_events"] = (await cur.fetchone())[0]
    return out


async def erase_user(conn: Conn, user_id: int) -> None:
    """Erase a learner's personal data and progress. Events stay, keyed by a pseudonym
    that nothing links back to any more."""
    await conn.execute("UPDATE escalations SET excerpt = NULL, user_id = NULL WHERE user_id = ?", (user_id,))
    await conn.execute("DELETE FROM users WHERE id = ?", (user_id,))


async def take_retired_media(conn: Conn) -> list[str]:
    """Files whose rows are gone, to delete from disk (and forget)."""
    rows = await conn.execute_fetchall("SELECT media FROM retired_media")
    await conn.execute("DELETE FROM retired_media")
    return [r[0] for r in rows]


async def pseudonymise_inactive(conn: Conn, before: datetime) -> int:
    """Retention: learners silent since `before` lose their address, name and own words."""
    async with conn.execute(
        "SELECT id FROM users "
        "WHERE COALESCE(last_inbound_at, created_at) < ? AND address NOT LIKE 'retired:%'",
        (iso(before),),
    ) as cur:
        ids = [r[0] for r in await cur.fetchall()]
    for user_id in ids:
        await conn.execute("DELETE FROM reflections WHERE user_id = ?", (user_id,))
        # Certificate rows go; their files (which carry the name) are deleted by the caller.
        await conn.execute(
            "INSERT INTO retired_media (media) SELECT media FROM certificates WHERE user_id = ?", (user_id,)
        )
        await conn.execute("DELETE FROM certificates WHERE user_id = ?", (user_id,))
        await conn.execute("DELETE FROM outbox WHERE user_id = ?", (user_id,))
        await conn.execute("UPDATE escalations SET excerpt = NULL WHERE user_id = ?", (user_id,))
        await conn.execute(
            "UPDATE users SET address = 'retired:' || pseudonym, display_name = NULL WHERE id = ?", (user_id,)
        )
    return len(ids)


# -- one message, in two thread hops ------------------------------------------


def open_turn(
    conn: Raw,
    channel: str,
    address: str,
    external_id: str | None,
    name: str | None,
    hint: str,
    at: datetime,
    inbox_id: int | None = None,
) -> tuple[User, bool, DialogState] | None:
    """BEGIN, drop a retry, find the sender, read their state. None for a retry (whose
    inbox row, if any, is dropped)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if external_id is not None and not mark_inbound_seen(conn, channel, external_id, at):
            if inbox_id is not None:
                conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))
            conn.execute("COMMIT")
            return None
        user, created = touch_user(conn, channel, address, name, hint, at)
        state = get_state(conn, user.id)
        # What we last sent them: a typed "1" right after an invitation answers the invitation.
        last = conn.execute(
            "SELECT payload FROM outbox WHERE user_id = ? ORDER BY id DESC LIMIT 1", (user.id,)
        ).fetchone()
        state.last_sent = last[0] if last else None
        return user, created, state
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def close_turn(
    conn: Raw,
    user: User,
    state: DialogState | None,
    events: list[Event],
    messages: list[Outbound],
    at: datetime,
    inbox_id: int | None = None,
) -> None:
    """Write the state, the events and the replies, drop the handled inbox row, and
    COMMIT: all of it or nothing."""
    try:
        if state is not None:
            save_state(conn, user.id, state, at)
        add_events(conn, user, events, at)
        enqueue(conn, messages, at)
        if inbox_id is not None:
            conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def rollback(conn: Raw) -> None:
    if conn.in_transaction:
        conn.execute("ROLLBACK")


# -- retention: bounded outbox and inbound_seen -------------------------------

# Outbox statuses that nothing will change any more; queued, sending and held rows are never pruned.
FINISHED = ("sent", "delivered", "read", "failed")


def prune_outbox(conn: Raw, after: int, before: datetime, limit: int) -> tuple[int, int | None]:
    """One short write transaction: of the `limit` outbox rows after id `after`, delete those
    finished and untouched since `before`. Returns (deleted, the id to go on after, or None
    once this stretch held nothing older than `before`: ids grow with time, so neither will
    what follows).

    Walking the table by id keeps every batch to `limit` rows, whatever the table's size.
    Each delete rolls its status up into its invitation (trigger outbox_delivery_rollup).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            "SELECT id, created_at FROM outbox WHERE id > ? ORDER BY id LIMIT ?", (after, limit)
        ).fetchall()
        cutoff = iso(before)
        if not rows or min(r[1] for r in rows) >= cutoff:
            conn.execute("COMMIT")
            return 0, None
        cur = conn.execute(
            f"DELETE FROM outbox WHERE id > ? AND id <= ? AND status IN ({','.join('?' * len(FINISHED))}) "
            "AND updated_at < ?",
            (after, rows[-1][0], *FINISHED, cutoff),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return cur.rowcount, rows[-1][0]


def prune_inbound_seen(
    conn: Raw, after: tuple[str, str], before: datetime, limit: int
) -> tuple[int, tuple[str, str] | None]:
    """One short write transaction: of the next `limit` keys after `after` (in key order, as
    the ids are hashes), delete those seen before `before`. Returns (deleted, the key to go on
    after, or None at the end of the table). A channel retries within hours, not weeks.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        keys = conn.execute(
            "SELECT channel, external_id FROM inbound_seen WHERE (channel, external_id) > (?, ?) "
            "ORDER BY channel, external_id LIMIT ?",
            (*after, limit),
        ).fetchall()
        if not keys:
            conn.execute("COMMIT")
            return 0, None
        last = (keys[-1][0], keys[-1][1])
        cur = conn.execute(
            "DELETE FROM inbound_seen WHERE (channel, external_id) > (?, ?) "
            "AND (channel, external_id) <= (?, ?) AND seen_at < ?",
            (*after, *last, iso(before)),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return cur.rowcount, (last if len(keys) == limit else None)
