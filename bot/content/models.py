"""The shape of a dialog file. Pydantic checks each field; `validate.py` checks the graph.

The source language is English. Every text field listed by `Dialog.texts()` is
a gettext message whose context is "<dialog id>/<step id>/<field>".
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Ident = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_]{0,39}$")]
Text = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]
Kind = Literal["exercise", "quiz", "lesson", "system"]
LANGS_KEYWORDS = ("rw", "fr", "en")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Choice(_Strict):
    id: Ident
    label: Text
    next: Ident
    score: int = 0
    feedback: Text | None = None


class Option(_Strict):
    id: Ident
    label: Text
    explanation: Text


class RubricRule(_Strict):
    """If the learner's text contains any keyword of their language, show the feedback."""

    keywords: dict[Literal["rw", "fr", "en"], list[Text]]
    feedback: Text


class SayStep(_Strict):
    id: Ident
    type: Literal["say"]
    text: Text
    next: Ident
    # A card the learner reads before going on: shown with a "Next" button
    # instead of flooding a shared phone with several messages at once.
    pause: bool = False
    image: str | None = None


class ChoicesStep(_Strict):
    id: Ident
    type: Literal["choices"]
    text: Text
    choices: list[Choice] = Field(min_length=1, max_length=10)


class FreeTextStep(_Strict):
    id: Ident
    type: Literal["free_text"]
    text: Text
    rubric: list[RubricRule] = []
    fallback_feedback: Text | None = None
    model_answer: Text | None = None
    next: Ident


class QuestionStep(_Strict):
    id: Ident
    type: Literal["question"]
    text: Text
    options: list[Option] = Field(min_length=2, max_length=10)
    correct: Ident
    next: Ident


class EndStep(_Strict):
    id: Ident
    type: Literal["end"]
    text: Text


Step = Annotated[
    SayStep | ChoicesStep | FreeTextStep | QuestionStep | EndStep,
    Field(discriminator="type"),
]
Interactive = ChoicesStep | FreeTextStep | QuestionStep


class Dialog(_Strict):
    id: Ident
    kind: Kind
    title: Text
    summary: Text | None = None
    track: Ident | None = None
    order: int = 100
    pass_mark: int | None = Field(default=None, ge=0, le=100, description="percent of questions right")
    steps: list[Step] = Field(min_length=1)

    @property
    def first_step(self) -> str:
        return self.steps[0].id

    def step(self, step_id: str) -> SayStep | ChoicesStep | FreeTextStep | QuestionStep | EndStep:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(f"{self.id}: no step {step_id!r}")

    def has_step(self, step_id: str) -> bool:
        return any(s.id == step_id for s in self.steps)

    @property
    def questions(self) -> list[QuestionStep]:
        return [s for s in self.steps if isinstance(s, QuestionStep)]

    @property
    def track_id(self) -> str:
        return self.track or self.kind

    def texts(self) -> Iterator[tuple[str, str, str]]:
        """Yield (step id, field, English text) for every translatable string."""
        yield "meta", "title", self.title
        if self.summary:
            yield "meta", "summary", self.summary
        for step in self.steps:
            yield step.id, "text", step.text
            if isinstance(step, ChoicesStep):
                for c in step.choices:
                    yield step.id, f"choices.{c.id}.label", c.label
                    if c.feedback:
                        yield step.id, f"choices.{c.id}.feedback", c.feedback
            elif isinstance(step, QuestionStep):
                for o in step.options:
                    yield step.id, f"options.{o.id}.label", o.label
                    yield step.id, f"options.{o.id}.explanation", o.explanation
            elif isinstance(step, FreeTextStep):
                for i, rule in enumerate(step.rubric):
                    yield step.id, f"rubric.{i}.feedback", rule.feedback
                if step.fallback_feedback:
                    yield step.id, "fallback_feedback", step.fallback_feedback
                if step.model_answer:
                    yield step.id, "model_answer", step.model_answer


def context(dialog_id: str, step_id: str, field: str) -> str:
    return f"{dialog_id}/{step_id}/{field}"


def is_label(field: str) -> bool:
    return field.endswith(".label")
