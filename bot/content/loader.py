"""Load every dialog file and check it, naming the file, step and field or language.

The bot refuses to start when `load_content` reports errors, and
`python -m bot content check` prints the same list.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from bot.content import rules
from bot.content.curriculum import CURRICULUM_FILE, Curriculum
from bot.content.errors import ContentError
from bot.content.models import (
    ChoicesStep,
    Dialog,
    EndStep,
    FreeTextStep,
    QuestionStep,
    RouteStep,
    SayStep,
    context,
    is_label,
)
from bot.i18n import LANGUAGES, Catalogs, placeholders

__all__ = ["Content", "ContentError", "InvalidContent", "content_stats", "load_content"]

MAX_LABEL = 20  # WhatsApp quick-reply title limit, the tightest of our channels
MAX_MESSAGE = 1600  # WhatsApp body limit


@dataclass
class Content:
    """The validated dialogs, in menu order, with the file each came from."""

    dialogs: dict[str, Dialog] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def by_kind(self, kind: str) -> list[Dialog]:
        return sorted((d for d in self.dialogs.values() if d.kind == kind), key=lambda d: (d.order, d.id))

    def get(self, dialog_id: str) -> Dialog | None:
        return self.dialogs.get(dialog_id)


class InvalidContent(Exception):
    def __init__(self, errors: list[ContentError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def _step_id_at(raw: Any, index: Any) -> str:
    try:
        return str(raw["steps"][index]["id"])
    except (KeyError, IndexError, TypeError):
        return f"#{index + 1}" if isinstance(index, int) else str(index)


def _pydantic_errors(name: str, raw: Any, exc: ValidationError) -> list[ContentError]:
    errors = []
    for err in exc.errors():
        loc = list(err["loc"])
        step = None
        if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
            step = _step_id_at(raw, loc[1])
            loc = loc[2:]
            if loc and loc[0] in ("say", "choices", "free_text", "question", "end", "route") and len(loc) > 1:
                loc = loc[1:]  # the discriminator tag pydantic inserts
        errors.append(ContentError(name, step, ".".join(str(p) for p in loc) or None, err["msg"]))
    return errors


def _graph_errors(name: str, d: Dialog) -> list[ContentError]:
    errors: list[ContentError] = []
    ids = [s.id for s in d.steps]
    seen: set[str] = set()
    for sid in ids:
        if sid in seen:
            errors.append(ContentError(name, sid, "id", "duplicate step id"))
        seen.add(sid)

    edges: dict[str, list[str]] = {}
    for s in d.steps:
        targets: list[tuple[str, str]] = []
        if isinstance(s, SayStep | FreeTextStep | QuestionStep | RouteStep):
            targets.append(("next", s.next))
        if isinstance(s, RouteStep):
            targets += [(f"routes.{i}.next", r.next) for i, r in enumerate(s.routes)]
        if isinstance(s, ChoicesStep):
            cids = [c.id for c in s.choices]
            for dup in {c for c in cids if cids.count(c) > 1}:
                errors.append(ContentError(name, s.id, f"choices.{dup}", "duplicate choice id"))
            targets += [(f"choices.{c.id}.next", c.next) for c in s.choices]
        if isinstance(s, QuestionStep):
            oids = [o.id for o in s.options]
            for dup in {o for o in oids if oids.count(o) > 1}:
                errors.append(ContentError(name, s.id, f"options.{dup}", "duplicate option id"))
            if s.correct not in oids:
                errors.append(
                    ContentError(name, s.id, "correct", f"'{s.correct}' is not one of the options {oids}")
                )
        for fld, target in targets:
            if target not in seen:
                errors.append(ContentError(name, s.id, fld, f"next step '{target}' does not exist"))
        edges[s.id] = [t for _, t in targets if t in seen]

    reachable = {d.first_step}
    todo = [d.first_step]
    while todo:
        for t in edges.get(todo.pop(), []):
            if t not in reachable:
                reachable.add(t)
                todo.append(t)
    for s in d.steps:
        if s.id not in reachable:
            errors.append(
                ContentError(name, s.id, None, "unreachable: no path from the first step leads here")
            )

    # A step is live if some path from it reaches an end step; anything else is a dead end.
    live = {s.id for s in d.steps if isinstance(s, EndStep)}
    changed = True
    while changed:
        changed = False
        for sid, targets in edges.items():
            if sid not in live and any(t in live for t in targets):
                live.add(sid)
                changed = True
    for s in d.steps:
        if s.id not in live and s.id in reachable:
            errors.append(
                ContentError(name, s.id, None, "dead end: no path from this step reaches an end step")
            )
    if not live:
        errors.append(ContentError(name, None, "steps", "the dialog has no end step"))
    errors += rules.automatic_cycles(name, d, edges)
    errors += rules.route_order(name, d)

    if d.kind == "quiz":
        if d.pass_mark is None:
            errors.append(ContentError(name, None, "pass_mark", "a quiz needs a pass_mark (percent)"))
        if not d.questions:
            errors.append(ContentError(name, None, "steps", "a quiz needs at least one question step"))
    for s in d.steps:
        if isinstance(s, FreeTextStep):
            for i, rule in enumerate(s.rubric):
                for lang in LANGUAGES:
                    if not rule.keywords.get(lang):
                        errors.append(
                            ContentError(name, s.id, f"rubric.{i}.keywords", "no keywords", lang=lang)
                        )
    return errors


def _translation_errors(name: str, d: Dialog, catalogs: Catalogs) -> list[ContentError]:
    errors = []
    for step_id, fld, text in d.texts():
        step = None if step_id == "meta" else step_id
        ctx = context(d.id, step_id, fld)
        for lang in LANGUAGES:
            translated = catalogs.lookup(lang, text, ctx)
            if translated is None and lang == "en":
                translated = text  # English is the source: an empty en entry means "as written"
            if translated is None:
                errors.append(ContentError(name, step, fld, "missing translation", lang=lang))
                continue
            if placeholders(translated) != placeholders(text):
                errors.append(
                    ContentError(
                        name,
                        step,
                        fld,
                        f"placeholders {sorted(placeholders(translated))} differ from "
                        f"the English {sorted(placeholders(text))}",
                        lang=lang,
                    )
                )
            if is_label(fld) and len(translated) > MAX_LABEL:
                errors.append(
                    ContentError(
                        name,
                        step,
                        fld,
                        f"button label is {len(translated)} characters, over {MAX_LABEL}: {translated!r}",
                        lang=lang,
                    )
                )
            if len(translated) > MAX_MESSAGE:
                errors.append(
                    ContentError(
                        name,
                        step,
                        fld,
                        f"text is {len(translated)} characters, over {MAX_MESSAGE}",
                        lang=lang,
                    )
                )
    return errors


def load_dialog_file(path: Path, root: Path | None = None) -> tuple[Dialog | None, list[ContentError]]:
    name = str(path.relative_to(root)) if root and path.is_relative_to(root) else str(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return None, [
            ContentError(name, None, None, f"not valid YAML{where}: {getattr(exc, 'problem', exc)}")
        ]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ContentError(name, None, None, f"cannot read the file: {exc}")]
    if not isinstance(raw, dict):
        return None, [
            ContentError(name, None, None, "the file must be a mapping with id, kind, title, steps")
        ]
    try:
        dialog = Dialog.model_validate(raw)
    except ValidationError as exc:
        return None, _pydantic_errors(name, raw, exc)
    return dialog, _graph_errors(name, dialog)


def load_content(
    dialogs_dir: Path,
    catalogs: Catalogs,
    files: Iterable[Path] | None = None,
    curriculum: Curriculum | None = None,
) -> tuple[Content, list[ContentError]]:
    """Read and check all dialogs. Returns what loaded and every error found."""
    content = Content()
    errors: list[ContentError] = []
    if curriculum is None:
        try:
            curriculum = Curriculum.load()
        except (OSError, ValueError, yaml.YAMLError) as exc:
            errors.append(
                ContentError(str(CURRICULUM_FILE), None, None, f"cannot read the curriculum: {exc}")
            )
            curriculum = Curriculum()
    paths = sorted(files) if files is not None else sorted(dialogs_dir.rglob("*.yaml"))
    root = dialogs_dir.parent
    for path in paths:
        dialog, errs = load_dialog_file(path, root)
        errors += errs
        if dialog is None:
            continue
        name = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        if dialog.id in content.dialogs:
            errors.append(
                ContentError(
                    name, None, "id", f"dialog id '{dialog.id}' is also used by {content.files[dialog.id]}"
                )
            )
            continue
        errors += _translation_errors(name, dialog, catalogs)
        errors += rules.module_errors(name, dialog, curriculum)
        errors += rules.answer_word_errors(name, dialog, catalogs, curriculum)
        errors += rules.registered(name, dialog, catalogs)
        content.dialogs[dialog.id] = dialog
        content.files[dialog.id] = name
    if not paths:
        errors.append(ContentError(str(dialogs_dir), None, None, "no dialog files (*.yaml) found"))
    return content, errors


def _branches(content: Content) -> int:
    """Choice steps where the learner's choice changes what happens next."""
    return sum(
        1
        for d in content.dialogs.values()
        for s in d.steps
        if isinstance(s, ChoicesStep) and len({c.next for c in s.choices}) >= 2
    )


def _modules_per_theme(content: Content, curriculum: Curriculum | None) -> dict[str, int]:
    # Every theme of the curriculum is listed, so a theme with no module shows as 0.
    counts = dict.fromkeys(curriculum.themes if curriculum else (), 0)
    for d in content.dialogs.values():
        if d.kind != "system" and d.theme:
            counts[d.theme] = counts.get(d.theme, 0) + 1
    return counts


def content_stats(
    content: Content, catalogs: Catalogs, curriculum: Curriculum | None = None
) -> dict[str, Any]:
    if curriculum is None:
        try:
            curriculum = Curriculum.load()
        except (OSError, ValueError, yaml.YAMLError):
            curriculum = None  # `content check` names the problem; the counts still help
    total = 0
    translated = dict.fromkeys(LANGUAGES, 0)
    for d in content.dialogs.values():
        for step_id, fld, text in d.texts():
            total += 1
            for lang in LANGUAGES:
                ok = lang == "en" or catalogs.lookup(lang, text, context(d.id, step_id, fld)) is not None
                translated[lang] += ok
    quizzes = content.by_kind("quiz")
    return {
        "exercises": len(content.by_kind("exercise")),
        "quizzes": len(quizzes),
        "quiz_questions": sum(len(q.questions) for q in quizzes),
        "lessons": len(content.by_kind("lesson")),
        "system": len(content.by_kind("system")),
        "branches": _branches(content),
        "pretest_items": sum(len(d.pretest) for d in content.dialogs.values()),
        "modules_per_theme": _modules_per_theme(content, curriculum),
        "languages": {
            lang: {
                "translated": translated[lang],
                "total": total,
                "percent": round(100 * translated[lang] / total, 1) if total else 100.0,
            }
            for lang in LANGUAGES
        },
    }
