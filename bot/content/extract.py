"""The Babel extractor for dialogs: every text of a dialog YAML, with its msgctxt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml
from pydantic import ValidationError

from bot.content.models import Dialog, context


class InvalidDialogFile(ValueError):
    """A dialog that cannot be read, met while extracting strings."""


def extract_dialogs(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """Babel extractor: every text of a dialog YAML, with msgctxt "<dialog>/<step>/<field>".

    Wired in `babel.cfg` as `[bot.content.extract:extract_dialogs: dialogs/**.yaml]`. It yields
    `pgettext` calls so Babel's default keyword spec assigns the context.
    """
    name = getattr(fileobj, "name", "a dialog file")
    try:
        dialog = Dialog.model_validate(yaml.safe_load(fileobj.read().decode("utf-8")))
    except (yaml.YAMLError, ValidationError) as exc:
        # Extracting from a broken file would drop its entries from every catalog.
        first = str(exc).splitlines()[:3]
        raise InvalidDialogFile(
            f"{name} is not a valid dialog ({' '.join(first)}); "
            "run `python -m bot content check` for the details"
        ) from None
    for lineno, (step_id, field, text) in enumerate(dialog.texts(), start=1):
        yield lineno, "pgettext", (context(dialog.id, step_id, field), text), []
