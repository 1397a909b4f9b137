"""Synthetic activity for trying the dashboard: `python -m bot demo-data --users 5000`.

Everything it makes is marked as demo (addresses "demo:…", pseudonyms "demo_…", clubs named
"[demo] …") and `--clear` removes exactly that. Random but repeatable (seeded).

It is made from the real curriculum, as real activity is: every module of the dialogs, walked
step by step (its real question, choice and writing steps, its real options), with the events a
learner's turn writes: route steps followed by the score so far, the ending reached, a module's
pre-test asked before and again after its content (so the learning gain shows), and some failed
quizzes retried; invitations carry the delivery status their message would have (as after the
outbox is pruned), and only a delivered invitation gets an answer.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.config import Settings
from bot.content.loader import Content, InvalidContent, load_content
from bot.content.models import (
    ChoicesStep,
    Dialog,
    EndStep,
    FreeTextStep,
    QuestionStep,
    RouteStep,
    SayStep,
)
from bot.i18n import Catalogs
from bot.learning.achievements import FIRST_BADGE
from bot.storage.repo import Raw, iso

DEMO_DISTRICTS = ("Huye", "Gisagara", "Nyaruguru", "Nyanza", "Nyabihu")
KINDS = ("lesson", "quiz", "exercise")
# What a channel reports back: Telegram says "sent" once it has the message; WhatsApp says
# "delivered" and "read" as well. Some messages fail (a number gone, a blocked bot).
DELIVERY = {
    "telegram": (("sent", "failed"), (19, 1)),
    "whatsapp": (("read", "delivered", "sent", "failed"), (10, 6, 2, 1)),
}
MAX_STEPS = 60


def curriculum(settings: Settings | None = None) -> Content:
    """The dialogs the bot runs (as `bot.app.load_checked_content` loads them)."""
    settings = settings or Settings.from_env()
    content, errors = load_content(settings.dialogs_dir, Catalogs.load(settings.locales_dir))
    if errors:
        raise InvalidContent(errors)
    return content


@dataclass
class _Deck:
    """Modules drawn in shuffled rounds: every module comes up once before any comes up twice."""

    modules: list[Dialog]
    rng: random.Random
    left: list[Dialog] = field(default_factory=list)

    def draw(self) -> Dialog:
        if not self.left:
            self.left = self.rng.sample(self.modules, len(self.modules))
        return self.left.pop()


def _answer(step: QuestionStep, rng: random.Random, chance: float) -> tuple[str, bool]:
    """(option, correct): right with probability `chance`, else one of the wrong options."""
    if rng.random() < chance:
        return step.correct, True
    return rng.choice([o.id for o in step.options if o.id != step.correct]), False


def _walk(d: Dialog, rng: random.Random, ease: dict[tuple[str, str], float]) -> tuple[list, bool]:
    """One learner's way through a module, as the runner records it: (events, done), where done
    is whether it counts for the module's first badge (finished; a quiz, passed, at once or by
    retrying what it missed). Each event is (type, step id, data).

    Route steps pick the next step by the score so far; a module's pre-test items are asked
    before its content (less often right: it has not been taught yet) and again at its end
    (more often right than at the first try of the same question in the content)."""
    events: list[tuple[str, str | None, dict[str, Any] | None]] = []
    score = asked = right = 0
    missed: list[str] = []

    def pretest(phase: str, chance: Callable[[float], float]) -> bool:
        for item in d.pretest:
            if rng.random() < 0.04:
                return False  # left in the middle
            step = d.step(item)
            assert isinstance(step, QuestionStep)
            option, correct = _answer(step, rng, chance(ease[(d.id, item)]))
            events.append(("pretest", item, {"phase": phase, "option": option, "correct": correct}))
        return True

    if not pretest("pre", lambda p: 0.7 * p):
        return events, False
    step = d.step(d.first_step)
    for _ in range(MAX_STEPS):
        if isinstance(step, EndStep):
            break
        if isinstance(step, RouteStep):  # invisible: nobody leaves there
            step = d.step(step.pick(score))
            continue
        if not isinstance(step, SayStep) and rng.random() < 0.04:
            return events, False  # left in the middle
        if isinstance(step, SayStep):
            step = d.step(step.next)
        elif isinstance(step, ChoicesStep):
            picked = rng.choice(step.choices)
            score += picked.score
            events.append(("choice", step.id, {"choice": picked.id, "score": picked.score}))
            step = d.step(picked.next)
        elif isinstance(step, QuestionStep):
            option, correct = _answer(step, rng, ease[(d.id, step.id)])
            asked, right = asked + 1, right + correct
            if not correct:
                missed.append(step.id)
            data = {"option": option, "correct": correct, "retry": False}
            events.append(("quiz_answer", step.id, data))
            step = d.step(step.next)
        elif isinstance(step, FreeTextStep):
            hits = sorted(rng.sample(range(len(step.rubric)), rng.randrange(len(step.rubric) + 1)))
            events.append(("free_text", step.id, {"rubric_hits": hits, "length": rng.randrange(20, 160)}))
            step = d.step(step.next)
    else:
        return events, False
    if not pretest("post", lambda p: min(0.97, p + 0.1)):
        return events, False
    done: dict[str, Any] = {"score": None, "max_score": None, "passed": None, "ending": step.id}
    if d.kind in ("quiz", "lesson") and asked:
        done |= {"score": right, "max_score": asked}
        if d.kind == "quiz":
            done["passed"] = 100 * right >= (d.pass_mark or 0) * asked
    elif d.kind == "exercise":
        done["score"] = score
    events.append(("module_completed", None, done))
    if done["passed"] is False and rng.random() < 0.5:
        retried, passed = _retry(d, rng, ease, missed, right, asked)
        return events + retried, passed
    return events, done["passed"] is not False


def _retry(
    d: Dialog,
    rng: random.Random,
    ease: dict[tuple[str, str], float],
    missed: list[str],
    right: int,
    asked: int,
) -> tuple[list[tuple[str, str | None, dict[str, Any] | None]], bool]:
    """The learner taps "Retry missed" after failing a quiz: the missed questions again (easier
    now: the answer was shown), and the score and pass that follow (and so the badge)."""
    events: list[tuple[str, str | None, dict[str, Any] | None]] = [
        ("quiz_retry_started", None, {"questions": len(missed)})
    ]
    got = 0
    for item in missed:
        step = d.step(item)
        assert isinstance(step, QuestionStep)
        option, correct = _answer(step, rng, min(0.95, ease[(d.id, item)] + 0.25))
        got += correct
        events.append(("quiz_answer", item, {"option": option, "correct": correct, "retry": True}))
    score = min(right + got, asked)
    passed = 100 * score >= (d.pass_mark or 0) * asked
    events.append(
        (
            "quiz_retry_completed",
            None,
            {"correct": got, "total": len(missed), "score": score, "max_score": asked, "passed": passed},
        )
    )
    return events, passed


def seed(
    conn: Raw,
    users: int,
    now: datetime,
    days: int = 60,
    rng_seed: int = 7,
    content: Content | None = None,
) -> dict[str, int]:
    """Make `users` demo learners in demo clubs, with their events, sessions and answers. One hop.

    `content`: the curriculum to make activity in (default: the dialogs of the settings in the
    environment, as the bot would run them)."""
    content = content if content is not None else curriculum()
    modules = sorted((d for d in content.dialogs.values() if d.kind in KINDS), key=lambda d: d.id)
    if not modules:
        raise ValueError("the curriculum has no module to make activity in")
    rng = random.Random(rng_seed)
    deck = _Deck(modules, rng)
    # Some questions are harder than others, the same for every learner.
    ease = {(d.id, q.id): rng.uniform(0.35, 0.92) for d in modules for q in d.questions}
    start = now - timedelta(days=days)
    conn.execute("BEGIN IMMEDIATE")
    try:
        base = conn.execute("SELECT COUNT(*) FROM users WHERE address LIKE 'demo:%'").fetchone()[0]
        club_ids = []
        for district in DEMO_DISTRICTS:
            existing = conn.execute(
                "SELECT id FROM clubs WHERE name = ?", (f"[demo] {district} club",)
            ).fetchone()
            if existing:
                club_ids.append(existing[0])
                continue
            while True:  # a free code; demo codes start with DM
                code = "DM" + "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(3))
                row = conn.execute(
                    "INSERT INTO clubs (code, name, district, language, created_at) "
                    "VALUES (?, ?, ?, 'rw', ?) ON CONFLICT DO NOTHING RETURNING id",
                    (code, f"[demo] {district} club", district, iso(start)),
                ).fetchone()
                if row is not None:
                    club_ids.append(row[0])
                    break
        events: list[tuple] = []
        members: list[tuple[int, int, str, datetime]] = []  # (n, club, channel, joined)
        user_rows = []
        for n in range(base, base + users):
            channel = rng.choice(("telegram", "whatsapp"))
            lang = rng.choices(("rw", "fr", "en"), weights=(7, 2, 1))[0]
            age = rng.choices(("u16", "16_17", "18_24", "25p"), weights=(1, 2, 5, 2))[0]
            created = start + timedelta(minutes=rng.randrange(days * 24 * 60 - 120))  # done by now
            pseudonym = f"demo_{n:07d}"
            last_seen = created

            def ev(kind, at, dialog=None, step=None, data=None, _who=(pseudonym, channel, lang)):  # type: ignore[no-untyped-def]
                who, via, language = _who
                events.append(
                    (iso(at), who, kind, via, language, dialog, step, json.dumps(data) if data else None)
                )

            ev("user_created", created, data={"hint": None})
            active_days = max(1, int(rng.expovariate(1 / 6)))
            at, badges = created, set()
            for _ in range(active_days):
                for _ in range(rng.randrange(2, 9)):
                    ev("message_in", at, data={"kind": rng.choice(("tap", "tap", "text"))})
                    last_seen = at
                    at += timedelta(minutes=rng.randrange(1, 4))
                module = deck.draw()
                ev("module_started", at, module.id)
                walked, earned = _walk(module, rng, ease)
                for kind, step, data in walked:
                    at += timedelta(seconds=rng.randrange(10, 90))
                    ev(kind, at, module.id, step, data)
                if earned and module.kind not in badges:
                    badges.add(module.kind)
                    ev("badge", at, module.id, data={"badge": FIRST_BADGE[module.kind]})
                at += timedelta(days=rng.choice((1, 1, 2, 3, 7)))
                if at > now:
                    break
            user_rows.append(
                (channel, f"demo:{n}", pseudonym, lang, age, "given", iso(created), iso(last_seen))
            )
            joined = created + timedelta(minutes=rng.randrange(5, 60))
            if joined < now:
                members.append((n, rng.choice(club_ids), channel, joined))
        conn.executemany(
            "INSERT INTO users (channel, address, pseudonym, language, age_band, consent, created_at, "
            "last_inbound_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            user_rows,
        )
        ids = dict(conn.execute("SELECT address, id FROM users WHERE address LIKE 'demo:%'").fetchall())
        conn.executemany(
            "INSERT INTO memberships (club_id, user_id, joined_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [(club, ids[f"demo:{n}"], iso(joined)) for n, club, _, joined in members],
        )
        conn.executemany(
            "INSERT INTO events (at, actor, type, channel, language, dialog_id, step_id, data) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            events,
        )
        sessions = 0
        for club in club_ids:
            for week in range(days // 7):
                starts = start + timedelta(days=7 * week + 5, hours=13)
                invited_at = starts - timedelta(days=5)
                if invited_at > now:
                    continue
                (session_id,) = conn.execute(
                    "INSERT INTO club_sessions (club_id, starts_at, place, topic, created_at) "
                    "VALUES (?, ?, 'Sector hall', 'Dialogue', ?) RETURNING id",
                    (club, iso(starts), iso(invited_at)),
                ).fetchone()
                sessions += 1
                rows = []
                # Invited: the club's members at the time the session was announced.
                for n, c, channel, joined in members:
                    if c != club or joined > invited_at:
                        continue
                    statuses, weights = DELIVERY[channel]
                    delivery = rng.choices(statuses, weights)[0]
                    rsvp = None
                    if delivery != "failed":  # only a message that arrived is answered
                        rsvp = rng.choices(("yes", "maybe", "no", None), weights=(4, 2, 1, 3))[0]
                    answered = invited_at + timedelta(hours=rng.randrange(1, 72)) if rsvp else None
                    if answered is not None and answered > now:
                        rsvp = answered = None
                    came = None  # attendance is marked after the session, for those expected
                    if starts < now and rsvp in ("yes", "maybe"):
                        came = int(rng.random() < (0.8 if rsvp == "yes" else 0.15))
                    rows.append(
                        (
                            session_id,
                            ids[f"demo:{n}"],
                            delivery,
                            rsvp,
                            iso(answered) if answered else None,
                            came,
                            iso(invited_at),
                        )
                    )
                conn.executemany(
                    "INSERT INTO invitations (session_id, user_id, delivery, rsvp, rsvp_at, attended, "
                    "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
        conn.execute("COMMIT")
        return {"users": users, "events": len(events), "clubs": len(club_ids), "sessions": sessions}
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def clear(conn: Raw) -> int:
    """Remove everything `seed` made, and nothing else."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM events WHERE actor LIKE 'demo\\_%' ESCAPE '\\'")
        conn.execute("DELETE FROM clubs WHERE name LIKE '[demo] %'")
        n = conn.execute("DELETE FROM users WHERE address LIKE 'demo:%'").rowcount
        conn.execute("COMMIT")
        return n
    except BaseException:
        conn.execute("ROLLBACK")
        raise
