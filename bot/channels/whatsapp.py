"""WhatsApp through Twilio: signed webhooks in, Messages API out.

The adapter normalises Twilio's form posts into Inbound and renders Outbound as one or more
Twilio messages: text split at 1,600 characters, choices as quick replies (when a Content
template for them is configured) or a numbered list, and approved templates once the
24-hour customer-care window has closed. Everything else is the engine's.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import SIGNATURE_SETTINGS_HEADER, RequestValidator, get_signature_algorithm
from twilio.rest import Client

from bot.app import App
from bot.channels.runtime import ChannelRuntime
from bot.channels.whatsapp_templates import Templates
from bot.config import ConfigError, Settings
from bot.delivery.inbox import Inbox
from bot.delivery.outbox import Delivery, RateLimiter, record_status
from bot.i18n import N_
from bot.messages import Inbound, Outbound, utcnow
from bot.privacy import log_id
from bot.storage.media import MediaStore, is_media

log = logging.getLogger(__name__)
# Twilio's client logs request bodies (phone numbers, message text) at INFO.
logging.getLogger("twilio.http_client").setLevel(logging.WARNING)

CHANNEL = "whatsapp"
INBOUND_PATH = "/twilio/whatsapp"
STATUS_PATH = "/twilio/status"
MAX_BODY = 64_000  # a Twilio webhook is a few hundred bytes
TEXT_LIMIT = 1600  # WhatsApp through Twilio
QUICK_REPLY_BODY_LIMIT = 1024
WINDOW = timedelta(hours=24)
DELIVERED = ("delivered", "read")
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
REPLY_WITH = N_("Reply {numbers}.")
OR = N_("or")

# First guess of the language from the number's country code; the learner confirms it.
COUNTRY_LANGUAGE = {"250": "rw", "257": "rw", "33": "fr", "32": "fr", "243": "fr"}


def language_from_number(wa_id: str | None) -> str | None:
    digits = "".join(ch for ch in (wa_id or "") if ch.isdigit())
    for prefix in sorted(COUNTRY_LANGUAGE, key=len, reverse=True):
        if digits.startswith(prefix):
            return COUNTRY_LANGUAGE[prefix]
    return "en" if digits else None


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Split on paragraph boundaries, then lines, then words; never over `limit`."""
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for separator in ("\n\n", "\n", " "):
        if separator in text:
            break
    else:
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    for piece in text.split(separator):
        candidate = f"{current}{separator}{piece}" if current else piece
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
        if len(piece) > limit:
            *whole, current = split_text(piece, limit)
            parts += whole
        else:
            current = piece
    if current:
        parts.append(current)
    return parts


def inbound_from(form: FormData) -> Inbound | None:
    sid = str(form.get("MessageSid") or form.get("SmsMessageSid") or "")
    sender = str(form.get("From") or "")
    if not sid or not sender.startswith("whatsapp:"):
        return None
    payload = str(form.get("ButtonPayload") or form.get("ListId") or "") or None
    try:
        media = int(str(form.get("NumMedia") or 0))
    except ValueError:
        media = 0
    return Inbound(
        channel=CHANNEL,
        address=sender,
        text=str(form.get("Body") or "") or None,
        payload=payload,
        external_id=sid,
        name=str(form.get("ProfileName") or "") or None,
        language_code=language_from_number(str(form.get("WaId") or sender)),
        media_count=media + int(_location(form) is not None),
        # Twilio keeps the photo at this URL (fetched with our credentials, never forwarded).
        media=tuple(
            str(form.get(f"MediaUrl{i}"))
            for i in range(min(media, 10))
            if str(form.get(f"MediaContentType{i}") or "").startswith("image/") and form.get(f"MediaUrl{i}")
        ),
        location=_location(form),
        message_ref=sid,
    )


def _location(form: FormData) -> tuple[float, float] | None:
    """A shared WhatsApp location, coarsened to about 1 km before it goes anywhere."""
    try:
        lat, lon = float(str(form.get("Latitude"))), float(str(form.get("Longitude")))
    except (TypeError, ValueError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return round(lat, 2), round(lon, 2)


@dataclass
class WhatsAppChannel:
    settings: Settings
    app: App
    templates: Templates
    inbox: Inbox
    channel = CHANNEL
    _client: Client | None = None
    _http: AsyncTwilioHttpClient | None = None

    @classmethod
    def create(cls, settings: Settings, app: App) -> WhatsAppChannel:
        missing = [
            name
            for name, value in (
                ("TWILIO_ACCOUNT_SID", settings.twilio_account_sid),
                ("TWILIO_AUTH_TOKEN", settings.twilio_auth_token),
                ("PUBLIC_BASE_URL", settings.public_base_url),
            )
            if not value
        ]
        if not (settings.twilio_whatsapp_from or settings.twilio_messaging_service_sid):
            missing.append("TWILIO_WHATSAPP_FROM (or TWILIO_MESSAGING_SERVICE_SID)")
        if missing:
            raise ConfigError("WhatsApp needs " + ", ".join(missing))
        return cls(settings, app, Templates.load(settings.whatsapp_templates_file), app.inbox)

    # -- inbound ------------------------------------------------------------------

    async def _signed_form(self, request: Request) -> FormData | None:
        """The form if Twilio signed it for our public URL; None for anything else."""
        if int(request.headers.get("content-length") or 0) > MAX_BODY:
            return None
        signature = request.headers.get("X-Twilio-Signature", "")
        if not signature:
            return None
        try:
            form = await request.form()
        except Exception:  # a body that is not a form cannot be Twilio's
            return None
        # Twilio signs the URL it called: ours behind the proxy, not the one uvicorn sees.
        url = f"{self.settings.public_base_url}{request.url.path}"
        if request.url.query:
            url += f"?{request.url.query}"
        algorithm = get_signature_algorithm(request.headers.get(SIGNATURE_SETTINGS_HEADER))
        key = self.settings.twilio_auth_token or ""
        if not RequestValidator(key).validate(url, form, signature, algorithm):
            return None
        return form

    async def inbound_route(self, request: Request) -> Response:
        form = await self._signed_form(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        inbound = inbound_from(form)
        if inbound is None:
            return PlainTextResponse("bad request", status_code=400)
        try:
            await self.inbox.accept(inbound)  # deduplicated on MessageSid
        except sqlite3.Error as exc:
            # Not stored, so not acknowledged: Twilio tries again.
            log.error("whatsapp: could not store a message, answering 503: %s", exc)
            return PlainTextResponse("unavailable", status_code=503)
        return Response(TWIML_EMPTY, media_type="text/xml")

    async def status_route(self, request: Request) -> Response:
        form = await self._signed_form(request)
        if form is None:
            return PlainTextResponse("forbidden", status_code=403)
        sid = str(form.get("MessageSid") or "")
        status = str(form.get("MessageStatus") or "")
        if not sid or not status:
            return PlainTextResponse("bad request", status_code=400)
        code = str(form.get("ErrorCode") or "") or None
        try:
            now = await record_status(self.app.db, CHANNEL, sid, status, code)
        except sqlite3.Error as exc:
            log.error("whatsapp: could not store a receipt, answering 503: %s", exc)
            return PlainTextResponse("unavailable", status_code=503)
        if now in DELIVERED:
            await self._forget_media(sid)
        if code:
            self.app.engine.notify_outbox(CHANNEL)  # a re-queued message is due again
        return Response(status_code=204)

    async def _forget_media(self, sid: str) -> None:
        """The message is on the learner's phone: our copy of its picture (a certificate, with
        their name) goes. Twilio fetched it through a link that expires anyway (see render)."""
        async with self.app.db.conn.execute(
            "SELECT payload FROM outbox WHERE channel = ? AND external_id = ?", (CHANNEL, sid)
        ) as cur:
            row = await cur.fetchone()
        image = Outbound.from_row(CHANNEL, "", row[0], 0, None).image if row else None
        if is_media(image):
            MediaStore(self.settings.media_dir).delete(image or "")

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        self._http = AsyncTwilioHttpClient(timeout=20)
        self._client = Client(
            self.settings.twilio_account_sid, self.settings.twilio_auth_token, http_client=self._http
        )
        self._client.api.base_url = self.settings.twilio_api_url  # a proxy or a test's fake
        log.info("whatsapp: webhooks at %s%s", self.settings.public_base_url, INBOUND_PATH)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    # -- outbound (the Transport protocol) ----------------------------------------

    async def send(self, message: Outbound) -> Delivery:
        if message.erase:  # WhatsApp lets no one delete a message on the other phone
            return Delivery.sent(None)
        if not await self._window_open(message):
            template = self.templates.for_message(message.key, message.language, message.args)
            if template is None:
                return Delivery(
                    "held",
                    error=f"needs template: {message.key or 'a free-form message'} in {message.language}, "
                    "outside the 24-hour window",
                )
            return await self._create(
                message, content_sid=template.content_sid, content_variables=template.variables
            )
        result = Delivery("failed", error="nothing to send")
        for kwargs in self.render(message):
            result = await self._create(message, **kwargs)
            if result.status != "sent":
                break
        return result

    def render(self, message: Outbound) -> list[dict[str, Any]]:
        """The Twilio messages for one Outbound, in order (inside the window)."""
        text = message.text
        if message.attachment:  # WhatsApp needs a public URL for a file; send its text
            name, body = message.attachment
            text = f"{text}\n\n{name}:\n{body}"
        media = None
        if is_media(message.image):  # ours: Twilio fetches it from our /media route, by a link that expires
            media = [
                f"{self.settings.public_base_url}{MediaStore(self.settings.media_dir).link(message.image)}"
            ]
        elif message.image and message.image.startswith("https://"):
            media = [message.image]
        choices = [(c.id, c.label) for c in message.choices]
        if choices:
            quick = (
                self.templates.quick_replies(text, choices) if len(text) <= QUICK_REPLY_BODY_LIMIT else None
            )
            if quick is not None:
                messages: list[dict[str, Any]] = [
                    {"content_sid": quick.content_sid, "content_variables": quick.variables}
                ]
                if media:
                    messages.insert(0, {"media_url": media})
                return messages
            text = f"{text}\n\n{self._numbered(message)}"
        parts = [{"body": part} for part in split_text(text)]
        if media:
            parts[0]["media_url"] = media
        return parts

    def _numbered(self, message: Outbound) -> str:
        """ "1. Yes / 2. No / Reply 1 or 2." in the learner's language; "2" or the label both work."""
        tr = self.app.engine.catalogs.gettext
        lines = [f"{n}. {c.label}" for n, c in enumerate(message.choices, start=1)]
        numbers = [str(n) for n in range(1, len(message.choices) + 1)]
        listed = numbers[0]
        if len(numbers) > 1:
            listed = f"{', '.join(numbers[:-1])} {tr(message.language, OR)} {numbers[-1]}"
        reply = tr(message.language, REPLY_WITH).format(numbers=listed)
        return "\n".join(lines) + f"\n\n{reply}"

    async def _window_open(self, message: Outbound) -> bool:
        async with self.app.db.conn.execute(
            "SELECT last_inbound_at FROM users WHERE channel = ? AND address = ?", (CHANNEL, message.address)
        ) as cur:
            row = await cur.fetchone()
        last = row[0] if row else None
        if last is None and message.user_id is None:
            # Someone we keep no row for, such as a learner who has just erased their data: the
            # reply says when the message it answers came, and that message opened the window.
            last = message.args.get("inbound_at")
        return last is not None and utcnow() - datetime.fromisoformat(last) < WINDOW

    async def _create(self, message: Outbound, **kwargs: Any) -> Delivery:
        assert self._client is not None, "start() the channel before sending"
        sender: dict[str, str] = (
            {"messaging_service_sid": self.settings.twilio_messaging_service_sid}
            if self.settings.twilio_messaging_service_sid
            else {"from_": self.settings.twilio_whatsapp_from or ""}
        )
        try:
            created = await self._client.messages.create_async(
                to=message.address,
                status_callback=f"{self.settings.public_base_url}{STATUS_PATH}",
                **sender,
                **kwargs,
            )
        except TwilioRestException as exc:
            return delivery_for_error(exc.status, exc.code, exc.msg)
        except Exception as exc:  # timeouts, aiohttp.ClientError and OSErrors: Twilio is out of reach
            return Delivery("retry", error=f"{type(exc).__name__}: {exc}", outage=True)
        log.debug("sent to %s", log_id(CHANNEL, message.address))
        return Delivery.sent(created.sid)

    def runtime(self) -> ChannelRuntime:
        return ChannelRuntime(
            name=CHANNEL,
            transport=self,
            routes=[
                Route(INBOUND_PATH, self.inbound_route, methods=["POST"]),
                Route(STATUS_PATH, self.status_route, methods=["POST"]),
            ],
            start=self.start,
            stop=self.stop,
            max_in_flight=32,
            rate=RateLimiter(self.settings.whatsapp_mps),
        )


# Twilio error codes: https://www.twilio.com/docs/api/errors
OPTED_OUT = 21610  # the recipient replied STOP to the sender
OUTSIDE_WINDOW = 63016  # free-form message outside the 24-hour window
RATE_LIMITED = {20429, 63018}  # too many requests / WhatsApp rate limit for the sender


def delivery_for_error(status: int, code: int | None, text: str) -> Delivery:
    described = f"Twilio {code or status}: {text}"[:300]
    if code == OPTED_OUT:
        return Delivery("opted_out", error=described)
    if code == OUTSIDE_WINDOW:
        return Delivery("held", error=f"needs template (63016): {described}")
    if code in RATE_LIMITED or status == 429:
        return Delivery("retry", error=described, retry_after=2.0)
    if status >= 500:
        return Delivery("retry", error=described, outage=True)
    return Delivery("failed", error=described)
