"""Early warning's configuration: the report taxonomy, the verification checklist, and the
administrative areas of each country (config/areas/<country>.yaml), checked at start.

A mistake in a file names the file and the field, and stops the bot from starting.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.config import ConfigError


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z][a-z0-9_]{0,23}$")
    label: str = Field(min_length=1, max_length=60)
    peace: bool = False


class _ReportsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    types: list[Label] = Field(min_length=1, max_length=9)  # 9 and "Back" fill a WhatsApp list
    checklist: list[Label] = Field(min_length=1)
    claim_minutes: int = Field(15, ge=1, le=240)
    duplicate_hours: int = Field(48, ge=1, le=24 * 30)
    min_area_reports: int = Field(3, ge=1)
    trusted_after: int = Field(5, ge=1)

    @field_validator("types", "checklist")
    @classmethod
    def _unique(cls, value: list[Label]) -> list[Label]:
        ids = [item.id for item in value]
        if len(set(ids)) != len(ids):
            raise ValueError(f"ids must be unique, got {ids}")
        return value


class _Names(BaseModel):
    model_config = ConfigDict(extra="forbid")
    en: str
    fr: str
    rw: str


class _Area(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=40)
    centroid: tuple[float, float]
    children: list[str] = Field(min_length=1)


class _CountryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    country: str = Field(pattern=r"^[A-Z]{2}$")
    name: _Names
    level1: _Names
    level2: _Names
    areas: list[_Area] = Field(min_length=1)


@dataclass(frozen=True)
class Area:
    name: str
    centroid: tuple[float, float]  # approximate: for maps and to place a shared location
    children: tuple[str, ...]


@dataclass(frozen=True)
class Country:
    code: str
    names: dict[str, str]
    level1: dict[str, str]
    level2: dict[str, str]
    areas: tuple[Area, ...]

    def area(self, name: str) -> Area | None:
        return next((a for a in self.areas if a.name == name), None)

    def nearest(self, lat: float, lon: float) -> Area:
        """The level-1 area whose centre is nearest: a shared location becomes an area, and the
        coordinates go no further."""
        return min(self.areas, key=lambda a: _distance((lat, lon), a.centroid))


def _distance(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = (tuple(map(math.radians, p)) for p in (a, b))
    x = (lon2 - lon1) * math.cos((lat1 + lat2) / 2)
    return math.hypot(x, lat2 - lat1)


@dataclass(frozen=True)
class EarlyWarning:
    """What early warning is configured with; a service handlers look up by type."""

    types: tuple[Label, ...]
    checklist: tuple[Label, ...]
    countries: tuple[Country, ...]
    open_to_all: bool = False  # REPORTS_OPEN=1: anyone may report, not only granted reporters
    claim_minutes: int = 15
    duplicate_hours: int = 48
    min_area_reports: int = 3
    trusted_after: int = 5

    def type(self, type_id: str) -> Label | None:
        return next((t for t in self.types if t.id == type_id), None)

    def country(self, code: str) -> Country | None:
        return next((c for c in self.countries if c.code == code), None)

    def nearest(self, lat: float, lon: float) -> tuple[Country, Area]:
        """The level-1 area, in any country, whose centre is nearest to a shared location."""
        return min(
            ((c, c.nearest(lat, lon)) for c in self.countries),
            key=lambda pair: _distance((lat, lon), pair[1].centroid),
        )

    def is_peace(self, type_id: str) -> bool:
        found = self.type(type_id)
        return bool(found and found.peace)

    @classmethod
    def load(cls, reports_file: Path, areas_dir: Path, open_to_all: bool = False) -> EarlyWarning:
        data = _read(reports_file, _ReportsFile)
        countries = []
        for path in sorted(areas_dir.glob("*.yaml")):
            parsed = _read(path, _CountryFile)
            names = [a.name for a in parsed.areas]
            if len(set(names)) != len(names):
                raise ConfigError(f"{path}: areas: two areas have the same name")
            countries.append(
                Country(
                    parsed.country,
                    parsed.name.model_dump(),
                    parsed.level1.model_dump(),
                    parsed.level2.model_dump(),
                    tuple(Area(a.name, a.centroid, tuple(a.children)) for a in parsed.areas),
                )
            )
        if not countries:
            raise ConfigError(f"{areas_dir}: no country file (e.g. rw.yaml) with its areas")
        return cls(
            tuple(data.types),
            tuple(data.checklist),
            tuple(countries),
            open_to_all,
            data.claim_minutes,
            data.duplicate_hours,
            data.min_area_reports,
            data.trusted_after,
        )


def _read(path: Path, model: type[Any]) -> Any:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return model.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ConfigError(f"{path}: {problems}") from None


def extract_labels(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """Babel extractor for config/reports.yaml: each type and checklist label, with msgctxt
    "report type" or "report checklist", so staff-added labels reach the translators."""
    data = _ReportsFile.model_validate(yaml.safe_load(fileobj.read().decode("utf-8")))
    for lineno, item in enumerate(data.types, start=1):
        yield lineno, "pgettext", (TYPE_CONTEXT, item.label), []
    for lineno, item in enumerate(data.checklist, start=100):
        yield lineno, "pgettext", (CHECKLIST_CONTEXT, item.label), []


TYPE_CONTEXT = "report type"
CHECKLIST_CONTEXT = "report checklist"
