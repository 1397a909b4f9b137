"""WhatsApp end to end: signed webhooks through the real ASGI app, replies to a fake Twilio."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from bot.app import App
from bot.channels.whatsapp import WhatsAppChannel, language_from_number, split_text
from bot.config import Settings
from bot.delivery.outbox import OutboxSender
from bot.messages import BULK, Outbound, utcnow
from bot.storage import repo
from bot.web.server import build_web, make_senders
from tests.conftest import best_label
from tests.fake_telegram import wait_for
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_URL, FakeTwilio, running, signed

FROM = "whatsapp:+14155238886"
HX = "HX" + "a" * 32
QUICK = {1: "HX" + "1" * 32, 2: "HX" + "2" * 32, 3: "HX" + "3" * 32}
ALERT = "HX" + "e" * 32


@dataclass
class WhatsApp:
    app: App
    fake: FakeTwilio
    channel: WhatsAppChannel
    web: httpx.AsyncClient
    sender: OutboxSender
    _sids: itertools.count = field(default_factory=lambda: itertools.count(1))

    def tr(self, lang: str, msgid: str, context: str | None = None) -> str:
        return self.app.engine.catalogs.gettext(lang, msgid, context)

    def form(self, number: str, **fields: str) -> dict[str, str]:
        return {
            "MessageSid": f"SMin{next(self._sids):030d}",
            "AccountSid": ACCOUNT_SID,
            "From": f"whatsapp:{number}",
            "To": FROM,
            "WaId": number.lstrip("+"),
            "ProfileName": "Amina",
            "NumMedia": "0",
            **fields,
        }

    async def post(
        self, path: str, form: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        headers = signed(path, form) if headers is None else headers
        return await self.web.post(path, data=form, headers=headers)

    async def settled(self) -> None:
        """Wait until the engine and the outbox are idle."""

        async def idle() -> bool:
            async with self.app.db.conn.execute("SELECT COUNT(*) FROM inbox") as cur:
                if (await cur.fetchone())[0]:
                    return False
            counts = await self._outbox_counts()
            return not counts.get("queued") and not counts.get("sending")

        await wait_for(idle)

    async def _outbox_counts(self) -> dict[str, int]:
        async with self.app.db.conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status") as cur:
            return {r[0]: r[1] for r in await cur.fetchall()}

    async def say(self, number: str, text: str | None = None, **fields: str) -> list:
        before = len(self.fake.to(f"whatsapp:{number}"))
        form = self.form(number, **({"Body": text} if text is not None else {}), **fields)
        response = await self.post("/twilio/whatsapp", form)
        assert response.status_code == 200 and "<Response/>" in response.text
        assert response.headers["content-type"].startswith("text/xml")
        await self.settled()
        return self.fake.to(f"whatsapp:{number}")[before:]


def write_templates(path: Path, quick: bool) -> Path:
    lines = [
        "templates:",
        "  safeguarding_alert:",
        "    variables: [id, severity, learner]",
        f"    content_sid: {{en: {ALERT}, rw: {ALERT}}}",
    ]
    if quick:
        lines.append("quick_reply: {" + ", ".join(f"{n}: {sid}" for n, sid in QUICK.items()) + "}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


async def start(settings: Settings, fake: FakeTwilio, tmp: Path, quick: bool = False) -> WhatsApp:
    settings = replace(
        settings,
        twilio_account_sid=ACCOUNT_SID,
        twilio_auth_token=AUTH_TOKEN,
        twilio_whatsapp_from=FROM,
        twilio_api_url=fake.url,
        public_base_url=PUBLIC_URL,
        whatsapp_templates_file=write_templates(tmp / "templates.yaml", quick),
    )
    app = await App.create(settings)
    channel = WhatsAppChannel.create(settings, app)
    runtime = channel.runtime()
    sender = make_senders(app, [runtime])["whatsapp"]
    await channel.start()
    web = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_web(app, [runtime])), base_url="http://bot"
    )
    return WhatsApp(app, fake, channel, web, sender)


@contextlib.asynccontextmanager
async def whatsapp_running(settings: Settings, tmp: Path, quick: bool = False) -> AsyncIterator[WhatsApp]:
    """The bot on the fake Twilio, with its sender and inbox running."""
    async with running(FakeTwilio()) as fake:
        bot = await start(settings, fake, tmp, quick=quick)
        tasks = [asyncio.create_task(bot.sender.run()), asyncio.create_task(bot.app.inbox.run())]
        try:
            yield bot
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await bot.channel.stop()
            await bot.web.aclose()
            await bot.app.close()


@pytest.fixture(params=[False, True], ids=["numbered", "quick-replies"])
async def wa(request: pytest.FixtureRequest, settings: Settings, tmp_path: Path) -> AsyncIterator[WhatsApp]:
    async with whatsapp_running(settings, tmp_path, quick=request.param) as bot:
        yield bot


def choices_of(message) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(reply to send, label) for each choice, whether shown as buttons or as a numbered list."""
    if message.params.get("ContentSid"):
        v = message.variables
        n = (len(v) - 1) // 2
        return [(v[str(2 * i + 1)], v[str(2 * i)]) for i in range(1, n + 1)]
    lines = [line for line in message.body.splitlines() if line[:1].isdigit() and ". " in line]
    return [(line.split(". ", 1)[0], line.split(". ", 1)[1]) for line in lines]


async def pick(wa: WhatsApp, number: str, label: str) -> list:
    """Answer the last prompt as a learner would: a button tap, or the number of the choice."""
    last = wa.fake.to(f"whatsapp:{number}")[-1]
    options = dict((lbl, reply) for reply, lbl in choices_of(last))
    assert label in options, f"{label!r} not in {list(options)}"
    if last.params.get("ContentSid"):
        return await wa.say(number, label, ButtonPayload=options[label], ButtonText=label)
    return await wa.say(number, options[label])


async def test_a_learner_finishes_a_quiz_in_kinyarwanda(wa: WhatsApp) -> None:
    number, t = "+250788000001", (lambda s, c=None: wa.tr("rw", s, c))
    first = await wa.say(number, "Muraho")
    assert [label for _, label in choices_of(first[-1])] == ["Ikinyarwanda", "Français", "English"]
    if first[-1].params.get("ContentSid"):
        assert first[-1].params["ContentSid"] == QUICK[3]
    else:
        assert "1, 2 cyangwa 3" in first[-1].body  # "Reply 1, 2 or 3" in Kinyarwanda
    assert all(m.params["From"] == FROM for m in first)
    assert all(m.params["StatusCallback"] == f"{PUBLIC_URL}/twilio/status" for m in first)

    await pick(wa, number, "Ikinyarwanda")
    await pick(wa, number, "18–24")
    await pick(wa, number, t("I agree"))
    await pick(wa, number, t("Quizzes"))
    quiz = await pick(wa, number, t("Interests or positions?", "interests_positions/meta/title"))
    assert t(
        'Two brothers argue over one field. One says: "I want the whole field." What is this?',
        "interests_positions/q1/text",
    ) in wa.fake.texts(f"whatsapp:{number}")
    assert quiz
    # Typed answers work however they are written: " 1 ", a full-width "２", or the label.
    await wa.say(number, " 1 ")
    await wa.say(number, "２")
    for n in range(3, 9):  # the rest by their labels, each the right one
        await wa.say(number, best_label(wa.app, "rw", "interests_positions", f"q{n}"))
    async with wa.app.db.conn.execute("SELECT status, score, max_score FROM progress") as cur:
        [(status, score, total)] = list(map(tuple, await cur.fetchall()))
    assert (status, total) == ("completed", 8) and score >= 6
    texts = wa.fake.texts(f"whatsapp:{number}")
    assert t("Your score: {score} out of {total}.").format(score=score, total=8) in texts


async def test_unsigned_forged_or_misaddressed_requests_get_403_and_store_nothing(wa: WhatsApp) -> None:
    form = wa.form("+250788000002", Body="Muraho")
    path = "/twilio/whatsapp"
    forged = signed(path, form, token="not-the-token")
    wrong_url = signed(path, form, url="http://127.0.0.1:8080")  # what the proxy shows, not the public URL
    tampered = signed(path, {**form, "Body": "something else"})
    for headers in ({}, forged, wrong_url, tampered, {"X-Twilio-Signature": "abc"}):
        assert (await wa.post(path, form, headers)).status_code == 403
    assert (
        await wa.post("/twilio/status", {"MessageSid": "SM1", "MessageStatus": "read"}, {})
    ).status_code == 403
    assert (await wa.web.post(path, content=b"\x00\xff not a form", headers=forged)).status_code == 403
    await wa.settled()
    async with wa.app.db.conn.execute(
        "SELECT (SELECT COUNT(*) FROM users) + (SELECT COUNT(*) FROM inbound_seen)"
    ) as cur:
        assert (await cur.fetchone())[0] == 0
    assert wa.fake.sent == []


async def test_sha256_signature_settings_are_honoured(wa: WhatsApp) -> None:
    from twilio.request_validator import RequestValidator

    form = wa.form("+250788000009", Body="Muraho")
    url = f"{PUBLIC_URL}/twilio/whatsapp"
    sha256 = RequestValidator(AUTH_TOKEN).compute_signature(url, form, "HMAC_SHA256")
    settings_header = {
        "X-Twilio-Webhooks-Signature-Settings": "key=webhooks_sharedkey_1,algorithm=HMAC_SHA256"
    }
    ok = await wa.post("/twilio/whatsapp", form, {"X-Twilio-Signature": sha256, **settings_header})
    assert ok.status_code == 200
    # The same SHA-256 signature without the header is checked as SHA-1, and fails.
    again = wa.form("+250788000009", Body="Muraho")
    sha256 = RequestValidator(AUTH_TOKEN).compute_signature(url, again, "HMAC_SHA256")
    assert (await wa.post("/twilio/whatsapp", again, {"X-Twilio-Signature": sha256})).status_code == 403


async def test_a_replayed_message_sid_is_processed_once(wa: WhatsApp) -> None:
    form = wa.form("+250788000003", Body="Muraho")
    for _ in range(3):  # Twilio retries when it did not hear back in time
        assert (await wa.post("/twilio/whatsapp", form)).status_code == 200
    await wa.settled()
    async with wa.app.db.conn.execute("SELECT COUNT(*) FROM events WHERE type = 'message_in'") as cur:
        assert (await cur.fetchone())[0] == 1
    assert len(wa.fake.to("whatsapp:+250788000003")) == 1


async def test_media_without_text_gets_a_polite_reply_in_the_guessed_language(wa: WhatsApp) -> None:
    replies = await wa.say("+33612345678", None, NumMedia="1", MediaUrl0="https://api.twilio.com/media/1")
    polite = wa.tr("fr", "I can only read text for now. Please reply with text.")
    assert polite in replies[0].body or polite in str(replies[0].variables)


async def test_outside_the_window_only_templates_go_out(wa: WhatsApp) -> None:
    number = "+250788000004"
    await wa.say(number, "Muraho")
    async with wa.app.db.transaction() as conn:
        await conn.execute(
            "UPDATE users SET last_inbound_at = ?, language = 'rw'",
            ((utcnow() - timedelta(hours=25)).isoformat(),),
        )
        user = await repo.find_user(conn, "whatsapp", f"whatsapp:{number}")
    assert user is not None
    before = len(wa.fake.sent)
    alert = Outbound(
        "whatsapp",
        user.address,
        "Safeguarding alert #7",
        priority=BULK,
        language="rw",
        user_id=user.id,
        key="safeguarding_alert",
        args={"id": 7, "severity": "high", "learner": "p-1"},
    )
    free = Outbound(
        "whatsapp", user.address, "A free-form nudge", priority=BULK, language="rw", user_id=user.id
    )
    async with wa.app.db.transaction() as conn:
        await repo.in_thread(conn, repo.enqueue, [alert, free], utcnow())
    wa.app.engine.notify_outbox("whatsapp")
    await wa.settled()
    sent = wa.fake.sent[before:]
    assert [m.params.get("ContentSid") for m in sent] == [ALERT]
    assert sent[0].variables == {"1": "7", "2": "high", "3": "p-1"} and "Body" not in sent[0].params
    async with wa.app.db.conn.execute("SELECT status, error FROM outbox WHERE status = 'held'") as cur:
        held = await cur.fetchall()
    assert len(held) == 1 and held[0][1].startswith("needs template")


async def test_status_callbacks_only_move_forward(wa: WhatsApp) -> None:
    await wa.say("+250788000005", "Muraho")
    async with wa.app.db.conn.execute("SELECT external_id FROM outbox WHERE status = 'sent'") as cur:
        sid = (await cur.fetchone())[0]

    async def receipt(status: str, code: str | None = None) -> str:
        form = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": ACCOUNT_SID,
            **({"ErrorCode": code} if code else {}),
        }
        assert (await wa.post("/twilio/status", form)).status_code == 204
        async with wa.app.db.conn.execute("SELECT status FROM outbox WHERE external_id = ?", (sid,)) as cur:
            return (await cur.fetchone())[0]

    assert await receipt("delivered") == "delivered"
    assert await receipt("sent") == "delivered"  # a late receipt does not move it back
    assert await receipt("read") == "read"
    assert await receipt("delivered") == "read"
    assert await receipt("failed", "30008") == "read"
    unknown = {"MessageSid": "SMnothing", "MessageStatus": "read"}
    assert (await wa.post("/twilio/status", unknown)).status_code == 204
    assert (await wa.post("/twilio/status", {"MessageSid": sid})).status_code == 400


async def test_a_receipt_outside_the_window_holds_the_message(wa: WhatsApp) -> None:
    await wa.say("+250788000006", "Muraho")
    async with wa.app.db.conn.execute("SELECT external_id FROM outbox WHERE status = 'sent'") as cur:
        sid = (await cur.fetchone())[0]
    form = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "63016"}
    assert (await wa.post("/twilio/status", form)).status_code == 204
    async with wa.app.db.conn.execute(
        "SELECT status, error FROM outbox WHERE external_id = ?", (sid,)
    ) as cur:
        assert tuple(await cur.fetchone()) == ("held", "needs template (63016)")


async def test_stop_stops_every_send_and_start_brings_them_back(wa: WhatsApp) -> None:
    number = "+250788000007"
    address = f"whatsapp:{number}"
    await wa.say(number, "Muraho")
    stopped = await wa.say(number, "STOP")
    assert "START" in stopped[-1].body + str(stopped[-1].variables)
    async with wa.app.db.conn.execute("SELECT id FROM users") as cur:
        user_id = (await cur.fetchone())[0]
    invitation = Outbound(
        "whatsapp", address, "Club session on Saturday", priority=BULK, language="rw", user_id=user_id
    )
    async with wa.app.db.transaction() as conn:
        await repo.in_thread(conn, repo.enqueue, [invitation], utcnow())
    wa.app.engine.notify_outbox("whatsapp")
    await wa.settled()
    assert "Club session" not in wa.fake.texts(address)
    reminder = await wa.say(number, "menu")
    assert len(reminder) == 1 and "START" in reminder[0].body + str(reminder[0].variables)
    back = await wa.say(number, "START")
    assert wa.tr("rw", "You will get our messages again.") in back[0].body + str(back[0].variables)
    async with wa.app.db.conn.execute("SELECT stopped FROM users") as cur:
        assert (await cur.fetchone())[0] == 0


async def test_twilio_21610_opts_the_user_out(wa: WhatsApp) -> None:
    number = "+250788000008"
    await wa.say(number, "Muraho")
    wa.fake.errors[f"whatsapp:{number}"] = [(400, 21610)]
    await wa.say(number, "menu")
    async with wa.app.db.conn.execute("SELECT stopped FROM users") as cur:
        assert (await cur.fetchone())[0] == 1
    async with wa.app.db.conn.execute("SELECT error FROM outbox WHERE status = 'failed'") as cur:
        assert "21610" in (await cur.fetchone())[0]


def test_language_is_guessed_from_the_country_code() -> None:
    assert language_from_number("250788123456") == "rw"
    assert language_from_number("25779123456") == "rw"  # Burundi, until Kirundi exists
    assert [language_from_number(n) for n in ("33612345678", "32470123456", "243812345678")] == ["fr"] * 3
    assert language_from_number("14155238886") == "en"
    assert language_from_number("") is None


@hyp_settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.text(alphabet=st.sampled_from("ab \n\n.é"), max_size=5000), st.integers(min_value=20, max_value=1600)
)
def test_split_text_keeps_every_word_and_each_part_fits(text: str, limit: int) -> None:
    parts = split_text(text, limit)
    assert all(len(p) <= limit for p in parts)
    assert "".join(parts).split() == text.split() or "".join("".join(parts).split()) == "".join(text.split())


def test_split_text_prefers_paragraphs() -> None:
    a, b = "a" * 1000, "b" * 1000
    assert split_text(f"{a}\n\n{b}") == [a, b]


fuzz_counter = itertools.count()
form_values = st.one_of(
    st.text(max_size=120), st.sampled_from(["", "0", "2", "-1", "9999", "２", "rsvp.1.yes", "1.rw"])
)


@hyp_settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fields=st.dictionaries(
        st.sampled_from(
            ["Body", "ButtonPayload", "ButtonText", "ListId", "NumMedia", "ProfileName", "MediaUrl0"]
        ),
        form_values,
    )
)
async def test_any_signed_webhook_gets_200_and_a_reply(wa: WhatsApp, fields: dict[str, str]) -> None:
    number = f"+2507{next(fuzz_counter):08d}"
    replies = await wa.say(number, None, **fields)
    assert replies, f"no reply to {fields!r}"
    assert all(len(m.body) <= 1600 for m in replies)
