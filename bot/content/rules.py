"""Teaching rules on top of the schema and the graph: themes, pre-tests, routes, lessons that
lecture, quizzes too short to be fair, and feedback that repeats the engine's verdict."""

from __future__ import annotations

from collections.abc import Callable

from bot.content.curriculum import Curriculum
from bot.content.errors import ContentError
from bot.content.models import ChoicesStep, Dialog, FreeTextStep, QuestionStep, RouteStep, SayStep, context
from bot.i18n import LANGUAGES, Catalogs

MAX_SAYS_IN_A_ROW = 2  # in a lesson: then a question or a choice, or it is a lecture
MIN_QUIZ_QUESTIONS = 5  # with fewer, one slip fails a 70% pass mark
PRETEST_SIZE = (2, 3)

# Checks that need another package's knowledge (the rubric matcher lives in bot.learning, which
# this package may not import: the core imports content). The owner registers them at import.
Check = Callable[[str, Dialog, Catalogs], list[ContentError]]
_CHECKS: list[Check] = []


def register(check: Check) -> Check:
    if check not in _CHECKS:
        _CHECKS.append(check)
    return check


def registered(name: str, d: Dialog, catalogs: Catalogs) -> list[ContentError]:
    return [e for check in _CHECKS for e in check(name, d, catalogs)]


def automatic_cycles(name: str, d: Dialog, edges: dict[str, list[str]]) -> list[ContentError]:
    """Routes and plain say steps go on without the learner: a loop made only of them never ends."""
    auto = {s.id for s in d.steps if isinstance(s, RouteStep) or (isinstance(s, SayStep) and not s.pause)}
    errors: list[ContentError] = []
    state: dict[str, str] = {}

    def visit(sid: str, path: list[str]) -> None:
        state[sid] = "open"
        for t in edges.get(sid, []):
            if t not in auto:
                continue
            if state.get(t) == "open":
                loop = [*path[path.index(t) :], t]
                errors.append(
                    ContentError(
                        name,
                        t,
                        None,
                        "a loop with no question in it: "
                        + " → ".join(loop)
                        + " (the learner is never asked)",
                    )
                )
            elif t not in state:
                visit(t, [*path, t])
        state[sid] = "done"

    for sid in sorted(auto):
        if sid not in state:
            visit(sid, [sid])
    return errors


def route_order(name: str, d: Dialog) -> list[ContentError]:
    """First match wins, so a route after one with a lower or equal min_score is never taken."""
    errors = []
    for s in d.steps:
        if not isinstance(s, RouteStep):
            continue
        for i, route in enumerate(s.routes):
            shadow = next((j for j in range(i) if s.routes[j].min_score <= route.min_score), None)
            if shadow is not None:
                errors.append(
                    ContentError(
                        name,
                        s.id,
                        f"routes.{i}.min_score",
                        f"never taken: route {shadow} (min_score {s.routes[shadow].min_score}) already "
                        "matches; list routes from the highest min_score down",
                    )
                )
    return errors


def module_errors(name: str, d: Dialog, curriculum: Curriculum) -> list[ContentError]:
    return [
        *_theme(name, d, curriculum),
        *_pretest(name, d),
        *_lecture(name, d),
        *_quiz_size(name, d),
    ]


def _theme(name: str, d: Dialog, curriculum: Curriculum) -> list[ContentError]:
    if d.kind == "system":
        if d.theme is not None:
            return [ContentError(name, None, "theme", "a system dialog has no theme")]
        return []
    if d.theme is None:
        return [
            ContentError(
                name, None, "theme", f"{_a(d.kind)} needs a theme, one of {', '.join(curriculum.themes)}"
            )
        ]
    if d.theme not in curriculum.themes:
        return [
            ContentError(
                name,
                None,
                "theme",
                f"'{d.theme}' is not a theme of config/curriculum.yaml ({', '.join(curriculum.themes)})",
            )
        ]
    return []


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


def _pretest(name: str, d: Dialog) -> list[ContentError]:
    if not d.pretest:
        return []
    if d.kind not in ("lesson", "quiz"):
        return [
            ContentError(name, None, "pretest", f"only a lesson or a quiz has a pretest, not {_a(d.kind)}")
        ]
    errors = []
    low, high = PRETEST_SIZE
    if not low <= len(d.pretest) <= high:
        errors.append(
            ContentError(name, None, "pretest", f"{len(d.pretest)} items: a pretest has {low} to {high}")
        )
    questions = {q.id for q in d.questions}
    for i, item in enumerate(d.pretest):
        if item in d.pretest[:i]:
            errors.append(ContentError(name, item, f"pretest.{i}", f"'{item}' is listed twice"))
        elif item not in questions:
            errors.append(
                ContentError(name, item, f"pretest.{i}", f"'{item}' is not a question step of this {d.kind}")
            )
    return errors


def _lecture(name: str, d: Dialog) -> list[ContentError]:
    if d.kind != "lesson":
        return []
    says = {s.id: s for s in d.steps if isinstance(s, SayStep)}
    follows_a_say = {s.next for s in says.values()}
    errors = []
    for start in says:
        if start in follows_a_say:
            continue  # not the first card of a run
        run = [start]
        while (nxt := says[run[-1]].next) in says and nxt not in run:
            run.append(nxt)
        if len(run) > MAX_SAYS_IN_A_ROW:
            errors.append(
                ContentError(
                    name,
                    run[MAX_SAYS_IN_A_ROW],
                    "type",
                    f"{len(run)} say steps in a row ({' → '.join(run)}): put a question or a choice "
                    f"after at most {MAX_SAYS_IN_A_ROW}",
                )
            )
    return errors


def _quiz_size(name: str, d: Dialog) -> list[ContentError]:
    if d.kind == "quiz" and 0 < len(d.questions) < MIN_QUIZ_QUESTIONS:
        return [
            ContentError(
                name,
                None,
                "steps",
                f"a quiz needs at least {MIN_QUIZ_QUESTIONS} questions, this one has {len(d.questions)}",
            )
        ]
    return []


def verdict_fields(d: Dialog) -> list[tuple[str, str, str]]:
    """(step id, field, English text) of every explanation and feedback the engine shows after
    its own verdict ("✅ Right!", "❌ Not quite.") or as a reply to the learner's answer."""
    found = []
    for s in d.steps:
        if isinstance(s, QuestionStep):
            found += [(s.id, f"options.{o.id}.explanation", o.explanation) for o in s.options]
        elif isinstance(s, ChoicesStep):
            found += [(s.id, f"choices.{c.id}.feedback", c.feedback) for c in s.choices if c.feedback]
        elif isinstance(s, FreeTextStep):
            found += [(s.id, f"rubric.{i}.feedback", r.feedback) for i, r in enumerate(s.rubric)]
    return found


def answer_word_errors(
    name: str, d: Dialog, catalogs: Catalogs, curriculum: Curriculum
) -> list[ContentError]:
    errors = []
    for step_id, fld, text in verdict_fields(d):
        for lang in LANGUAGES:
            said = catalogs.lookup(lang, text, context(d.id, step_id, fld))
            if said is None and lang == "en":
                said = text
            word = curriculum.opening_answer_word(said) if said else None
            if word is not None:
                errors.append(
                    ContentError(
                        name,
                        step_id,
                        fld,
                        f"opens with the answer word {word!r}: the engine already says right or wrong, "
                        "so start with the reason",
                        lang=lang,
                    )
                )
    return errors
