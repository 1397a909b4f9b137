"""The web process: app assembly (webhooks, dashboard, media, /healthz) and health."""
