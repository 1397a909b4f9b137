"""Channel adapters: normalise inbound messages, render outbound ones. No logic lives here."""
