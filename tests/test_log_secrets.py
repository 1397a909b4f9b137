"""The Telegram token (and every other secret) never appears in a log line.

The Bot API carries the token in each URL, which httpx logs and error texts repeat. One test
runs the real bot at DEBUG against the fake Bot API, errors included, and reads its whole
output; the others log through the same loggers in-process.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from telegram.error import NetworkError

from bot.config import Settings
from bot.logsafe import mask_secrets
from tests.fake_telegram import FakeBotAPI, running, wait_for

TOKEN = "4242424242:AAH-fake-token_for-logs"
TWILIO = "twilio-auth-token-0123456789"


async def test_a_running_bot_logs_no_token_even_at_debug_and_on_errors(tmp_path: Path) -> None:
    log_file = tmp_path / "bot.log"
    async with running(FakeBotAPI(token=TOKEN)) as fake:
        # An error on both paths that log one: polling (getUpdates) and sending.
        fake.errors = {"getUpdates": [(502, None)], "sendMessage": [(500, None)]}
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
            "PORT": "0",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_URL": fake.url,
        }
        with log_file.open("wb") as out:
            proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
                [sys.executable, "-m", "bot", "-v", "run"], env=env, cwd=tmp_path, stdout=out, stderr=out
            )
            try:
                chats = (701, 702, 703)
                for chat in chats:
                    fake.push_text(chat, "hello")
                await wait_for(lambda: all(fake.sent(chat) for chat in chats), within=30)
                assert fake.sent(refused=True)  # the scripted send error really happened
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=20)
    log = log_file.read_text(errors="replace")
    assert TOKEN not in log
    assert TOKEN.split(":")[1] not in log  # nor its secret half alone
    assert "DEBUG" in log and "telegram" in log  # it did log, and verbosely
    assert "[TELEGRAM_BOT_TOKEN]" in log  # where the token would have been


@pytest.fixture
def masked() -> Iterator[None]:
    """mask_secrets for this test only: the record factory is process-wide."""
    factory, httpx_level = logging.getLogRecordFactory(), logging.getLogger("httpx").level
    mask_secrets(Settings(telegram_bot_token=TOKEN, twilio_auth_token=TWILIO))
    mask_secrets(Settings(telegram_bot_token=TOKEN))  # as main, the server and a channel each do
    try:
        yield
    finally:
        logging.setLogRecordFactory(factory)
        logging.getLogger("httpx").setLevel(httpx_level)


def test_messages_arguments_and_tracebacks_are_masked(masked: None, caplog: pytest.LogCaptureFixture) -> None:
    url = httpx.URL(f"https://api.telegram.org/bot{TOKEN}/sendMessage")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("httpx").warning('HTTP Request: %s %s "%s"', "POST", url, "HTTP/1.1 200 OK")
        logging.getLogger("bot.outbox").info(f"an f-string with {TOKEN} and {TWILIO}")
        logging.getLogger("telegram.ext").info("%(url)s", {"url": str(url)})
        try:
            raise NetworkError(f"httpx.ConnectError: cannot reach {url}")
        except NetworkError:
            logging.getLogger("telegram.ext.Updater").exception("polling failed")
    formatted = "\n".join(logging.Formatter("%(message)s").format(r) for r in caplog.records)
    for text in (caplog.text, formatted):
        assert TOKEN not in text and TWILIO not in text
        assert "bot[TELEGRAM_BOT_TOKEN]/sendMessage" in text and "[TWILIO_AUTH_TOKEN]" in text
        assert "Traceback" in text and "NetworkError: httpx.ConnectError: cannot reach" in text
    assert len(caplog.records) == 4


def test_records_without_secrets_are_left_as_they_are(masked: None) -> None:
    # uvicorn's access log formatter unpacks record.args: they must stay a tuple of the originals.
    args = ("1.2.3.4", "GET", "/", "1.1", 200)
    record = logging.getLogger("uvicorn.access").makeRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', args, None
    )
    assert record.args == args and record.getMessage() == '1.2.3.4 - "GET / HTTP/1.1" 200'
    assert logging.getLogger("httpx").getEffectiveLevel() == logging.WARNING  # one INFO line per request


def test_a_secret_inside_the_format_string_never_breaks_a_record(caplog: pytest.LogCaptureFixture) -> None:
    factory = logging.getLogRecordFactory()
    # A secret that is also an ordinary word of a format string, and one too short to mask
    # without masking every line (found when a test's one-letter webhook secret broke "%s").
    mask_secrets(Settings(telegram_webhook_secret="handling", dashboard_secret="s"))
    try:
        with caplog.at_level(logging.INFO):
            logging.getLogger("bot.inbox").warning("handling a message from %s failed: %s", "u_1", "disk")
            logging.getLogger("bot.outbox").info("sent %d messages", 3)
    finally:
        logging.setLogRecordFactory(factory)
    assert [r.getMessage() for r in caplog.records] == [
        "[TELEGRAM_WEBHOOK_SECRET] a message from u_1 failed: disk",
        "sent 3 messages",
    ]
