"""`Engine.handle(inbound)`: one user message in, all of its writes or none, replies in the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiosqlite

from bot.content.loader import Content
from bot.core.intents import match_choice
from bot.core.router import Command, Router, ScreenRoute
from bot.core.turn import Services, Turn
from bot.i18n import N_, Catalogs, negotiate
from bot.messages import REPLY, Choice, Inbound, Outbound, utcnow
from bot.privacy import log_id
from bot.storage import repo
from bot.storage.db import Database

log = logging.getLogger(__name__)

APOLOGY = N_("Sorry, something went wrong on our side. Send menu to go on.")
START = "start"  # the command that also ends an opt-out


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


@dataclass
class ReadsAhead:
    """Which reads the turns on each screen make before they write anything, learned as turns run.

    The reads that most turns on a screen make are made at the open of the next turn on that
    screen, in the same thread hop (`repo.open_turn`); a handler's own read is then answered from
    memory (`repo.TurnConn`). Only the hop is saved: a read made ahead that nobody asks for costs
    a few microseconds of SQLite, and a read not made ahead is made by the handler as before.
    """

    most_screens: int = 512  # screens come from the content and the code: a bound never reached
    most_reads: int = 8  # per screen
    _turns: Counter[str | None] = field(default_factory=Counter)
    _uses: dict[str | None, Counter[repo.Read]] = field(default_factory=dict)
    # Read in the database thread while a turn opens: replaced, never changed in place.
    plan: Mapping[str | None, tuple[repo.Read, ...]] = field(default_factory=dict)

    def saw(self, screen: str | None, reads: set[repo.Read]) -> None:
        """A turn that opened on `screen` made `reads` before writing anything."""
        uses = self._uses.get(screen)
        if uses is None:
            if len(self._uses) >= self.most_screens:
                return
            uses = self._uses[screen] = Counter()
        self._turns[screen] += 1
        uses.update(reads)
        turns = self._turns[screen]
        if turns in (2, 4, 8) or turns % 16 == 0:
            # Made ahead: what half of the turns on this screen read.
            common = tuple(read for read, n in uses.most_common(self.most_reads) if 2 * n >= turns)
            if common != self.plan.get(screen, ()):
                self.plan = {**self.plan, screen: common}
        if turns >= 256:  # the recent past counts most: a screen whose handler changed is relearned
            self._turns[screen] = turns // 2
            self._uses[screen] = Counter({read: n // 2 for read, n in uses.items() if n > 1})


@dataclass
class Batch:
    """Turns that share one write transaction, each in a savepoint of its own: one COMMIT, and
    so one wait for the disk, for all of them."""

    conn: aiosqlite.Connection
    lock: contextlib.AsyncExitStack  # holds the database's write lock until the batch ends
    committed: asyncio.Future[None]
    turns: int = 0


class Engine:
    """Channel-agnostic: adapters hand it `Inbound`; it writes `Outbound` rows.

    Updates of one user run in order under a per-user lock; different users run
    concurrently up to SQLite's single writer: their turns take it one at a time, each in a
    savepoint of its own, and the turns that queue meanwhile share one COMMIT (`Batch`).
    """

    def __init__(
        self,
        db: Database,
        content: Content,
        catalogs: Catalogs,
        router: Router,
        *,
        timezone: str = "Africa/Kigali",
        max_inbound_chars: int = 4000,
        services: Services | None = None,
        on_outbox: Callable[[str], None] | None = None,
    ):
        self.db = db
        self.content = content
        self.catalogs = catalogs
        self.router = router
        self.services = services or Services()
        self.timezone = timezone
        self.max_inbound_chars = max_inbound_chars
        self._on_outbox = on_outbox or (lambda channel: None)
        self._locks = KeyedLocks()
        self.reads_ahead = ReadsAhead()
        # Turns run one at a time; those that queue while one runs join its transaction.
        self.batch_most = 16  # turns in one transaction, at most
        self._turn = asyncio.Lock()
        self._queued = 0
        self._batch: Batch | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._register_core()

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
        """The turn in a savepoint of its own, in the write transaction; returns once committed.

        Under load, turns queue here. A turn that finds others queued behind it leaves the
        transaction open for them, and the last one commits: one COMMIT, and one wait for the
        disk, carries several turns. A turn that fails takes back its own writes only. Nothing
        of a turn is returned (or sent) before its transaction is committed; if the COMMIT
        fails, every turn in it raises, and their inbox rows stay to be handled again.
        """
        self._queued += 1
        try:
            await self._turn.acquire()
        except BaseException:
            self._queued -= 1
            self._end_batch_left_open()
            raise
        self._queued -= 1
        try:
            batch, replies = await self._turn_in_batch(inbound, inbox_id)
        finally:
            self._turn.release()
            self._end_batch_left_open()
        await asyncio.shield(batch.committed)  # shared: one turn's cancellation must not cancel it
        return replies

    def _end_batch_left_open(self) -> None:
        """A turn left the COMMIT to a turn queued behind it, which was then cancelled before its
        turn came: with nobody queued and nobody running, commit the batch in the background."""
        if self._batch is not None and not self._queued and not self._turn.locked():
            task = asyncio.get_running_loop().create_task(self._end_idle_batch())
            self._background.add(task)  # held, or the loop may collect it mid-way
            task.add_done_callback(self._background.discard)

    async def _turn_in_batch(
        self, inbound: Inbound, inbox_id: int | None
    ) -> tuple[Batch, list[Outbound] | None]:
        batch = self._batch
        if batch is None:
            lock = contextlib.AsyncExitStack()
            conn = await lock.enter_async_context(self.db.exclusive())
            batch = self._batch = Batch(conn, lock, asyncio.get_running_loop().create_future())
        begin = batch.turns == 0
        batch.turns += 1
        conn = batch.conn
        now = inbound.received_at
        try:
            # Two thread hops carry the fixed part of every message: open (BEGIN, dedup,
            # sender, state, the reads its screen's handlers usually make) and close (state,
            # events, replies, COMMIT).
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
                self.reads_ahead.plan,
                begin,
            )
        except BaseException as exc:
            await self._after_failed_turn(batch, exc)  # open_turn took its writes back
            raise
        if opened is None:  # a retry: only its inbox row goes
            if self._ends(batch):
                await self._commit(batch)
            return batch, None
        user, created, state, ahead = opened
        screen = repo.screen_of(state)
        turn_conn = repo.TurnConn(conn, user, ahead)
        try:
            turn = Turn(
                turn_conn,  # type: ignore[arg-type]  # an aiosqlite connection to its handlers
                user,
                state,
                self.content,
                self.catalogs,
                now,
                self.timezone,
                self.services,
                inbound=inbound,
                menu_entries=tuple(self.router.menu_entries),
            )
            turn._reprompt = lambda note: self._reprompt(turn, note)
            turn._home = lambda intro: self._home(turn, intro)
            if created:
                turn.event("user_created", hint=user.language_hint)
            turn.event("message_in", kind="tap" if inbound.payload else "text")
            await self._dispatch(turn, inbound)
            if turn.data.pop("bulk_queued", False):
                self._on_outbox("*")  # invitations or an announcement for every channel
            if not turn.out:  # never leave a learner in silence
                await self._reprompt(turn, turn._("Sorry, I did not understand that."))
        except BaseException as exc:
            try:
                await repo.in_thread(conn, repo.undo_turn)
            except BaseException:
                await repo.in_thread(conn, repo.rollback)  # all of it, rather than keep half a turn
            await self._after_failed_turn(batch, exc)
            raise
        # Learners who declined (or await a guardian) leave no analytics trail.
        keep_events = not turn.erased and turn.user.consent not in ("declined", "guardian_pending")
        commit = self._ends(batch)
        try:
            await repo.in_thread(
                conn,
                repo.close_turn,
                turn.user,
                None if turn.erased else turn.state,
                turn.events if keep_events else [],
                turn.out,
                now,
                inbox_id,
                commit,
            )
        except BaseException as exc:
            await self._after_failed_turn(batch, exc)  # close_turn took its writes back
            raise
        if commit:
            await self._end_batch(batch, None)
        self.reads_ahead.saw(screen, turn_conn.reads)
        return batch, turn.out

    def _ends(self, batch: Batch) -> bool:
        """Whether this turn is the batch's last: nobody is queued behind it, or it is full."""
        return not self._queued or batch.turns >= self.batch_most

    async def _commit(self, batch: Batch) -> None:
        try:
            await repo.in_thread(batch.conn, repo.end_transaction, True)
        except BaseException as exc:
            await self._end_batch(batch, exc)
            raise
        await self._end_batch(batch, None)

    async def _after_failed_turn(self, batch: Batch, error: BaseException) -> None:
        """A turn failed and took its writes back. The turns before it in the transaction are
        committed as if it had not been, unless SQLite rolled the whole transaction back."""
        if not batch.conn.in_transaction:
            # Nothing is left to commit: the earlier turns (if any) fail with this error.
            lost = (
                error
                if isinstance(error, Exception)
                else sqlite3.OperationalError("the transaction was lost")
            )
            await self._end_batch(batch, lost)
        elif self._ends(batch):
            with contextlib.suppress(Exception):  # this turn's own error is the one to raise
                await self._commit(batch)

    async def _end_batch(self, batch: Batch, error: BaseException | None) -> None:
        """Give the write lock back, and tell the batch's turns how their transaction ended."""
        if self._batch is batch:
            self._batch = None
        await batch.lock.aclose()
        if batch.committed.done():
            return
        if error is None:
            batch.committed.set_result(None)
        else:
            batch.committed.set_exception(error)
            batch.committed.exception()  # retrieved: a turn that failed alone leaves nobody to wait

    async def _end_idle_batch(self) -> None:
        """Commit a batch left open (see `_end_batch_left_open`), unless a turn has come for it."""
        async with self._turn:
            batch = self._batch
            if batch is not None and not self._queued:
                with contextlib.suppress(Exception):  # its turns see the error
                    await self._commit(batch)

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
        """The global guards in one visible order, then a lookup: command, payload, screen."""
        router = self.router
        text = inbound.text
        typed = text if text and not inbound.payload else None
        turn.route = router.screen_route(turn.screen)
        for guard in router.guards["safeguarding"]:  # first, on the whole text
            if await guard(turn, inbound):
                return
        accepts_media = turn.route is not None and turn.route.accepts_media
        if inbound.media_count and not (text or "").strip() and not inbound.payload and not accepts_media:
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

        command = router.parse(typed) if typed else None
        route = router.commands.get(command.name) if command else None
        if turn.user.stopped:
            # Opted out (STOP): only START brings messages back. Help, data rights and a
            # person in distress are never refused.
            if route is None or not route.while_stopped:
                turn.say(
                    turn._("You asked us to stop sending you messages. Send START to hear from us again.")
                )
                return
            if route.name == START:
                await repo.set_stopped(turn.conn, turn.user.id, False)
                turn.event("resumed")
                turn.say(turn._("You will get our messages again."))
        if command is not None and route is not None:
            turn.event("command", intent=command.name)
            if turn.user.language is None and not route.before_language:
                await self._home(turn)  # a new user chooses a language first
            else:
                await route.handler(turn, command)
            return
        if inbound.payload and (on_payload := router.payload_handler(inbound.payload)):
            await on_payload(turn, inbound.payload)  # buttons that answer at any time
            return
        for hook in router.text_hooks if typed else ():
            if await hook(turn, typed or ""):
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

        screen = router.screen_route(turn.screen)
        if screen is None or not screen.during_onboarding:
            for guard in router.guards["onboarding"]:
                if await guard(turn, inbound):
                    return
        if not await self._answer(turn, screen, text, choice):
            await self._reprompt(turn, self._not_understood(turn, screen))
        for hook in router.guards["after"]:
            await hook(turn, inbound)

    async def _answer(
        self, turn: Turn, screen: ScreenRoute | None, text: str | None, choice: Choice | None
    ) -> bool:
        if screen is None:
            return False
        if choice is None and text is not None and screen.match_typed:
            choice = match_choice(text, turn.offered(), screen.aliases)
        if choice is None and screen.needs_choice:
            return False
        return await screen.answer(turn, text, choice)

    def _not_understood(self, turn: Turn, screen: ScreenRoute | None) -> str:
        if screen is not None and screen.expects_text and not turn.offered():
            return turn._("Please write a few words as your answer.")
        if turn.offered():
            return turn._("Sorry, I did not understand. Tap a button or reply with its number.")
        return turn._("Sorry, I did not understand.")

    async def _home(self, turn: Turn, intro: str | None = None, greet: bool = True) -> None:
        """The main menu; for a user with no language yet, the language question."""
        if turn.user.language is None and self.router.language_prompt is not None:
            await self.router.language_prompt(turn, greet)
        elif self.router.home is not None:
            await self.router.home(turn, intro)
        elif intro:
            turn.say(intro)

    async def _reprompt(self, turn: Turn, note: str | None = None) -> None:
        """Say why, then show the current question again (same buttons, same ids)."""
        if note:
            turn.say(note)
        if turn.user.language is None:
            await self._home(turn, greet=False)
            return
        screen = self.router.screen_route(turn.screen)
        if screen is not None and screen.reprompt is not None and await screen.reprompt(turn):
            return
        if screen is not None and screen.reask and turn.offered():
            text = turn.data.get("question") or turn._("What would you like to do next?")
            turn.ask(text, turn.screen or "", turn.offered(), new_prompt=False)
            return
        await self._home(turn)

    async def _start(self, turn: Turn, command: Command) -> None:
        """START (and a /start deep link): a domain may claim the link, then home.

        What follows /start is typed text like any other ("/start Grace 0788…" happens), and the
        event outlives an erasure: only a link a domain claims, its prefix and a short code
        (a join code), is recorded; of anything else, only that there was something.
        """
        if command.argument:
            link = command.argument
            prefix = next((p for p in self.router.deep_links if link.lower().startswith(p)), None)
            code = link[len(prefix) :] if prefix else ""
            recognised = 4 <= len(code) <= 8 and code.isascii() and code.isalnum()
            turn.event("deep_link", **({"payload": link} if recognised else {}))
            if on_link := self.router.deep_link_handler(link):
                await on_link(turn, link)
        await self._home(turn, turn._("Welcome back!") if turn.user.language else None)

    def _register_core(self) -> None:
        """What the core itself answers: starting, and opting out (which WhatsApp requires)."""
        self.router.command(
            START,
            ("start", "tangira", "ongera utangire", "commencer", "demarrer", "reprendre", "subscribe"),
            before_language=True,
            while_stopped=True,
        )(self._start)
        self.router.command(
            "stop",
            (
                "stop",
                "hagarara",
                "hagarika",
                "arrete",
                "arreter",
                "arret",
                "unsubscribe",
                "desabonner",
                "se desabonner",
            ),
            before_language=True,
            while_stopped=True,
        )(stop)


async def stop(turn: Turn, command: Command) -> None:
    """Opting out works before any language is chosen, and stops every message."""
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
