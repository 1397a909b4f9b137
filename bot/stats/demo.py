"""Synthetic activity for trying the dashboard: `python -m bot demo-data --users 5000`.

Everything it makes is marked as demo (addresses "demo:…", pseudonyms "demo_…", clubs named
"[demo] …") and `--clear` removes exactly that. Random but repeatable (seeded).
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from bot.storage.repo import Raw, iso

DEMO_DISTRICTS = ("Huye", "Gisagara", "Nyaruguru", "Nyanza", "Nyabihu")
MODULES = {
    "quiz": ["interests_positions", "mutual_gain", "objective_criteria", "batna", "nvc", "active_listening"],
    "exercise": ["water_point", "land_boundary", "inheritance", "school_rumour", "couple_money"],
    "lesson": ["rights_freedoms", "citizen_duties", "abunzi", "umuganda", "citizen_budget"],
}


def seed(conn: Raw, users: int, now: datetime, days: int = 60, rng_seed: int = 7) -> dict[str, int]:
    """Make `users` demo learners in demo clubs, with their events, sessions and answers. One hop."""
    rng = random.Random(rng_seed)
    start = now - timedelta(days=days)
    conn.execute("BEGIN IMMEDIATE")
    try:
        base = conn.execute("SELECT COUNT(*) FROM users WHERE address LIKE 'demo:%'").fetchone()[0]
        club_ids = []
        for district in DEMO_DISTRICTS:
            existing = conn.execute(
                "SELECT id FROM clubs WHERE name = ?", (f"[demo] {district} club",)
            ).fetchone()
            if existing:
                club_ids.append(existing[0])
                continue
            while True:  # a free code; demo codes start with DM
                code = "DM" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(3))
                cur = conn.execute(
                    "INSERT OR IGNORE INTO clubs (code, name, district, language, created_at) "
                    "VALUES (?, ?, ?, 'rw', ?)",
                    (code, f"[demo] {district} club", district, iso(start)),
                )
                if cur.rowcount:
                    club_ids.append(cur.lastrowid)
                    break
        events: list[tuple] = []
        memberships, user_rows = [], []
        for n in range(base, base + users):
            channel = rng.choice(("telegram", "whatsapp"))
            lang = rng.choices(("rw", "fr", "en"), weights=(7, 2, 1))[0]
            age = rng.choices(("u16", "16_17", "18_24", "25p"), weights=(1, 2, 5, 2))[0]
            created = start + timedelta(minutes=rng.randrange(days * 24 * 60))
            pseudonym = f"demo_{n:07d}"
            user_rows.append(
                (channel, f"demo:{n}", pseudonym, lang, age, "given", iso(created), iso(created))
            )

            def ev(kind, at, dialog=None, step=None, data=None, _who=(pseudonym, channel, lang)):  # type: ignore[no-untyped-def]
                who, via, language = _who
                events.append(
                    (iso(at), who, kind, via, language, dialog, step, json.dumps(data) if data else None)
                )

            ev("user_created", created)
            active_days = max(1, int(rng.expovariate(1 / 6)))
            at = created
            for _ in range(active_days):
                for _ in range(rng.randrange(2, 9)):
                    ev("message_in", at)
                    at += timedelta(minutes=rng.randrange(1, 4))
                kind = rng.choice(list(MODULES))
                module = rng.choice(MODULES[kind])
                ev("module_started", at, module)
                right = 0
                if kind == "quiz":
                    for q in range(1, 9):
                        correct = rng.random() < 0.45 + 0.05 * (q % 5)
                        right += correct
                        ev("quiz_answer", at, module, f"q{q}", {"correct": correct, "retry": False})
                if rng.random() < 0.7:
                    data = (
                        {"score": right, "max_score": 8, "passed": right >= 6}
                        if kind == "quiz"
                        else {"score": 3}
                    )
                    ev("module_completed", at, module, None, data)
                    if kind == "exercise":
                        ev(
                            "free_text",
                            at,
                            module,
                            "practice",
                            {"rubric_hits": rng.randrange(2), "length": 40},
                        )
                at += timedelta(days=rng.choice((1, 1, 2, 3, 7)))
                if at > now:
                    break
            memberships.append((n, rng.choice(club_ids)))
        conn.executemany(
            "INSERT INTO users (channel, address, pseudonym, language, age_band, consent, created_at, "
            "last_inbound_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            user_rows,
        )
        ids = dict(conn.execute("SELECT address, id FROM users WHERE address LIKE 'demo:%'").fetchall())
        conn.executemany(
            "INSERT OR IGNORE INTO memberships (club_id, user_id, joined_at) VALUES (?, ?, ?)",
            [(club, ids[f"demo:{n}"], iso(start)) for n, club in memberships],
        )
        conn.executemany(
            "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        sessions = 0
        for club in club_ids:
            members = [ids[f"demo:{n}"] for n, c in memberships if c == club]
            for week in range(days // 7):
                starts = start + timedelta(days=7 * week + 5, hours=13)
                cur = conn.execute(
                    "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_at) "
                    "VALUES (?, ?, 'Sector hall', 'Dialogue', ?)",
                    (club, iso(starts), iso(starts - timedelta(days=5))),
                )
                sessions += 1
                rows = []
                for member in members:
                    rsvp = rng.choices(("yes", "maybe", "no", None), weights=(4, 2, 1, 3))[0]
                    came = int(rsvp == "yes" and rng.random() < 0.8) if starts < now else None
                    rows.append((cur.lastrowid, member, rsvp, came, iso(starts - timedelta(days=5))))
                conn.executemany(
                    "INSERT INTO invitations (session_id, user_id, rsvp, attended, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    rows,
                )
        conn.execute("COMMIT")
        return {"users": users, "events": len(events), "clubs": len(club_ids), "sessions": sessions}
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def clear(conn: Raw) -> int:
    """Remove everything `seed` made, and nothing else."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM events WHERE actor LIKE 'demo\\_%' ESCAPE '\\'")
        conn.execute("DELETE FROM clubs WHERE name LIKE '[demo] %'")
        n = conn.execute("DELETE FROM users WHERE address LIKE 'demo:%'").rowcount
        conn.execute("COMMIT")
        return n
    except BaseException:
        conn.execute("ROLLBACK")
        raise
