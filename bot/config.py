"""Settings come from the environment (and an optional `.env`), never from code.

One frozen dataclass is built at start-up and passed down explicitly, so there is
no global configuration to monkey-patch in tests.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from dotenv import dotenv_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "sqlite:///./data/clubspeak.db"


class ConfigError(ValueError):
    """A setting is present but unusable; the message says which and why."""


POSTGRES_SCHEMES = ("postgresql", "postgres")


def is_postgres(database_url: str) -> bool:
    return urlparse(database_url).scheme in POSTGRES_SCHEMES


def shown_url(database_url: str) -> str:
    """The URL without its password, to print and log."""
    parsed = urlparse(database_url)
    if parsed.password is None:
        return database_url
    return parsed._replace(netloc=parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)).geturl()


def sqlite_path(database_url: str) -> Path:
    """Turn `sqlite:///relative.db` or `sqlite:////abs/path.db` into a path."""
    parsed = urlparse(database_url)
    if parsed.scheme in POSTGRES_SCHEMES:
        raise ConfigError(f"DATABASE_URL: {shown_url(database_url)} is a PostgreSQL database, not a file")
    if parsed.scheme != "sqlite":
        raise ConfigError(
            f"DATABASE_URL: sqlite:/// and postgresql:// URLs are supported, got scheme {parsed.scheme!r}"
        )
    raw = database_url[len("sqlite:///") :] if database_url.startswith("sqlite:///") else parsed.path
    if not raw:
        raise ConfigError(
            "DATABASE_URL: the sqlite URL has no file path (e.g. sqlite:///./data/clubspeak.db)"
        )
    return Path(raw)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {value!r}") from None


def _flag(env: Mapping[str, str], name: str) -> bool:
    value = (env.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1 or 0, got {value!r}")


def _hours(env: Mapping[str, str], name: str, default: tuple[int, ...]) -> tuple[int, ...]:
    value = env.get(name)
    if not value:
        return default
    try:
        hours = tuple(sorted({int(part) for part in value.split(",") if part.strip()}, reverse=True))
    except ValueError:
        raise ConfigError(
            f"{name} must be whole hours separated by commas, e.g. 24,2; got {value!r}"
        ) from None
    if not hours or min(hours) < 1:
        raise ConfigError(f"{name} must list at least one number of hours, each 1 or more; got {value!r}")
    return hours


def _days(env: Mapping[str, str], name: str, default: int) -> int:
    days = _int(env, name, default)
    if days < 1:
        raise ConfigError(f"{name} must be 1 or more days, got {days}")
    return days


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 1:
        raise ConfigError(f"{name} must be 1 or more, got {value}")
    return value


def _addresses(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses (or networks such as 10.0.0.0/8), checked and normalised."""
    value = env.get(name) or ""
    try:
        return tuple(
            str(ipaddress.ip_network(part.strip(), strict=False)) for part in value.split(",") if part.strip()
        )
    except ValueError:
        raise ConfigError(
            f"{name} must be IP addresses separated by commas, e.g. 127.0.0.1,10.0.0.2; got {value!r}"
        ) from None


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    dialogs_dir: Path = PROJECT_ROOT / "dialogs"
    locales_dir: Path = PROJECT_ROOT / "locales"
    timezone: str = "Africa/Kigali"
    host: str = "127.0.0.1"
    port: int = 8080
    public_base_url: str | None = None
    telegram_bot_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_webhook_secret: str | None = None
    telegram_mps: int = 30  # Telegram's overall limit for a bot
    telegram_bot_username: str | None = None  # for t.me join links on club posters
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = None
    twilio_whatsapp_from: str | None = None
    twilio_api_url: str = "https://api.twilio.com"
    twilio_messaging_service_sid: str | None = None
    whatsapp_mps: int = 80
    # Approved Content templates: what may go out after the 24-hour window, and quick replies.
    whatsapp_templates_file: Path = PROJECT_ROOT / "config" / "whatsapp_templates.yaml"
    max_inbound_chars: int = 4000
    safeguarding_file: Path = PROJECT_ROOT / "config" / "safeguarding.yaml"
    # CHANNEL:ADDRESS of the people alerted when a learner needs a person, comma-separated.
    safeguarding_officers: str | None = None
    districts_file: Path = PROJECT_ROOT / "config" / "districts.yaml"
    # Early warning: the taxonomy and checklist, one area file per country, and whether anyone
    # (not only reporters granted by staff) may report.
    reports_file: Path = PROJECT_ROOT / "config" / "reports.yaml"
    areas_dir: Path = PROJECT_ROOT / "config" / "areas"
    reports_open: bool = False
    dashboard_secret: str | None = None  # signs dashboard sessions; set it so logins survive restarts
    # The reverse proxies whose X-Forwarded-For the dashboard believes (its login throttle is per
    # client address). Empty: nobody's, the direct peer is the client.
    forwarded_allow_ips: tuple[str, ...] = ()
    # Hours before a session when reminders go to those who said yes or maybe.
    session_reminders: tuple[int, ...] = (24, 2)
    # Hours a message is retried through network errors, 5xx and 429s before it is marked
    # failed; safeguarding alerts are retried for ever.
    outbox_retry_hours: int = 24
    # Days a finished outbox message (sent, delivered, read, failed) and a seen inbound id are kept.
    outbox_keep_days: int = 30
    # Where the bot keeps the files it makes (certificates); by default next to a SQLite
    # database, and ./data/media with PostgreSQL.
    media_root: Path | None = None
    extra: Mapping[str, str] = field(default_factory=dict)

    @property
    def postgres(self) -> bool:
        return is_postgres(self.database_url)

    @property
    def database_path(self) -> Path:
        """The SQLite file (a ConfigError on PostgreSQL, which has none)."""
        return sqlite_path(self.database_url)

    @property
    def database_name(self) -> str:
        """The database as an operator knows it: the file, or the URL without its password."""
        return shown_url(self.database_url) if self.postgres else str(self.database_path)

    @property
    def media_dir(self) -> Path:
        """Files the bot makes (certificates)."""
        if self.media_root is not None:
            return self.media_root
        return Path("data") / "media" if self.postgres else self.database_path.parent / "media"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, env_file: Path | None = None) -> Settings:
        """Read settings; real environment variables win over the `.env` file."""
        env: dict[str, str] = {}
        dotenv = env_file if env_file is not None else Path.cwd() / ".env"
        if dotenv.is_file():
            env.update({k: v for k, v in dotenv_values(dotenv).items() if v is not None})
        env.update(os.environ if environ is None else environ)

        def opt(name: str) -> str | None:
            return env.get(name) or None

        settings = cls(
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            dialogs_dir=Path(env.get("DIALOGS_DIR") or PROJECT_ROOT / "dialogs"),
            locales_dir=Path(env.get("LOCALES_DIR") or PROJECT_ROOT / "locales"),
            timezone=env.get("TIMEZONE") or "Africa/Kigali",
            host=env.get("HOST") or "127.0.0.1",
            port=_int(env, "PORT", 8080),
            public_base_url=(opt("PUBLIC_BASE_URL") or "").rstrip("/") or None,
            telegram_bot_token=opt("TELEGRAM_BOT_TOKEN"),
            telegram_api_url=(env.get("TELEGRAM_API_URL") or "https://api.telegram.org").rstrip("/"),
            telegram_webhook_secret=opt("TELEGRAM_WEBHOOK_SECRET"),
            telegram_mps=_int(env, "TELEGRAM_MPS", 30),
            telegram_bot_username=(opt("TELEGRAM_BOT_USERNAME") or "").lstrip("@") or None,
            twilio_account_sid=opt("TWILIO_ACCOUNT_SID"),
            twilio_auth_token=opt("TWILIO_AUTH_TOKEN"),
            twilio_whatsapp_from=opt("TWILIO_WHATSAPP_FROM"),
            twilio_api_url=(env.get("TWILIO_API_URL") or "https://api.twilio.com").rstrip("/"),
            twilio_messaging_service_sid=opt("TWILIO_MESSAGING_SERVICE_SID"),
            whatsapp_mps=_int(env, "WHATSAPP_MPS", 80),
            whatsapp_templates_file=Path(
                env.get("WHATSAPP_TEMPLATES_FILE") or PROJECT_ROOT / "config" / "whatsapp_templates.yaml"
            ),
            max_inbound_chars=_int(env, "MAX_INBOUND_CHARS", 4000),
            safeguarding_file=Path(
                env.get("SAFEGUARDING_FILE") or PROJECT_ROOT / "config" / "safeguarding.yaml"
            ),
            safeguarding_officers=opt("SAFEGUARDING_OFFICERS"),
            dashboard_secret=opt("DASHBOARD_SECRET"),
            forwarded_allow_ips=_addresses(env, "FORWARDED_ALLOW_IPS"),
            districts_file=Path(env.get("DISTRICTS_FILE") or PROJECT_ROOT / "config" / "districts.yaml"),
            reports_file=Path(env.get("REPORTS_FILE") or PROJECT_ROOT / "config" / "reports.yaml"),
            areas_dir=Path(env.get("AREAS_DIR") or PROJECT_ROOT / "config" / "areas"),
            reports_open=_flag(env, "REPORTS_OPEN"),
            session_reminders=_hours(env, "SESSION_REMINDERS", (24, 2)),
            outbox_retry_hours=_positive(env, "OUTBOX_RETRY_HOURS", 24),
            outbox_keep_days=_days(env, "OUTBOX_KEEP_DAYS", 30),
            media_root=Path(env["MEDIA_DIR"]) if env.get("MEDIA_DIR") else None,
            extra=dict(env),
        )
        if not settings.postgres:
            settings.database_path  # noqa: B018 - validate the URL early, with a clear message
        return settings
