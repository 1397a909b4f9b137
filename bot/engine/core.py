"""`Engine.handle(inbound)`: one user message in, one transaction, replies in the outbox."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from bot.content.loader import Content
from bot.engine import achievements, care, clubs_chat, facilitator, runner, screens
from bot.engine.intents import Command, Intent, match_choice, parse_command
from bot.engine.messages import REPLY, Choice, Inbound, Outbound, utcnow
from bot.engine.turn import Turn
from bot.i18n import N_, Catalogs, negotiate
from bot.media import MediaStore
from bot.privacy import log_id
from bot.safeguarding import Safeguarding
from bot.storage import repo
from bot.storage.db import Database

log = logging.getLogger(__name__)

APOLOGY = N_("Sorry, something went wrong on our side. Send menu to go on.")
# A facilitator following sessions: the screens `facilitator.answer_sessions` handles.
FOLLOW_SCREENS = {
    "sessions",
    "session_action",
    "session_cancel",
    "attendance",
    "session_change",
    "session_new_value",
}
# What a user who sent STOP may still ask for.
WHILE_STOPPED = {Intent.START, Intent.STOP, Intent.HELP, Intent.MYDATA, Intent.DELETE, Intent.PRIVACY}


@dataclass
class KeyedLocks:
    """One asyncio.Lock per key, dropped when nobody holds or waits for it."""

    _locks: dict[str, tuple[asyncio.Lock, int]] = field(default_factory=dict)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class Engine:
    """Channel-agnostic: adapters hand it `Inbound`; it writes `Outbound` rows.

    Updates of one user run in order under a per-user lock; different users run
    concurrently up to SQLite's single write transaction.
    """

    def __init__(
        self,
        db: Database,
        content: Content,
        catalogs: Catalogs,
        *,
        timezone: str = "Africa/Kigali",
        max_inbound_chars: int = 4000,
        safeguarding: Safeguarding | None = None,
        on_outbox: Callable[[str], None] | None = None,
        media: MediaStore | None = None,
        reminders: tuple[timedelta, ...] = (timedelta(hours=24), timedelta(hours=2)),
    ):
        self.media = media
        self.reminders = reminders
        self.safeguarding = safeguarding or Safeguarding()
        self.db = db
        self.content = content
        self.catalogs = catalogs
        self.timezone = timezone
        self.max_inbound_chars = max_inbound_chars
        self._on_outbox = on_outbox or (lambda channel: None)
        self._locks = KeyedLocks()

    def set_outbox_listener(self, listener: Callable[[str], None]) -> None:
        self._on_outbox = listener

    def notify_outbox(self, channel: str) -> None:
        """Something was queued (or re-queued) for `channel`: wake its sender."""
        self._on_outbox(channel)

    async def handle(self, inbound: Inbound, inbox_id: int | None = None) -> list[Outbound] | None:
        """Process one message. Returns the replies queued, or None for a duplicate.

        With `inbox_id`, the inbox row goes in the same transaction as the turn. A database
        that cannot write (disk full, locked, read-only) raises instead: the row stays in the
        inbox and is handled again once the database recovers.
        """
        async with self._locks.hold(f"{inbound.channel}:{inbound.address}"):
            try:
                replies = await self._handle_in_transaction(inbound, inbox_id)
            except sqlite3.OperationalError:
                if inbox_id is not None:
                    raise
                log.exception("handling a message from %s failed", log_id(inbound.channel, inbound.address))
                replies = await self._apologise(inbound, inbox_id)
            except Exception:
                # A bug, not an outage: replaying the message would fail the same way for ever.
                log.exception("handling a message from %s failed", log_id(inbound.channel, inbound.address))
                replies = await self._apologise(inbound, inbox_id)
        # An officer's alert may go out on another channel than the learner's.
        for channel in {r.channel for r in replies or ()}:
            self._on_outbox(channel)
        return replies

    async def _handle_in_transaction(self, inbound: Inbound, inbox_id: int | None) -> list[Outbound] | None:
        now = inbound.received_at
        async with self.db.exclusive() as conn:
            # Two thread hops carry the fixed part of every message: open (BEGIN, dedup,
            # sender, state) and close (state, events, replies, COMMIT).
            opened = await repo.in_thread(
                conn,
                repo.open_turn,
                inbound.channel,
                inbound.address,
                inbound.external_id,
                inbound.name,
                negotiate(inbound.language_code),
                now,
                inbox_id,
            )
            if opened is None:
                return None
            user, created, state = opened
            try:
                turn = Turn(
                    conn,
                    user,
                    state,
                    self.content,
                    self.catalogs,
                    now,
                    self.timezone,
                    self.safeguarding,
                    media=self.media,
                    reminders=self.reminders,
                )
                if created:
                    turn.event("user_created", hint=user.language_hint)
                turn.event("message_in", kind="tap" if inbound.payload else "text")
                await self._dispatch(turn, inbound)
                if turn.data.pop("bulk_queued", False):
                    self._on_outbox("*")  # invitations or an announcement for every channel
                if not turn.out:  # never leave a learner in silence
                    await self._reprompt(turn, turn._("Sorry, I did not understand that."))
                # Learners who declined (or await a guardian) leave no analytics trail.
                keep_events = not turn.erased and turn.user.consent not in ("declined", "guardian_pending")
                await repo.in_thread(
                    conn,
                    repo.close_turn,
                    turn.user,
                    None if turn.erased else turn.state,
                    turn.events if keep_events else [],
                    turn.out,
                    now,
                    inbox_id,
                )
            except BaseException:
                await repo.in_thread(conn, repo.rollback)
                raise
            return turn.out

    async def _apologise(self, inbound: Inbound, inbox_id: int | None) -> list[Outbound]:
        """Something broke: roll back, and still tell the user in their language."""
        async with self.db.transaction() as conn:
            if inbox_id is not None:
                await conn.execute("DELETE FROM inbox WHERE id = ?", (inbox_id,))
            user = await repo.find_user(conn, inbound.channel, inbound.address)
            lang = user.lang if user else negotiate(inbound.language_code)
            text = self.catalogs.gettext(lang, APOLOGY)
            reply = Outbound(
                inbound.channel,
                inbound.address,
                text,
                priority=REPLY,
                language=lang,
                user_id=user.id if user else None,
            )
            await repo.in_thread(conn, repo.enqueue, [reply], utcnow())
        return [reply]

    # -- routing --------------------------------------------------------------

    async def _dispatch(self, turn: Turn, inbound: Inbound) -> None:
        text = inbound.text
        # Distress comes first, on the whole text: a long message must not hide a cry for help.
        severity = self.safeguarding.assess(text) if text and not inbound.payload else None
        if severity is not None:
            await care.on_distress(turn, severity, text, "keyword")
            return
        if inbound.media_count and not (text or "").strip() and not inbound.payload:
            await self._reprompt(turn, turn._("I can only read text for now. Please reply with text."))
            return
        if text is not None and len(text) > self.max_inbound_chars:
            turn.event("message_too_long", length=len(text))
            await self._reprompt(
                turn,
                turn._("That message is too long for me. Please keep it under {limit} characters.").format(
                    limit=self.max_inbound_chars
                ),
            )
            return
        command = parse_command(text) if text and not inbound.payload else None
        if turn.user.stopped:
            # Opted out (STOP): only START brings messages back. Help, data rights and a
            # person in distress are never refused.
            if command is None or command.intent not in WHILE_STOPPED:
                turn.say(
                    turn._("You asked us to stop sending you messages. Send START to hear from us again.")
                )
                return
            if command.intent is Intent.START:
                await repo.set_stopped(turn.conn, turn.user.id, False)
                turn.event("resumed")
                turn.say(turn._("You will get our messages again."))
        if command:
            await self._command(turn, command)
            return
        if inbound.payload and inbound.payload.startswith("rsvp."):
            await clubs_chat.rsvp_tap(turn, inbound.payload)  # invitations are answered at any time
            return
        if text and not inbound.payload and await clubs_chat.typed_rsvp(turn, text):
            return

        choice: Choice | None = None
        if inbound.payload:
            seq, _, choice_id = inbound.payload.partition(".")
            offered = {c.id: c for c in turn.offered()}
            if seq != str(turn.state.prompt_seq) or choice_id not in offered:
                turn.event("stale_tap")
                await self._reprompt(
                    turn, turn._("That button belongs to an earlier message; it was not counted.")
                )
                return
            choice = offered[choice_id]

        if turn.user.language is None and turn.screen not in ("language", "care", "delete"):
            screens.language(turn, greet=True)
            return
        if (
            turn.user.language is not None
            and turn.user.consent is None
            and turn.screen not in ("age", "consent", "care", "delete")
        ):
            care.ask_age(turn)
            return
        if not await self._answer(turn, text, choice):
            await self._reprompt(turn, self._not_understood(turn))

    async def _command(self, turn: Turn, command: Command) -> None:
        intent = command.intent
        turn.event("command", intent=intent.value)
        if intent is Intent.START:
            if command.argument:
                turn.event("deep_link", payload=command.argument[:64])
                if command.argument.lower().startswith("club_"):
                    await clubs_chat.join(turn, command.argument)
            if turn.user.language is None:
                screens.language(turn, greet=True)
            else:
                await screens.menu(turn, turn._("Welcome back!"))
        elif intent is Intent.LANGUAGE:
            screens.language(turn)
        # Data rights hold from the first message, before any language is chosen.
        elif intent is Intent.MYDATA:
            await care.my_data(turn)
            await self._reprompt(turn)
        elif intent is Intent.DELETE:
            care.confirm_delete(turn)
        elif intent in (Intent.JOIN, Intent.LEAVE):
            if intent is Intent.JOIN:
                await clubs_chat.join(turn, command.argument)
            else:
                await clubs_chat.leave(turn, command.argument)
            if turn.user.language is None:
                screens.language(turn, greet=True)
            else:
                await self._reprompt(turn)
        elif intent is Intent.STOP:  # opting out works before any language is chosen
            await repo.set_stopped(turn.conn, turn.user.id, True)
            turn.event("stopped")
            turn.data["screen"] = None
            turn.data["offer"] = []
            turn.say(
                turn._(
                    "You will not get any more messages from us. Your progress is kept. "
                    "Send START whenever you want to come back."
                )
            )
        elif turn.user.language is None:
            # Help still helps before a language is chosen; the rest waits for it.
            if intent is Intent.HELP:
                screens.help_(turn)
                await care.offer_person(turn)
            else:
                screens.language(turn, greet=True)
        elif intent is Intent.MENU:
            await screens.menu(turn)
        elif intent is Intent.HELP:
            # "help" is also the safe word: usage help, the helplines and a person on offer.
            screens.help_(turn)
            await care.offer_person(turn)
        elif intent is Intent.PROGRESS:
            await screens.progress(turn)
            await self._reprompt(turn)
        elif intent is Intent.PRIVACY:
            care.privacy(turn)
        elif intent is Intent.NEW_SESSION:
            await facilitator.new_session(turn)
        elif intent is Intent.SESSIONS:
            await facilitator.list_sessions(turn)
        elif intent is Intent.ANNOUNCE:
            await facilitator.announce(turn)
        elif intent is Intent.GRANT:
            await facilitator.grant(turn, command.argument)
        elif intent is Intent.STATS:
            await facilitator.stats_summary(turn)

    async def _answer(self, turn: Turn, text: str | None, choice: Choice | None) -> bool:
        screen = turn.screen
        if screen == "dialog":
            d = self.content.get(turn.state.dialog_id or "")
            if d is None or not turn.state.step_id:
                return False
            return await runner.answer(turn, d, text, choice)
        staff_screen = (screen or "").startswith(("plan_", "announce_")) or screen in FOLLOW_SCREENS
        if staff_screen:
            if choice is None and text is not None:
                choice = match_choice(text, turn.offered())
            screen = screen or ""
            if screen.startswith("plan_"):
                going = await facilitator.answer_plan(turn, screen, text, choice)
            elif screen.startswith("announce_"):
                going = await facilitator.answer_announce(turn, screen, text, choice)
            else:
                going = await facilitator.answer_sessions(turn, screen, text, choice)
            if not going:
                turn.data.pop("plan", None)
                turn.data.pop("announce", None)
                await screens.menu(turn)
            return True
        if screen == "certificate":
            # A typed answer is the name to print, unless it matches a button.
            if choice is None and text is not None:
                choice = match_choice(text, turn.offered())
            if not await achievements.answer_certificate(turn, text, choice):
                await screens.menu(turn)
            return True
        if choice is None and text is not None:
            aliases = screens.LANGUAGE_ALIASES if screen == "language" else None
            choice = match_choice(text, turn.offered(), aliases)
        if choice is None:
            return False
        if screen == "language":
            await repo.set_language(turn.conn, turn.user.id, choice.id)
            turn.user = await repo.get_user(turn.conn, turn.user.id) or turn.user
            turn.event("language_set", language=choice.id)
            thanks = turn._("Thank you! I will write to you in English.")
            if turn.user.consent is None:
                turn.say(thanks)
                care.ask_age(turn)
            else:
                await screens.menu(turn, thanks)
        elif screen == "age":
            await care.answer_age(turn, choice)
        elif screen == "consent":
            intro = None if choice.id == "keep" else await care.answer_consent(turn, choice)
            await screens.menu(turn, intro)
        elif screen == "care":
            if await care.answer_care(turn, choice):
                return True
            d = self.content.get(turn.state.dialog_id or "")
            if choice.id == "continue" and d is not None and turn.state.step_id:
                runner.prompt(turn, d)
            else:
                await screens.menu(turn)
        elif screen == "delete":
            if choice.id == "erase":
                await care.erase(turn)
            else:
                await screens.menu(turn)
        elif screen == "menu":
            if choice.id == "continue":
                d = self.content.get(turn.state.dialog_id or "")
                if d is None:
                    return False
                turn.event("module_resumed", d.id)
                runner.prompt(turn, d)
            else:
                await screens.module_list(turn, choice.id)
        elif screen == "list":
            if choice.id == "menu":
                await screens.menu(turn)
            else:
                d = self.content.get(choice.id)
                if d is None:
                    return False
                await runner.start(turn, d)
        elif screen == "after":
            if choice.id == "retry" and await runner.retry_missed(turn):
                return True
            await screens.menu(turn)
        else:
            return False
        return True

    def _not_understood(self, turn: Turn) -> str:
        if turn.screen == "dialog" and not turn.offered():
            return turn._("Please write a few words as your answer.")
        if turn.offered():
            return turn._("Sorry, I did not understand. Tap a button or reply with its number.")
        return turn._("Sorry, I did not understand.")

    async def _reprompt(self, turn: Turn, note: str | None = None) -> None:
        """Say why, then show the current question again (same buttons, same ids)."""
        if note:
            turn.say(note)
        if turn.user.language is None:
            screens.language(turn)
            return
        screen = turn.screen
        d = self.content.get(turn.state.dialog_id or "")
        if screen == "dialog" and d is not None and turn.state.step_id:
            runner.prompt(turn, d, new_prompt=False)
        elif screen == "list" and turn.data.get("list_kind"):
            await screens.module_list(turn, turn.data["list_kind"])
        elif screen in ("after", "care", "delete", "consent", "age") and turn.offered():
            text = turn._("What would you like to do next?")
            turn.ask(text, screen, turn.offered(), new_prompt=False)
        else:
            await screens.menu(turn)
