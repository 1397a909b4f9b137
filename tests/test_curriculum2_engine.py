"""Curriculum 2.0 through the real engine: shuffled buttons and typed numbers, route steps and
endings by path, pre-tests before and after, and a retry that counts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.messages import Outbound
from tests.conftest import Chat, on_backend
from tests.fixtures.curriculum2.support import settings_with

MODULES = ("valid/branching.yaml", "valid/pretest_quiz.yaml", "valid/plain_quiz.yaml")


@pytest.fixture
async def c2(tmp_path: Path, settings: Settings) -> AsyncIterator[App]:
    app = await App.create(on_backend(settings_with(tmp_path, *MODULES), settings))
    try:
        yield app
    finally:
        await app.close()


async def learner(app: App, address: str) -> Chat:
    chat = Chat(app, address=address)
    await chat.onboard()
    return chat


async def open_module(chat: Chat, kind: str, title: str) -> list[Outbound]:
    await chat.send("menu")
    await chat.tap(kind)
    return await chat.tap(title)


def buttons(chat: Chat) -> list[str]:
    """The ids of the last prompt's buttons, in the order shown."""
    prompt = next(m for m in reversed(chat.last) if m.choices)
    return [c.id.split(".", 1)[1] for c in prompt.choices]


async def pick(chat: Chat, item_id: str) -> list[Outbound]:
    prompt = next(m for m in reversed(chat.last) if m.choices)
    return await chat.send(payload=next(c.id for c in prompt.choices if c.id.endswith(f".{item_id}")))


async def events(app: App, type_: str, address: str) -> list[dict]:
    sql = (
        "SELECT e.step_id, e.data FROM events e JOIN users u ON u.pseudonym = e.actor "
        "WHERE e.type = ? AND u.address = ? ORDER BY e.id"
    )
    async with app.db.conn.execute(sql, (type_, address)) as cur:
        rows = await cur.fetchall()
    return [{"step": r[0], **json.loads(r[1] or "{}")} for r in rows]


# -- branching, routes and endings ----------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "ending", "closing"),
    [
        ("talk", "end_strong", "The families now share the mornings."),
        ("leave", "end_mixed", "nothing is agreed yet"),
        ("shout", "end_hard", "The families still fight at dawn."),
    ],
)
async def test_the_path_taken_picks_the_ending(c2: App, first: str, ending: str, closing: str) -> None:
    chat = await learner(c2, f"path-{first}")
    await open_module(chat, "Exercises", "The water point")
    assert buttons(chat)[-1] == "leave"  # pinned last, whatever the shuffle
    await pick(chat, first)
    middle = "Voices rise" if first == "shout" else "talk in the evening"
    assert middle in chat.texts
    await chat.send("I feel worried and I need us to share the mornings.")
    assert closing in chat.texts
    assert "You spoke of your own feeling or need." in chat.texts
    done = await events(c2, "module_completed", chat.address)
    assert done[-1]["ending"] == ending and done[-1]["score"] == {"talk": 2, "leave": 1, "shout": 0}[first]


async def test_a_typed_number_picks_the_button_shown_at_that_place(c2: App) -> None:
    firsts = set()
    for n in range(6):
        chat = await learner(c2, f"typist-{n}")
        await open_module(chat, "Exercises", "The water point")
        shown = buttons(chat)
        firsts.add(shown[0])
        await chat.send("2")
        taken = (await events(c2, "choice", chat.address))[-1]["choice"]
        assert taken == shown[1], (shown, taken)
    assert len(firsts) > 1  # learners do not all see the same order


# -- pre-test and learning gain ---------------------------------------------------------------

QUIZ_RIGHT = {"q1": "why", "q2": "what", "q3": "why", "q4": "split", "q5": "best"}
QUIZ_WRONG = {"q1": "what", "q2": "why", "q3": "how", "q4": "half", "q5": "worst"}


async def at_step(app: App, address: str) -> str:
    sql = "SELECT s.step_id FROM dialog_state s JOIN users u ON u.id = s.user_id WHERE u.address = ?"
    async with app.db.conn.execute(sql, (address,)) as cur:
        row = await cur.fetchone()
    assert row is not None and row[0]
    return str(row[0])


async def answer(app: App, chat: Chat, answers: dict[str, str]) -> list[Outbound]:
    return await pick(chat, answers[await at_step(app, chat.address)])


async def test_pretest_items_come_before_and_after_and_do_not_count(c2: App) -> None:
    chat = await learner(c2, "gainer")
    await open_module(chat, "Quizzes", "Interests")
    assert "2 quick questions" in chat.texts and "What is an interest?" in chat.texts
    await answer(c2, chat, QUIZ_WRONG)  # pre q1: wrong, and not told so
    assert "Not quite" not in chat.texts and "Right!" not in chat.texts
    await answer(c2, chat, QUIZ_WRONG)  # pre q2
    assert "Now let us begin" in chat.texts and "What is an interest?" in chat.texts
    for _ in range(5):
        await answer(c2, chat, QUIZ_RIGHT)
    assert "the questions from the start" in chat.texts
    await answer(c2, chat, QUIZ_RIGHT)  # post q1
    assert "✅ Right!" in chat.texts
    await answer(c2, chat, QUIZ_RIGHT)  # post q2
    assert "Quiz done." in chat.texts and "Your score: 5 out of 5." in chat.texts

    pre_post = [(e["step"], e["phase"], e["correct"]) for e in await events(c2, "pretest", chat.address)]
    assert pre_post == [
        ("q1", "pre", False),
        ("q2", "pre", False),
        ("q1", "post", True),
        ("q2", "post", True),
    ]
    quiz = await events(c2, "quiz_answer", chat.address)
    assert len(quiz) == 5 and all(e["correct"] for e in quiz)
    done = await events(c2, "module_completed", chat.address)
    assert (done[-1]["score"], done[-1]["max_score"], done[-1]["passed"]) == (5, 5, True)


# -- retry counts ---------------------------------------------------------------------------


async def fail_then_retry(app: App, chat: Chat, first: dict[str, str]) -> None:
    await open_module(chat, "Quizzes", "Positions")
    for _ in range(5):
        await answer(app, chat, first)


async def test_retrying_missed_questions_updates_score_pass_best_and_badges(c2: App) -> None:
    chat = await learner(c2, "retrier")
    # 2 of 5 right: under the 60% pass mark.
    await fail_then_retry(c2, chat, {**QUIZ_WRONG, "q1": "why", "q2": "what"})
    assert "Your score: 2 out of 5." in chat.texts and "Not passed yet" in chat.texts
    assert "You missed 3 questions" in chat.texts

    await chat.send("progress")
    assert "✅ Positions" not in chat.texts and "▶ Positions — score 2/5, best 2" in chat.texts
    assert "First quiz passed" not in chat.texts

    await chat.tap("Retry missed")
    await answer(c2, chat, QUIZ_RIGHT)  # q3
    await answer(c2, chat, QUIZ_WRONG)  # q4 missed again
    await answer(c2, chat, QUIZ_RIGHT)  # q5
    assert "This time you got 2 out of 3 right." in chat.texts
    assert "Your score: 4 out of 5." in chat.texts and "You passed" in chat.texts
    assert "First quiz passed" in chat.texts  # the badge follows the pass
    assert "You missed 1 question. Try it again?" in chat.texts
    await chat.send("progress")
    assert "✅ Positions — score 4/5, best 4" in chat.texts
    retried = await events(c2, "quiz_retry_completed", chat.address)
    assert (retried[-1]["score"], retried[-1]["max_score"], retried[-1]["passed"]) == (4, 5, True)

    await chat.tap("Retry missed")
    await answer(c2, chat, QUIZ_RIGHT)  # q4 at last
    assert "Your score: 5 out of 5." in chat.texts
    assert "Perfect score" not in chat.texts  # it took a retry: not a perfect score
    await chat.send("menu")
    await chat.tap("Quizzes")
    assert {"Interests", "✅ Positions"} <= {c.label for m in chat.last for c in m.choices}


async def test_a_retry_never_lowers_the_best_score(c2: App) -> None:
    chat = await learner(c2, "slipper")
    await fail_then_retry(c2, chat, {**QUIZ_RIGHT, "q5": "worst"})
    assert "Your score: 4 out of 5." in chat.texts and "You passed" in chat.texts
    await chat.tap("Retry missed")
    await answer(c2, chat, QUIZ_WRONG)
    assert "Your score: 4 out of 5." in chat.texts and "You passed" in chat.texts
    await chat.send("progress")
    assert "✅ Positions — score 4/5, best 4" in chat.texts


async def test_finishing_the_track_through_a_retry_offers_the_certificate(c2: App) -> None:
    chat = await learner(c2, "finisher")
    await open_module(chat, "Quizzes", "Interests")
    for _ in range(9):  # 2 pre-test, 5 questions, 2 again
        await answer(c2, chat, QUIZ_RIGHT)
    await fail_then_retry(c2, chat, {**QUIZ_WRONG, "q1": "why"})
    assert "Not passed yet" in chat.texts
    await chat.tap("Retry missed")
    for _ in range(4):
        await answer(c2, chat, QUIZ_RIGHT)
    assert "Quiz master" in chat.texts and "Your certificate is ready" in chat.texts
