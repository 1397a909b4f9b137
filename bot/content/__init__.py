"""Content as data: dialogs in YAML, validated by pydantic, translated by gettext."""
