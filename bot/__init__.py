"""Club Speak bot: a channel-agnostic dialog engine for youth peace clubs."""

__version__ = "0.1.0"
