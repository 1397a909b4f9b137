"""The free-text rubric: which rules a learner's sentence earns.

Text and keywords go through safeguarding's `clean` (case, accents, apostrophes, punctuation,
letters typed three times), then apostrophes split words too, so « j'ai besoin », "j ai besoin"
and "jai besoin" are one keyword. A keyword of one or several words must cover whole words:
"liar" is not in "familiar". Whole words are not meaning: "ni wowe" is also in "Ni wowe
ukurikiraho" ("your turn"), so keywords must say the task, not a common phrase.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

from bot.care.phrases import clean
from bot.content import rules
from bot.content.errors import ContentError
from bot.content.models import Dialog, FreeTextStep, context
from bot.i18n import LANGUAGES, Catalogs


def words(text: str) -> list[str]:
    return clean(text).replace("'", " ").split()


@dataclass(frozen=True)
class Keywords:
    """One rule's keywords in one language, each as its words joined (spacing does not count)."""

    joined: frozenset[str]
    longest: int

    @classmethod
    @functools.cache
    def of(cls, keywords: tuple[str, ...]) -> Keywords:
        joined = frozenset(j for k in keywords if (j := "".join(words(k))))
        return cls(joined, max((len(j) for j in joined), default=0))

    def found_in(self, said: list[str]) -> bool:
        """Whether some run of whole words of `said` (the output of `words`) is a keyword."""
        for start in range(len(said)):
            window = ""
            for word in said[start:]:
                window += word
                if len(window) > self.longest:
                    break
                if window in self.joined:
                    return True
        return False


def matches(text: str, keywords: Iterable[str]) -> bool:
    return Keywords.of(tuple(keywords)).found_in(words(text))


def hits(step: FreeTextStep, lang: str, text: str) -> list[int]:
    """The indexes of the rubric rules whose keywords (in `lang`) the text contains."""
    said = words(text)
    return [
        i
        for i, rule in enumerate(step.rubric)
        if Keywords.of(tuple(rule.keywords.get(lang, []))).found_in(said)  # type: ignore[call-overload]
    ]


@rules.register
def model_answer_errors(name: str, d: Dialog, catalogs: Catalogs) -> list[ContentError]:
    """The step's own model answer must earn its praise rule in every language, or the rubric
    cannot recognise the very answer the exercise teaches."""
    errors = []
    for step in d.steps:
        if not isinstance(step, FreeTextStep):
            continue
        positive = [i for i, rule in enumerate(step.rubric) if rule.positive]
        if step.model_answer is None:
            if positive:
                errors.append(
                    ContentError(
                        name, step.id, "model_answer", "a rubric with a positive rule needs a model answer"
                    )
                )
            continue
        if not positive:
            errors.append(
                ContentError(
                    name, step.id, "rubric", "no rule is `positive: true` for the model answer to earn"
                )
            )
            continue
        for lang in LANGUAGES:
            answer = catalogs.lookup(lang, step.model_answer, context(d.id, step.id, "model_answer"))
            if answer is None and lang == "en":
                answer = step.model_answer
            if answer is None:
                continue  # reported as a missing translation
            if not any(i in positive for i in hits(step, lang, answer)):
                errors.append(
                    ContentError(
                        name,
                        step.id,
                        "model_answer",
                        f"{answer!r} earns no positive rubric rule: add the words it uses to that rule's "
                        "keywords, or reword it",
                        lang=lang,
                    )
                )
    return errors
