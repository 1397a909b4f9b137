"""Streaks, badges and certificates, through the engine on a real database."""

from __future__ import annotations

import io
from datetime import timedelta

import httpx
import pytest
from PIL import Image

from bot.app import App
from bot.i18n import LANGUAGES, format_date
from bot.learning.certificate import HEIGHT, WIDTH, CertificateText, render
from bot.messages import utcnow
from bot.storage.media import MediaStore
from bot.web.server import build_web
from tests.conftest import Chat


async def finish_the_exercise(chat: Chat) -> None:
    await chat.onboard()
    for answer in ("1", "1", "1", "1", "1"):  # Exercises → water point → three choices
        await chat.send(answer)
    await chat.send("I feel worried and I need water before the field")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_certificate_renders_in_each_language(app: App, lang: str) -> None:
    tr = app.engine.catalogs.gettext
    png = render(
        CertificateText(
            heading=tr(lang, "Certificate of achievement"),
            awarded_to=tr(lang, "awarded to"),
            name="Uwimana Aline Mukeshimana",
            for_completing=tr(lang, "for completing"),
            track=tr(lang, "Civic-rights lessons"),
            date=format_date(utcnow(), lang),
        )
    )
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (WIDTH, HEIGHT)
    # Something is written where the name goes (dark green ink on the paper).
    name_band = image.crop((100, 380, WIDTH - 100, 460)).convert("RGB")
    assert any(g > r + 40 and g > b + 20 for r, g, b in name_band.getdata())
    assert tr(lang, "Certificate of achievement") != "" and (
        lang == "en" or tr(lang, "awarded to") != "awarded to"
    )


async def test_finishing_a_track_earns_badges_and_a_certificate_with_the_chosen_name(app: App) -> None:
    chat = Chat(app, address="aline")
    await finish_the_exercise(chat)
    assert "First dialogue" in chat.texts and "Dialogue builder" in chat.texts
    assert "Which name should it show?" in chat.last[-1].text
    await chat.send("Aline U.")
    certificate = next(m for m in chat.last if m.image)
    path = app.engine.services.get(MediaStore).path(certificate.image)
    assert path is not None and Image.open(path).size == (WIDTH, HEIGHT)
    assert "Exercises" in [c.label for c in chat.last[-1].choices]  # back at the menu
    # Channels that fetch by URL (WhatsApp) get it from /media by a signed link; nothing else is served.
    media = app.engine.services.get(MediaStore)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app)), base_url="http://t"
    ) as web:
        served = await web.get(media.link(certificate.image or ""))
        assert served.content == path.read_bytes() and served.headers["cache-control"] == "no-store"
        assert (await web.get(f"/media/{path.name}")).status_code == 404
        assert (await web.get("/media/..%2Fclubspeak.db")).status_code == 404
        assert (await web.get("/media/short.png")).status_code == 404
    # Finishing it again earns nothing new.
    for answer in ("1", "1", "1", "1", "1"):
        await chat.send(answer)
    await chat.send("I feel worried")
    assert "New badge" not in chat.texts
    # Erasing the learner's data removes the certificate, which carries their name.
    await chat.send("delete")
    await chat.tap(1)
    assert not path.exists()


async def test_a_learner_without_consent_earns_no_badges(app: App) -> None:
    chat = Chat(app, address="declined")
    await chat.onboard(consent=2)
    await chat.send("1")  # Lessons only
    for _ in range(3):
        await chat.send("1")  # lesson, then "Next" twice
    await chat.send("2")
    await chat.send("1")
    assert "badge" not in chat.texts.lower()
    async with app.db.conn.execute("SELECT COUNT(*) FROM badges") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_the_streak_counts_consecutive_days_in_kigali(app: App) -> None:
    chat = Chat(app, address="streaker")
    await chat.onboard()
    async with app.db.conn.execute("SELECT pseudonym FROM users") as cur:
        pseudonym = (await cur.fetchone())[0]
    now = utcnow()
    async with app.db.transaction() as conn:
        for days_ago in (1, 2, 4):  # yesterday, the day before, and a gap
            await conn.execute(
                "INSERT INTO events (at, actor, type) VALUES (?, ?, 'message_in')",
                ((now - timedelta(days=days_ago)).isoformat(), pseudonym),
            )
    await chat.send("progress")
    assert "3 days in a row" in chat.texts
