"""The channel-agnostic engine: it imports nothing from Telegram or Twilio."""
