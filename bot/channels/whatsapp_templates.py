"""WhatsApp Content templates: which approved template carries which message, per language.

The file is staff-edited YAML (see config/whatsapp_templates.yaml); a mistake in it names the
file and the key, and stops the bot from starting rather than failing at 3 a.m. on a send.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from bot.config import ConfigError

SID = re.compile(r"^HX[0-9a-fA-F]{32}$")


class _Template(BaseModel):
    model_config = ConfigDict(extra="forbid")
    variables: list[str] = []
    content_sid: dict[str, str] = {}

    @field_validator("content_sid")
    @classmethod
    def _sids(cls, value: dict[str, str]) -> dict[str, str]:
        for lang, sid in value.items():
            if lang not in ("rw", "fr", "en"):
                raise ValueError(f"language {lang!r} is not rw, fr or en")
            if not SID.match(str(sid)):
                raise ValueError(f"{lang}: {sid!r} is not a Content sid (HX followed by 32 hex digits)")
        return value


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")
    templates: dict[str, _Template] = {}
    quick_reply: dict[int, str] = {}

    @field_validator("quick_reply")
    @classmethod
    def _quick(cls, value: dict[int, str]) -> dict[int, str]:
        for n, sid in value.items():
            if n not in (1, 2, 3):
                raise ValueError(f"quick-reply templates exist for 1, 2 or 3 buttons, not {n}")
            if not SID.match(str(sid)):
                raise ValueError(f"{n}: {sid!r} is not a Content sid (HX followed by 32 hex digits)")
        return value


@dataclass(frozen=True)
class TemplateMessage:
    content_sid: str
    variables: str  # JSON, as Twilio's ContentVariables wants it


@dataclass(frozen=True)
class Templates:
    templates: dict[str, _Template] = field(default_factory=dict)
    quick_reply: dict[int, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> Templates:
        if not path.is_file():
            return cls()
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            parsed = _File.model_validate(data)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from None
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)
            )
            raise ConfigError(f"{path}: {problems}") from None
        return cls(parsed.templates, parsed.quick_reply)

    def for_message(self, key: str | None, language: str, args: dict[str, Any]) -> TemplateMessage | None:
        """The approved template for this message in this language, if there is one."""
        template = self.templates.get(key or "")
        if template is None:
            return None
        sid = template.content_sid.get(language)
        if sid is None:
            return None
        values = {str(n): str(args.get(name, "")) for n, name in enumerate(template.variables, start=1)}
        return TemplateMessage(sid, json.dumps(values, ensure_ascii=False))

    def quick_replies(self, body: str, buttons: list[tuple[str, str]]) -> TemplateMessage | None:
        """Body {{1}}, then title {{2n}} and id {{2n+1}} for button n."""
        sid = self.quick_reply.get(len(buttons))
        if sid is None:
            return None
        values = {"1": body}
        for n, (button_id, title) in enumerate(buttons, start=1):
            values[str(2 * n)] = title
            values[str(2 * n + 1)] = button_id
        return TemplateMessage(sid, json.dumps(values, ensure_ascii=False))
