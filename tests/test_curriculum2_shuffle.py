"""Shown order: per learner and step, stable, ids kept, pinned items last, and over the real
curriculum the right answer's position is spread evenly across learners."""

from __future__ import annotations

from collections import Counter

import pytest

from bot.config import Settings
from bot.content.loader import load_content
from bot.content.models import ChoicesStep, Option, QuestionStep
from bot.i18n import Catalogs
from bot.learning.shuffle import shown_order

LEARNERS = 1000
TOLERANCE = 0.25  # each position within ±25% of its expected share

REAL = Settings()
CONTENT, _ = load_content(REAL.dialogs_dir, Catalogs.load(REAL.locales_dir))


def option(oid: str, pin: str | None = None) -> Option:
    return Option(id=oid, label=oid, explanation="Because.", pin=pin)  # type: ignore[arg-type]


def test_the_order_is_stable_per_learner_and_differs_between_learners() -> None:
    items = [option(x) for x in "abcde"]
    first = [o.id for o in shown_order(items, 7, "quiz", "q1")]
    assert first == [o.id for o in shown_order(items, 7, "quiz", "q1")]
    assert sorted(first) == list("abcde")
    others = {tuple(o.id for o in shown_order(items, learner, "quiz", "q1")) for learner in range(50)}
    assert len(others) > 20
    # Another step of the same learner is shuffled on its own.
    steps = {tuple(o.id for o in shown_order(items, 7, "quiz", f"q{n}")) for n in range(50)}
    assert len(steps) > 20


def test_pinned_items_stay_last_in_their_written_order() -> None:
    items = [option("none", "last"), option("a"), option("b"), option("all", "last"), option("c")]
    for learner in range(200):
        ids = [o.id for o in shown_order(items, learner, "quiz", "q1")]
        assert ids[-2:] == ["none", "all"] and sorted(ids[:3]) == ["a", "b", "c"]


def positions() -> list[tuple[str, list]]:
    """(where, items) for every question and every exercise choice step of the real curriculum
    whose best item is not pinned (a pinned answer is last by design)."""
    found = []
    for d in CONTENT.dialogs.values():
        for step in d.steps:
            if isinstance(step, QuestionStep):
                found.append((f"{d.id}/{step.id}", step.options, step.correct))
            elif isinstance(step, ChoicesStep) and len(step.choices) > 1:
                best = max(step.choices, key=lambda c: c.score)
                if sum(c.score == best.score for c in step.choices) == 1:
                    found.append((f"{d.id}/{step.id}", step.choices, best.id))
    return [(where, items, right) for where, items, right in found if not _pinned(items, right)]


def _pinned(items: list, right: str) -> bool:
    return next(i for i in items if i.id == right).pin == "last"


@pytest.mark.parametrize(("where", "items", "right"), positions(), ids=[p[0] for p in positions()])
def test_the_right_answer_is_spread_evenly_over_positions(where: str, items: list, right: str) -> None:
    dialog_id, step_id = where.split("/")
    free = sum(1 for i in items if i.pin != "last")
    seen = Counter(
        [i.id for i in shown_order(items, learner, dialog_id, step_id)].index(right)
        for learner in range(LEARNERS)
    )
    expected = LEARNERS / free
    for position in range(free):
        share = seen.get(position, 0)
        assert abs(share - expected) <= TOLERANCE * expected, (where, dict(seen))


def test_over_all_questions_every_position_gets_its_share() -> None:
    # The whole curriculum at once, by number of options: what a learner would notice over time.
    by_width: dict[int, Counter[int]] = {}
    for where, items, right in positions():
        dialog_id, step_id = where.split("/")
        free = sum(1 for i in items if i.pin != "last")
        counts = by_width.setdefault(free, Counter())
        for learner in range(LEARNERS):
            counts[[i.id for i in shown_order(items, learner, dialog_id, step_id)].index(right)] += 1
    assert by_width
    for free, counts in by_width.items():
        expected = sum(counts.values()) / free
        assert all(abs(counts[p] - expected) <= 0.05 * expected for p in range(free)), (free, counts)
