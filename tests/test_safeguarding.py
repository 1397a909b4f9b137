"""Safeguarding and privacy: distress reaches a person, consent gates progress, /delete erases."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.app import App
from bot.care import queries as care_queries
from bot.care.safeguarding import Safeguarding, Severity
from bot.config import Settings
from bot.delivery.outbox import Delivery, OutboxSender
from bot.messages import Inbound
from tests.conftest import Chat, table_names

OFFICER = ("console", "officer-1")

DISTRESS = {
    "en": ["I want to kill myself", "My uncle beats me every night", "I was raped", "I want to die"],
    "fr": ["Je veux me suicider", "Mon père me bat", "Je n'ai plus envie de vivre", "J'ai été violée"],
    "rw": ["Ndashaka kwiyahura", "Data arankubita buri munsi", "Ndihebye cyane", "Bamfashe ku ngufu"],
}
BENIGN = [
    "This homework is killing me",
    "I killed it at football today",
    "We were dying of laughter",
    "My phone battery died",
    "Our team beat them 3-0",
    "She beat me at cards",
    "Je suis mort de fatigue",
    "On a ri à mourir de rire",
    "Le film Suicide Squad",
    "Ndashaka gupfundika impano",
    "Abunzi bakemura amakimbirane",
    "The violence of the storm broke the roof",
    "I feel worried, I need water",
    "abuse of power is wrong",
]


@pytest.fixture
async def guarded_app(settings: Settings):
    app = await App.create(replace(settings, safeguarding_officers=f"{OFFICER[0]}:{OFFICER[1]}"))
    try:
        yield app
    finally:
        await app.close()


async def scalar(app: App, sql: str, *params: object):
    async with app.db.conn.execute(sql, params) as cur:
        row = await cur.fetchone()
    return row[0] if row else None


def test_word_lists_catch_disclosures_and_spare_look_alikes(settings: Settings) -> None:
    guard = Safeguarding.load(settings.safeguarding_file)
    for lang, messages in DISTRESS.items():
        for text in messages:
            assert guard.assess(text) is not None, f"{lang}: missed {text!r}"
    assert guard.assess("I want to kill myself") is Severity.IMMEDIATE
    assert guard.assess("Ndashaka kwiyahura") is Severity.IMMEDIATE
    for text in BENIGN:
        assert guard.assess(text) is None, f"false alarm on {text!r}"


@pytest.mark.parametrize("lang", ["en", "fr", "rw"])
async def test_distress_creates_an_escalation_and_alerts_an_officer(guarded_app: App, lang: str) -> None:
    app = guarded_app
    chat = Chat(app, address=f"learner-{lang}")
    await chat.onboard(language=["rw", "fr", "en"].index(lang) + 1)
    await chat.send("2")
    await chat.send("1")  # in the middle of a quiz
    for i, text in enumerate(DISTRESS[lang]):
        replies = await chat.send(text)
        body = "\n".join(m.text for m in replies)
        assert text not in body, "the disclosure is never repeated back"
        assert "116" in body and "112" in body
        assert all(m.language == lang for m in replies if m.address == chat.address)
        if app.engine.services.get(Safeguarding).assess(text) is Severity.CONCERN:
            await chat.tap(1)  # "Yes, contact me"
        assert await scalar(app, "SELECT COUNT(*) FROM escalations") == i + 1
    alerts = await scalar(app, "SELECT COUNT(*) FROM outbox WHERE address = ?", OFFICER[1])
    assert alerts == len(DISTRESS[lang])
    # The quiz waited: Continue brings the same question back.
    await chat.tap(1)
    assert (
        app.engine.catalogs.gettext(
            lang,
            'Two brothers argue over one field. One says: "I want the whole field." What is this?',
            "interests_positions/q1/text",
        )
        in chat.texts
    )


async def test_not_now_creates_no_escalation_and_benign_text_none(guarded_app: App) -> None:
    chat = Chat(guarded_app)
    await chat.onboard()
    await chat.send("My uncle beats me")
    await chat.tap(2)  # Not now
    for text in BENIGN:
        await chat.send(text)
    assert await scalar(guarded_app, "SELECT COUNT(*) FROM escalations") == 0
    assert await scalar(guarded_app, "SELECT COUNT(*) FROM events WHERE type = 'distress'") == 1


async def test_safe_word_offers_a_person_in_every_language(guarded_app: App) -> None:
    for word, lang in (("help", 3), ("aide", 2), ("ubufasha", 1)):
        chat = Chat(guarded_app, address=word)
        await chat.onboard(language=lang)
        await chat.send(word)
        assert chat.last[-1].choices and "116" in chat.texts
        await chat.tap(1)
    assert await scalar(guarded_app, "SELECT COUNT(*) FROM escalations WHERE reason = 'asked'") == 3


async def test_under_16_keeps_no_progress_until_a_guardian_agrees(app: App) -> None:
    chat = Chat(app)
    await chat.onboard(age=1, consent=2)  # under 16, guardian "not now"
    for text in ("2", "1"):
        await chat.send(text)
    for _ in range(8):
        await chat.answer()
    assert "8" in chat.texts  # the quiz works and is scored...
    assert await scalar(app, "SELECT COUNT(*) FROM progress") == 0  # ...but nothing is kept
    assert await scalar(app, "SELECT COUNT(*) FROM events WHERE type = 'quiz_answer'") == 0

    await chat.send("privacy")
    await chat.tap(1)  # the guardian agrees, on the same phone
    for text in ("2", "1"):
        await chat.send(text)
    for _ in range(8):
        await chat.answer()
    assert await scalar(app, "SELECT status FROM progress") == "completed"


async def test_declining_leaves_the_lessons_open(app: App) -> None:
    chat = Chat(app)
    await chat.onboard(consent=2)
    assert [c.label for c in chat.last[-1].choices] == ["Lessons"]
    await chat.send("1")
    await chat.send("1")
    assert "Abunzi" in chat.texts
    assert await scalar(app, "SELECT COUNT(*) FROM progress") == 0


async def test_withdrawing_consent_forgets_progress(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    for text in ("2", "1", "1", "2", "1"):
        await chat.send(text)
    assert await scalar(app, "SELECT COUNT(*) FROM progress") == 1
    await chat.send("/privacy")
    await chat.tap("Withdraw consent")
    assert await scalar(app, "SELECT COUNT(*) FROM progress") == 0
    assert await scalar(app, "SELECT consent FROM users") == "declined"


async def test_mydata_sends_a_summary_and_a_json_file(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    replies = await chat.send("/mydata")
    data = next(m for m in replies if m.attachment)
    assert data.attachment[0] == "mydata.json" and '"address": "learner-1"' in data.attachment[1]


async def test_delete_erases_every_trace_but_the_aggregates(guarded_app: App) -> None:
    app = guarded_app
    name = "Uwase Keza"
    chat = Chat(app, address="+250788123456")
    await chat.send("hello", name=name)
    for n in (3, 3, 1):
        await chat.tap(n)
    for text in ("1", "1", "1", "1", "1", "1", "I feel worried, I need water", "My uncle beats me", "1"):
        await chat.send(text)
    events_before = await scalar(app, "SELECT COUNT(*) FROM events")
    await chat.send("/delete")
    await chat.tap(1)
    assert "erased" in chat.texts

    class Sink:
        channel = "console"

        async def send(self, message):
            return Delivery.sent("x")

    await OutboxSender(app.db, Sink()).run_once()
    found = []
    for table in await table_names(app):
        async with app.db.conn.execute(f"SELECT * FROM {table}") as cur:
            for row in await cur.fetchall():
                for value in tuple(row):
                    if isinstance(value, str) and ("788123456" in value or "Uwase" in value):
                        found.append((table, value[:60]))
    assert found == []
    assert await scalar(app, "SELECT COUNT(*) FROM users") == 0
    assert await scalar(app, "SELECT COUNT(*) FROM events") >= events_before  # aggregates still count
    assert await scalar(app, "SELECT COUNT(*) FROM escalations") == 1  # the follow-up record stays, unlinked


async def test_retention_pseudonymises_inactive_learners(app: App) -> None:
    from datetime import timedelta

    from bot.messages import utcnow

    old = Inbound(
        "console",
        "+250700000001",
        text="hello",
        name="Old Friend",
        external_id="a",
        received_at=utcnow() - timedelta(days=400),
    )
    await app.engine.handle(old)
    await app.engine.handle(Inbound("console", "+250700000002", text="hello", external_id="b"))
    async with app.db.transaction() as conn:
        assert await care_queries.pseudonymise_inactive(conn, utcnow() - timedelta(days=365)) == 1
    async with app.db.conn.execute("SELECT address, display_name FROM users ORDER BY id") as cur:
        rows = [tuple(r) for r in await cur.fetchall()]
    assert rows[0][0].startswith("retired:") and rows[0][1] is None
    assert rows[1][0] == "+250700000002"


async def test_hateful_free_text_is_reframed_and_flagged_without_content(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    for text in ("1", "1", "1", "1", "1"):
        await chat.send(text)
    await chat.send("They are cockroaches and should all die")
    assert "labelling" in chat.texts and "cockroach" not in chat.texts
    flags = await scalar(app, "SELECT COUNT(*) FROM events WHERE type = 'hate_flag' AND data IS NULL")
    assert flags == 1
    assert await scalar(app, "SELECT COUNT(*) FROM reflections") == 0


messages = st.one_of(
    st.text(max_size=200),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "So"]), max_size=40),
    st.sampled_from(
        ["\u202e\u0645\u0631\u062d\u0628\u0627", "🤝" * 500, "a" * 100_000, "\x00", "1", "menu", "help"]
    ),
)


@hsettings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(messages, min_size=20, max_size=20))
async def test_ten_thousand_odd_messages_always_get_a_reply(app: App, batch: list[str]) -> None:
    """500 examples x 20 messages = 10,000 inbound messages through the engine."""
    global _fuzz_n
    _fuzz_n += 1
    for i, text in enumerate(batch):
        replies = await app.engine.handle(
            Inbound("console", f"fuzz-{_fuzz_n % 7}", text=text, external_id=f"{_fuzz_n}-{i}")
        )
        assert replies and all(r.text for r in replies)


_fuzz_n = 0
