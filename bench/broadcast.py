"""Invitations at Telegram's rate limit: how close to ideal, how many 429s, lost and duplicated.

N club members are invited to a session (the real `clubs.invite`), and the real outbox sender
with the real Telegram transport sends the invitations to a fake Bot API on loopback that,
like Telegram, accepts 30 messages a second and answers 429 with `retry_after` beyond that.

It prints the ideal time (N / limit) divided by the actual time (1.0 is perfect), the number of
429 answers, how many members got nothing (lost) and how many got more than one (duplicated).

    python -m bench.broadcast --members 10000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.channels.telegram import TelegramChannel
from bot.clubs import model as clubs
from bot.config import Settings
from bot.delivery.outbox import OutboxSender, RateLimiter
from bot.messages import utcnow
from bot.storage import repo
from tests.fake_telegram import FakeBotAPI, running

LIMIT = 30


async def seed(app: App, members: int) -> clubs.Session:
    now = utcnow()
    async with app.db.transaction() as conn:
        club = await clubs.create_club(conn, "Bench Club", "Huye", "rw", now)
        await conn.executemany(
            "INSERT INTO users (channel, address, pseudonym, language, created_at) "
            "VALUES ('telegram', ?, ?, ?, ?)",
            [
                (str(1_000_000 + n), f"u_{n:08x}", ("rw", "fr", "en")[n % 3], now.isoformat())
                for n in range(members)
            ],
        )
        await conn.execute(
            "INSERT INTO memberships (club_id, user_id, joined_at) SELECT ?, id, ? FROM users",
            (club.id, now.isoformat()),
        )
        session_id = await clubs.create_session(
            conn, club, now + timedelta(days=7), "Hall", "Trust", None, now
        )
        session = await clubs.get_session(conn, session_id)
    assert session is not None
    async with app.db.exclusive() as conn:
        await repo.in_thread(conn, clubs.invite, session, clubs.Renderer(app.engine.catalogs), now)
    return session


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    if args.members < 1:
        parser.error("--members must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        async with running(FakeBotAPI(limit_per_second=LIMIT)) as fake:
            settings = replace(
                Settings(database_url=f"sqlite:///{Path(tmp) / 'bench.db'}"),
                telegram_bot_token=fake.token,
                telegram_api_url=fake.url,
            )
            app = await App.create(settings)
            await seed(app, args.members)
            channel = TelegramChannel.create(settings, app)
            await channel.start()
            sender = OutboxSender(app.db, channel, max_in_flight=32, rate=RateLimiter(LIMIT))
            start = time.perf_counter()
            await sender.run_once()
            elapsed = time.perf_counter() - start
            await channel.application.shutdown()
            await app.close()
    accepted = Counter(int(c.params["chat_id"]) for c in fake.sent())
    refused = sum(1 for c in fake.calls if c.method == "sendMessage" and not c.ok)
    lost = args.members - len(accepted)
    duplicated = sum(n - 1 for n in accepted.values())
    ideal = args.members / LIMIT
    print(f"members={args.members}, fake Bot API limit {LIMIT} msg/s with 429 + retry_after beyond")
    print(f"ideal {ideal:.1f} s, actual {elapsed:.1f} s: ideal/actual = {ideal / elapsed:.2f}")
    print(f"429 answers: {refused}   lost: {lost}   duplicated: {duplicated}")


if __name__ == "__main__":
    asyncio.run(main())
