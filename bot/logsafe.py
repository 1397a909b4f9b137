"""Secrets never reach a log line.

The Bot API puts the Telegram token in every URL (https://api.telegram.org/bot<TOKEN>/sendMessage);
httpx logs each request URL and PTB repeats URLs in error texts and tracebacks. A filter on one
handler or logger would miss the next library or handler, so the masking sits where every record
is born: the LogRecord factory, which logging keeps as one process-wide setting anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from bot.config import Settings

# Settings attribute -> the marker that replaces its value (the variable an operator sets).
SECRETS = {
    "telegram_bot_token": "TELEGRAM_BOT_TOKEN",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "telegram_webhook_secret": "TELEGRAM_WEBHOOK_SECRET",
    "dashboard_secret": "DASHBOARD_SECRET",
}

_tracebacks = logging.Formatter()
# A shorter "secret" would be masked inside ordinary words (and format strings) of every line;
# real tokens and secrets are far longer.
MIN_SECRET = 8


class _MaskingFactory:
    """Wraps the previous record factory; scrubs message, arguments and traceback of each record."""

    def __init__(self, wrapped: Callable[..., logging.LogRecord]):
        self.wrapped = wrapped
        self._pairs: tuple[tuple[str, str], ...] = ()

    def add(self, replacements: Mapping[str, str]) -> None:
        pairs = dict(self._pairs) | dict(replacements)
        # Longest first, so a secret that contains another is replaced whole. Assigned in one
        # step: a record made meanwhile on another thread sees the old or the new list, not half.
        self._pairs = tuple(sorted(pairs.items(), key=lambda pair: -len(pair[0])))

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.wrapped(*args, **kwargs)
        if self._pairs:
            self._scrub(record)
        return record

    def mask(self, text: str) -> str:
        for secret, marker in self._pairs:
            text = text.replace(secret, marker)
        return text

    def leaks(self, text: str) -> bool:
        return any(secret in text for secret, _ in self._pairs)

    def _masked_arg(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.mask(value)
        try:
            text = str(value)  # e.g. httpx.URL, an exception
        except Exception:
            return value
        return self.mask(text) if self.leaks(text) else value

    def _scrub(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:
            message = None  # a broken format string; logging reports it, with masked parts
        if message is None or self.leaks(message):
            # Mask argument by argument rather than flattening the message: some formatters
            # (uvicorn's access log) unpack record.args and need the tuple to stay a tuple.
            record.msg = self.mask(record.msg if isinstance(record.msg, str) else str(record.msg))
            if isinstance(record.args, Mapping):
                record.args = {key: self._masked_arg(value) for key, value in record.args.items()}
            elif record.args:
                record.args = tuple(self._masked_arg(value) for value in record.args)
            after = _message_or_none(record)
            if message is not None and (after is None or self.leaks(after)):
                # e.g. a %r of an object holding it, or a secret that was part of the format
                record.msg, record.args = self.mask(message), ()
        if record.exc_info and record.exc_info[0] is not None:
            text = _tracebacks.formatException(record.exc_info)
            if self.leaks(text):
                # Formatters print a record's exc_text as it is; dropping exc_info leaves no way
                # to print the original exception (and its message) again.
                record.exc_text, record.exc_info = self.mask(text), None
        elif record.exc_text and self.leaks(record.exc_text):
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info and self.leaks(record.stack_info):
            record.stack_info = self.mask(record.stack_info)


def _message_or_none(record: logging.LogRecord) -> str | None:
    try:
        return record.getMessage()
    except Exception:
        return None


def _replacements(settings: Settings) -> dict[str, str]:
    found: dict[str, str] = {}
    for attribute, name in SECRETS.items():
        value = getattr(settings, attribute, None)
        if not value or len(value) < MIN_SECRET:
            continue
        marker = f"[{name}]"
        # Also the percent-encoded form, as the value appears in query strings and encoded URLs.
        for form in {value, quote(value, safe=""), quote(value)}:
            found[form] = marker
    return found


def mask_secrets(settings: Settings) -> None:
    """Replace every secret set in `settings` by `[ITS_NAME]` in all log records from now on.

    Safe to call more than once (from main, the server, a channel): later calls add secrets
    to the one masking factory instead of wrapping it again.
    """
    # httpx logs one INFO line per request: noise at our volume, and it carried the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _MaskingFactory):
        factory = _MaskingFactory(factory)
        logging.setLogRecordFactory(factory)
    factory.add(_replacements(settings))
