"""`python -m bot outbox`: what is waiting to go out, what is held and why, and re-queueing it.

It prints counts and reasons only, never addresses or message text.
"""

from __future__ import annotations

import argparse

from bot.config import Settings
from bot.engine.messages import utcnow
from bot.storage import repo
from bot.storage.db import Database


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    outbox = sub.add_parser("outbox", help="messages waiting, held or failed, per channel")
    osub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    osub.add_parser("status", help="counts per channel and status, and why messages are held or failed")
    retry = osub.add_parser("retry-held", help="queue held messages again (e.g. after adding a template)")
    retry.add_argument("--channel", help="only this channel, e.g. whatsapp")


async def run(settings: Settings, args: argparse.Namespace) -> int:
    db = await Database.open(settings.database_path)
    try:
        async with db.transaction() as conn:
            if args.outbox_command == "retry-held":
                n = await repo.requeue_held(conn, args.channel, utcnow())
                print(f"queued {n} held message(s) again; the running bot sends them within 30 s")
                return 0
            counts = await repo.outbox_summary(conn)
        if not counts:
            print("the outbox is empty")
            return 0
        print(f"{'channel':10} {'status':12} {'count':>6}  reason")
        for channel, status, reason, count in counts:
            print(f"{channel:10} {status:12} {count:6d}  {reason or ''}")
        return 0
    finally:
        await db.close()
