"""Shared fixtures: a real bot on a real SQLite file in a temporary directory."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.config import Settings
from bot.messages import Inbound, Outbound

# The sample modules the engine tests walk: one per track, so that finishing one finishes its
# track. The curriculum can grow without changing these tests; tests/test_curriculum.py
# walks the real, full dialogs directory.
SAMPLE_DIALOGS = [
    "system/welcome.yaml",
    "system/help.yaml",
    "exercises/water_point.yaml",
    "quizzes/interests_positions.yaml",
    "lessons/abunzi.yaml",
]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    dialogs = tmp_path / "dialogs"
    for name in SAMPLE_DIALOGS:
        (dialogs / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(Settings().dialogs_dir / name, dialogs / name)
    return Settings(database_url=f"sqlite:///{tmp_path / 'clubspeak.db'}", dialogs_dir=dialogs)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[App]:
    app = await App.create(settings)
    try:
        yield app
    finally:
        await app.close()


def best(app: App, dialog_id: str, step_id: str) -> str:
    """The id of a step's right option (a question) or best-scored choice (an exercise step)."""
    dialog = app.engine.content.get(dialog_id)
    assert dialog is not None, dialog_id
    step = dialog.step(step_id)
    correct = getattr(step, "correct", None)
    if correct is not None:
        return correct
    return max(step.choices, key=lambda c: c.score).id  # type: ignore[union-attr]


def best_label(app: App, lang: str, dialog_id: str, step_id: str) -> str:
    """The best answer's button label, in `lang`."""
    dialog = app.engine.content.get(dialog_id)
    assert dialog is not None, dialog_id
    step = dialog.step(step_id)
    best_id = best(app, dialog_id, step_id)
    field = "options" if getattr(step, "correct", None) is not None else "choices"
    items = step.options if field == "options" else step.choices  # type: ignore[union-attr]
    source = next(i.label for i in items if i.id == best_id)
    return app.engine.catalogs.gettext(lang, source, f"{dialog_id}/{step_id}/{field}.{best_id}.label")


class Chat:
    """Talk to the engine as one user and read back what it queued for them."""

    def __init__(
        self, app: App, address: str = "learner-1", channel: str = "console", language_code: str | None = None
    ):
        self.app = app
        self.address = address
        self.channel = channel
        self.language_code = language_code
        self.last: list[Outbound] = []
        self._n = 0

    async def send(self, text: str | None = None, payload: str | None = None, **extra) -> list[Outbound]:
        self._n += 1
        inbound = Inbound(
            self.channel,
            self.address,
            text=text,
            payload=payload,
            external_id=extra.pop("external_id", f"{self.address}-{self._n}"),
            language_code=self.language_code,
            **extra,
        )
        self.last = await self.app.engine.handle(inbound) or []
        return self.last

    async def tap(self, label_or_index: str | int) -> list[Outbound]:
        """Tap a button of the last message that had buttons, by label or 1-based index."""
        prompt = next(m for m in reversed(self.last) if m.choices)
        if isinstance(label_or_index, int):
            choice = prompt.choices[label_or_index - 1]
        else:
            choice = next(c for c in prompt.choices if c.label.endswith(label_or_index))
        return await self.send(payload=choice.id)

    async def onboard(self, language: int = 3, age: int = 3, consent: int = 1) -> list[Outbound]:
        """Hello → language (1 rw, 2 fr, 3 en) → age band → consent; ends at the main menu."""
        await self.send("hello")
        await self.tap(language)
        await self.tap(age)
        return await self.tap(consent)

    async def screen(self) -> tuple[str, str]:
        """The (dialog, step) this user is on."""
        rows = await self.app.db.conn.execute_fetchall(
            "SELECT s.dialog_id, s.step_id FROM dialog_state s JOIN users u ON u.id = s.user_id "
            "WHERE u.channel = ? AND u.address = ?",
            (self.channel, self.address),
        )
        return rows[0][0], rows[0][1]

    async def answer(self, right: bool = True) -> list[Outbound]:
        """Tap the right (or a wrong) answer on screen, wherever the learner's shuffle put it: the
        right option of a question, the best-scored choice of an exercise step."""
        dialog_id, step_id = await self.screen()
        best_id = best(self.app, dialog_id, step_id)
        prompt = next(m for m in reversed(self.last) if m.choices)
        choice = next(c for c in prompt.choices if (c.id.split(".", 1)[-1] == best_id) == right)
        return await self.send(payload=choice.id)

    @property
    def texts(self) -> str:
        return "\n".join(m.text for m in self.last)


@pytest.fixture
def chat(app: App) -> Chat:
    return Chat(app)
