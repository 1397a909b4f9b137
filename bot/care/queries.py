"""Consent and age bands, escalations, the learner's data, erasure and retention."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.storage.repo import Conn, User, iso


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
    await conn.execute("DELETE FROM recall_items WHERE user_id = ?", (user_id,))
    await conn.execute("DELETE FROM recall_prefs WHERE user_id = ?", (user_id,))


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
        # Compared as text: a JSON number is an integer on SQLite, text on PostgreSQL.
        "AND CAST(json_extract(o.payload, '$.args.id') AS TEXT) = CAST(e.id AS TEXT)"
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


def _parsed(value: str | None) -> Any:
    return json.loads(value) if value else None


async def user_data(conn: Conn, user_id: int) -> dict[str, Any]:
    """Everything stored about one learner, for /mydata: their settings, progress and words, what
    they did (events), their clubs and invitations, messages waiting for them, and any message of
    theirs that a safeguarding officer reads (escalations) or that waits for their answer."""
    async with conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)) as cur:
        user = dict(await cur.fetchone() or {})
    out: dict[str, Any] = {"user": user}
    for table, cols in (
        ("progress", "dialog_id, status, score, max_score, best_score, attempts, started_at, completed_at"),
        ("reflections", "dialog_id, step_id, text, at"),
        ("dialog_state", "dialog_id, step_id, updated_at"),
        ("escalations", "id, severity, reason, excerpt, status, created_at, closed_at"),
        ("badges", "badge, earned_at"),
        ("certificates", "track, created_at"),
        ("recall_items", "dialog_id, step_id, days, due_at, status, sent_at, answered_at, correct"),
        ("recall_prefs", "enabled, updated_at"),
    ):
        async with conn.execute(f"SELECT {cols} FROM {table} WHERE user_id = ?", (user_id,)) as cur:
            out[table] = [dict(r) for r in await cur.fetchall()]
    rows = await conn.execute_fetchall("SELECT data FROM dialog_state WHERE user_id = ?", (user_id,))
    state = _parsed(rows[0][0]) if rows else None
    # A message that showed distress, kept only until the learner says whether a person may call.
    out["concern_message_held"] = (state or {}).get("care_excerpt")
    rows = await conn.execute_fetchall(
        "SELECT c.code AS club, c.name, c.district, m.role, m.joined_at "
        "FROM memberships m JOIN clubs c ON c.id = m.club_id WHERE m.user_id = ? ORDER BY m.joined_at",
        (user_id,),
    )
    out["memberships"] = [dict(r) for r in rows]
    rows = await conn.execute_fetchall(
        "SELECT c.name AS club, s.starts_at, s.place, s.topic, s.status AS session_status, i.rsvp, "
        "i.rsvp_at, i.attended, i.created_at AS invited_at FROM invitations i "
        "JOIN club_sessions s ON s.id = i.session_id JOIN clubs c ON c.id = s.club_id "
        "WHERE i.user_id = ? ORDER BY i.created_at",
        (user_id,),
    )
    out["invitations"] = [dict(r) for r in rows]
    rows = await conn.execute_fetchall(
        "SELECT status, payload, created_at, updated_at FROM outbox WHERE user_id = ? ORDER BY id",
        (user_id,),
    )
    messages = []
    for r in rows:
        payload = _parsed(r["payload"]) or {}
        attachment = payload.get("attachment")
        messages.append(
            {
                "status": r["status"],
                "text": payload.get("text"),
                # An earlier copy of this file is named, not repeated.
                **({"attachment": attachment[0]} if attachment else {}),
                "created_at": r["created_at"],
                "updated_at": r["updated_at"],
            }
        )
    out["messages_to_you"] = messages
    rows = await conn.execute_fetchall(
        "SELECT at, type, channel, language, dialog_id, step_id, data FROM events "
        "WHERE actor = ? ORDER BY id",
        (user["pseudonym"],),
    )
    out["events"] = [dict(r) | {"data": _parsed(r["data"])} for r in rows]
    out["activity_events"] = len(out["events"])
    return out


async def erase_user(conn: Conn, user_id: int) -> None:
    """Erase a learner's personal data and progress. Events stay, keyed by a pseudonym
    that nothing links back to any more."""
    await conn.execute("UPDATE escalations SET excerpt = NULL, user_id = NULL WHERE user_id = ?", (user_id,))
    # Said, not left to ON DELETE CASCADE: where they were, and a concern message held there.
    await conn.execute("DELETE FROM dialog_state WHERE user_id = ?", (user_id,))
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
        await conn.execute("DELETE FROM recall_items WHERE user_id = ?", (user_id,))
        await conn.execute("UPDATE escalations SET excerpt = NULL WHERE user_id = ?", (user_id,))
        # Their place in a dialog goes too: it may hold a concern message they never answered about,
        # and a retired address never writes again.
        await conn.execute("DELETE FROM dialog_state WHERE user_id = ?", (user_id,))
        await conn.execute(
            "UPDATE users SET address = 'retired:' || pseudonym, display_name = NULL WHERE id = ?", (user_id,)
        )
    return len(ids)


async def set_language_hint(conn: Conn, user_id: int, language: str) -> None:
    await conn.execute("UPDATE users SET language_hint = ? WHERE id = ?", (language, user_id))
