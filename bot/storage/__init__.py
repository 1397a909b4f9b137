"""SQLite storage: one database file, numbered migrations, SQL only in `repo.py`."""
