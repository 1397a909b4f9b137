"""The engine end to end, on a real SQLite file: onboarding, dialogs, resume, dedup, order."""

from __future__ import annotations

import asyncio

import pytest

from bot.app import App
from bot.config import Settings
from bot.i18n import LANGUAGES
from bot.messages import Inbound
from tests.conftest import Chat


async def rows(app: App, sql: str, *params: object) -> list[tuple]:
    async with app.db.conn.execute(sql, params) as cur:
        return [tuple(r) for r in await cur.fetchall()]


def tr(app: App, lang: str, msgid: str, context: str | None = None) -> str:
    return app.engine.catalogs.gettext(lang, msgid, context)


@pytest.mark.parametrize("lang", LANGUAGES)
async def test_language_menu_and_quiz_with_a_score_in_every_language(app: App, lang: str) -> None:
    chat = Chat(app, address=f"learner-{lang}")
    replies = await chat.send("hello")
    assert [c.label for c in replies[-1].choices] == ["Ikinyarwanda", "Français", "English"]

    await chat.tap(LANGUAGES.index(lang) + 1)
    assert tr(app, lang, "Thank you! I will write to you in English.") in chat.texts
    assert all(m.language == lang for m in chat.last)
    # The thanks leads into the question: one message, not two.
    assert len(chat.last) == 1 and chat.last[-1].text.endswith(tr(app, lang, "How old are you?"))
    await chat.tap(3)
    await chat.tap(tr(app, lang, "I agree"))
    assert tr(app, lang, "Thank you. Your progress will be kept.") in chat.texts
    menu = chat.last[-1]
    assert [c.label for c in menu.choices] == [tr(app, lang, k) for k in ("Exercises", "Quizzes", "Lessons")]

    await chat.tap(tr(app, lang, "Quizzes"))
    await chat.tap(tr(app, lang, "Interests or positions?", "interests_positions/meta/title"))
    assert (
        tr(
            app,
            lang,
            'Two brothers argue over one field. One says: "I want the whole field." What is this?',
            "interests_positions/q1/text",
        )
        in chat.texts
    )
    for _ in range(8):  # wherever this learner's shuffle put the right answers
        await chat.answer()
    score = tr(app, lang, "Your score: {score} out of {total}.").format(score=8, total=8)
    assert score in chat.texts
    assert tr(app, lang, "You passed. Well done!") in chat.texts
    # Every quiz of the track passed: badges, and a certificate on offer (here, declined).
    assert tr(app, lang, "Quiz master") in chat.texts
    assert chat.last[-1].choices[-1].label == tr(app, lang, "Not now")
    await chat.tap(tr(app, lang, "Not now"))
    assert chat.last[-1].choices and chat.last[-1].choices[0].label == tr(app, lang, "Exercises")

    progress = await rows(app, "SELECT dialog_id, status, score, max_score FROM progress")
    assert progress == [("interests_positions", "completed", 8, 8)]


async def test_exercise_with_free_text_feedback_and_reflection(app: App, chat: Chat) -> None:
    await chat.send("hi")
    await chat.send("English")
    await chat.send("18–24")
    await chat.send("I agree")
    await chat.send("1")  # Exercises
    await chat.send("1")  # The shared water point
    await chat.send("To go first")  # the label works as well as the number
    assert "position" in chat.texts
    await chat.answer()  # the best choices: children on time, then goats at dusk
    await chat.answer()
    assert "Your turn" in chat.last[-1].text
    await chat.send("I feel worried and I need water before the field")
    assert "Good: you speak about your own feelings" in chat.texts
    assert "One way to say it:" in chat.texts
    assert "Well done!" in chat.texts
    assert await rows(app, "SELECT status, score FROM progress WHERE dialog_id = 'water_point'") == [
        ("completed", 4)
    ]
    assert len(await rows(app, "SELECT text FROM reflections")) == 1


async def test_lesson_cards_wait_for_next(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.send("3")  # Lessons
    await chat.send("1")
    assert "First, 2 quick questions" in chat.texts  # the pre-test, before any card
    await chat.answer(right=False)
    await chat.answer()
    assert "Thank you. Now let us begin." in chat.texts
    assert chat.last[-1].choices[0].label == "Next ▶"
    await chat.send("next ▶")  # typed works as well as the tap
    assert "How many Abunzi" in chat.texts
    await chat.answer()
    assert chat.last[-1].choices[0].label == "Next ▶"
    await chat.send("1")  # the number of the only button works too
    assert chat.last[-1].choices[0].label != "Next ▶"


async def test_retry_missed_questions(app: App, chat: Chat) -> None:
    await chat.onboard()
    await chat.send("2")  # Quizzes
    await chat.send("1")  # interests or positions: 8 questions, 70% to pass
    for right in (False, False, False, True, True, True, True, True):
        await chat.answer(right)
    assert "You missed 3 questions" in chat.texts
    assert await rows(app, "SELECT score, best_score FROM progress") == [(5, 5)]
    await chat.tap("Retry missed")
    assert "Two brothers" in chat.texts
    for _ in range(3):
        await chat.answer()
    assert "This time you got 3 out of 3 right." in chat.texts
    # The retry counts: the score, the pass and the best score are the quiz's now.
    assert await rows(app, "SELECT score, best_score FROM progress") == [(8, 8)]


async def test_resume_after_restart(settings: Settings) -> None:
    app = await App.create(settings)
    chat = Chat(app)
    await chat.onboard()
    for text in ("2", "1"):
        await chat.send(text)
    assert "Two brothers" in chat.texts
    await app.close()  # the process goes away mid-dialog

    app = await App.create(settings)
    try:
        chat = Chat(app)
        chat._n = 100
        await chat.send("1")  # answers the question it was left at
        assert "Right!" in chat.texts and "Two villages" in chat.texts
        await chat.send("menu")
        assert chat.last[-1].choices[0].label == "Continue ▶"
        assert "Interests or positions?" in chat.texts
        await chat.tap("Continue ▶")
        assert "Two villages" in chat.texts
    finally:
        await app.close()


async def test_duplicate_inbound_is_processed_once(app: App) -> None:
    first = await app.engine.handle(Inbound("telegram", "42", text="hi", external_id="update-1"))
    again = await app.engine.handle(Inbound("telegram", "42", text="hi", external_id="update-1"))
    assert first and again is None
    assert await rows(app, "SELECT COUNT(*) FROM outbox") == [(len(first),)]
    assert await rows(app, "SELECT COUNT(*) FROM events WHERE type = 'message_in'") == [(1,)]
    # The same id on another channel is another message.
    assert await app.engine.handle(Inbound("whatsapp", "42", text="hi", external_id="update-1"))


async def test_double_tap_counts_once(app: App, chat: Chat) -> None:
    await chat.onboard()
    for text in ("2", "1"):
        await chat.send(text)
    button = chat.last[-1].choices[0].id
    await chat.send(payload=button)
    stale = await chat.send(payload=button)
    assert "earlier message" in stale[0].text
    answers = await rows(app, "SELECT COUNT(*) FROM events WHERE type = 'quiz_answer'")
    assert answers == [(1,)]


async def test_one_users_messages_run_in_order(app: App) -> None:
    """Fired together, "3" then "2" then "1" must mean English → Quizzes → the first quiz."""
    await app.engine.handle(Inbound("console", "fast", text="hi", external_id="0"))
    steps = ["3", "3", "1", "2", "1", "1", "2", "1"]  # English, 18-24, agree, Quizzes, the quiz, 3 answers
    results = await asyncio.gather(
        *(
            app.engine.handle(Inbound("console", "fast", text=t, external_id=str(i + 1)))
            for i, t in enumerate(steps)
        )
    )
    assert all(results)
    assert "Two brothers" in "\n".join(m.text for m in results[4])
    assert "Grace says" in "\n".join(m.text for m in results[-1])  # the 4th question


async def test_keywords_work_in_three_languages(app: App, chat: Chat) -> None:
    await chat.onboard(language=1)
    for word in ("ururimi", "langue", "language", "/language"):
        await chat.send(word)
        assert chat.last[-1].choices[0].label == "Ikinyarwanda"
    await chat.send("2")  # Français
    await chat.send("aide")
    assert tr(app, "fr", "Would you like a person from our team to contact you?") in chat.texts
    await chat.tap(2)  # not now
    await chat.send("ubufasha")
    await chat.send("menu")
    assert chat.last[-1].text.startswith(
        tr(
            app,
            "fr",
            "Main menu. Exercises: practise the art of dialogue. "
            "Quizzes: test your negotiation skills. Lessons: your rights and duties.",
        )[:10]
    )
    await chat.send("progression")
    assert tr(app, "fr", "Your progress") in chat.texts
    await chat.send("STOP")
    assert await rows(app, "SELECT stopped FROM users") == [(1,)]
    # Opted out: other words get a reminder of START, and nothing else happens.
    await chat.send("menu")
    assert await rows(app, "SELECT stopped FROM users") == [(1,)]
    assert chat.texts == tr(
        app, "fr", "You asked us to stop sending you messages. Send START to hear from us again."
    )
    await chat.send("commencer")
    assert await rows(app, "SELECT stopped FROM users") == [(0,)]
    assert tr(app, "fr", "You will get our messages again.") in chat.texts


async def test_deep_link_start_payload_is_recorded(app: App) -> None:
    chat = Chat(app)
    await chat.send("/start club_K7Q2")
    assert chat.last[-1].choices[0].label == "Ikinyarwanda"
    events = await rows(app, "SELECT data FROM events WHERE type = 'deep_link'")
    assert events == [('{"payload": "club_K7Q2"}',)]


@pytest.mark.parametrize(
    "inbound",
    [
        {"text": ""},
        {"text": "   "},
        {"text": "🤝🕊️"},
        {"text": "x" * 5000},
        {"text": None, "media_count": 1},
        {"payload": "999.nothing"},
        {"payload": "garbage-without-dot"},
        {"text": "/unknowncommand"},
    ],
)
async def test_odd_input_gets_a_friendly_reply(app: App, chat: Chat, inbound: dict) -> None:
    await chat.onboard(language=2)
    replies = await chat.send(**inbound)
    assert replies, "never silence"
    assert all(m.language == "fr" for m in replies)
    assert replies[-1].choices  # the user is shown what they can do next
    text = "\n".join(m.text for m in replies)
    assert "Traceback" not in text


async def test_replies_are_short_enough_for_a_phone(app: App, chat: Chat) -> None:
    await chat.onboard(language=1)
    for text in ("progress", "help", "2", "1", "1", "1", "1", "1", "1", "ndumva nkeneye amazi"):
        for message in await chat.send(text):
            assert len(message.text) <= 1600
