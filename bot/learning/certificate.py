"""A certificate PNG, drawn with Pillow: the learner's chosen name, the track and the date.

The texts arrive translated; this module only lays them out. Pillow's bundled scalable
font is used so that a fresh machine needs no system fonts.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

WIDTH, HEIGHT = 1200, 850
GREEN, GOLD, INK, PAPER = (22, 101, 52), (202, 138, 4), (31, 41, 55), (255, 253, 245)


@dataclass(frozen=True)
class CertificateText:
    heading: str  # "Certificate of achievement"
    awarded_to: str  # "awarded to"
    name: str
    for_completing: str  # "for completing"
    track: str
    date: str
    issuer: str = "Club Speak"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _fit(draw: ImageDraw.ImageDraw, text: str, size: int, max_width: int):  # type: ignore[no-untyped-def]
    """The largest font up to `size` at which `text` fits in `max_width`."""
    while size > 14:
        font = _font(size)
        if draw.textlength(text, font=font) <= max_width:
            return font
        size -= 2
    return _font(size)


def render(text: CertificateText) -> bytes:
    image = Image.new("RGB", (WIDTH, HEIGHT), PAPER)
    draw = ImageDraw.Draw(image)
    draw.rectangle((20, 20, WIDTH - 20, HEIGHT - 20), outline=GREEN, width=10)
    draw.rectangle((45, 45, WIDTH - 45, HEIGHT - 45), outline=GOLD, width=3)
    center, usable = WIDTH // 2, WIDTH - 200
    lines = [
        (text.issuer, 36, GREEN, 120),
        (text.heading, 60, INK, 210),
        (text.awarded_to, 32, INK, 330),
        (text.name, 72, GREEN, 420),
        (text.for_completing, 32, INK, 530),
        (text.track, 48, INK, 610),
        (text.date, 30, INK, 720),
    ]
    for content, size, colour, y in lines:
        font = _fit(draw, content, size, usable)
        draw.text((center, y), content, fill=colour, font=font, anchor="mm")
    draw.line((center - 200, 475, center + 200, 475), fill=GOLD, width=3)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()
