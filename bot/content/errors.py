"""A content error names the file, and where it can the step, the field and the language."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ContentError:
    file: str
    step: str | None
    field: str | None
    message: str
    lang: str | None = None

    def __str__(self) -> str:
        where = [self.file]
        if self.step:
            where.append(f"step '{self.step}'")
        if self.field:
            where.append(f"field '{self.field}'")
        if self.lang:
            where.append(f"language '{self.lang}'")
        return ", ".join(where) + f": {self.message}"
