"""Progress, module starts and completions, badges, certificates, streaks and reflections."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.storage.repo import Conn, iso


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
        # The table's columns named as such: PostgreSQL finds a bare name ambiguous beside `excluded`.
        "attempts = progress.attempts + 1, updated_at = excluded.updated_at, "
        "status = CASE WHEN progress.status = 'completed' THEN 'completed' ELSE 'started' END",
        (user_id, dialog_id, iso(at), iso(at)),
    )


async def complete_module(
    conn: Conn, user_id: int, dialog_id: str, score: int | None, max_score: int | None, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO progress (user_id, dialog_id, status, score, max_score, best_score, attempts, "
        "started_at, completed_at, updated_at) VALUES (?, ?, 'completed', ?, ?, ?, 1, ?, ?, ?) "
        "ON CONFLICT (user_id, dialog_id) DO UPDATE SET status = 'completed', score = excluded.score, "
        # No two-argument MAX on PostgreSQL (GREATEST there), so a CASE; NULL only if both are.
        "max_score = excluded.max_score, best_score = CASE WHEN excluded.score IS NULL "
        "OR progress.best_score >= excluded.score THEN COALESCE(progress.best_score, excluded.score) "
        "ELSE excluded.score END, completed_at = excluded.completed_at, "
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
        "INSERT INTO badges (user_id, badge, earned_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (user_id, badge, iso(at)),
    )


async def add_certificate(conn: Conn, user_id: int, track: str, media: str, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO certificates (user_id, track, media, created_at) VALUES (?, ?, ?, ?)",
        (user_id, track, media, iso(at)),
    )


async def active_times(conn: Conn, pseudonym: str, since: datetime) -> list[datetime]:
    """When the learner wrote to us (from the analytics events kept with their consent)."""
    rows = await conn.execute_fetchall(
        "SELECT at FROM events WHERE type = 'message_in' AND at >= ? AND actor = ?", (iso(since), pseudonym)
    )
    return [datetime.fromisoformat(r[0]) for r in rows]


async def add_reflection(
    conn: Conn, user_id: int, dialog_id: str, step_id: str, text: str, at: datetime
) -> None:
    await conn.execute(
        "INSERT INTO reflections (user_id, dialog_id, step_id, text, at) VALUES (?, ?, ?, ?, ?)",
        (user_id, dialog_id, step_id, text, iso(at)),
    )
