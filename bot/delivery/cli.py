"""`python -m bot outbox`: what is waiting to go out, what is held and why, and re-queueing it.

It prints counts and reasons only, never addresses or message text.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from bot.commandline import CommandLine
from bot.config import Settings
from bot.delivery import queries as delivery_queries
from bot.messages import utcnow
from bot.storage.db import Database


def register_cli(cli: CommandLine) -> None:
    outbox = cli.command("outbox", "messages waiting, held or failed, per channel", run)
    osub = outbox.add_subparsers(dest="outbox_command", required=True, metavar="COMMAND")
    osub.add_parser("status", help="counts per channel and status, and why messages are held or failed")
    retry = osub.add_parser("retry-held", help="queue held messages again (e.g. after adding a template)")
    retry.add_argument("--channel", help="only this channel, e.g. whatsapp")
    failed = osub.add_parser(
        "retry-failed",
        help="queue failed messages again (e.g. after an outage longer than OUTBOX_RETRY_HOURS)",
    )
    failed.add_argument("--channel", help="only this channel, e.g. telegram")
    failed.add_argument(
        "--since", type=_moment, metavar="YYYY-MM-DD[THH:MM]", help="only messages created since then (UTC)"
    )


def _moment(value: str) -> datetime:
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a date or time: {value!r} (e.g. 2026-11-27 or 2026-11-27T08:00)"
        ) from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    db = await Database.open(settings.database_url)
    try:
        async with db.transaction() as conn:
            if args.outbox_command == "retry-held":
                n = await delivery_queries.requeue_held(conn, args.channel, utcnow())
                print(f"queued {n} held message(s) again; the running bot sends them within 30 s")
                return 0
            if args.outbox_command == "retry-failed":
                n = await delivery_queries.requeue_failed(conn, args.channel, args.since, utcnow())
                print(f"queued {n} failed message(s) again; the running bot sends them within 30 s")
                return 0
            counts = await delivery_queries.outbox_summary(conn)
        if not counts:
            print("the outbox is empty")
            return 0
        print(f"{'channel':10} {'status':12} {'count':>6}  reason")
        for channel, status, reason, count in counts:
            print(f"{channel:10} {status:12} {count:6d}  {reason or ''}")
        return 0
    finally:
        await db.close()
