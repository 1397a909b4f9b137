"""Command line: `python -m bot <command>` (also installed as `clubspeak`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from pathlib import Path

from bot.commandline import CommandLine
from bot.config import ConfigError, Settings
from bot.content.extract import InvalidDialogFile
from bot.content.loader import InvalidContent, content_stats, load_content
from bot.domains import COMMAND_LINES
from bot.i18n import Catalogs
from bot.logsafe import mask_secrets
from bot.storage import preflight
from bot.storage.db import Database


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bot",
        description="Club Speak bot: dialogue exercises, negotiation quizzes and civic-rights lessons.",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)

    c = sub.add_parser("console", help="chat with the bot in this terminal (no tokens needed)")
    c.add_argument("--user", default="you", help="chat as this user (default: you)")

    sub.add_parser("run", help="run the bot: web server, channels and outbox senders")

    content = sub.add_parser("content", help="check dialogs and translations")
    csub = content.add_subparsers(dest="content_command", metavar="ACTION", required=True)
    csub.add_parser("check", help="validate every dialog; exit 1 on any error")
    stats = csub.add_parser("stats", help="count exercises, quizzes, questions, lessons and translations")
    stats.add_argument("--json", action="store_true", help="print JSON")

    cli = CommandLine(sub)
    for register_cli in COMMAND_LINES:
        register_cli(cli)

    i18n = sub.add_parser("i18n", help="translation catalogs")
    isub = i18n.add_subparsers(dest="i18n_command", metavar="ACTION", required=True)
    isub.add_parser("update", help="extract strings from code and dialogs and merge them into locales/")
    isub.add_parser("review-status", help="per language, the entries still marked for native review")

    db = sub.add_parser("db", help="database maintenance")
    dsub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    dsub.add_parser("migrate", help="apply pending migrations")
    backup = dsub.add_parser("backup", help="copy the live database safely (SQLite online backup)")
    backup.add_argument("file", type=Path, help="where to write the copy")
    dsub.add_parser("prune", help="remove finished outbox messages and seen ids older than OUTBOX_KEEP_DAYS")
    copy = dsub.add_parser("copy", help="copy this SQLite database into PostgreSQL (safe to re-run)")
    copy.add_argument("--to", required=True, metavar="URL", help="the PostgreSQL database: postgresql://...")
    copy.add_argument(
        "--force", action="store_true", help="copy even if PostgreSQL has newer activity (workers run on it)"
    )
    return p


def _content_check(settings: Settings) -> int:
    catalogs = Catalogs.load(settings.locales_dir)
    content, errors = load_content(settings.dialogs_dir, catalogs)
    for error in errors:
        print(error, file=sys.stderr)
    if errors:
        print(f"{len(errors)} error(s) in {settings.dialogs_dir}", file=sys.stderr)
        return 1
    print(f"OK: {len(content.dialogs)} dialogs, all valid and translated.")
    return 0


def _content_stats(settings: Settings, as_json: bool) -> int:
    catalogs = Catalogs.load(settings.locales_dir)
    content, errors = load_content(settings.dialogs_dir, catalogs)
    stats = content_stats(content, catalogs)
    if as_json:
        print(json.dumps(stats, indent=2))
    else:
        for key in ("exercises", "quizzes", "quiz_questions", "lessons"):
            print(f"{key:15} {stats[key]}")
        for lang, t in stats["languages"].items():
            print(f"{lang:15} {t['translated']}/{t['total']} ({t['percent']}%)")
    if errors:
        print(f"warning: {len(errors)} content error(s); run `python -m bot content check`", file=sys.stderr)
    return 0


def _review_status(settings: Settings) -> int:
    from bot.i18n import REVIEW_MARK, review_status

    found = review_status(settings.locales_dir)
    print(f"Entries still marked for native review (translator comment '# {REVIEW_MARK}'):")
    for s in found:
        print(f"{s.lang:6} {s.marked:5} of {s.entries}")
    print(f"{'total':6} {sum(s.marked for s in found):5} of {sum(s.entries for s in found)}")
    return 0


def _copy(settings: Settings, args: argparse.Namespace) -> int:
    from bot.config import is_postgres, shown_url
    from bot.storage.copy import copy_to_postgres

    if settings.postgres:
        raise ConfigError("db copy reads a SQLite database: DATABASE_URL must be sqlite:///...")
    if not is_postgres(args.to):
        raise ConfigError(f"db copy --to: {shown_url(args.to)} is not a postgresql:// URL")
    copied = copy_to_postgres(settings.database_path, args.to, force=args.force)
    for table, rows in copied.tables.items():
        print(f"{table}: {rows} row(s)")
    print(
        f"copied {copied.rows} row(s) in {len(copied.tables)} tables to {shown_url(args.to)}; counts verified"
    )
    return 0


async def _db(settings: Settings, args: argparse.Namespace) -> int:
    if args.db_command == "copy":
        return _copy(settings, args)
    # Pruning needs migration 0008, which keeps invitations' delivery figures as rows go.
    db = await Database.open(settings.database_url, migrate=args.db_command in ("migrate", "prune"))
    try:
        if args.db_command == "migrate":
            print(f"{settings.database_name}: schema version {await db.version()}")
        elif args.db_command == "prune":
            from bot.storage.maintenance import Maintenance

            pruned = await Maintenance(db, settings).prune()
            print(
                f"pruned {pruned.outbox} outbox message(s) and {pruned.inbound_seen} seen inbound id(s) "
                f"older than {settings.outbox_keep_days} days (OUTBOX_KEEP_DAYS)"
            )
        elif settings.postgres:
            from bot.storage.postgres_db import PostgresDatabase

            assert isinstance(db, PostgresDatabase)
            # Not done, and not pretended: PostgreSQL's own tool makes the consistent copy.
            print(db.backup_command(args.file))
            print(
                "not backed up: on PostgreSQL, run the pg_dump command above "
                "(the password from PGPASSWORD or ~/.pgpass)",
                file=sys.stderr,
            )
            return 1
        else:
            await db.backup(args.file)
            print(f"backed up {settings.database_name} to {args.file}")
    finally:
        await db.close()
    return 0


async def _console(settings: Settings, user: str) -> int:
    from bot.app import App
    from bot.channels.console import chat

    app = await App.create(settings)
    try:
        await chat(app, user)
    finally:
        await app.close()
    return 0


async def _run(settings: Settings) -> int:
    from bot.web.server import serve

    await serve(settings)
    return 0


# Commands that open the database (`needs_database`, set by each domain's commands), and which
# of them may start from no database at all: those that set a bot up (`creates_database`: a new
# club, a first staff login, demo data). The rest read or change what is there, so a missing file
# means a wrong DATABASE_URL or folder, not an empty bot.
def _needs_database(args: argparse.Namespace) -> bool:
    return args.command in ("run", "console", "db") or getattr(args, "needs_database", False)


def _may_create_database(args: argparse.Namespace) -> bool:
    return (
        args.command in ("run", "console")
        or (args.command == "db" and args.db_command == "migrate")
        or getattr(args, "creates_database", False)
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose
        else logging.WARNING
        if args.command == "console"
        else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = Settings.from_env()
        mask_secrets(settings)
        if _needs_database(args) and not settings.postgres:
            preflight.check(settings.database_path, may_create=_may_create_database(args))
        if args.command == "content":
            if args.content_command == "check":
                return _content_check(settings)
            return _content_stats(settings, args.json)
        if args.command == "i18n" and args.i18n_command == "review-status":
            return _review_status(settings)
        if args.command == "i18n":
            from bot.config import PROJECT_ROOT
            from bot.i18n import update_catalogs

            for path in update_catalogs(PROJECT_ROOT):
                print(f"updated {path}")
            return 0
        if args.command == "db":
            return asyncio.run(_db(settings, args))
        if getattr(args, "run", None) is not None:  # a domain's command
            return asyncio.run(args.run(settings, args))
        if args.command == "console":
            return asyncio.run(_console(settings, args.user))
        if args.command == "run":
            return asyncio.run(_run(settings))
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except InvalidContent as exc:
        print("The bot will not start: the content has errors.", file=sys.stderr)
        for error in exc.errors[:20]:
            print(f"  {error}", file=sys.stderr)
        if len(exc.errors) > 20:
            print(f"  ... and {len(exc.errors) - 20} more", file=sys.stderr)
        print("Fix them, then check with `python -m bot content check`.", file=sys.stderr)
        return 1
    except preflight.DatabaseUnavailable as exc:
        print(exc, file=sys.stderr)
        return 1
    except InvalidDialogFile as exc:
        print(f"i18n update stopped, catalogs unchanged: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `python -m bot stats | head`: the reader has gone; end quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
