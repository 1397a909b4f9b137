"""`python -m bot stats` and `python -m bot export events`: engagement figures and raw events,
with pseudonymous ids only."""

from __future__ import annotations

import argparse
import csv
import getpass
import json
import sys
from datetime import UTC, datetime

from bot.clubs import model as clubs
from bot.commandline import CommandLine
from bot.config import ConfigError, Settings
from bot.messages import utcnow
from bot.stats import metrics as stats
from bot.stats.dashboard.accounts import add_account, hashed
from bot.storage.db import Database


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-01") from None


def register_cli(cli: CommandLine) -> None:
    s = cli.command("stats", "engagement figures (no names, no numbers; counts under 5 shown as <5)", run)
    s.add_argument("--club", metavar="CODE")
    s.add_argument("--district")
    s.add_argument("--language", choices=("rw", "fr", "en"))
    s.add_argument("--channel", choices=("telegram", "whatsapp", "console"))
    s.add_argument("--age-band", choices=("u16", "16_17", "18_24", "25p"))
    s.add_argument("--since", type=_date, metavar="YYYY-MM-DD")
    s.add_argument("--until", type=_date, metavar="YYYY-MM-DD", help="up to, not including, this day")
    s.add_argument("--format", choices=("table", "csv", "json"), default="table")
    d = cli.command("demo-data", "seed synthetic, clearly marked activity to try the dashboard", run)
    d.set_defaults(creates_database=True)
    d.add_argument("--users", type=int, default=5000)
    d.add_argument("--clear", action="store_true", help="remove the demo data instead")
    e = cli.command("export", "export data with pseudonymous ids", run)
    esub = e.add_subparsers(dest="export_command", metavar="WHAT", required=True)
    ev = esub.add_parser("events", help="analytics events as CSV on stdout")
    ev.add_argument("--since", type=_date, metavar="YYYY-MM-DD", required=True)
    staff = cli.group("users", "manage users").add_parser(
        "add-staff", help="create (or reset) a dashboard login; asks for the password"
    )
    staff.add_argument("username")
    staff.add_argument(
        "--club", action="append", metavar="CODE", help="a facilitator login for this club (repeat)"
    )
    staff.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    staff.set_defaults(run=add_staff, creates_database=True)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    db = await Database.open(settings.database_url)
    try:
        if args.command == "export":
            return await _export(db, args)
        if args.command == "demo-data":
            return await _demo(db, settings, args)
        club_ids = None
        if args.club:
            async with db.reader() as conn:
                club = await clubs.club_by_code(conn, args.club)
            if club is None:
                raise ConfigError(f"no club with the code {args.club!r} (see `python -m bot clubs list`)")
            club_ids = (club.id,)
        filters = stats.Filters(
            club_ids=club_ids,
            district=args.district,
            language=args.language,
            channel=args.channel,
            age_band=args.age_band,
            since=args.since,
            until=args.until,
        )
        # A reader: the figures never hold up the running bot's writes, however long they take.
        async with db.reader() as conn:
            shown = await stats.shown(conn, filters)
        if args.format == "json":
            print(json.dumps(shown, indent=2, ensure_ascii=False))
        elif args.format == "csv":
            writer = csv.writer(sys.stdout)
            writer.writerow(["metric", "key", "value"])
            writer.writerows(stats.rows(shown))
        else:
            for metric, key, value in stats.rows(shown):
                print(f"{metric:18} {key:30} {value}")
        return 0
    finally:
        await db.close()


async def _demo(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    from bot.stats import demo
    from bot.storage import repo

    async with db.exclusive() as conn:
        if args.clear:
            n = await repo.in_thread(conn, demo.clear)
            print(f"removed {n} demo learner(s), their clubs and events")
            return 0
        if not 1 <= args.users <= 200_000:
            raise ConfigError("--users must be between 1 and 200000")
        content = demo.curriculum(settings)  # the dialogs this deployment runs, not the defaults
        made = await repo.in_thread(conn, demo.seed, args.users, utcnow(), 60, 7, content)
    print("demo data (marked demo; remove with --clear): " + ", ".join(f"{v} {k}" for k, v in made.items()))
    return 0


async def _export(db: Database, args: argparse.Namespace) -> int:
    writer = csv.writer(sys.stdout)
    writer.writerow(["at", "learner", "type", "channel", "language", "module", "step", "data"])
    async with (
        db.reader() as conn,
        conn.execute(
            "SELECT at, actor, type, channel, language, dialog_id, step_id, data FROM events "
            "WHERE at >= ? ORDER BY at, id",
            (args.since.isoformat(),),
        ) as cur,
    ):
        async for row in cur:
            writer.writerow(list(row))
    return 0


async def add_staff(settings: Settings, args: argparse.Namespace) -> int:
    """A dashboard login for staff, or for a facilitator's clubs."""
    db = await Database.open(settings.database_url)
    try:
        return await _add_staff(db, args)
    finally:
        await db.close()


async def _add_staff(db: Database, args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        password = await hashed(password)  # scrypt in a thread, before the write lock is taken
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    club_ids = None
    async with db.transaction() as conn:
        if args.club:
            club_ids = []
            for code in args.club:
                club = await clubs.club_by_code(conn, code)
                if club is None:
                    raise ConfigError(f"no club with the code {code!r}")
                club_ids.append(club.id)
        try:
            await add_account(conn, args.username, password, club_ids, utcnow())
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    scope = "every club" if club_ids is None else f"{len(club_ids)} club(s)"
    print(f"dashboard login {args.username!r} ready ({scope}); open /dashboard")
    return 0
