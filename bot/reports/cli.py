"""`python -m bot reports …`: the review from the command line, the roles, and the one way to
resolve a reporter code (an admin, with a reason, logged).

Every review command runs `--as` a committee or admin dashboard login, whose areas it is held
to and whose name goes in the audit trail.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from typing import Any

from bot.commandline import CommandLine
from bot.config import ConfigError, Settings
from bot.i18n import Catalogs
from bot.messages import utcnow
from bot.reports import exports, model, review
from bot.reports.config import EarlyWarning
from bot.reports.model import Filters, ReportError, Scope
from bot.reports.review import Reviewer
from bot.stats.dashboard.accounts import add_account, hashed
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.repo import Conn


def register_cli(cli: CommandLine) -> None:
    r = cli.command("reports", "early warning: review reports, export them, manage reporters", run)
    sub = r.add_subparsers(dest="reports_command", metavar="ACTION", required=True)

    def filtered(p: argparse.ArgumentParser) -> None:
        p.add_argument("--as", dest="reviewer", required=True, metavar="LOGIN", help="your committee login")
        p.add_argument("--status", choices=(*model.STATUSES, "open"))
        p.add_argument("--type", metavar="TYPE")
        p.add_argument("--area", metavar="COUNTRY[/AREA]", help="e.g. BI or RW/Gasabo")
        p.add_argument("--urgency", choices=model.URGENCIES)
        p.add_argument("--since", metavar="YYYY-MM-DD")
        p.add_argument("--until", metavar="YYYY-MM-DD")

    ls = sub.add_parser("list", help="the queue, most urgent first")
    filtered(ls)
    ls.add_argument("--limit", type=int, default=50)
    show = sub.add_parser("show", help="one report, its checklist, duplicates and audit trail")
    show.add_argument("ref")
    show.add_argument("--as", dest="reviewer", required=True, metavar="LOGIN")
    st = sub.add_parser("set-status", help="change a report's status (the reporter is told)")
    st.add_argument("ref")
    st.add_argument("status", choices=[s for s in model.STATUSES if s not in ("received", "referred")])
    st.add_argument("--reason", required=True)
    st.add_argument("--as", dest="reviewer", required=True, metavar="LOGIN")
    ex = sub.add_parser("export", help="CSV, or GeoJSON of area centroids; never a reporter's identity")
    filtered(ex)
    ex.add_argument("--format", choices=("csv", "geojson"), default="csv")
    ex.add_argument(
        "--with-text", action="store_true", help="add the masked text (not of committee-only reports)"
    )

    gr = sub.add_parser("grant", help="make a chat user a reporter or a committee member")
    gr.add_argument("role", choices=("reporter", "committee"))
    gr.add_argument("user", metavar="CHANNEL:ADDRESS", help="e.g. telegram:42 or whatsapp:+25779000000")
    gr.add_argument(
        "--scope", default="*", help="a committee member's areas: *, BI, RW/Gasabo (comma-separated)"
    )
    gr.add_argument(
        "--on-duty", action="store_true", help="alerted at once about danger and critical reports"
    )
    rv = sub.add_parser("revoke", help="take a reporter or committee role away")
    rv.add_argument("role", choices=("reporter", "committee"))
    rv.add_argument("user", metavar="CHANNEL:ADDRESS")
    lg = sub.add_parser("login", help="a dashboard login for a committee member or an admin")
    lg.add_argument("username")
    lg.add_argument("--role", choices=("committee", "admin"), default="committee")
    lg.add_argument("--scope", default="*")
    lg.add_argument("--password-stdin", action="store_true")
    tr = sub.add_parser("trust", help="mark a reporter trusted (needs enough verified reports)")
    tr.add_argument("code")
    tr.add_argument("--undo", action="store_true")
    tr.add_argument("--as", dest="reviewer", required=True, metavar="LOGIN")
    who = sub.add_parser("who", help="admins: the person behind a reporter code (logged)")
    who.add_argument("code")
    who.add_argument("--as", dest="reviewer", required=True, metavar="ADMIN_LOGIN")
    who.add_argument("--reason", required=True)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    ew = EarlyWarning.load(settings.reports_file, settings.areas_dir, settings.reports_open)
    db = await Database.open(settings.database_url)
    try:
        return await ACTIONS[args.reports_command](db, settings, ew, args)
    except ReportError as exc:
        raise ConfigError(str(exc)) from None
    finally:
        await db.close()


async def reviewer_login(conn: Conn, username: str) -> Reviewer:
    rows = await conn.execute_fetchall(
        "SELECT username, reports_role, reports_scope FROM dashboard_accounts WHERE username = ?", (username,)
    )
    if not rows or not rows[0]["reports_role"]:
        raise ReportError(
            f"{username!r} is not a committee login (create one with `python -m bot reports login`)"
        )
    role = rows[0]["reports_role"]
    scope = Scope(everything=True) if role == "admin" else Scope.parse(rows[0]["reports_scope"])
    return Reviewer(username, role, scope)


def _filters(args: argparse.Namespace) -> Filters:
    country = area1 = None
    if args.area:
        country, _, area1 = args.area.partition("/")
    return Filters(
        status=args.status,
        type=args.type,
        country=(country or "").upper() or None,
        area1=area1 or None,
        urgency=args.urgency,
        since=args.since,
        until=args.until,
    )


async def _list(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    async with db.reader() as conn:
        reviewer = await reviewer_login(conn, args.reviewer)
        reports = await model.queue(conn, reviewer.scope, _filters(args), limit=args.limit)
    print(f"{'ref':14} {'status':13} {'urgency':9} {'type':12} {'area':28} {'filed':17} reporter")
    for r in reports:
        flag = "!" if r.danger else ""
        print(
            f"{r.ref:14} {r.status:13} {(r.urgency or '-') + flag:9} {r.type:12} "
            f"{(r.area1 + '/' + (r.area2 or '-'))[:28]:28} {r.created_at[:16]:17} {r.reporter_code or '-'}"
        )
    return 0


async def _show(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    async with db.reader() as conn:
        reviewer = await reviewer_login(conn, args.reviewer)
        report = await review.open_report(conn, reviewer, args.ref)
        record = await model.reporter_record(conn, report.reporter_id)
        events = await model.events_of(conn, report.id)
        dupes = await model.possible_duplicates(conn, report, ew.duplicate_hours)
    text = report.text if reviewer.is_admin else report.text_masked
    print(f"{report.ref}  {report.type}  status={report.status}  urgency={report.urgency or '-'}")
    print(f"where: {report.country}/{report.area1}/{report.area2 or '-'}  when: {report.happened_on}")
    print(f"people affected: {report.people}  danger: {'yes' if report.danger else 'no'}")
    print(f"committee only: {'yes' if report.committee_only else 'no'}  photos: {report.photos}")
    if record is not None:
        print(f"reporter {report.reporter_code}: {record.filed} filed, {record.verified} verified")
    print(f"checklist: {', '.join(report.checklist) or '-'}")
    print("\n" + text + "\n")
    for d in dupes:
        print(f"possible duplicate: {d.ref} ({d.status}, {d.created_at[:16]})")
    for e in events:
        details = {k: v for k, v in e.items() if k not in ("at", "actor", "type")}
        print(f"{e['at'][:19]}  {e['actor']:16} {e['type']:12} {json.dumps(details, ensure_ascii=False)}")
    return 0


async def _set_status(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    catalogs = Catalogs.load(settings.locales_dir)
    async with db.transaction() as conn:
        reviewer = await reviewer_login(conn, args.reviewer)
        report = await review.change_status(
            conn, catalogs, reviewer, args.ref, args.status, args.reason, utcnow()
        )
    print(f"{report.ref} is now {report.status}; the reporter will be told")
    return 0


async def _export(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    async with db.reader() as conn:
        reviewer = await reviewer_login(conn, args.reviewer)
        reports = await exports.all_matching(conn, reviewer.scope, _filters(args))
    if args.format == "geojson":
        json.dump(exports.geojson(reports, ew), sys.stdout, ensure_ascii=False, indent=1)
        print()
    else:
        exports.write_csv(sys.stdout, reports, ew, with_text=args.with_text)
    return 0


async def _user(conn: Conn, spec: str) -> repo.User:
    channel, sep, address = spec.partition(":")
    if not sep or not address:
        raise ReportError(f"{spec!r} is not CHANNEL:ADDRESS (e.g. telegram:42)")
    user = await repo.find_user(conn, channel, address)
    if user is None:
        raise ReportError(f"no user {spec}: they must send the bot a message first")
    return user


async def _grant(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    scope = Scope.parse(args.scope)
    _check_scope(scope, ew)
    async with db.transaction() as conn:
        user = await _user(conn, args.user)
        await model.grant(conn, user.id, args.role, str(scope), args.on_duty, utcnow())
    extra = f" for {scope}" + (", on duty" if args.on_duty else "") if args.role == "committee" else ""
    print(f"{user.pseudonym} is now a {args.role}{extra}")
    return 0


def _check_scope(scope: Scope, ew: EarlyWarning) -> None:
    for country in scope.countries:
        if ew.country(country) is None:
            raise ReportError(f"no country {country} in config/areas")
    for country, area in scope.areas:
        found = ew.country(country)
        if found is None or found.area(area) is None:
            raise ReportError(f"no area {country}/{area} in config/areas")


async def _revoke(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    async with db.transaction() as conn:
        user = await _user(conn, args.user)
        gone = await model.revoke(conn, user.id, args.role)
    print(
        f"{user.pseudonym} is no longer a {args.role}" if gone else f"{user.pseudonym} was not a {args.role}"
    )
    return 0


async def _login(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    scope = Scope.parse(args.scope)
    _check_scope(scope, ew)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        secret = await hashed(password)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    async with db.transaction() as conn:
        await add_account(conn, args.username, secret, [], utcnow())  # no clubs' figures
        await conn.execute(
            "UPDATE dashboard_accounts SET reports_role = ?, reports_scope = ? WHERE username = ?",
            (args.role, str(scope), args.username),
        )
    print(f"dashboard login {args.username!r} ready ({args.role}, areas {scope}); open /dashboard/reports")
    return 0


async def _trust(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    async with db.transaction() as conn:
        reviewer = await reviewer_login(conn, args.reviewer)
        await model.set_trusted(conn, args.code, not args.undo, reviewer.name, ew.trusted_after, utcnow())
    print(f"{args.code.upper()} is {'no longer ' if args.undo else ''}trusted")
    return 0


async def _who(db: Database, settings: Settings, ew: EarlyWarning, args: argparse.Namespace) -> int:
    async with db.transaction() as conn:
        reviewer = await reviewer_login(conn, args.reviewer)
        if not reviewer.is_admin:
            raise ReportError("only an admin login can resolve a reporter code")
        found = await model.resolve_code(conn, args.code, reviewer.name, args.reason, utcnow())
    if found is None:
        print(f"{args.code.upper()}: no person is linked to this code (never existed, or they used forget)")
        return 1
    print(f"{args.code.upper()}: {found[0]}:{found[1]}  (this lookup is logged)")
    return 0


ACTIONS: dict[str, Any] = {
    "list": _list,
    "show": _show,
    "set-status": _set_status,
    "export": _export,
    "grant": _grant,
    "revoke": _revoke,
    "login": _login,
    "trust": _trust,
    "who": _who,
}
