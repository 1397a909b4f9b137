"""The order a learner sees a step's options or choices in.

Authors put the best answer anywhere; each learner sees the same step the same way every time
(a resumed question does not move under their thumb), and different learners see different
orders, so the position gives nothing away. `pin: last` items ("None of these") stay last.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Pinnable(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def pin(self) -> str | None: ...


T = TypeVar("T", bound=Pinnable)


def _rank(learner: int | str, dialog_id: str, step_id: str, item_id: str) -> bytes:
    # A hash per item, not a seeded shuffle: the same on every Python, and adding an option
    # to a question keeps the others' relative order for learners who already saw it.
    return hashlib.sha256(f"{learner}\x1f{dialog_id}\x1f{step_id}\x1f{item_id}".encode()).digest()


def shown_order(items: Sequence[T], learner: int | str, dialog_id: str, step_id: str) -> list[T]:
    free = [i for i in items if i.pin != "last"]
    pinned = [i for i in items if i.pin == "last"]
    return sorted(free, key=lambda i: _rank(learner, dialog_id, step_id, i.id)) + pinned
