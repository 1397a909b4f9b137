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


# Buttons are shuffled per learner; "None of these" only reads right after the others.
Pin = Literal["last"]


class Choice(_Strict):
    id: Ident
    label: Text
    next: Ident
    score: int = 0
    feedback: Text | None = None
    pin: Pin | None = None


class Option(_Strict):
    id: Ident
    label: Text
    explanation: Text
    pin: Pin | None = None


class RubricRule(_Strict):
    """If the learner's text contains any keyword of their language (whole words), show the feedback.

    `positive` marks the praise rule: the step's model answer must earn it in every language.
    """

    keywords: dict[Literal["rw", "fr", "en"], list[Text]]
    feedback: Text
    positive: bool = False


class SayStep(_Strict):
    id: Ident
    type: Literal["say"]
    text: Text
    next: Ident
    # A card the learner reads before going on: shown with a "Next" button
    # instead of flooding a shared phone with several messages at once.
    pause: bool = False
    image: str | None = None
    # The same message in simpler words, shown to a learner who answers "?" or "I don't understand".
    simple: Text | None = None


class ChoicesStep(_Strict):
    id: Ident
    type: Literal["choices"]
    text: Text
    choices: list[Choice] = Field(min_length=1, max_length=10)
    simple: Text | None = None


class FreeTextStep(_Strict):
    id: Ident
    type: Literal["free_text"]
    text: Text
    rubric: list[RubricRule] = []
    fallback_feedback: Text | None = None
    model_answer: Text | None = None
    next: Ident
    simple: Text | None = None


class QuestionStep(_Strict):
    id: Ident
    type: Literal["question"]
    text: Text
    options: list[Option] = Field(min_length=2, max_length=10)
    correct: Ident
    next: Ident
    simple: Text | None = None


class EndStep(_Strict):
    id: Ident
    type: Literal["end"]
    text: Text


class Route(_Strict):
    min_score: int
    next: Ident


class RouteStep(_Strict):
    """Invisible: goes on at once to the first route whose `min_score` the run's score reaches,
    else to `next`. It lets an ending depend on how the learner chose."""

    id: Ident
    type: Literal["route"]
    routes: list[Route] = Field(min_length=1, max_length=10)
    next: Ident

    def pick(self, score: int) -> str:
        return next((r.next for r in self.routes if score >= r.min_score), self.next)


AnyStep = SayStep | ChoicesStep | FreeTextStep | QuestionStep | EndStep | RouteStep
Step = Annotated[AnyStep, Field(discriminator="type")]
Interactive = ChoicesStep | FreeTextStep | QuestionStep


class Dialog(_Strict):
    id: Ident
    kind: Kind
    title: Text
    summary: Text | None = None
    track: Ident | None = None
    order: int = 100
    pass_mark: int | None = Field(default=None, ge=0, le=100, description="percent of questions right")
    # Required for learner modules; checked against config/curriculum.yaml by the loader, so a
    # missing theme is reported with the file's other errors rather than refusing the whole file.
    theme: Ident | None = None
    # Question steps of this dialog asked before the content and again at the end (learning gain).
    pretest: list[Ident] = []
    steps: list[Step] = Field(min_length=1)

    @property
    def first_step(self) -> str:
        return self.steps[0].id

    def step(self, step_id: str) -> AnyStep:
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
            if isinstance(step, RouteStep):
                continue  # never shown
            yield step.id, "text", step.text
            if not isinstance(step, EndStep) and step.simple:
                yield step.id, "simple", step.simple
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
