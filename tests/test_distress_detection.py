"""Distress is never missed, however it is typed, and a false alarm costs the learner nothing."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.app import App
from bot.care.safeguarding import Safeguarding, Severity
from bot.config import Settings
from bot.messages import utcnow
from tests.conftest import Chat
from tests.test_clubs import facilitator_of, make_club

IMMEDIATE, CONCERN = Severity.IMMEDIATE, Severity.CONCERN
CASES = [
    # The phrases the review found missed, and their variants, in en, fr and rw.
    ("kil myself", IMMEDIATE),
    ("kill my self", IMMEDIATE),
    ("killmyself", IMMEDIATE),
    ("I want to KIIILL MYSELF!!!", IMMEDIATE),
    ("kill    myself", IMMEDIATE),
    ("I feel suicidal", IMMEDIATE),
    ("end it all tonight", IMMEDIATE),
    ("I’m in danger", IMMEDIATE),
    ("I'm in danger", IMMEDIATE),
    ("im in danger", IMMEDIATE),  # no apostrophe: one typo away
    ("I want to die", IMMEDIATE),
    ("i wanna die", IMMEDIATE),
    ("I want to diiiie", IMMEDIATE),
    ("je veux mourir", IMMEDIATE),
    ("je veux mourrir", IMMEDIATE),
    ("Je Veux Mourir", IMMEDIATE),
    ("je suis en dangé", IMMEDIATE),
    ("je suis en danger", IMMEDIATE),
    ("j'ai envie de mourir", IMMEDIATE),
    ("ndashaka gupfa", IMMEDIATE),
    ("ndashaka kwiyahura", IMMEDIATE),
    ("ndashaka kwiyaura", IMMEDIATE),
    ("ndi mukaga", IMMEDIATE),
    ("ndi mu kaga", IMMEDIATE),
    ("Il m'a touchée", CONCERN),
    ("il m’a touché", CONCERN),
    ("Il m'a forcée", CONCERN),
    ("il ma touche", CONCERN),
    ("my uncle hits me", CONCERN),
    ("there is violence at home", CONCERN),
    ("arankubita", CONCERN),
    # A joke marker: ask first rather than alert at once.
    ("she will kill me if I am late lol", CONCERN),
    ("je vais me tuer de rire mdr", None),
    ("she will kill me 😂", CONCERN),
    # Look-alikes that are not disclosures.
    ("this homework is killing me", None),
    ("I was amused by the story", None),
    ("the answer is to listen", None),
    ("hello", None),
]


@pytest.fixture(scope="module")
def words() -> Safeguarding:
    return Safeguarding.load(Settings().safeguarding_file)


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_every_way_of_typing_it_is_read(words: Safeguarding, text: str, expected: Severity | None) -> None:
    assert words.assess(text) is expected


@given(st.text(max_size=300))
def test_any_text_is_assessed_without_error(text: str) -> None:
    words = Safeguarding.load(Settings().safeguarding_file)
    assert words.assess(text) in (None, IMMEDIATE, CONCERN)
    assert words.assess(f"{text} kill myself {text}") in (IMMEDIATE, CONCERN)


async def escalations(app: App) -> int:
    async with app.db.conn.execute("SELECT COUNT(*) FROM escalations") as cur:
        return (await cur.fetchone())[0]


async def test_a_facilitators_session_topic_is_never_an_escalation(app: App) -> None:
    club = await make_club(app)
    keza = await facilitator_of(app, club)
    await keza.send("new session")
    starts = (utcnow() + timedelta(days=4)).astimezone(ZoneInfo("Africa/Kigali"))
    await keza.send(starts.strftime("%d/%m/%Y 15h"))
    await keza.send("Cell office")
    await keza.send("Suicide prevention and violence at home")
    assert "Send the invitations to every member now?" in keza.texts  # the plan goes on
    assert await escalations(app) == 0


async def test_an_exercise_answer_about_violence_is_kept_and_then_the_learner_is_asked(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    for step in ("1", "1", "To go first", "1", "1"):  # exercises, the water point, to its free-text step
        await chat.send(step)
    assert "Your turn" in chat.last[-1].text
    await chat.send("There is violence at home and I feel worried about the water")
    async with app.db.conn.execute("SELECT text FROM reflections") as cur:
        assert [r[0] for r in await cur.fetchall()] == [
            "There is violence at home and I feel worried about the water"
        ]
    assert "Would you like a person from our team to contact you?" in chat.texts
    assert await escalations(app) == 0  # asked first: a concern, not an emergency
    assert "Well done!" in chat.texts  # the exercise went on to its end
    await chat.tap("Not now")
    assert "That is all right" in chat.texts
    await chat.tap("Main menu")
    assert "Main menu." in chat.texts


async def test_an_immediate_phrase_in_an_exercise_answer_alerts_and_keeps_the_answer(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    for step in ("1", "1", "To go first", "1", "1"):
        await chat.send(step)
    await chat.send("I want to kill myself, nobody shares the water")
    assert await escalations(app) == 1
    async with app.db.conn.execute("SELECT COUNT(*) FROM reflections") as cur:
        assert (await cur.fetchone())[0] == 1
    assert "I have asked a person from our team to contact you" in chat.texts


async def test_after_stop_help_and_distress_still_get_helplines(app: App) -> None:
    chat = Chat(app)
    await chat.onboard()
    await chat.send("stop")
    await chat.send("help")
    assert "You can call:" in chat.texts
    await chat.send("je veux mourir")
    assert "You can call:" in chat.texts and await escalations(app) == 1
