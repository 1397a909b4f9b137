"""A learner flags a message as unclear: "?", "I don't understand", « je ne comprends pas », "sinumva".

On a content step (a question, a choice, a free-text task, a card with "Next") the flag gets:
1. the step's message again in simpler words, where the content gives them (its `simple:` text),
   with the same buttons;
2. else (or when the simpler words did not help either) the offer to read the same message in
   another language, buttons with each other language's name in that language. The chosen
   language shows the message once, its options numbered in the order the buttons are shown;
   the learner's language setting stays as it was, and the step's buttons come again.

Every flag is logged as an `unclear` event with the message's msgctxt and the learner's language:
the dashboard's list of the most-flagged texts (bot/stats/dashboard/unclear.py) is the native
reviewers' work queue. Outside a content step "?" keeps doing what it did (the screen's own answer).

The phrases live in config/unclear.yaml, per language, matched on the whole message after the
normalisation of command keywords.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot.config import PROJECT_ROOT
from bot.content.models import ChoicesStep, Dialog, FreeTextStep, QuestionStep, context
from bot.core.intents import match_choice, normalise
from bot.core.turn import Turn
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_
from bot.learning import runner
from bot.learning.shuffle import shown_order
from bot.messages import Choice

UNCLEAR_FILE = PROJECT_ROOT / "config" / "unclear.yaml"
SCREEN = "unclear"
EVENT = "unclear"
_OFFER = "unclear"  # turn.data: what the language offer interrupted (the step's own buttons)
_SIMPLIFIED = "unclear_simple"  # turn.data: the prompt already shown in simpler words
_CHOICE_PREFIX = "lang_"  # never a content id that a stale language button could be taken for

OFFER_TEXT = N_("Do you want to read it in another language? Your language setting stays the same.")
SIMPLER = N_("In simpler words: {text}")
PICK_ANSWER = N_("Tap a button or send its number.")
WRITE_ANSWER = N_("Write your answer when you are ready.")

_QUESTION_MARKS = re.compile(r"^[\s?？¿؟⁇⁈]+$")
_APOSTROPHES = str.maketrans(dict.fromkeys("’‘ʼ`´′", "'"))


def _key(text: str) -> str:
    return normalise(text.translate(_APOSTROPHES))


@dataclass(frozen=True)
class Phrases:
    """The words that flag a message as unclear, per language."""

    by_lang: dict[str, frozenset[str]]

    @classmethod
    def load(cls, path: Path = UNCLEAR_FILE) -> Phrases:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
        phrases = data.get("phrases") if isinstance(data, dict) else None
        if not isinstance(phrases, dict):
            raise ValueError(f"{path}: expected `phrases:` with a list per language")
        unknown = set(phrases) - set(LANGUAGES)
        if unknown:
            raise ValueError(f"{path}: phrases: unknown languages {sorted(unknown)}")
        by_lang = {}
        for lang in LANGUAGES:
            keys = frozenset(_key(str(p)) for p in phrases.get(lang) or [])
            if "" in keys:
                raise ValueError(f"{path}: phrases.{lang}: a phrase that is only punctuation")
            by_lang[lang] = keys
        return cls(by_lang)

    def match(self, text: str) -> bool:
        """The whole message says "I don't understand" (in any of the languages), or is "?"."""
        if text.strip() and _QUESTION_MARKS.match(text):
            return True
        said = _key(text)
        return bool(said) and any(said in keys for keys in self.by_lang.values())


def flags(phrases: Phrases, turn: Turn, text: str | None) -> bool:
    """Typed text that flags the current step as unclear; a button's own label stays an answer."""
    if text is None or not phrases.match(text):
        return False
    return match_choice(text, turn.offered()) is None


def explain(turn: Turn, d: Dialog) -> None:
    """The current step again, in simpler words if the content gives them; else the language offer."""
    step = d.step(turn.state.step_id or d.first_step)
    turn.event(EVENT, d.id, step.id, context=context(d.id, step.id, "text"), lang=turn.lang)
    simple = getattr(step, "simple", None)
    shown = f"{d.id}/{step.id}/{turn.state.prompt_seq}"
    if simple and turn.data.get(_SIMPLIFIED) != shown:
        turn.data[_SIMPLIFIED] = shown  # asked again on this same prompt: the other languages
        text = turn.content_text(d.id, step.id, "simple", simple)
        runner.prompt(turn, d, new_prompt=False, text=turn._(SIMPLER).format(text=text))
        return
    offer_languages(turn, d)


def offer_languages(turn: Turn, d: Dialog) -> None:
    turn.data[_OFFER] = {
        "dialog": d.id,
        "step": turn.state.step_id,
        "offer": turn.data.get("offer", []),
        "question": turn.data.get("question"),
    }
    others = [Choice(_CHOICE_PREFIX + lang, LANGUAGE_NAMES[lang]) for lang in LANGUAGES if lang != turn.lang]
    turn.ask(turn._(OFFER_TEXT), SCREEN, others)


def _in_language(turn: Turn, d: Dialog, lang: str) -> str:
    """The current step's message in `lang`, its options numbered as the buttons are shown."""
    step = d.step(turn.state.step_id or d.first_step)

    def said(field: str, source: str) -> str:
        return turn.catalogs.gettext(lang, source, context(d.id, step.id, field))

    lines = [f"{LANGUAGE_NAMES[lang]}:", said("text", step.text)]
    if isinstance(step, ChoicesStep):
        items = shown_order(step.choices, turn.user.id, d.id, step.id)
        lines += [f"{n}. {said(f'choices.{c.id}.label', c.label)}" for n, c in enumerate(items, 1)]
    elif isinstance(step, QuestionStep):
        items = shown_order(step.options, turn.user.id, d.id, step.id)
        lines += [f"{n}. {said(f'options.{o.id}.label', o.label)}" for n, o in enumerate(items, 1)]
    text = "\n".join(lines)
    if isinstance(step, ChoicesStep | QuestionStep):
        text += "\n\n" + turn._(PICK_ANSWER)
    elif isinstance(step, FreeTextStep):
        text += "\n\n" + turn._(WRITE_ANSWER)
    return text


async def answer_offer(phrases: Phrases, turn: Turn, text: str | None, choice: Choice | None) -> bool:
    """On the language offer: a language shows the message in it, then the step's buttons again.
    Anything else typed there is an answer to the step itself, as if the offer had not come."""
    waiting = turn.data.pop(_OFFER, None) or {}
    d = turn.content.get(turn.state.dialog_id or "")
    if d is None or waiting.get("dialog") != d.id or waiting.get("step") != turn.state.step_id:
        # Nothing left to come back to (the module moved on): where the learner is now.
        turn.data["screen"], turn.data["offer"] = None, []
        if d is None or not turn.state.step_id:
            return False
        runner.prompt(turn, d)
        return True
    if choice is not None and choice.id.startswith(_CHOICE_PREFIX):
        lang = choice.id.removeprefix(_CHOICE_PREFIX)
        turn.event("unclear_language", d.id, turn.state.step_id, lang=lang)
        runner.prompt(turn, d, new_prompt=False, text=_in_language(turn, d, lang))
        return True
    if flags(phrases, turn, text):  # still not clear: the offer once more
        turn.data[_OFFER] = waiting
        turn.ask(turn._(OFFER_TEXT), SCREEN, turn.offered(), new_prompt=False)
        return True
    # Back on the step, with its own buttons, so that a typed "2" or a written answer counts there.
    turn.data["screen"] = "dialog"
    turn.data["offer"] = waiting.get("offer", [])
    turn.data["question"] = waiting.get("question")
    return await runner.answer(turn, d, text, None)
