"""The schema of a database, SQLite or PostgreSQL, in one normalised form, so the two can be compared.

`describe_sqlite(conn)` and `describe_postgres(conn)` read what the database itself says (the
catalogs, not our migration files) and give a `Schema`: per table its columns, primary key, unique
constraints, foreign keys, checks, indexes and triggers. Both are normalised so that equivalent
schemas compare equal:

- column types as families: integer, real, numeric, text, blob, or none (an untyped SQLite column);
- collation: binary (SQLite's BINARY, PostgreSQL's "C" or "POSIX") or the name of another one;
- `auto`: a key the database numbers by itself (SQLite's INTEGER PRIMARY KEY rowid, an identity
  or serial column), whose default is then not a default;
- a primary key's columns are NOT NULL (PostgreSQL insists; on SQLite it is the intent);
- expressions (defaults, checks, index predicates, trigger conditions) lowercased, with casts,
  spaces and parentheses taken out, `x = ANY (ARRAY[...])` read as `x IN (...)`, `!=` as `<>`;
- WITHOUT ROWID is not recorded: on PostgreSQL it is an ordinary table with the same key.

`compare(sqlite, postgres)` lists the mismatches, less the few in `INTENDED`, each with its reason.
`migrate_postgres(conn)` applies bot/storage/migrations_postgres/ with the same bookkeeping as
`Database.migrate` (the version is the highest row of `schema_migrations`, as SQLite's is
`PRAGMA user_version`).
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

# ---------------------------------------------------------------------------------------------
# The normalised form


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # integer, real, numeric, text, blob, none, or the PostgreSQL type name otherwise
    nullable: bool
    default: str | None  # normalised expression
    generated: bool = False
    auto: bool = False
    collation: str | None = None  # for text and untyped columns


@dataclass(frozen=True)
class ForeignKey:
    columns: tuple[str, ...]
    table: str
    references: tuple[str, ...]
    on_delete: str  # no action, restrict, cascade, set null, set default
    on_update: str


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]  # column names or normalised expressions, " desc" when descending
    unique: bool
    where: str | None  # the predicate of a partial index, normalised


@dataclass(frozen=True)
class Trigger:
    name: str
    timing: str  # before, after, instead of
    event: str  # insert, update, delete
    columns: tuple[str, ...]  # UPDATE OF these
    when: str | None


@dataclass
class Table:
    name: str
    columns: dict[str, Column] = field(default_factory=dict)  # in the table's order
    primary_key: tuple[str, ...] = ()
    unique: frozenset[tuple[str, ...]] = frozenset()
    foreign_keys: frozenset[ForeignKey] = frozenset()
    checks: tuple[str, ...] = ()  # normalised, sorted
    indexes: dict[str, Index] = field(default_factory=dict)
    triggers: dict[str, Trigger] = field(default_factory=dict)


@dataclass
class Schema:
    tables: dict[str, Table] = field(default_factory=dict)


@dataclass(frozen=True)
class Mismatch:
    table: str
    what: str  # "table", "columns", "column x", "primary key", "index x", "trigger x", ...
    sqlite: Any
    postgres: Any

    def __str__(self) -> str:
        return f"{self.table}: {self.what}\n    sqlite:   {self.sqlite!r}\n    postgres: {self.postgres!r}"


@dataclass(frozen=True)
class Intended:
    mismatch: Mismatch
    reason: str


# Tables that are bookkeeping, not schema: SQLite keeps its version in PRAGMA user_version.
BOOKKEEPING = frozenset({"schema_migrations"})


def _generated(name: str, sqlite_type: str, pg_type: str, pg_collation: str | None, why: str) -> Intended:
    return Intended(
        Mismatch(
            "events",
            f"column {name}",
            Column(name, sqlite_type, True, None, generated=True, collation="binary"),
            Column(name, pg_type, True, None, generated=True, collation=pg_collation),
        ),
        why,
    )


_UNTYPED = "a PostgreSQL generated column needs a type; SQLite's holds whatever json_extract returns"
INTENDED: tuple[Intended, ...] = (
    _generated("correct", "none", "integer", None, f"{_UNTYPED}: 1/0 for true/false, so bigint"),
    _generated("retry", "none", "integer", None, f"{_UNTYPED}: 1/0 for true/false, so bigint"),
    _generated("passed", "none", "integer", None, f"{_UNTYPED}: 1/0 for true/false, so bigint"),
    _generated("score", "none", "numeric", None, f"{_UNTYPED}: any JSON number, exactly, so numeric"),
    _generated("max_score", "none", "numeric", None, f"{_UNTYPED}: any JSON number, exactly, so numeric"),
    _generated("badge", "none", "text", "binary", f"{_UNTYPED}: a string, so text"),
    Intended(
        Mismatch(
            "dialog_state",
            "column user_id",
            Column("user_id", "integer", False, None, auto=True),
            Column("user_id", "integer", False, None),
        ),
        "SQLite makes `user_id INTEGER PRIMARY KEY` a rowid alias by the form of its declaration; "
        "it is a foreign key, never numbered by the database",
    ),
    Intended(
        Mismatch(
            "reports",
            "trigger reports_rank_insert",
            Trigger("reports_rank_insert", "after", "insert", (), None),
            Trigger("reports_rank_insert", "before", "insert", (), None),
        ),
        "PostgreSQL sets NEW.rank as the row is written instead of updating the new row again",
    ),
    Intended(
        Mismatch(
            "reports",
            "trigger reports_rank_update",
            Trigger("reports_rank_update", "after", "update", ("danger", "urgency"), None),
            Trigger("reports_rank_update", "before", "update", ("danger", "urgency"), None),
        ),
        "PostgreSQL sets NEW.rank as the row is written instead of updating the row again",
    ),
    *(
        Intended(
            Mismatch(
                "outbox",
                f"trigger outbox_notify_{event}",
                None,
                Trigger(f"outbox_notify_{event}", "after", event, columns, None),
            ),
            "several workers: a queued message wakes the sender role's holder by NOTIFY; SQLite's one "
            "process wakes its sender in memory",
        )
        for event, columns in (("insert", ()), ("update", ("status",)))
    ),
)


def compare(sqlite: Schema, postgres: Schema) -> list[Mismatch]:
    """Every difference between the two schemas, in table order."""
    out: list[Mismatch] = []
    for name in sorted(sqlite.tables.keys() | postgres.tables.keys()):
        s, p = sqlite.tables.get(name), postgres.tables.get(name)
        if s is None or p is None:
            out.append(Mismatch(name, "table", "present" if s else "absent", "present" if p else "absent"))
            continue
        if list(s.columns) != list(p.columns):
            out.append(Mismatch(name, "columns", tuple(s.columns), tuple(p.columns)))
        for col in s.columns.keys() & p.columns.keys():
            if s.columns[col] != p.columns[col]:
                out.append(Mismatch(name, f"column {col}", s.columns[col], p.columns[col]))
        for what in ("primary_key", "unique", "foreign_keys", "checks"):
            a, b = getattr(s, what), getattr(p, what)
            if a != b:
                show = sorted if isinstance(a, frozenset) else tuple
                out.append(Mismatch(name, what.replace("_", " "), show(a), show(b)))
        for kind, one in (("indexes", "index"), ("triggers", "trigger")):
            mine, theirs = getattr(s, kind), getattr(p, kind)
            for key in sorted(mine.keys() | theirs.keys()):
                if mine.get(key) != theirs.get(key):
                    out.append(Mismatch(name, f"{one} {key}", mine.get(key), theirs.get(key)))
    return out


def unintended(mismatches: list[Mismatch]) -> tuple[list[Mismatch], list[Intended]]:
    """(the mismatches INTENDED does not explain, the INTENDED entries that no longer occur)."""
    intended = {i.mismatch for i in INTENDED}
    return [m for m in mismatches if m not in intended], [i for i in INTENDED if i.mismatch not in mismatches]


# ---------------------------------------------------------------------------------------------
# Normalising expressions and reading SQLite's SQL text

_CAST = re.compile(
    r"::\s*(?:text|bigint|integer|smallint|numeric|boolean|jsonb|json|double precision|"
    r"character varying|timestamp with time zone)(?:\[\])?"
)
_ANY_ARRAY = re.compile(r"=\s*any\s*\(\s*array\s*\[(.*?)\]\s*\)")


def normalise(expr: str | None) -> str | None:
    """An expression as a comparison key: equivalent SQLite and PostgreSQL spellings give one text."""
    if expr is None:
        return None
    text = _CAST.sub("", expr.strip().lower())
    text = _ANY_ARRAY.sub(r" in (\1)", text)
    text = text.replace("!=", "<>").replace("ifnull(", "coalesce(")
    return re.sub(r'[\s()"]', "", text)


def _mask(sql: str) -> str:
    """`sql` with comments blanked and the insides of quotes replaced, lengths unchanged, so that
    keywords and parentheses can be found by position and the original sliced."""
    out = list(sql)
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif c == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out[i:end] = " " * (end - i)
            i = end
        elif c in "'\"`[":
            close = "]" if c == "[" else c
            j = i + 1
            while j < n:
                if sql[j] == close:
                    if close != "]" and j + 1 < n and sql[j + 1] == close:  # '' inside a string
                        j += 2
                        continue
                    break
                j += 1
            out[i + 1 : j] = "x" * (j - i - 1)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def _closing(masked: str, open_at: int) -> int:
    """The index of the parenthesis that closes the one at `open_at`."""
    depth = 0
    for i in range(open_at, len(masked)):
        if masked[i] == "(":
            depth += 1
        elif masked[i] == ")":
            depth -= 1
            if depth == 0:
                return i
    raise ValueError(f"unbalanced parentheses in {masked!r}")


def _split_top(sql: str, masked: str) -> list[str]:
    """Split at the commas outside parentheses."""
    parts, depth, start = [], 0, 0
    for i, c in enumerate(masked):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(sql[start:i])
            start = i + 1
    parts.append(sql[start:])
    return [p.strip() for p in parts]


def _checks(sql: str) -> list[str]:
    masked = _mask(sql)
    found = []
    for m in re.finditer(r"\bcheck\s*\(", masked, re.IGNORECASE):
        open_at = m.end() - 1
        found.append(sql[open_at + 1 : _closing(masked, open_at)])
    return found


def _unquote(name: str) -> str:
    name = name.strip()
    if name[:1] in '"`[' and len(name) > 1:
        return name[1:-1]
    return name


# ---------------------------------------------------------------------------------------------
# SQLite


def _sqlite_family(declared: str) -> str:
    # SQLite's affinity rules (https://www.sqlite.org/datatype3.html#determination_of_column_affinity)
    t = declared.upper()
    if "INT" in t:
        return "integer"
    if any(k in t for k in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not t:
        return "none"
    if "BLOB" in t:
        return "blob"
    if any(k in t for k in ("REAL", "FLOA", "DOUB")):
        return "real"
    return "numeric"


def _sqlite_collations(sql: str) -> dict[str, str]:
    """Column name -> its COLLATE clause, for the columns that have one."""
    masked = _mask(sql)
    open_at = masked.index("(")
    close = _closing(masked, open_at)
    out = {}
    for part in _split_top(sql[open_at + 1 : close], masked[open_at + 1 : close]):
        m = re.search(r"\bcollate\s+(\S+)", _mask(part), re.IGNORECASE)
        first = part.split(None, 1)[0].lower() if part else ""
        if m and first not in ("constraint", "primary", "unique", "check", "foreign"):
            out[_unquote(part.split(None, 1)[0])] = part[m.start(1) : m.end(1)].lower()
    return out


def _sqlite_trigger(sql: str) -> tuple[str, Trigger]:
    masked = _mask(sql)
    m = re.match(
        r"\s*create\s+(?:temp\w*\s+)?trigger\s+(?:if\s+not\s+exists\s+)?(\S+)\s+"
        r"(?:(before|after|instead\s+of)\s+)?(delete|insert|update)(?:\s+of\s+(.+?))?\s+on\s+(\S+)"
        r"(?:\s+for\s+each\s+row)?(?:\s+when\s+(.+?))?\s+begin\b",
        masked,
        re.IGNORECASE | re.DOTALL,
    )
    if not m:
        raise ValueError(f"cannot read trigger {sql!r}")

    def group(i: int) -> str | None:
        return sql[m.start(i) : m.end(i)] if m.group(i) is not None else None

    columns = tuple(_unquote(c).lower() for c in (group(4) or "").split(",") if c.strip())
    timing = re.sub(r"\s+", " ", (group(2) or "before").lower())
    trigger = Trigger(
        _unquote(group(1) or ""), timing, (group(3) or "").lower(), columns, normalise(group(6))
    )
    return _unquote(group(5) or ""), trigger


def _rows(conn: sqlite3.Connection, sql: str) -> list[tuple]:
    return [tuple(r) for r in conn.execute(sql).fetchall()]


def describe_sqlite(conn: sqlite3.Connection) -> Schema:
    """The schema of a SQLite database (a plain `sqlite3` connection)."""
    schema = Schema()
    without_rowid = {r[1] for r in _rows(conn, "PRAGMA table_list") if r[4]}
    tables = _rows(
        conn,
        "SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    for name, sql in tables:
        if name in BOOKKEEPING:
            continue
        table = Table(name)
        info = _rows(conn, f"PRAGMA table_xinfo({_quote(name)})")
        pk = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        table.primary_key = pk
        collations = _sqlite_collations(sql)
        rowid_key = (
            name not in without_rowid
            and len(pk) == 1
            and next(r[2] for r in info if r[1] == pk[0]).strip().upper() == "INTEGER"
        )
        for _cid, col, declared, notnull, default, _pk, hidden in info:
            if hidden == 1:  # a virtual table's hidden column
                continue
            family = _sqlite_family(declared or "")
            table.columns[col] = Column(
                col,
                family,
                nullable=not notnull and col not in pk,
                default=normalise(default),
                generated=hidden in (2, 3),
                auto=rowid_key and col == pk[0],
                collation=collations.get(col, "binary") if family in ("text", "none") else None,
            )
        unique, indexes = set(), {}
        for _seq, index, is_unique, origin, partial in _rows(conn, f"PRAGMA index_list({_quote(name)})"):
            keys = _sqlite_index_keys(conn, index)
            if origin == "u":
                unique.add(keys)
            elif origin == "c":
                index_sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()[
                    0
                ]
                indexes[index] = Index(
                    index, keys, bool(is_unique), _sqlite_where(index_sql) if partial else None
                )
        table.unique, table.indexes = frozenset(unique), dict(sorted(indexes.items()))
        fks: dict[int, list[tuple]] = {}
        for row in _rows(conn, f"PRAGMA foreign_key_list({_quote(name)})"):
            fks.setdefault(row[0], []).append(row)
        table.foreign_keys = frozenset(_sqlite_fk(conn, rows) for rows in fks.values())
        table.checks = tuple(sorted(normalise(c) or "" for c in _checks(sql)))
        schema.tables[name] = table
    for (sql,) in _rows(conn, "SELECT sql FROM sqlite_master WHERE type = 'trigger' ORDER BY name"):
        on, trigger = _sqlite_trigger(sql)
        schema.tables[on].triggers[trigger.name] = trigger
    for table in schema.tables.values():
        table.triggers = dict(sorted(table.triggers.items()))
    return schema


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sqlite_index_keys(conn: sqlite3.Connection, index: str) -> tuple[str, ...]:
    rows = [r for r in _rows(conn, f"PRAGMA index_xinfo({_quote(index)})") if r[5]]
    expressions: list[str] = []
    if any(r[1] == -2 for r in rows):
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (index,)).fetchone()[0]
        masked = _mask(sql)
        open_at = re.search(r"\bon\s+\S+?\s*\(", masked, re.IGNORECASE | re.DOTALL).end() - 1  # type: ignore[union-attr]
        close = _closing(masked, open_at)
        expressions = _split_top(sql[open_at + 1 : close], masked[open_at + 1 : close])
    keys = []
    for r in rows:
        if r[1] == -2:
            expr = re.sub(r"\s+(asc|desc)\s*$", "", expressions[r[0]], flags=re.IGNORECASE)
            key = normalise(expr) or ""
        else:
            key = r[2]
        keys.append(key + (" desc" if r[3] else ""))
    return tuple(keys)


def _sqlite_where(sql: str) -> str | None:
    masked = _mask(sql)
    open_at = re.search(r"\bon\s+\S+?\s*\(", masked, re.IGNORECASE | re.DOTALL).end() - 1  # type: ignore[union-attr]
    rest = sql[_closing(masked, open_at) + 1 :]
    m = re.match(r"\s*where\b", rest, re.IGNORECASE)
    return normalise(rest[m.end() :]) if m else None


def _sqlite_fk(conn: sqlite3.Connection, rows: list[tuple]) -> ForeignKey:
    rows = sorted(rows, key=lambda r: r[1])
    target = rows[0][2]
    refs = tuple(r[4] for r in rows)
    if any(r is None for r in refs):  # REFERENCES t without columns: t's primary key
        info = _rows(conn, f"PRAGMA table_info({_quote(target)})")
        refs = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    return ForeignKey(tuple(r[3] for r in rows), target, refs, rows[0][6].lower(), rows[0][5].lower())


# ---------------------------------------------------------------------------------------------
# PostgreSQL

_PG_FAMILY = {
    "smallint": "integer",
    "integer": "integer",
    "bigint": "integer",
    "real": "real",
    "double precision": "real",
    "numeric": "numeric",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "bytea": "blob",
}
_PG_ACTION = {"a": "no action", "r": "restrict", "c": "cascade", "n": "set null", "d": "set default"}


def describe_postgres(conn: Any, schema_name: str = "public") -> Schema:
    """The schema of a PostgreSQL database (a psycopg 3 connection), its tables in `schema_name`."""

    def rows(sql: str, *params: Any) -> list[tuple]:
        return [tuple(r) for r in conn.execute(sql, params).fetchall()]

    schema = Schema()
    tables = rows(
        "SELECT c.oid, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        schema_name,
    )
    for oid, name in tables:
        if name in BOOKKEEPING:
            continue
        table = Table(name)
        names: dict[int, str] = {}
        columns = rows(
            "SELECT a.attnum, a.attname, format_type(a.atttypid, NULL), a.attnotnull, "
            "pg_get_expr(d.adbin, d.adrelid), a.attgenerated, a.attidentity, co.collname "
            "FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
            "LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0 "
            "WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
            oid,
        )
        for num, col, pgtype, notnull, default, generated, identity, collation in columns:
            names[num] = col
            serial = default is not None and default.startswith("nextval(")
            if collation is not None:
                collation = "binary" if collation in ("C", "POSIX") else collation
            table.columns[col] = Column(
                col,
                _PG_FAMILY.get(pgtype, pgtype),
                nullable=not notnull,
                default=None if generated or serial else normalise(default),
                generated=bool(generated),
                auto=bool(identity) or serial,
                collation=collation,
            )
        unique, fks, checks = set(), set(), []
        for kind, key, ref_oid, ref_key, on_delete, on_update, definition in rows(
            "SELECT contype, conkey, confrelid, confkey, confdeltype, confupdtype, pg_get_constraintdef(oid) "
            "FROM pg_constraint WHERE conrelid = %s",
            oid,
        ):
            cols = tuple(names[k] for k in key or ())
            if kind == "p":
                table.primary_key = cols
            elif kind == "u":
                unique.add(cols)
            elif kind == "c":
                checks.append(normalise(re.sub(r"^\s*CHECK\s*", "", definition)) or "")
            elif kind == "f":
                target, ref_names = rows(
                    "SELECT c.relname, array_agg(a.attname ORDER BY k.i) FROM pg_class c "
                    "JOIN unnest(%s::int2[]) WITH ORDINALITY AS k(num, i) ON true "
                    "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.num "
                    "WHERE c.oid = %s GROUP BY c.relname",
                    list(ref_key),
                    ref_oid,
                )[0]
                fks.add(
                    ForeignKey(cols, target, tuple(ref_names), _PG_ACTION[on_delete], _PG_ACTION[on_update])
                )
        table.unique, table.foreign_keys, table.checks = (
            frozenset(unique),
            frozenset(fks),
            tuple(sorted(checks)),
        )
        for index, is_unique, nkeys, options, where, indexrelid in rows(
            "SELECT ic.relname, i.indisunique, i.indnkeyatts, i.indoption::int2[], "
            "pg_get_expr(i.indpred, i.indrelid), i.indexrelid "
            "FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid WHERE i.indrelid = %s "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid "
            "AND k.conrelid = i.indrelid) ORDER BY ic.relname",
            oid,
        ):
            keys = []
            for k in range(1, nkeys + 1):
                (key,) = rows("SELECT pg_get_indexdef(%s, %s, true)", indexrelid, k)[0]
                key = key if re.fullmatch(r"\w+", key) else normalise(key) or ""
                keys.append(key + (" desc" if options[k - 1] & 1 else ""))
            table.indexes[index] = Index(index, tuple(keys), is_unique, normalise(where))
        for trigger, kind, attrs, definition in rows(
            "SELECT tgname, tgtype, tgattr::int2[], pg_get_triggerdef(oid) FROM pg_trigger "
            "WHERE tgrelid = %s AND NOT tgisinternal ORDER BY tgname",
            oid,
        ):
            timing = "before" if kind & 2 else "instead of" if kind & 64 else "after"
            event = "insert" if kind & 4 else "delete" if kind & 8 else "update" if kind & 16 else "truncate"
            when = re.search(r"\bWHEN \((.*)\) EXECUTE ", definition)
            table.triggers[trigger] = Trigger(
                trigger,
                timing,
                event,
                tuple(names[a] for a in attrs or ()),
                normalise(when and when.group(1)),
            )
        schema.tables[name] = table
    return schema


# ---------------------------------------------------------------------------------------------
# PostgreSQL migrations and their bookkeeping

# The version of a PostgreSQL database: one row per migration applied, the highest is the version.
VERSION_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
)
VERSION_QUERY = "SELECT COALESCE(MAX(version), 0) FROM schema_migrations"
# Workers that start together migrate one at a time: a transaction-level advisory lock on this key.
MIGRATION_LOCK = 0x636C7562_6D696772  # "clubmigr"


def postgres_migrations() -> list[tuple[int, str, str]]:
    """(number, name, sql) for each `NNNN_name.sql` of migrations_postgres/, in order."""
    found = []
    for entry in resources.files("bot.storage").joinpath("migrations_postgres").iterdir():
        if entry.name.endswith(".sql"):
            found.append((int(entry.name.split("_", 1)[0]), entry.name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def migrate_postgres(conn: Any) -> list[str]:
    """Apply the pending PostgreSQL migrations, each in its own transaction; returns their names.

    `conn` is a psycopg 3 connection in autocommit mode. Each file runs with the migration lock
    held and the version read again under it, so two workers starting at once apply it once.
    """
    from bot.config import ConfigError

    if not conn.autocommit:
        raise ValueError(
            "migrate_postgres needs a connection in autocommit mode: each file is its own transaction"
        )
    with conn.transaction():  # two workers creating the table at once would collide in pg_type
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(VERSION_TABLE)
    known = max((number for number, _, _ in postgres_migrations()), default=0)
    applied = []
    for number, name, sql in postgres_migrations():
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            (current,) = conn.execute(VERSION_QUERY).fetchone()
            if current > known:
                raise ConfigError(
                    f"the database is at schema version {current}, newer than this bot knows ({known}): "
                    "run the newer bot, or restore a backup made by this version"
                )
            if number <= current:
                continue
            conn.execute(sql)
            conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (number, name))
        applied.append(name)
    return applied
