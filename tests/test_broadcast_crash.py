"""A broadcast survives SIGKILL: the real `python -m bot run` process, a fake Bot API, 5,000 members.

The invitations are queued by the real CLI, sent by the real process through PTB's HTTP stack,
killed midway with SIGKILL, and started again. Everyone gets their invitation; the only
repeats are messages that were in flight when the process died.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bot.config import Settings
from tests.conftest import plain_connection
from tests.fake_telegram import FakeBotAPI, running, wait_for

MEMBERS = 5000
IN_FLIGHT = 32  # the Telegram sender's max_in_flight


def cli(*args: str, env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def seed_members(settings: Settings, code: str) -> None:
    with plain_connection(settings) as conn:
        club_id = conn.execute("SELECT id FROM clubs WHERE code = ?", (code,)).fetchone()[0]
        langs = ("rw", "fr", "en")
        conn.executemany(
            "INSERT INTO users (channel, address, pseudonym, language, consent, created_at, last_inbound_at) "
            "VALUES ('telegram', ?, ?, ?, 'given', '2026-11-01T00:00:00+00:00', '2026-11-01T00:00:00+00:00')",
            [(str(100_000 + n), f"u_{n:08x}", langs[n % 3]) for n in range(MEMBERS)],
        )
        conn.execute(
            "INSERT INTO memberships (club_id, user_id, joined_at) "
            "SELECT ?, id, '2026-11-01T00:00:00+00:00' FROM users",
            (club_id,),
        )


def invitations_queued(tmp_path: Path, settings: Settings) -> dict[str, str]:
    """A club of MEMBERS members and a session whose invitations are queued, by the real CLI;
    returns the environment that ran it."""
    env = {**os.environ, "DATABASE_URL": settings.database_url, "PORT": "0", "MEDIA_DIR": str(tmp_path / "m")}
    cli("db", "migrate", env=env, cwd=tmp_path)
    code = cli("clubs", "create", "--name", "Nyanza Club", "--district", "Nyanza", env=env, cwd=tmp_path)
    code = code.split("join code ")[1].split()[0]
    seed_members(settings, code)
    at = ("--at", "2030-01-05 15:00", "--place", "Hall", "--topic", "Trust")
    out = cli("sessions", "create", "--club", code, *at, env=env, cwd=tmp_path)
    session_id = out.split("session ")[1].split()[0]
    assert f"invited {MEMBERS} member(s)" in cli("sessions", "invite", session_id, env=env, cwd=tmp_path)
    return env


async def test_a_killed_broadcast_resumes_and_everyone_gets_one_invitation(
    tmp_path: Path, settings: Settings
) -> None:
    env = invitations_queued(tmp_path, settings)

    async with running(FakeBotAPI()) as fake:
        run_env = {
            **env,
            "TELEGRAM_BOT_TOKEN": fake.token,
            "TELEGRAM_API_URL": fake.url,
            "TELEGRAM_MPS": "5000",
        }

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                [sys.executable, "-m", "bot", "run"],
                env=run_env,
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )

        first = start()
        try:
            await wait_for(lambda: len(fake.sent()) >= MEMBERS // 3, within=120)
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
        killed_at = len(fake.sent())
        assert killed_at < MEMBERS  # it really died midway

        second = start()
        try:
            await wait_for(lambda: len({c.params["chat_id"] for c in fake.sent()}) >= MEMBERS, within=240)
            await asyncio.sleep(1)  # anything more would be a duplicate
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(timeout=20)

    per_chat = Counter(int(c.params["chat_id"]) for c in fake.sent())
    assert set(per_chat) == {100_000 + n for n in range(MEMBERS)}  # nobody missed
    duplicates = sum(n - 1 for n in per_chat.values())
    # Only what was in flight (sent, or its "sent" mark not yet written) when the process died.
    assert duplicates <= 2 * IN_FLIGHT, duplicates
    languages = Counter(c.params["text"].split(":")[0][-12:] for c in fake.sent())
    assert len(languages) >= 3  # rw, fr and en invitations
    with plain_connection(settings) as conn:
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM outbox GROUP BY status").fetchall())
    assert statuses == {"sent": MEMBERS}
