"""A report's photos, fetched from the channel that keeps them when a reviewer opens them: they
are never stored on our disk, never forwarded, and reach only a logged-in reviewer's browser.

Telegram keeps a photo under its file_id (getFile, then the file URL); Twilio keeps WhatsApp media
at a URL on its API, read with the account's credentials. Only those two hosts are ever fetched.
"""

from __future__ import annotations

import httpx

from bot.config import Settings

MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = httpx.Timeout(15.0)


class PhotoUnavailable(Exception):
    """The channel no longer has the photo, or this deployment cannot reach it."""


async def fetch(settings: Settings, channel: str, ref: str) -> tuple[bytes, str]:
    """(bytes, content type) of one photo."""
    async with httpx.AsyncClient(timeout=TIMEOUT) as client:
        try:
            if channel == "telegram":
                return await _telegram(client, settings, ref)
            if channel == "whatsapp":
                return await _twilio(client, settings, ref)
        except httpx.HTTPError as exc:
            raise PhotoUnavailable(f"{channel}: {type(exc).__name__}") from None
    raise PhotoUnavailable(f"{channel} keeps no photos")


async def _telegram(client: httpx.AsyncClient, settings: Settings, file_id: str) -> tuple[bytes, str]:
    token = settings.telegram_bot_token
    if not token:
        raise PhotoUnavailable("TELEGRAM_BOT_TOKEN is not set")
    base = settings.telegram_api_url
    found = (await client.post(f"{base}/bot{token}/getFile", json={"file_id": file_id})).json()
    path = (found.get("result") or {}).get("file_path")
    if not found.get("ok") or not path:
        raise PhotoUnavailable("telegram no longer has this photo")
    response = await client.get(f"{base}/file/bot{token}/{path}")
    return _body(response, "image/jpeg")


async def _twilio(client: httpx.AsyncClient, settings: Settings, url: str) -> tuple[bytes, str]:
    sid, secret = settings.twilio_account_sid, settings.twilio_auth_token
    if not sid or not secret:
        raise PhotoUnavailable("the Twilio credentials are not set")
    if not url.startswith(settings.twilio_api_url + "/"):
        raise PhotoUnavailable("not a Twilio media URL")  # never fetch a URL from anywhere else
    response = await client.get(url, auth=(sid, secret), follow_redirects=True)
    return _body(response, response.headers.get("content-type", "image/jpeg"))


def _body(response: httpx.Response, content_type: str) -> tuple[bytes, str]:
    if response.status_code != 200:
        raise PhotoUnavailable(f"the channel answered {response.status_code}")
    if len(response.content) > MAX_BYTES:
        raise PhotoUnavailable("the photo is larger than 10 MB")
    kind = content_type.split(";")[0].strip()
    if kind not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        raise PhotoUnavailable(f"not a picture ({kind})")
    return response.content, kind
