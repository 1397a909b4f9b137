"""Nothing acknowledged is lost: the real `python -m bot run` process, killed with SIGKILL
under 300 concurrent Telegram updates and 300 concurrent WhatsApp messages, then started again.

Every update that got 200 must be answered after the restart. Repeated replies can only come
from turns that committed while their reply was in flight; the test prints how many.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx

from bot.config import Settings
from tests import fake_twilio
from tests.fake_telegram import FakeBotAPI, free_port, running, wait_for
from tests.fake_twilio import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio, signed

UPDATES = 300
SECRET = "hook-secret"
FROM = "whatsapp:+14155238886"


def telegram_update(n: int) -> dict:
    chat = 700_000 + n
    return {
        "update_id": 50_000 + n,
        "message": {
            "message_id": n + 1,
            "date": 1_790_000_000,
            "text": "hello",
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Ada", "language_code": "en"},
        },
    }


def whatsapp_form(n: int) -> dict[str, str]:
    number = f"+25078{n:07d}"
    return {
        "MessageSid": f"SMcrash{n:027d}",
        "AccountSid": ACCOUNT_SID,
        "From": f"whatsapp:{number}",
        "To": FROM,
        "WaId": number.lstrip("+"),
        "Body": "hello",
        "NumMedia": "0",
    }


class Process:
    def __init__(self, env: dict[str, str], cwd: Path, log: Path):
        self.env, self.cwd, self.log = env, cwd, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot", "run"], env=self.env, cwd=self.cwd, stdout=out, stderr=out
            )

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)


def bot_env(
    tmp: Path, port: int, telegram_url: str, twilio_url: str, database_url: str | None = None
) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": database_url or f"sqlite:///{tmp / 'bot.db'}",
        "MEDIA_DIR": str(tmp / "media"),
        "PORT": str(port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "TELEGRAM_BOT_TOKEN": FakeBotAPI().token,
        "TELEGRAM_API_URL": telegram_url,
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "TELEGRAM_MPS": "5000",
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_WHATSAPP_FROM": FROM,
        "TWILIO_API_URL": twilio_url,
        "WHATSAPP_MPS": "5000",
    }


async def healthy(client: httpx.AsyncClient, part: str | None = None) -> bool:
    try:
        response = await client.get("/healthz")
    except httpx.TransportError:
        return False
    if response.status_code != 200:
        return False
    return part is None or response.json().get(part, {}).get("connection") == "up"


async def test_kill_9_under_inbound_load_loses_nothing_acknowledged(
    tmp_path: Path, settings: Settings
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    async with running(FakeBotAPI()) as tg, fake_twilio.running(FakeTwilio()) as tw:
        env = bot_env(tmp_path, port, tg.url, tw.url, settings.database_url)
        bot = Process(env, tmp_path, tmp_path / "bot.log")
        limits = httpx.Limits(max_connections=150)
        async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60, trust_env=False) as client:
            bot.start()
            try:
                await wait_for(lambda: healthy(client, "telegram"), within=60)

                answers: list[tuple[str, int, int]] = []

                async def post(channel: str, n: int) -> None:
                    try:
                        if channel == "telegram":
                            update, headers = telegram_update(n), {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                            r = await client.post("/telegram/webhook", json=update, headers=headers)
                        else:
                            form = whatsapp_form(n)
                            headers = signed("/twilio/whatsapp", form, url=base)
                            r = await client.post("/twilio/whatsapp", data=form, headers=headers)
                        answers.append((channel, n, r.status_code))
                    except httpx.TransportError:  # the process died before answering: not acknowledged
                        answers.append((channel, n, 0))

                work = [post(ch, n) for n in range(UPDATES) for ch in ("telegram", "whatsapp")]
                tasks = [asyncio.ensure_future(w) for w in work]
                # Kill it mid-load: when about half have their answer, the rest still in the air.
                await wait_for(lambda: len(answers) >= UPDATES, within=60)
            finally:
                bot.kill(signal.SIGKILL)
            await asyncio.gather(*tasks)
        acked = {(channel, n) for channel, n, status in answers if status == 200}
        answered_before_kill = len({c.params["chat_id"] for c in tg.sent()}) + len({m.to for m in tw.sent})
        assert {status for _, _, status in answers} <= {0, 200, 503}
        assert len(acked) >= UPDATES, Counter(status for _, _, status in answers)

        bot.start()
        try:
            want_tg = {str(700_000 + n) for channel, n in acked if channel == "telegram"}
            want_wa = {f"whatsapp:+25078{n:07d}" for channel, n in acked if channel == "whatsapp"}
            await wait_for(
                lambda: (
                    want_tg <= {str(c.params["chat_id"]) for c in tg.sent()}
                    and want_wa <= {m.to for m in tw.sent}
                ),
                within=120,
            )
            await asyncio.sleep(1)  # anything more would be a repeat
        finally:
            bot.kill(signal.SIGTERM)

    per_chat = Counter(str(c.params["chat_id"]) for c in tg.sent())
    per_number = Counter(m.to for m in tw.sent)
    repeats = sum(n - 1 for n in per_chat.values()) + sum(n - 1 for n in per_number.values())
    print(
        f"\nacknowledged {len(acked)}, answered before the kill {answered_before_kill}, "
        f"lost 0, repeated replies {repeats}"
    )
    # Each user sent one message, so a repeat is a reply sent twice: only those in flight
    # (32 per channel) when the process died can repeat.
    assert repeats <= 2 * 2 * 32, repeats
