"""The outbox as a queue: claims, delivery marks, receipts, retries and what is held."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.messages import BULK, Outbound
from bot.storage.repo import Conn, Raw, iso, skip_locked


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
    unsettled: list[int] | None = None,
) -> Claim:
    """Mark what was `sent`, put back what was tried but could not be recorded (`unsettled`),
    then take due messages for up to `addresses` users, up to `per_address` each: one
    transaction, one thread hop.

    Nothing for an address already in flight (`busy`), and each address's messages
    in their order, keeps each user's messages in order while different users are
    sent to concurrently. Replies (priority 0) go before bulk sends.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        if sent:
            mark_sent(conn, sent)
        if unsettled:
            # Its attempt counts: it may have reached the user before the database refused.
            conn.executemany(
                "UPDATE outbox SET status = 'queued', updated_at = ? WHERE id = ? AND status = 'sending'",
                [(iso(at), outbox_id) for outbox_id in unsettled],
            )
        rows = conn.execute(
            "SELECT o.id, o.user_id, o.address, o.priority, o.payload, o.attempts, o.not_before, "
            "o.created_at, "
            "COALESCE(u.stopped, 0) AS stopped FROM outbox o LEFT JOIN users u ON u.id = o.user_id "
            "WHERE o.channel = ? AND o.status = 'queued' ORDER BY o.priority, o.id LIMIT ?"
            + skip_locked(conn, "o"),
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
        # Typed: PostgreSQL cannot tell the type of a parameter that is only tested for NULL.
        "WHERE status = 'held' AND (CAST(? AS TEXT) IS NULL OR channel = ?)",
        (iso(at), channel, channel),
    )
    return cur.rowcount


async def requeue_held_for(conn: Conn, channel: str, address: str, at: datetime) -> int:
    """One user's held messages back in the queue: a console user is here to read them now."""
    cur = await conn.execute(
        "UPDATE outbox SET status = 'queued', not_before = NULL, updated_at = ? "
        "WHERE status = 'held' AND channel = ? AND address = ?",
        (iso(at), channel, address),
    )
    return cur.rowcount


async def requeue_failed(conn: Conn, channel: str | None, since: datetime | None, at: datetime) -> int:
    """Failed messages back in the queue, e.g. after an outage longer than OUTBOX_RETRY_HOURS."""
    cur = await conn.execute(
        "UPDATE outbox SET status = 'queued', not_before = NULL, attempts = 0, updated_at = ? "
        "WHERE status IN ('failed', 'undelivered') AND (CAST(? AS TEXT) IS NULL OR channel = ?) "
        "AND (CAST(? AS TEXT) IS NULL OR created_at >= ?)",
        (iso(at), channel, channel, since and iso(since), since and iso(since)),
    )
    return cur.rowcount


async def requeue_in_flight(conn: Conn, channel: str, at: datetime) -> int:
    """After a crash, this channel's rows left 'sending' go back to the queue (they may repeat once)."""
    cur = await conn.execute(
        "UPDATE outbox SET status = 'queued', updated_at = ? WHERE status = 'sending' AND channel = ?",
        (iso(at), channel),
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
