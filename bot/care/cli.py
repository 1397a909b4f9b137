"""Command-line tools for staff: escalations, retention, recorded consent."""

from __future__ import annotations

import argparse
from datetime import timedelta

from bot.care import queries as care_queries
from bot.clubs import model as clubs
from bot.commandline import CommandLine
from bot.config import ConfigError, Settings
from bot.messages import utcnow
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.media import MediaStore


def register_cli(cli: CommandLine) -> None:
    esc = cli.command("escalations", "safeguarding escalations: list, show, close", run)
    esub = esc.add_subparsers(dest="escalations_command", metavar="ACTION", required=True)
    lst = esub.add_parser("list", help="open escalations (--all for closed ones too)")
    lst.add_argument("--all", action="store_true")
    show = esub.add_parser("show", help="one escalation, with how to reach the learner")
    show.add_argument("id", type=int)
    close = esub.add_parser("close", help="close an escalation once a person has followed up")
    close.add_argument("id", type=int)
    close.add_argument("--note", default=None, help="what was done (no names, please)")

    privacy = cli.command("privacy", "data protection jobs", run)
    psub = privacy.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    retention = psub.add_parser("retention", help="pseudonymise learners inactive for longer than --days")
    retention.add_argument("--days", type=int, required=True)

    usub = cli.group("users", "manage users")
    consent = usub.add_parser("consent", help="record a guardian's consent given to a facilitator")
    consent.set_defaults(run=run)
    consent.add_argument(
        "user", metavar="CHANNEL:ADDRESS", help="e.g. telegram:42 or whatsapp:whatsapp:+2507..."
    )
    consent.add_argument("--guardian", action="store_true", required=True, help="the guardian agreed")
    grant = usub.add_parser("grant", help="give a role: facilitator (of --club), staff, admin or learner")
    grant.add_argument("role", choices=("learner", "facilitator", "staff", "admin"))
    grant.add_argument("user", metavar="CHANNEL:ADDRESS", help="e.g. telegram:42")
    grant.add_argument("--club", metavar="CODE", help="the club, for a facilitator")
    grant.set_defaults(run=run)


def _user_ref(value: str) -> tuple[str, str]:
    channel, sep, address = value.partition(":")
    if not sep or not channel or not address:
        raise ConfigError(f"{value!r} is not CHANNEL:ADDRESS, e.g. telegram:42")
    return channel, address


async def run(settings: Settings, args: argparse.Namespace) -> int:
    db = await Database.open(settings.database_url)
    try:
        if args.command == "escalations":
            return await _escalations(db, args)
        if args.command == "privacy":
            async with db.transaction() as conn:
                n = await care_queries.pseudonymise_inactive(conn, utcnow() - timedelta(days=args.days))
                media = MediaStore(settings.media_dir)
                for ref in await care_queries.take_retired_media(conn):
                    media.delete(ref)
            print(f"pseudonymised {n} learner(s) inactive for more than {args.days} days")
            return 0
        channel, address = _user_ref(args.user)
        if args.users_command == "grant":
            return await _grant(db, args, channel, address)
        async with db.transaction() as conn:
            user = await repo.find_user(conn, channel, address)
            if user is None:
                print(f"no user {args.user}")
                return 1
            await care_queries.set_consent(conn, user.id, "guardian_given", utcnow())
            await repo.in_thread(
                conn,
                repo.add_events,
                user,
                [repo.Event("consent", data={"value": "guardian_given", "by": "facilitator"})],
                utcnow(),
            )
        print(f"recorded guardian consent for {user.pseudonym}")
        return 0
    finally:
        await db.close()


async def _grant(db: Database, args: argparse.Namespace, channel: str, address: str) -> int:
    if args.role == "facilitator" and not args.club:
        raise ConfigError("a facilitator is granted for a club: add --club CODE")
    async with db.transaction() as conn:
        user = await repo.find_user(conn, channel, address)
        if user is None:
            print(f"no user {args.user}: they must write to the bot once first")
            return 1
        club = await clubs.club_by_code(conn, args.club) if args.club else None
        if args.club and club is None:
            raise ConfigError(f"no club with the code {args.club!r}")
        await clubs.grant(conn, user.id, args.role, club, utcnow())
    print(f"{args.user} is now {args.role}" + (f" of {club.name}" if club else ""))
    return 0


async def _escalations(db: Database, args: argparse.Namespace) -> int:
    async with db.transaction() as conn:
        if args.escalations_command == "list":
            rows = await care_queries.list_escalations(conn, None if args.all else "open")
            if not rows:
                print("no open escalations" if not args.all else "no escalations")
            for r in rows:
                alert = "alert delivered" if r["delivered"] else "ALERT NOT DELIVERED YET"
                if not r["delivered"] and not r["undelivered"]:
                    alert = "no alert on record"
                print(
                    f"#{r['id']:<5} {r['status']:6} {r['severity']:9} {r['reason']:9} {r['created_at'][:16]} "
                    f"learner {r['actor']}  {alert}"
                )
            return 0
        if args.escalations_command == "show":
            r = await care_queries.get_escalation(conn, args.id)
            if r is None:
                print(f"no escalation #{args.id}")
                return 1
            for key in (
                "id",
                "status",
                "severity",
                "reason",
                "created_at",
                "actor",
                "channel",
                "address",
                "language",
                "excerpt",
                "closed_at",
                "note",
            ):
                print(f"{key:10} {r.get(key) if r.get(key) is not None else '-'}")
            return 0
        if await care_queries.close_escalation(conn, args.id, args.note, utcnow()):
            print(f"closed escalation #{args.id}")
            return 0
        print(f"no open escalation #{args.id}")
        return 1
