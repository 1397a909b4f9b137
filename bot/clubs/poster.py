"""A printable join poster for a club: QR codes for Telegram and WhatsApp, and the code.

Telegram's QR opens the bot with `/start club_CODE`; WhatsApp's opens a chat with the text
"join CODE" already written. Drawn with segno (QR) and Pillow, offline.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from urllib.parse import quote

import segno
from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1240, 1754  # A4 at 150 dpi
INK, GREEN = (31, 41, 55), (22, 101, 52)


@dataclass(frozen=True)
class PosterText:
    title: str  # "Join {club}"
    telegram: str  # "Telegram: scan to join"
    whatsapp: str  # "WhatsApp: scan, then send"
    or_send: str  # "Or send this message to the bot: join K7Q2"


def telegram_link(username: str, code: str) -> str:
    return f"https://t.me/{username}?start=club_{code}"


def whatsapp_link(sender: str, code: str) -> str:
    number = "".join(ch for ch in sender if ch.isdigit())
    return f"https://wa.me/{number}?text={quote(f'join {code}')}"


def _qr(data: str) -> Image.Image:
    buffer = io.BytesIO()
    segno.make(data, error="m").save(buffer, kind="png", scale=12, border=2)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def render(text: PosterText, code: str, telegram: str | None, whatsapp: str | None) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(image)
    draw.text((WIDTH // 2, 130), text.title, fill=GREEN, font=ImageFont.load_default(size=64), anchor="mm")
    y = 260
    if not telegram and not whatsapp:  # no channel configured yet: the code alone, large
        draw.text(
            (WIDTH // 2, HEIGHT // 2), code, fill=GREEN, font=ImageFont.load_default(size=260), anchor="mm"
        )
    for caption, link in ((text.telegram, telegram), (text.whatsapp, whatsapp)):
        if not link:
            continue
        qr = _qr(link).resize((520, 520), Image.NEAREST)
        image.paste(qr, ((WIDTH - 520) // 2, y))
        draw.text((WIDTH // 2, y + 560), caption, fill=INK, font=ImageFont.load_default(size=40), anchor="mm")
        y += 680
    draw.text(
        (WIDTH // 2, HEIGHT - 130), text.or_send, fill=INK, font=ImageFont.load_default(size=40), anchor="mm"
    )
    draw.text((WIDTH // 2, HEIGHT - 60), code, fill=GREEN, font=ImageFont.load_default(size=56), anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
