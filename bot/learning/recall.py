"""Spaced recall: a question a learner missed in a quiz comes back 2 and 7 days later, alone.

- At the end of a quiz with missed questions, a learner with consent who has not turned recall
  off is asked once: "Shall I send you the questions you missed again in 2 and 7 days?" A yes
  turns it on (and later quizzes schedule without asking); a no schedules nothing.
- Each missed question gets two rows in `recall_items`, due 2 and 7 days later, moved out of
  the quiet hours (21:00-07:00 Kigali time) to 07:00.
- `RecallSender`, a polling task like the clubs scheduler (the clock is injected), sends the due
  ones: one question at a time per learner, never in the quiet hours, never to a learner who sent
  STOP, turned recall off, withdrew consent or cannot be reached. On WhatsApp outside the 24-hour
  window the message goes as the `recall_question` template; the learner's reply then brings the
  question itself.
- The question shows its options in the learner's own shuffled order (as in the quiz), and a
  "Stop these checks" button. The answer gets the quiz's own feedback and a `recall_answer` event
  (correct, interval 2 or 7); the next due question, if any, follows at once.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.content.loader import Content
from bot.content.models import Dialog, QuestionStep, context
from bot.core.intents import match_choice, normalise
from bot.core.timer import run_when_due
from bot.core.turn import Turn
from bot.i18n import N_, Catalogs
from bot.learning.shuffle import shown_order
from bot.messages import BULK, REPLY, Choice, Outbound, utcnow
from bot.storage import repo
from bot.storage.db import Database
from bot.storage.repo import Conn, User, iso

log = logging.getLogger(__name__)

DAYS = (2, 7)
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(7, 0)  # local time: nothing is sent in between
OPEN_FOR = timedelta(hours=24)  # an unanswered question holds back the next one this long
STALE_AFTER = timedelta(days=2)  # a question this late (the sender was down) is dropped, not sent
MAX_SLEEP = 60.0
PREFIX = "recall."
STOP_PAYLOAD = "recall.off"  # + ".<item>": the stop button under a recalled question
YES, NO = "recall.yes.", "recall.no."  # + "<dialog>": the offer's buttons
KEY = "recall_question"  # the WhatsApp template outside the 24-hour window (config/whatsapp_templates.yaml)

# A verdict on an answer: runner's, so a recalled question gets the quiz's own feedback.
Verdict = Callable[[Turn, Dialog, QuestionStep, str, bool], None]

OFFER = N_("Shall I send you the questions you missed again in 2 and 7 days?")
SCHEDULED = N_(
    "I will send you the questions you missed again in 2 and 7 days, one at a time. "
    "To turn this off, send “stop recall”."
)
HEADINGS = {
    2: N_("🔁 Quick check: a question you missed two days ago, in “{module}”."),
    7: N_("🔁 Quick check: a question you missed a week ago, in “{module}”."),
}
STOP_LABEL = N_("Stop these checks")
TURNED_OFF = N_("Done: no more recall questions. To turn them back on, send “start recall”.")
TURNED_ON = N_("Recall is on: the questions you miss in a quiz will come back in 2 and 7 days.")
CLOSED = N_("That check is already answered or closed.")
OFFER_CLOSED = N_("That offer is no longer open.")

# Each language's own words; "stop" alone stays STOP (every message), these stop recall only.
OFF_WORDS = (
    "stop recall",
    "recall off",
    "no recall",
    "stop rappel",
    "stop rappels",
    "arrete rappel",
    "arrete les rappels",
    "hagarika isubiramo",
    "hagarika gusubiramo",
)
ON_WORDS = (
    "start recall",
    "recall on",
    "active rappel",
    "active les rappels",
    "activer rappel",
    "tangira isubiramo",
    "subizaho isubiramo",
)
OFFER_ALIASES = {"yes": ["yes", "yego", "oui", "ok"], "no": ["no", "oya", "non"]}


# -- quiet hours -------------------------------------------------------------------------


def quiet(at: datetime, timezone: str) -> bool:
    local = at.astimezone(ZoneInfo(timezone)).time()
    return local >= QUIET_FROM or local < QUIET_UNTIL


def out_of_quiet(at: datetime, timezone: str) -> datetime:
    """`at`, or the next 07:00 local time if `at` falls in the quiet hours."""
    tz = ZoneInfo(timezone)
    local = at.astimezone(tz)
    if not quiet(at, timezone):
        return at
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz).astimezone(at.tzinfo)


# -- storage -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    id: int
    user_id: int
    dialog_id: str
    step_id: str
    days: int
    status: str
    shown: str | None


_ITEM = "SELECT id, user_id, dialog_id, step_id, days, status, shown FROM recall_items"


def _item(row: Any) -> Item:
    return Item(
        row["id"], row["user_id"], row["dialog_id"], row["step_id"], row["days"], row["status"], row["shown"]
    )


async def enabled(conn: Conn, user_id: int) -> bool | None:
    """True (said yes or "start recall"), False ("stop recall"), None (never decided)."""
    rows = await conn.execute_fetchall("SELECT enabled FROM recall_prefs WHERE user_id = ?", (user_id,))
    return bool(rows[0][0]) if rows else None


async def set_enabled(conn: Conn, user_id: int, on: bool, at: datetime) -> None:
    await conn.execute(
        "INSERT INTO recall_prefs (user_id, enabled, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at",
        (user_id, int(on), iso(at)),
    )


async def schedule(
    conn: Conn, user_id: int, dialog_id: str, step_ids: list[str], at: datetime, timezone: str
) -> int:
    """Two checks per question; a question already waiting (the quiz taken again) is replaced."""
    count = 0
    for step_id in dict.fromkeys(step_ids):
        await conn.execute(
            "UPDATE recall_items SET status = 'cancelled' "
            "WHERE user_id = ? AND dialog_id = ? AND step_id = ? AND status = 'pending'",
            (user_id, dialog_id, step_id),
        )
        for days in DAYS:
            due = out_of_quiet(at + timedelta(days=days), timezone)
            await conn.execute(
                "INSERT INTO recall_items (user_id, dialog_id, step_id, days, due_at, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (user_id, dialog_id, step_id, days, iso(due), iso(at)),
            )
            count += 1
    return count


async def cancel_all(conn: Conn, user_id: int) -> int:
    cur = await conn.execute(
        "UPDATE recall_items SET status = 'cancelled' WHERE user_id = ? AND status IN ('pending', 'sent')",
        (user_id,),
    )
    return cur.rowcount


async def _get(conn: Conn, item_id: int, user_id: int) -> Item | None:
    rows = await conn.execute_fetchall(f"{_ITEM} WHERE id = ? AND user_id = ?", (item_id, user_id))
    return _item(rows[0]) if rows else None


async def _mark_sent(conn: Conn, item: Item, shown: str, at: datetime) -> None:
    # A question left unanswered is closed when the next one goes: one open question at a time.
    await conn.execute(
        "UPDATE recall_items SET status = 'expired' WHERE user_id = ? AND status = 'sent' AND id != ?",
        (item.user_id, item.id),
    )
    await conn.execute(
        "UPDATE recall_items SET status = 'sent', shown = ?, sent_at = ? WHERE id = ?",
        (shown, iso(at), item.id),
    )


async def _skip(conn: Conn, item_id: int) -> None:
    await conn.execute("UPDATE recall_items SET status = 'skipped' WHERE id = ?", (item_id,))


# -- the message ---------------------------------------------------------------------------


def question_message(
    catalogs: Catalogs, content: Content, user: User, item: Item, priority: int = BULK
) -> Outbound | None:
    """The recalled question in the learner's language, its options in their quiz order, and a
    button to stop; None if the content no longer has it as a question."""
    d = content.get(item.dialog_id)
    step = d.step(item.step_id) if d is not None and d.has_step(item.step_id) else None
    if d is None or not isinstance(step, QuestionStep):
        return None
    lang = user.lang

    def tr(source: str, field: str, step_id: str = step.id) -> str:
        return catalogs.gettext(lang, source, context(d.id, step_id, field))

    module = tr(d.title, "title", "meta")
    heading = catalogs.gettext(lang, HEADINGS.get(item.days, HEADINGS[2])).format(module=module)
    options = [
        Choice(f"{PREFIX}{item.id}.{o.id}", tr(o.label, f"options.{o.id}.label"))
        for o in shown_order(step.options, user.id, d.id, step.id)
    ]
    options.append(Choice(f"{STOP_PAYLOAD}.{item.id}", catalogs.gettext(lang, STOP_LABEL)))
    return Outbound(
        channel=user.channel,
        address=user.address,
        text=f"{heading}\n\n{tr(step.text, 'text')}",
        choices=tuple(options),
        priority=priority,
        language=lang,
        key=KEY,
        args={"days": str(item.days), "module": module},
        user_id=user.id,
    )


def _window_closed(user: User, at: datetime) -> bool:
    """WhatsApp will carry this as the template, not the question (no message from them in 24 h)."""
    if user.channel != "whatsapp":
        return False
    last = user.last_inbound_at
    return last is None or at - datetime.fromisoformat(last) >= timedelta(hours=24)


# -- in a chat turn ------------------------------------------------------------------------


async def offer(turn: Turn, d: Dialog, missed: list[str]) -> None:
    """At the end of a quiz with missed questions: the yes/no offer (its buttons answer at any
    time, so the quiz's own ending, the retry offer, stays the question on screen); or, for a
    learner who already said yes, the questions scheduled."""
    if not missed or not turn.user.may_keep_progress:
        return
    on = await enabled(turn.conn, turn.user.id)
    if on is False:
        return
    if on:
        n = await schedule(turn.conn, turn.user.id, d.id, missed, turn.now, turn.timezone)
        turn.event("recall_scheduled", d.id, questions=len(missed), checks=n)
        turn.say(turn._(SCHEDULED))
        return
    turn.data["recall_offer"] = {"dialog": d.id, "missed": missed}
    turn.event("recall_offered", d.id, questions=len(missed))
    turn.say(
        turn._(OFFER),
        (Choice(f"{YES}{d.id}", turn._("Yes")), Choice(f"{NO}{d.id}", turn._("No"))),
    )


async def answer_offer(turn: Turn, yes: bool, dialog_id: str) -> None:
    """Yes: recall on, and that quiz's missed questions scheduled. Then back to the question the
    learner was at (the retry offer, usually)."""
    pending: dict[str, Any] = turn.data.get("recall_offer") or {}
    d = turn.content.get(dialog_id)
    if pending.get("dialog") != dialog_id or d is None:
        turn.say(turn._(OFFER_CLOSED))
        await turn.reprompt()
        return
    turn.data.pop("recall_offer", None)
    missed = [m for m in pending.get("missed", []) if d.has_step(m)]
    if not yes:
        turn.event("recall_declined", d.id)
    elif turn.user.may_keep_progress and missed:
        await set_enabled(turn.conn, turn.user.id, True, turn.now)
        n = await schedule(turn.conn, turn.user.id, d.id, missed, turn.now, turn.timezone)
        turn.event("recall_optin", d.id, questions=len(missed), checks=n)
        turn.say(turn._(SCHEDULED))
    await turn.reprompt()


async def typed_offer(turn: Turn, text: str) -> bool:
    """A typed "yes" or "non" to the offer, while the retry offer (Retry missed / Main menu) is the
    question on screen: where buttons are a numbered list, the numbers belong to that one."""
    pending = turn.data.get("recall_offer")
    if not pending or turn.screen != "after":
        return False
    said = normalise(text)
    for answer, words in OFFER_ALIASES.items():
        if said in {normalise(turn._("Yes") if answer == "yes" else turn._("No")), *words}:
            await answer_offer(turn, answer == "yes", pending.get("dialog", ""))
            return True
    return False


async def turn_off(turn: Turn) -> None:
    await set_enabled(turn.conn, turn.user.id, False, turn.now)
    cancelled = await cancel_all(turn.conn, turn.user.id)
    turn.event("recall_off", cancelled=cancelled)
    turn.say(turn._(TURNED_OFF))


async def turn_on(turn: Turn) -> None:
    if turn.user.may_keep_progress:
        await set_enabled(turn.conn, turn.user.id, True, turn.now)
        turn.event("recall_on")
    turn.say(turn._(TURNED_ON))


async def answer_tap(turn: Turn, payload: str, verdict: Verdict) -> None:
    """A tap on an option of a recalled question ("recall.<item>.<option>"), on its stop button
    ("recall.off.<item>"), or on the offer's yes or no ("recall.yes.<dialog>"), at any time."""
    if payload.startswith(STOP_PAYLOAD + "."):
        await turn_off(turn)
        await turn.reprompt()
        return
    if payload.startswith((YES, NO)):
        await answer_offer(turn, payload.startswith(YES), payload.split(".", 2)[2])
        return
    _, item_id, option_id = [*payload.split("."), "", ""][:3]
    item = await _get(turn.conn, int(item_id), turn.user.id) if item_id.isdigit() else None
    await _answer(turn, item, option_id, verdict)


async def typed(turn: Turn, text: str, verdict: Verdict) -> bool:
    """A typed "2" or label right after a recalled question; or, after its WhatsApp template
    (which could not carry the question), any reply: then the question itself comes."""
    last = turn.state.last_sent
    if not last or f'"{PREFIX}' not in last:
        return False  # the common case, decided without parsing
    sent = json.loads(last)
    offered = [Choice(i, label) for i, label in sent.get("choices", [])]
    if sent.get("key") != KEY or not offered or not all(c.id.startswith(PREFIX) for c in offered):
        return False
    item_ids = {c.id.split(".")[1] for c in offered if not c.id.startswith(STOP_PAYLOAD + ".")}
    item_id = next(iter(item_ids), "")
    item = await _get(turn.conn, int(item_id), turn.user.id) if item_id.isdigit() else None
    if item is None or item.status != "sent":
        return False
    if item.shown == "template":
        await _show(turn, item, REPLY)
        return True
    choice = match_choice(text, offered)
    if choice is None:
        return False
    await answer_tap(turn, choice.id, verdict)
    return True


async def _answer(turn: Turn, item: Item | None, option_id: str, verdict: Verdict) -> None:
    d = turn.content.get(item.dialog_id) if item else None
    step = d.step(item.step_id) if item and d and d.has_step(item.step_id) else None
    option_ids = {o.id for o in step.options} if isinstance(step, QuestionStep) else set()
    if item is None or item.status != "sent" or d is None or option_id not in option_ids:
        turn.say(turn._(CLOSED))
        await turn.reprompt()
        return
    assert isinstance(step, QuestionStep)
    right = option_id == step.correct
    await turn.conn.execute(
        "UPDATE recall_items SET status = 'answered', answered_at = ?, correct = ? WHERE id = ?",
        (iso(turn.now), int(right), item.id),
    )
    turn.event("recall_answer", d.id, step.id, option=option_id, correct=right, interval=item.days)
    verdict(turn, d, step, option_id, right)
    following = await turn.conn.execute_fetchall(
        f"{_ITEM} WHERE user_id = ? AND status = 'pending' AND due_at <= ? ORDER BY due_at, id LIMIT 1",
        (turn.user.id, iso(turn.now)),
    )
    if following and await _show(turn, _item(following[0]), REPLY):
        return
    await turn.reprompt()


async def _show(turn: Turn, item: Item, priority: int) -> bool:
    """Send a recalled question in this turn (the learner is writing to us: no template needed)."""
    message = question_message(turn.catalogs, turn.content, turn.user, item, priority)
    if message is None:
        await _skip(turn.conn, item.id)
        return False
    await _mark_sent(turn.conn, item, "question", turn.now)
    turn.event("recall_sent", item.dialog_id, item.step_id, interval=item.days, shown="question")
    turn.out.append(message)
    return True


# -- the sender ----------------------------------------------------------------------------

_DUE = (
    "SELECT r.id, r.user_id, r.dialog_id, r.step_id, r.days, r.status, r.shown, r.due_at, "
    "u.stopped, u.unreachable, u.address, u.consent, p.enabled FROM recall_items r "
    "JOIN users u ON u.id = r.user_id LEFT JOIN recall_prefs p ON p.user_id = r.user_id "
    "WHERE r.status = 'pending' AND r.due_at <= ? ORDER BY r.due_at, r.id LIMIT 1000"
)


class RecallSender:
    """One asyncio task sends the due recall questions. The clock is injected: tests move it."""

    def __init__(
        self,
        db: Database,
        content: Content,
        catalogs: Catalogs,
        *,
        timezone: str = "Africa/Kigali",
        clock: Callable[[], datetime] = utcnow,
        on_outbox: Callable[[], Any] = lambda: None,
    ):
        self.db = db
        self.content = content
        self.catalogs = catalogs
        self.timezone = timezone
        self.clock = clock
        self.on_outbox = on_outbox
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run_once(self) -> int:
        """Send what is due now (never in the quiet hours); returns how many questions were queued."""
        now = self.clock()
        if quiet(now, self.timezone):
            return 0
        queued = 0
        async with self.db.transaction() as conn:
            done: set[int] = set()  # one question per learner per run
            for row in await conn.execute_fetchall(_DUE, (iso(now),)):
                if row["user_id"] in done:
                    continue
                if self._not_for_them(row, now):
                    await _skip(conn, row["id"])
                    continue
                if await self._one_open(conn, row["user_id"], now):
                    done.add(row["user_id"])
                    continue
                if await self._send(conn, _item(row), now):
                    done.add(row["user_id"])
                    queued += 1
        if queued:
            log.info("recall queued %d question(s)", queued)
            self.on_outbox()
        return queued

    @staticmethod
    def _not_for_them(row: Any, now: datetime) -> bool:
        """STOP, recall off, no consent (any more), unreachable, retired, or too late to matter."""
        return bool(
            row["stopped"]
            or row["unreachable"]
            or str(row["address"]).startswith("retired:")
            or row["consent"] not in ("given", "guardian_given")
            or row["enabled"] == 0
            or datetime.fromisoformat(row["due_at"]) < now - STALE_AFTER
        )

    @staticmethod
    async def _one_open(conn: Conn, user_id: int, now: datetime) -> bool:
        rows = await conn.execute_fetchall(
            "SELECT 1 FROM recall_items WHERE user_id = ? AND status = 'sent' AND sent_at > ? LIMIT 1",
            (user_id, iso(now - OPEN_FOR)),
        )
        return bool(rows)

    async def _send(self, conn: Conn, item: Item, now: datetime) -> bool:
        user = await repo.get_user(conn, item.user_id)
        message = question_message(self.catalogs, self.content, user, item) if user else None
        if user is None or message is None:
            await _skip(conn, item.id)
            return False
        shown = "template" if _window_closed(user, now) else "question"
        await _mark_sent(conn, item, shown, now)
        event = repo.Event(
            "recall_sent", item.dialog_id, item.step_id, {"interval": item.days, "shown": shown}
        )
        await repo.in_thread(conn, repo.add_events, user, [event], now)
        await repo.in_thread(conn, repo.enqueue, [message], now)
        return True

    async def next_due(self) -> datetime | None:
        async with self.db.exclusive() as conn:
            rows = await conn.execute_fetchall(
                "SELECT MIN(due_at) FROM recall_items WHERE status = 'pending' AND due_at > ?",
                (iso(self.clock()),),
            )
        return datetime.fromisoformat(rows[0][0]) if rows and rows[0][0] else None

    async def run(self) -> None:
        await run_when_due("recall sender", self.run_once, self.next_due, self._wake, self.clock, MAX_SLEEP)
