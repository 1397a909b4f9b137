"""The free-text rubric matches whole words after safeguarding's normalisation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.content.models import FreeTextStep
from bot.learning.rubric import Keywords, hits, matches, words


@pytest.mark.parametrize(
    ("text", "keywords", "expected"),
    [
        ("You liar!", ["liar"], True),
        ("You are a familiar face", ["liar"], False),
        ("Liars everywhere", ["liar"], False),
        ("Tu prends toujours tout !", ["tu prends toujours"], True),
        ("Tu   PRENDS\ttoujours", ["tu prends toujours"], True),
        ("tu ne prends pas toujours", ["tu prends toujours"], False),  # the words must be consecutive
        ("J’ai besoin de calme", ["j'ai besoin"], True),  # a curly apostrophe
        ("J ai besoin de calme", ["j'ai besoin"], True),
        ("jai besoin de calme", ["j'ai besoin"], True),  # SMS spelling
        ("Je me sens triste", ["je me sens"], True),
        ("Je me sentais triste", ["je me sens"], False),
        ("Ndumvaaa mbabaye", ["ndumva"], True),  # a letter held down
        ("NDUMVA", ["ndumva"], True),
        ("Nkeneye ko buri gihe tuganira", ["buri gihe uhora"], False),
        ("Buri gihe uhora untuka!", ["buri gihe uhora"], True),
        ("Je suis inquiète", ["je suis inquiete"], True),  # accents folded on both sides
        ("I'm worried", ["i'm worried"], True),
        ("Im worried", ["i'm worried"], True),
        ("", ["liar"], False),
        ("liar", [], False),
    ],
)
def test_keywords_match_on_whole_words(text: str, keywords: list[str], expected: bool) -> None:
    assert matches(text, keywords) is expected


def test_hits_are_the_rules_in_the_learners_language() -> None:
    step = FreeTextStep.model_validate(
        {
            "id": "practice",
            "type": "free_text",
            "text": "Write it",
            "next": "end",
            "rubric": [
                {
                    "positive": True,
                    "keywords": {"en": ["i feel"], "fr": ["je me sens"], "rw": ["ndumva"]},
                    "feedback": "Good",
                },
                {
                    "keywords": {"en": ["you always"], "fr": ["tu prends toujours"], "rw": ["uhora"]},
                    "feedback": "Blame",
                },
            ],
        }
    )
    assert hits(step, "en", "I feel sad because you always shout") == [0, 1]
    assert hits(step, "fr", "I feel sad") == []
    assert hits(step, "fr", "Je me sens seule, tu prends toujours tout") == [0, 1]
    assert hits(step, "rw", "Ndumva mbabaye") == [0]


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=400), keywords=st.lists(st.text(max_size=30), max_size=5))
def test_any_text_and_keywords_never_crash(text: str, keywords: list[str]) -> None:
    assert matches(text, keywords) in (True, False)


WORD = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    before=st.lists(WORD, max_size=4),
    keyword=st.lists(WORD, min_size=1, max_size=3),
    after=st.lists(WORD, max_size=4),
    glue=st.sampled_from([" ", ", ", "! ", " - ", "\n"]),
)
def test_a_keyword_among_other_words_is_found(
    before: list[str], keyword: list[str], after: list[str], glue: str
) -> None:
    text = glue.join([*before, " ".join(keyword).upper(), *after])
    assert matches(text, [" ".join(keyword)])


@settings(max_examples=300, deadline=None)
@given(prefix=WORD, keyword=WORD, suffix=st.text(alphabet="xyz", max_size=3))
def test_a_keyword_inside_a_longer_word_is_not_found(prefix: str, keyword: str, suffix: str) -> None:
    word = prefix + keyword + suffix
    if words(word) == words(keyword):
        return  # e.g. a letter held down: "liaaar" is "liar"
    assert not Keywords.of((keyword,)).found_in(words(word))
