"""The staff dashboard over HTTP at about 100,000 and about 1,000,000 events.

The data is what a running bot holds: learners made by the demo-data generator, which walks the
real curriculum (modules, questions, choices, writing steps, badges, clubs, sessions, invitations
with their delivery), completed here with what the engine writes beside that: the tap or message
(`message_in`) behind every answer, the onboarding (language, consent), the menu command that
opened each module, quiz retries, help, progress and stale taps; the replies in `outbox` and the
ids in `inbound_seen` for the last OUTBOX_KEEP_DAYS, as pruning leaves them, with recent
invitations still linked to their message. About 77 events per learner, half of them messages.

`/dashboard` is loaded through the real web app (`build_web`, Starlette, httpx's ASGI transport),
logged in. Each size is timed in fresh processes (`App.create` in each):

- staff (every club, no filter), first load after start: new connections, empty SQLite caches,
  templates not yet compiled; the operating system's file cache holds the file, as on a server
  that was just restarted (the data was just written);
- staff, warm: the best of `--rounds` loads after it;
- staff, first load with the file out of the operating system's cache (`posix_fadvise` on this
  file only), as after the machine has not read it for a while: every page read from disk;
- a facilitator (one club), warm.

Goals: the staff's times at most 10x for 10x the events, and the first load after start under
1 s at 1M events.

    python -m bench.stats
    python -m bench.stats --small 20000 --large 200000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.config import Settings
from bot.messages import utcnow
from bot.stats import demo
from bot.stats.dashboard.accounts import add_account
from bot.storage import repo

STAFF, FACILITATOR, PASSWORD = "staff", "facilitator", "bench password 1234"
DAYS = 60
KEEP_DAYS = Settings().outbox_keep_days
REPLY = json.dumps(
    {
        "text": "✅ Right! Listening first lets both sides say what they need, not only what they ask for. "
        "Next question: what would you ask the other person before you propose anything?",
        "choices": [["c:1", "1. Continue"], ["c:2", "2. Menu"]],
        "priority": 0,
        "language": "rw",
    }
)

# What the engine writes beside the demo's events (bot/core/engine.py, bot/learning, bot/care),
# added in SQL to the rows of one batch (e.id > ?).
COMPLETE = [
    # Every answer, choice and written text arrived as a message: a tap, or typed words.
    "INSERT INTO events (at, actor, type, channel, language, data) "
    "SELECT at, actor, 'message_in', channel, language, "
    "json_object('kind', CASE type WHEN 'free_text' THEN 'text' ELSE 'tap' END) "
    "FROM events e WHERE e.id > ? AND e.type IN ('choice', 'quiz_answer', 'free_text')",
    # Onboarding after the first hello: a language, an age band and consent, each a tap.
    "INSERT INTO events (at, actor, type, channel, language, data) "
    "SELECT strftime('%Y-%m-%dT%H:%M:%f000+00:00', at, '+' || n || ' minutes'), actor, "
    "'message_in', channel, language, json_object('kind', 'tap') FROM events e, "
    "(SELECT 1 AS n UNION ALL SELECT 2 UNION ALL SELECT 3) WHERE e.id > ? AND e.type = 'user_created'",
    "INSERT INTO events (at, actor, type, channel, language, data) "
    "SELECT strftime('%Y-%m-%dT%H:%M:%f000+00:00', at, '+1 minutes'), actor, 'language_set', channel, "
    "language, json_object('language', language) FROM events e WHERE e.id > ? AND e.type = 'user_created'",
    "INSERT INTO events (at, actor, type, channel, language, data) "
    "SELECT strftime('%Y-%m-%dT%H:%M:%f000+00:00', at, '+3 minutes'), actor, 'consent', channel, language, "
    "json_object('value', 'given', 'age_band', '18_24') "
    "FROM events e WHERE e.id > ? AND e.type = 'user_created'",
    # The menu tap that opened each module, and now and then the help, progress or a stale tap.
    "INSERT INTO events (at, actor, type, channel, language, data) "
    "SELECT at, actor, 'command', channel, language, json_object('intent', 'menu') "
    "FROM events e WHERE e.id > ? AND e.type = 'module_started'",
    "INSERT INTO events (at, actor, type, channel, language, data) "
    "SELECT at, actor, CASE e.id % 3 WHEN 0 THEN 'help_viewed' WHEN 1 THEN 'progress_viewed' "
    "ELSE 'stale_tap' END, channel, language, NULL "
    "FROM events e WHERE e.id > ? AND e.type = 'module_started' AND e.id % 4 = 0",
    # A quiz finished with mistakes offers a retry; some take it (their answers are retries).
    "INSERT INTO events (at, actor, type, channel, language, dialog_id, data) "
    "SELECT at, actor, 'quiz_retry_started', channel, language, dialog_id, json_object('questions', 2) "
    "FROM events e WHERE e.id > ? AND e.type = 'module_completed' AND json_extract(data, '$.passed') = 0",
    "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
    "SELECT at, actor, 'quiz_answer', channel, language, dialog_id, step_id, "
    "json_object('option', json_extract(data, '$.option'), 'correct', json('true'), 'retry', json('true')) "
    "FROM events e WHERE e.id > ? AND e.type = 'quiz_answer' AND json_extract(data, '$.correct') = 0 "
    "AND e.id % 2 = 0",
]


def _complete(conn: repo.Raw, after: int, now: str, keep_from: str) -> None:
    """The engine's other events for the rows after id `after`, and the outbox and inbound ids of
    the last KEEP_DAYS (as pruning leaves them). One transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql in COMPLETE:
            conn.execute(sql, (after,))
        # One reply per message that arrived (often more; a tap that only moves on, fewer).
        conn.execute(
            "INSERT INTO outbox (user_id, channel, address, priority, payload, status, attempts, "
            "external_id, created_at, updated_at) "
            "SELECT u.id, u.channel, u.address, 0, ?, CASE WHEN u.channel = 'telegram' THEN 'sent' "
            "WHEN e.id % 5 = 0 THEN 'delivered' ELSE 'read' END, 1, 'x' || e.id, e.at, e.at "
            "FROM events e JOIN users u ON u.pseudonym = e.actor "
            "WHERE e.id > ? AND e.type = 'message_in' AND e.at >= ?",
            (REPLY, after, keep_from),
        )
        conn.execute(
            "INSERT OR IGNORE INTO inbound_seen (channel, external_id, seen_at) "
            "SELECT channel, CASE channel WHEN 'telegram' THEN printf('%d', e.id) "
            "ELSE 'SM' || lower(hex(randomblob(16))) END, at "
            "FROM events e WHERE e.id > ? AND e.type = 'message_in' AND e.at >= ?",
            (after, keep_from),
        )
        # Invitations of the last KEEP_DAYS still point at their message, whose status is the
        # delivery (older ones keep only `delivery`, rolled up when their message was pruned).
        rows = conn.execute(
            "SELECT i.id, u.id, u.channel, u.address, i.delivery, i.created_at FROM invitations i "
            "JOIN users u ON u.id = i.user_id WHERE i.outbox_id IS NULL AND i.delivery IS NOT NULL "
            "AND i.created_at >= ?",
            (keep_from,),
        ).fetchall()
        for invitation, user, channel, address, delivery, at in rows:
            cur = conn.execute(
                "INSERT INTO outbox (user_id, channel, address, priority, payload, status, attempts, "
                "created_at, updated_at) VALUES (?, ?, ?, 10, ?, ?, 1, ?, ?)",
                (user, channel, address, REPLY, delivery, at, now),
            )
            conn.execute(
                "UPDATE invitations SET outbox_id = ?, delivery = NULL WHERE id = ?",
                (cur.lastrowid, invitation),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


async def count(app: App, table: str) -> int:
    rows = await app.db.conn.execute_fetchall(f"SELECT COUNT(*) FROM {table}")
    return int(rows[0][0])


async def grow(app: App, target: int, seed: int) -> int:
    """Add demo learners until the table holds about `target` events (within 1%); each batch's
    size is worked out from the events per learner of the last one (about 77 once completed)."""
    content = demo.curriculum(app.settings)
    per_learner = 77.0
    while (have := await count(app, "events")) < 0.99 * target:
        users = max(20, min(5_000, round((target - have) / per_learner)))
        now = utcnow()
        keep_from = repo.iso(
            now.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=KEEP_DAYS)
        )
        async with app.db.exclusive() as conn:
            last = (await conn.execute_fetchall("SELECT COALESCE(MAX(id), 0) FROM events"))[0][0]
            await repo.in_thread(conn, demo.seed, users, now, DAYS, seed, content)
            await repo.in_thread(conn, _complete, last, repo.iso(now), keep_from)
        per_learner = (await count(app, "events") - have) / users
        seed += 1
    return await count(app, "events")


# -- timing, in a process of its own -----------------------------------------------------------


async def login(web, username: str) -> None:  # type: ignore[no-untyped-def]
    form = await web.get("/dashboard/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    done = await web.post(
        "/dashboard/login", data={"csrf": csrf.group(1), "username": username, "password": PASSWORD}
    )
    assert done.status_code == 303, done.text


def evict(database: Path) -> None:
    """Drop the database's pages from the operating system's file cache (this file only)."""
    for path in (database, database.with_name(database.name + "-wal")):
        if path.exists():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


async def measure(database: Path, rounds: int, from_disk: bool) -> dict[str, float]:
    """Seconds of `/dashboard` on an app started here: the staff's first load ("cold") and the
    best of `rounds` after it ("warm"); then a facilitator's (one club), best of `rounds`."""
    import httpx

    from bot.web.server import build_web

    if from_disk:
        evict(database)
    app = await App.create(Settings(database_url=f"sqlite:///{database}"))
    times: dict[str, float] = {}
    try:
        transport = httpx.ASGITransport(app=build_web(app))
        for username in (STAFF, FACILITATOR):
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as web:
                await login(web, username)
                loads = []
                for _ in range(1 + rounds):
                    start = time.perf_counter()
                    response = await web.get("/dashboard")
                    loads.append(time.perf_counter() - start)
                    assert response.status_code == 200 and "[demo]" in response.text, response.status_code
                    if from_disk:
                        return {"disk": loads[0]}
                times[username] = loads[0]
                times[f"{username} warm"] = min(loads[1:])
    finally:
        await app.close()
    return times


def measured(database: Path, rounds: int, from_disk: bool = False) -> dict[str, float]:
    """`measure` in a fresh interpreter: a first load is a first load for everything in it."""
    command = [sys.executable, "-m", "bench.stats", "--measure", str(database), "--rounds", str(rounds)]
    out = subprocess.run(command + ["--from-disk"] * from_disk, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


async def build(database: Path, target: int, seed: int) -> dict[str, int]:
    app = await App.create(Settings(database_url=f"sqlite:///{database}"))
    try:
        await grow(app, target, seed)
        if not await count(app, "dashboard_accounts"):
            async with app.db.transaction() as conn:
                club = (await conn.execute_fetchall("SELECT MIN(id) FROM clubs"))[0][0]
                await add_account(conn, STAFF, PASSWORD, None, utcnow())
                await add_account(conn, FACILITATOR, PASSWORD, [club], utcnow())
        await app.db.checkpoint("TRUNCATE")  # the bot's maintenance task does this when idle
        return {t: await count(app, t) for t in ("events", "users", "invitations", "outbox", "inbound_seen")}
    finally:
        await app.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=100_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3, help="warm: the best of this many loads")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--from-disk", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(await measure(args.measure, args.rounds, args.from_disk)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        database = Path(tmp) / "bench.db"
        sizes, times = [], []
        for target, seed in ((args.small, 1), (args.large, 1000)):
            start = time.perf_counter()
            sizes.append(await build(database, target, seed))
            built = time.perf_counter() - start
            times.append(measured(database, args.rounds) | measured(database, args.rounds, from_disk=True))
            rows = ", ".join(f"{n:,} {t}" for t, n in sizes[-1].items())
            print(f"built in {built:.0f} s: {rows}", flush=True)
    (small, large), (t_small, t_large) = sizes, times
    ratio = large["events"] / small["events"]
    print(f"/dashboard over HTTP: {small['events']:,} then {large['events']:,} events ({ratio:.1f}x)")
    for key, label in (
        (STAFF, "staff, first load after start"),
        (f"{STAFF} warm", "staff, warm (best of the next loads)"),
        ("disk", "staff, first load, file not in OS cache"),
        (f"{FACILITATOR} warm", "facilitator (one club), warm"),
    ):
        a, b = t_small[key], t_large[key]
        print(f"  {label:42} {a * 1000:7.1f} ms -> {b * 1000:7.1f} ms   ratio {b / a:5.2f}x")
    print(
        f"goals: staff ratio <= 10x, first load and warm: {t_large[STAFF] / t_small[STAFF]:.2f}x and "
        f"{t_large[STAFF + ' warm'] / t_small[STAFF + ' warm']:.2f}x; "
        f"first load at {large['events']:,} events < 1000 ms: {t_large[STAFF] * 1000:.0f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
