"""`python -m bot clubs|sessions|broadcast`: clubs, sessions and invitations from the command line.

Privileged actions done here are the operator's (they run on the server); in chat every
one goes through `bot.authz`.
"""

from __future__ import annotations

import argparse
from datetime import timedelta
from pathlib import Path

from bot.clubs import model as clubs
from bot.clubs import poster as club_poster
from bot.commandline import CommandLine
from bot.config import ConfigError, Settings
from bot.i18n import N_, Catalogs, format_when
from bot.messages import utcnow
from bot.storage import repo
from bot.storage.db import Database

ROLES = ("learner", "facilitator", "staff", "admin")


def register_cli(cli: CommandLine) -> None:
    c = cli.command("clubs", "create and list clubs", run)
    csub = c.add_subparsers(dest="clubs_command", metavar="ACTION", required=True)
    create = csub.add_parser("create", help="create a club; prints its join code")
    create.set_defaults(creates_database=True)  # the first thing a new bot is told to do
    create.add_argument("--name", required=True)
    create.add_argument("--district", required=True, help="e.g. Huye, Gisagara, Nyaruguru, Nyanza, Nyabihu")
    create.add_argument("--language", choices=("rw", "fr", "en"), default="rw")
    csub.add_parser("list", help="clubs with their codes and member counts")
    qr = csub.add_parser("qr", help="a printable poster with QR codes to join by Telegram and WhatsApp")
    qr.add_argument("code", metavar="CODE")
    qr.add_argument("--out", default=None, help="PNG file to write (default: club-CODE.png)")

    s = cli.command("sessions", "club sessions: create, invite, cancel", run)
    ssub = s.add_subparsers(dest="sessions_command", metavar="ACTION", required=True)
    screate = ssub.add_parser("create", help="plan a session (it is not sent until `invite`)")
    screate.add_argument("--club", required=True, metavar="CODE")
    screate.add_argument("--at", required=True, help='local time in Kigali, e.g. "2026-12-05 15:00"')
    screate.add_argument("--place", required=True)
    screate.add_argument("--topic", required=True)
    inv = ssub.add_parser("invite", help="send the invitations, and schedule reminders and one nudge")
    inv.add_argument("session", type=int, metavar="SESSION_ID")
    can = ssub.add_parser("cancel", help="cancel a session and tell everyone invited")
    can.add_argument("session", type=int, metavar="SESSION_ID")

    b = cli.command("broadcast", "what happened to a session's invitations", run)
    bsub = b.add_subparsers(dest="broadcast_command", metavar="ACTION", required=True)
    st = bsub.add_parser("status", help="sent, delivered, failed, and each RSVP answer")
    st.add_argument("session", type=int, metavar="SESSION_ID")


async def _poster(db: Database, settings: Settings, args: argparse.Namespace) -> int:
    async with db.transaction() as conn:
        club = await clubs.club_by_code(conn, args.code)
    if club is None:
        raise ConfigError(f"no club with the code {args.code!r} (see `python -m bot clubs list`)")
    username, sender = settings.telegram_bot_username, settings.twilio_whatsapp_from
    telegram = club_poster.telegram_link(username, club.code) if username else None
    whatsapp = club_poster.whatsapp_link(sender, club.code) if sender else None
    tr = Catalogs.load(settings.locales_dir).gettext
    lang = club.language
    text = club_poster.PosterText(
        title=tr(lang, N_("Join {club}")).format(club=club.name),
        telegram=tr(lang, N_("Telegram: scan to open the bot")),
        whatsapp=tr(lang, N_("WhatsApp: scan, then press send")),
        or_send=tr(lang, N_("Or send this message to the bot: join {code}")).format(code=club.code),
    )
    out = Path(args.out or f"club-{club.code}.png")
    out.write_bytes(club_poster.render(text, club.code, telegram, whatsapp))  # noqa: ASYNC240 - a CLI
    print(f"wrote {out}" + "".join(f"\n  {link}" for link in (telegram, whatsapp) if link))
    # The join code works in every channel; each setting adds a QR code that opens the bot.
    if not telegram:
        print("  (set TELEGRAM_BOT_USERNAME to add a Telegram QR code that opens the bot)")
    if not whatsapp:
        print("  (set TWILIO_WHATSAPP_FROM to add a WhatsApp QR code with the join message written)")
    return 0


def _renderer(settings: Settings) -> clubs.Renderer:
    return clubs.Renderer(Catalogs.load(settings.locales_dir), settings.timezone)


async def run(settings: Settings, args: argparse.Namespace) -> int:
    db = await Database.open(settings.database_url)
    now = utcnow()
    try:
        if args.command == "clubs":
            if args.clubs_command == "create":
                if not args.name.strip() or not args.district.strip():
                    raise ConfigError("--name and --district must not be empty")
                known = clubs.load_districts(settings.districts_file)
                matches = [d for d in known if d.casefold() == args.district.strip().casefold()]
                if known and not matches:
                    listed = ", ".join(known)
                    raise ConfigError(f"--district {args.district!r} is not one of: {listed}")
                if matches:
                    args.district = matches[0]
                async with db.transaction() as conn:
                    club = await clubs.create_club(
                        conn, args.name.strip(), args.district.strip(), args.language, now
                    )
                print(f"created {club.name} ({club.district}); join code {club.code}")
                print(f"members join with: join {club.code}  (or /start club_{club.code} on Telegram)")
                return 0
            if args.clubs_command == "qr":
                return await _poster(db, settings, args)
            async with db.transaction() as conn:
                rows = await clubs.list_clubs(conn)
            for club, members in rows:
                print(f"{club.code}  {club.district:12} {club.name}  ({members} member(s), {club.language})")
            return 0
        if args.command == "sessions" and args.sessions_command == "create":
            starts_at = clubs.parse_when(args.at, settings.timezone)
            if starts_at is None:
                raise ConfigError(f'--at {args.at!r}: write the local date and time like "2026-12-05 15:00"')
            if starts_at <= now:
                raise ConfigError(f"--at {args.at!r} is in the past")
            async with db.transaction() as conn:
                club = await clubs.club_by_code(conn, args.club)
                if club is None:
                    raise ConfigError(f"no club with the code {args.club!r} (see `python -m bot clubs list`)")
                place, topic = args.place.strip(), args.topic.strip()
                session_id = await clubs.create_session(conn, club, starts_at, place, topic, None, now)
            when = format_when(starts_at, "en", settings.timezone)
            print(f"session {session_id} for {club.name}: {when}, {place}.")
            print(f"send the invitations with: python -m bot sessions invite {session_id}")
            return 0
        async with db.transaction() as conn:
            session = await clubs.get_session(conn, args.session)
        if session is None:
            raise ConfigError(f"no session {args.session}")
        if args.command == "sessions" and args.sessions_command == "invite":
            if session.status != "scheduled" or session.starts_at <= now:
                raise ConfigError(f"session {session.id} is {session.status} or already past")
            async with db.exclusive() as conn:
                reminders = tuple(timedelta(hours=h) for h in settings.session_reminders)
                n = await repo.in_thread(conn, clubs.invite, session, _renderer(settings), now, reminders)
            print(f"invited {n} member(s) of {session.club.name}; the running bot sends them within 30 s")
            return 0
        if args.command == "sessions" and args.sessions_command == "cancel":
            async with db.exclusive() as conn:
                n = await repo.in_thread(conn, clubs.cancel, session, _renderer(settings), now)
            if session.status == "cancelled":
                print(f"session {session.id} was already cancelled; nobody is told again")
                return 0
            print(f"cancelled session {session.id}; {n} invited member(s) will be told")
            return 0
        async with db.transaction() as conn:
            counts = await clubs.session_status(conn, session.id)
        print(f"session {session.id}, {session.club.name}, {session.status}")
        for key, value in counts.items():
            print(f"  {key:10} {value}")
        return 0
    finally:
        await db.close()
