"""The real `python -m bot run` process when the world misbehaves: a full disk, and a
Telegram API that cannot be reached when the process starts."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests import fake_twilio
from tests.fake_telegram import FakeBotAPI, free_port, running, wait_for
from tests.fake_twilio import FakeTwilio, signed
from tests.test_durable_inbox import SECRET, Process, bot_env, healthy, telegram_update, whatsapp_form

UPDATES = 25


@contextlib.contextmanager
def small_disk(path: Path, size: str = "3m") -> Iterator[Path]:
    """A real filesystem of a few MB, so SQLite meets a real 'database or disk is full'."""
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk: Path) -> Path:
    """Take every free byte of the disk with one file."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        for size in (65536, 512, 1):
            with contextlib.suppress(OSError):
                while True:
                    os.write(fd, b"\0" * size)
    finally:
        os.close(fd)
    return filler


async def test_a_full_disk_answers_503_and_everything_is_answered_once_space_returns(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with small_disk(tmp_path / "disk") as disk:
        async with running(FakeBotAPI()) as tg, fake_twilio.running(FakeTwilio()) as tw:
            env = bot_env(tmp_path, port, tg.url, tw.url)
            env["DATABASE_URL"] = f"sqlite:///{disk / 'bot.db'}"
            bot = Process(env, tmp_path, tmp_path / "bot.log")
            headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
                bot.start()
                try:
                    await wait_for(lambda: healthy(client, "telegram"), within=60)
                    filler = fill(disk)
                    statuses = []
                    for n in range(UPDATES):
                        update = telegram_update(n)
                        update["message"]["text"] = f"hello {'x' * 3000}"  # each needs new pages
                        r = await client.post("/telegram/webhook", json=update, headers=headers)
                        statuses.append(r.status_code)
                    assert 503 in statuses and set(statuses) <= {200, 503}, statuses
                    await wait_for(lambda: client_status(client, 503), within=10)

                    filler.unlink()  # space returns
                    await wait_for(lambda: client_status(client, 200), within=10)
                    for n, status in enumerate(statuses):
                        if status != 200:  # Telegram delivers again what was not acknowledged
                            update = telegram_update(n)
                            r = await client.post("/telegram/webhook", json=update, headers=headers)
                            assert r.status_code == 200
                    want = {str(700_000 + n) for n in range(UPDATES)}
                    await wait_for(lambda: want <= {str(c.params["chat_id"]) for c in tg.sent()}, within=60)
                finally:
                    bot.kill(signal.SIGTERM)
    print(f"\nwhile the disk was full: {statuses.count(503)} of {UPDATES} answered 503; all answered later")


async def client_status(client: httpx.AsyncClient, expected: int) -> bool:
    return (await client.get("/healthz")).status_code == expected


async def test_telegram_unreachable_at_start_leaves_whatsapp_and_the_dashboard_serving(
    tmp_path: Path,
) -> None:
    port, telegram_port = free_port(), free_port()
    base = f"http://127.0.0.1:{port}"
    async with fake_twilio.running(FakeTwilio()) as tw:
        env = bot_env(tmp_path, port, f"http://127.0.0.1:{telegram_port}", tw.url)  # nothing listens there
        bot = Process(env, tmp_path, tmp_path / "bot.log")
        async with httpx.AsyncClient(base_url=base, timeout=30, trust_env=False) as client:
            bot.start()
            try:
                await wait_for(lambda: healthy(client, "whatsapp"), within=60)
                report = (await client.get("/healthz")).json()
                assert report["telegram"]["connection"].startswith("down"), report
                assert (await client.get("/dashboard/login")).status_code == 200
                form = whatsapp_form(1)
                r = await client.post(
                    "/twilio/whatsapp", data=form, headers=signed("/twilio/whatsapp", form, url=base)
                )
                assert r.status_code == 200
                await wait_for(lambda: tw.to(form["From"]), within=30)

                async with running(FakeBotAPI(), port=telegram_port) as tg:  # Telegram comes back
                    await wait_for(lambda: healthy(client, "telegram"), within=90)
                    update = telegram_update(1)
                    r = await client.post(
                        "/telegram/webhook", json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
                    )
                    assert r.status_code == 200
                    await wait_for(lambda: tg.sent(700_001), within=30)
            finally:
                bot.kill(signal.SIGTERM)
    log = (tmp_path / "bot.log").read_text()
    assert "telegram could not start" in log
