"""Spaced recall through the real engine, the real recall sender and the real WhatsApp channel, on a
real database, with the clock moved by the test: a quiz's missed questions come back 2 and 7 days
later, out of the quiet hours (21:00-07:00 Kigali), only to learners who said yes and did not stop."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.app import App
from bot.channels.whatsapp import WhatsAppChannel
from bot.config import PROJECT_ROOT, Settings
from bot.learning import recall
from bot.learning.recall import RecallSender
from bot.messages import Outbound, utcnow
from tests.conftest import Chat, on_backend
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, FakeTwilio, running
from tests.fixtures.curriculum2.support import settings_with

# c2_plain ("Positions", 5 questions) and a second quiz, so that passing one is not the whole track.
MODULES = ("valid/plain_quiz.yaml", "valid/pretest_quiz.yaml")
RIGHT = {"q1": "why", "q2": "what", "q3": "why", "q4": "split", "q5": "best"}
KIGALI = ZoneInfo("Africa/Kigali")
HX = "HX" + "c" * 32


def kigali(day: int, hour: int, minute: int = 0) -> datetime:
    """Day `day` of March 2026 at this Kigali time, in UTC."""
    return datetime(2026, 3, day, hour, minute, tzinfo=KIGALI).astimezone(UTC)


class Learner(Chat):
    """A chat whose messages arrive at `now`, the test's clock."""

    def __init__(self, app: App, address: str, now: datetime, channel: str = "console"):
        super().__init__(app, address=address, channel=channel)
        self.now = now

    async def send(self, text: str | None = None, payload: str | None = None, **extra) -> list[Outbound]:
        return await super().send(text, payload, received_at=self.now, **extra)

    async def pick(self, option: str) -> list[Outbound]:
        """Tap the button of the last prompt whose id ends with this option id."""
        prompt = next(m for m in reversed(self.last) if m.choices)
        return await self.send(payload=next(c.id for c in prompt.choices if c.id.endswith(f".{option}")))

    def buttons(self, prefix: str = "") -> list[str]:
        return [c.id for m in self.last for c in m.choices if c.id.startswith(prefix)]


@pytest.fixture
async def app(tmp_path: Path, settings: Settings) -> AsyncIterator[App]:
    app = await App.create(on_backend(settings_with(tmp_path, *MODULES), settings))
    try:
        yield app
    finally:
        await app.close()


class Clock:
    def __init__(self, app: App):
        self.now = utcnow()
        self.sender = RecallSender(
            app.db, app.engine.content, app.engine.catalogs, clock=lambda: self.now, timezone="Africa/Kigali"
        )

    async def fire(self, at: datetime) -> int:
        """Move the clock to `at` and run the sender (twice: a second run must send nothing more)."""
        self.now = at
        queued = await self.sender.run_once()
        assert await self.sender.run_once() == 0
        return queued


async def take_quiz(learner: Learner, wrong: dict[str, str]) -> dict[str, list[str]]:
    """Positions, with these questions answered wrong; returns the option order shown per question."""
    await learner.send("menu")
    await learner.tap("Quizzes")
    await learner.tap("Positions")
    shown = {}
    for step in ("q1", "q2", "q3", "q4", "q5"):
        prompt = next(m for m in reversed(learner.last) if m.choices)
        shown[step] = [c.id.split(".", 1)[1] for c in prompt.choices]
        await learner.pick(wrong.get(step, RIGHT[step]))
    return shown


async def rows(app: App, sql: str, *params: object) -> list[tuple]:
    async with app.db.conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


async def events(app: App, type_: str, address: str) -> list[dict]:
    sql = (
        "SELECT e.step_id, e.data FROM events e JOIN users u ON u.pseudonym = e.actor "
        "WHERE e.type = ? AND u.address = ? ORDER BY e.id"
    )
    return [{"step": s, **json.loads(d or "{}")} for s, d in await rows(app, sql, type_, address)]


async def outbox(app: App, address: str) -> list[dict]:
    found = await rows(app, "SELECT payload FROM outbox WHERE address = ? ORDER BY id", address)
    return [json.loads(r[0]) for r in found]


async def recall_messages(app: App, address: str) -> list[dict]:
    return [m for m in await outbox(app, address) if m.get("key") == recall.KEY]


async def opted_in(app: App, address: str, now: datetime, wrong: dict[str, str]) -> Learner:
    learner = Learner(app, address, now)
    await learner.onboard()
    await take_quiz(learner, wrong)
    assert "Shall I send you the questions you missed again in 2 and 7 days?" in learner.texts
    await learner.send(payload="recall.yes.c2_plain")
    assert "I will send you the questions you missed again in 2 and 7 days" in learner.texts
    return learner


# -- the schedule --------------------------------------------------------------------------------


async def test_a_missed_question_comes_back_at_2_and_7_days_never_in_the_quiet_hours(app: App) -> None:
    clock = Clock(app)
    quiz_at = kigali(2, 22)  # the quiz ends at 22:00 Kigali time
    learner = Learner(app, "amina", quiz_at)
    await learner.onboard()
    shown = await take_quiz(learner, {"q2": "why"})
    # The offer's buttons answer at any time: the retry offer stays the question on screen.
    assert learner.buttons("recall.") == ["recall.yes.c2_plain", "recall.no.c2_plain"]
    assert "You missed 1 question. Try it again?" in learner.last[-1].text
    await learner.send(payload="recall.yes.c2_plain")
    assert "I will send you the questions you missed again in 2 and 7 days" in learner.texts
    assert "You missed 1 question. Try it again?" in learner.last[-1].text  # back to it

    assert await clock.fire(quiz_at + timedelta(days=1)) == 0
    assert await clock.fire(quiz_at + timedelta(days=2)) == 0  # 22:00: quiet hours
    assert await clock.fire(kigali(5, 6, 59)) == 0
    assert await recall_messages(app, "amina") == []
    assert await clock.fire(kigali(5, 7)) == 1  # shifted to 07:00 the next morning
    [two_days] = await recall_messages(app, "amina")
    assert two_days["text"].startswith("🔁 Quick check: a question you missed two days ago, in “Positions”.")
    assert "What is a position?" in two_days["text"]
    ids = [c[0] for c in two_days["choices"]]
    item = ids[0].split(".")[1]
    # The learner's own shuffled order from the quiz, then the stop button.
    assert ids == [f"recall.{item}.{o}" for o in shown["q2"]] + [f"recall.off.{item}"]
    assert two_days["args"] == {"days": "2", "module": "Positions"}

    learner.now = kigali(5, 8)
    await learner.send(payload=f"recall.{item}.what")
    assert "✅ Right! The demand itself is the position." in learner.texts
    assert await events(app, "recall_answer", "amina") == [
        {"step": "q2", "option": "what", "correct": True, "interval": 2}
    ]

    assert await clock.fire(kigali(8, 12)) == 0
    assert await clock.fire(quiz_at + timedelta(days=7)) == 0  # 22:00 again
    assert await clock.fire(kigali(10, 7)) == 1
    week = (await recall_messages(app, "amina"))[-1]
    assert week["text"].startswith("🔁 Quick check: a question you missed a week ago")
    assert week["args"]["days"] == "7"
    # Typed, as on a numbered list: the number of the wrong option.
    labels = [c[1] for c in week["choices"]]
    learner.now = kigali(10, 9)
    await learner.send(str(labels.index("Why one asks") + 1))
    assert "❌ Not quite. That is the interest.\nThe best answer: What one asks" in learner.texts
    answers = await events(app, "recall_answer", "amina")
    assert [(a["correct"], a["interval"]) for a in answers] == [(True, 2), (False, 7)]
    assert await clock.fire(kigali(20, 12)) == 0
    assert await rows(app, "SELECT days, status, correct FROM recall_items ORDER BY days") == [
        (2, "answered", 1),
        (7, "answered", 0),
    ]


async def test_a_question_due_before_the_quiet_hours_but_late_waits_for_the_morning(app: App) -> None:
    """Due at 20:50, but the sender only gets to it at 21:30 (it was down): 07:00, not at night.
    The options come in the order this learner saw them in the quiz, not as written."""
    clock = Clock(app)
    learner = Learner(app, "late", kigali(2, 20, 50))
    await learner.onboard()
    shown = await take_quiz(learner, {"q3": "how"})
    await learner.send(payload="recall.yes.c2_plain")
    assert await clock.fire(kigali(4, 21, 30)) == 0
    assert await clock.fire(kigali(5, 6, 30)) == 0
    assert await clock.fire(kigali(5, 7, 0)) == 1
    [question] = await recall_messages(app, "late")
    order = [c[0].rsplit(".", 1)[1] for c in question["choices"][:-1]]
    assert order == shown["q3"] and order != ["why", "how"]  # shuffled for this learner, as written


async def test_one_question_at_a_time_and_the_next_follows_the_answer(app: App) -> None:
    clock = Clock(app)
    learner = await opted_in(app, "keza", kigali(2, 10), {"q1": "what", "q4": "half"})
    assert await clock.fire(kigali(4, 10)) == 1  # two questions due, one sent
    [first] = await recall_messages(app, "keza")
    assert "What is an interest?" in first["text"]
    item = first["choices"][0][0].split(".")[1]
    learner.now = kigali(4, 10, 5)
    await learner.send(payload=f"recall.{item}.why")
    assert "✅ Right!" in learner.texts
    assert "Two sisters want one orange" in learner.last[-1].text  # the next one, at once
    assert await clock.fire(kigali(4, 11)) == 0


async def test_an_unanswered_question_holds_the_next_back_for_a_day(app: App) -> None:
    clock = Clock(app)
    await opted_in(app, "ineza", kigali(2, 10), {"q1": "what", "q4": "half"})
    assert await clock.fire(kigali(4, 10)) == 1
    assert await clock.fire(kigali(5, 9, 59)) == 0
    assert await clock.fire(kigali(5, 10, 1)) == 1  # the first expires, the second goes
    assert await rows(app, "SELECT step_id, status FROM recall_items WHERE days = 2 ORDER BY id") == [
        ("q1", "expired"),
        ("q4", "sent"),
    ]


# -- saying no, stopping ---------------------------------------------------------------------


async def test_a_declined_offer_sends_nothing(app: App) -> None:
    clock = Clock(app)
    learner = Learner(app, "ganza", kigali(2, 10))
    await learner.onboard()
    await take_quiz(learner, {"q2": "why", "q5": "worst"})
    await learner.send("No")  # typed, while the retry offer is on screen
    assert "You missed 2 questions. Try them again?" in learner.last[-1].text
    assert await events(app, "recall_declined", "ganza") == [{"step": None}]
    for day in (4, 9, 12):
        assert await clock.fire(kigali(day, 12)) == 0
    assert await rows(app, "SELECT COUNT(*) FROM recall_items") == [(0,)]
    assert await recall_messages(app, "ganza") == []


async def test_stop_means_no_recall_and_none_is_saved_up_for_start(app: App) -> None:
    clock = Clock(app)
    learner = await opted_in(app, "mugisha", kigali(2, 10), {"q2": "why"})
    await learner.send("stop")
    assert await clock.fire(kigali(4, 12)) == 0
    assert await clock.fire(kigali(9, 12)) == 0
    assert await rows(app, "SELECT days, status FROM recall_items ORDER BY days") == [
        (2, "skipped"),
        (7, "skipped"),
    ]
    learner.now = kigali(10, 12)
    await learner.send("start")
    assert await clock.fire(kigali(10, 13)) == 0  # skipped while stopped, not saved up
    assert await recall_messages(app, "mugisha") == []


async def test_stop_recall_by_button_or_words_and_start_again(app: App) -> None:
    clock = Clock(app)
    learner = await opted_in(app, "uwase", kigali(2, 10), {"q2": "why"})
    assert await clock.fire(kigali(4, 12)) == 1
    [question] = await recall_messages(app, "uwase")
    stop = question["choices"][-1]
    assert stop[1] == "Stop these checks"
    await learner.send(payload=stop[0])
    assert "Done: no more recall questions." in learner.texts
    assert await clock.fire(kigali(9, 12)) == 0

    learner.now = kigali(10, 12)  # no offer any more after a quiz
    await take_quiz(learner, {"q3": "how"})
    assert learner.buttons("recall.") == [] and "You missed 1 question" in learner.texts
    await learner.send("start recall")
    assert "Recall is on" in learner.texts
    await take_quiz(learner, {"q3": "how"})  # on: scheduled without asking
    assert learner.buttons("recall.") == []
    assert "I will send you the questions you missed again in 2 and 7 days" in learner.texts
    await learner.send("hagarika isubiramo")  # in Kinyarwanda
    assert await rows(app, "SELECT COUNT(*) FROM recall_items WHERE status = 'pending'") == [(0,)]
    assert await clock.fire(kigali(12, 12)) == 0 and await clock.fire(kigali(17, 12)) == 0


async def test_erasing_the_learner_erases_their_recall(app: App) -> None:
    learner = await opted_in(app, "erased", kigali(2, 10), {"q2": "why"})
    assert await rows(app, "SELECT COUNT(*) FROM recall_items") == [(2,)]
    await learner.send("delete")
    await learner.tap("Yes, erase it")
    assert await rows(app, "SELECT COUNT(*) FROM recall_items") == [(0,)]
    assert await rows(app, "SELECT COUNT(*) FROM recall_prefs") == [(0,)]


@pytest.mark.parametrize(
    ("local", "moved"),
    [
        ((2, 20, 59), (2, 20, 59)),
        ((2, 21, 0), (3, 7, 0)),
        ((2, 23, 30), (3, 7, 0)),
        ((3, 0, 10), (3, 7, 0)),
        ((3, 6, 59), (3, 7, 0)),
        ((3, 7, 0), (3, 7, 0)),
    ],
)
def test_quiet_hours_move_a_time_to_7_in_the_morning(local: tuple, moved: tuple) -> None:
    assert recall.out_of_quiet(kigali(*local), "Africa/Kigali") == kigali(*moved)


# -- WhatsApp outside the 24-hour window ------------------------------------------------------


async def test_outside_the_whatsapp_window_the_template_goes_and_a_reply_brings_the_question(
    tmp_path: Path,
) -> None:
    config = yaml.safe_load((PROJECT_ROOT / "config/whatsapp_templates.yaml").read_text(encoding="utf-8"))
    config["templates"][recall.KEY]["content_sid"] = {"en": HX}
    templates = tmp_path / "templates.yaml"
    templates.write_text(yaml.safe_dump(config), encoding="utf-8")
    async with running(FakeTwilio()) as fake:
        settings = replace(
            settings_with(tmp_path, *MODULES),
            twilio_account_sid=ACCOUNT_SID,
            twilio_auth_token=AUTH_TOKEN,
            twilio_whatsapp_from="whatsapp:+14155238886",
            twilio_api_url=fake.url,
            public_base_url=PUBLIC_URL,
            whatsapp_templates_file=templates,
        )
        app = await App.create(settings)
        channel = WhatsAppChannel.create(settings, app)
        await channel.start()
        try:
            await whatsapp_journey(app, channel, fake)
        finally:
            await channel.stop()
            await app.close()


async def whatsapp_journey(app: App, channel: WhatsAppChannel, fake: FakeTwilio) -> None:
    address = "whatsapp:+250788000321"
    # The quiz three days ago at 10:00 Kigali: the learner has not written since.
    today = utcnow().astimezone(KIGALI).date()
    quiz_at = datetime.combine(today - timedelta(days=3), datetime.min.time(), tzinfo=KIGALI) + timedelta(
        hours=10
    )
    clock = Clock(app)
    learner = Learner(app, address, quiz_at.astimezone(UTC), channel="whatsapp")
    await learner.onboard()
    await take_quiz(learner, {"q2": "why"})
    await learner.send("yes")  # typed, as on a numbered list
    assert "I will send you the questions you missed again in 2 and 7 days" in learner.texts

    assert await clock.fire(quiz_at + timedelta(days=2, minutes=1)) == 1
    [row] = await rows(
        app, "SELECT channel, address, payload, priority, user_id FROM outbox ORDER BY id DESC LIMIT 1"
    )
    message = Outbound.from_row(row[0], row[1], row[2], row[3], row[4])
    assert message.key == recall.KEY
    delivery = await channel.send(message)
    assert delivery.status == "sent", delivery
    sent = fake.to(address)[-1]
    assert sent.params.get("ContentSid") == HX and "Body" not in sent.params
    assert sent.variables == {"1": "2", "2": "Positions"}

    # Any reply opens the window; the question itself comes, to be answered by its number.
    learner.now = utcnow()
    replies = await learner.send("ok")
    [question] = [m for m in replies if m.key == recall.KEY]
    assert "What is a position?" in question.text
    assert (await channel.send(question)).status == "sent"
    assert "What is a position?" in fake.to(address)[-1].body
    labels = [c.label for c in question.choices]
    await learner.send(str(labels.index("What one asks") + 1))
    assert "✅ Right!" in learner.texts
    answers = await events(app, "recall_answer", address)
    assert [(a["correct"], a["interval"]) for a in answers] == [(True, 2)]


def test_the_template_is_placeholder_safe() -> None:
    """WhatsApp refuses a template whose body starts or ends with a variable, or has two side by
    side: the documented body keeps words around each one, and its variables are what we send."""
    text = (PROJECT_ROOT / "config/whatsapp_templates.yaml").read_text(encoding="utf-8")
    entry = yaml.safe_load(text)["templates"][recall.KEY]
    assert entry["variables"] == ["days", "module"]
    body = next(
        line.split('"')[1]
        for line in text.split(f"{recall.KEY}:")[1].splitlines()
        if line.strip().startswith('# "')
    )
    assert not body.startswith("{{") and not body.endswith("}}") and "}}{{" not in body.replace(" ", "")
    assert body.count("{{1}}") == 1 and body.count("{{2}}") == 1
