"""The web process: /healthz answers on the real app, with no channel configured."""

from __future__ import annotations

import httpx

from bot.app import App
from bot.web.server import build_web, configured_channels


async def test_healthz_reports_the_schema_version(app: App) -> None:
    assert configured_channels(app.settings, app) == []
    transport = httpx.ASGITransport(app=build_web(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok" and response.json()["schema"] >= 2
        assert (await client.get("/nowhere")).status_code == 404
