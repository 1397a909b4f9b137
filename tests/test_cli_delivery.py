"""Staff see an alert that has not reached an officer, and can send failed messages again."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

from bot.app import App
from bot.config import Settings
from tests.conftest import Chat, database_env, plain_connection


def cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **database_env(settings)}
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_escalations_list_shows_an_undelivered_alert_and_retry_failed_requeues(
    settings: Settings,
) -> None:
    settings = replace(settings, safeguarding_officers="telegram:900")
    app = await App.create(settings)
    try:
        await Chat(app, channel="telegram", address="55").send("I want to kill myself")
    finally:
        await app.close()
    listed = cli(settings, "escalations", "list")
    assert listed.returncode == 0 and "ALERT NOT DELIVERED YET" in listed.stdout, listed

    with plain_connection(settings) as conn:
        conn.execute("UPDATE outbox SET status = 'failed', error = 'gave up'")
        conn.execute("UPDATE outbox SET created_at = '2020-01-01T00:00:00+00:00' WHERE address = '55'")
    assert "queued 0" in cli(settings, "outbox", "retry-failed", "--channel", "whatsapp").stdout
    assert "queued 1" in cli(settings, "outbox", "retry-failed", "--since", "2026-01-01").stdout
    with plain_connection(settings) as conn:
        statuses = dict(conn.execute("SELECT address, status FROM outbox").fetchall())
    assert statuses == {"900": "queued", "55": "failed"}
    assert "queued 1" in cli(settings, "outbox", "retry-failed", "--channel", "telegram").stdout
    bad = cli(settings, "outbox", "retry-failed", "--since", "yesterday")
    assert bad.returncode == 2 and "not a date or time: 'yesterday'" in bad.stderr

    with plain_connection(settings) as conn:
        conn.execute("UPDATE outbox SET status = 'sent'")
    assert "alert delivered" in cli(settings, "escalations", "list").stdout
