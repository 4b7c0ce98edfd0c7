"""The SQLite state store: published items, their state transitions, and infrastructure records.

The store is versioned: `PRAGMA user_version` holds the schema version and `open_store` migrates
older stores forward. `StateStore` is the interface the publisher uses, so another store (for
example one on DynamoDB) can take its place.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol

from pipeline.errors import PipelineError

SCHEMA_VERSION = 3
STATE_FILE = "state.sqlite3"

# Item states, in the order an item normally goes through them.
DETECTED = "detected"
STABLE = "stable"
UPLOADING = "uploading"
PUBLISHED = "published"
FAILED = "failed"
IGNORED = "ignored"


@dataclass
class Item:
    """One media object: where it came from, where it went, and how it is played."""

    key: str
    bucket: str
    source: str
    source_path: str
    size: int
    sha256: str
    content_type: str
    kind: str
    stream_name: str
    title: str
    state: str = DETECTED
    rtmp_url: str = ""
    http_url: str = ""
    attempts: int = 0
    error_code: str = ""
    error: str = ""
    published_at: str = ""
    updated_at: str = ""
    probe: dict[str, Any] = field(default_factory=dict)
    # The source file's modification time when it was read: lets a rescan skip unchanged
    # files without hashing them.
    source_mtime_ns: int = 0
    # Keys of files derived from this item for browsers: {"mp4": ..., "poster": ..., "hls": ...}
    extras: dict[str, str] = field(default_factory=dict)


@dataclass
class InfraRecord:
    """A piece of infrastructure mediapub found or created (bucket, distribution, file)."""

    name: str
    resource_id: str
    domain: str = ""
    etag: str = ""
    status: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""


class StateStore(Protocol):
    def get_item(self, key: str) -> Item | None: ...
    def put_item(self, item: Item, transition: tuple[str, str, str] | None = None) -> None: ...
    def items(self) -> list[Item]: ...
    def items_in(self, state: str) -> list[Item]: ...
    def record_transition(self, key: str, state: str, at: str, detail: str = "") -> None: ...
    def transitions(self, key: str) -> list[tuple[str, str, str]]: ...
    def get_infra(self, name: str) -> InfraRecord | None: ...
    def put_infra(self, record: InfraRecord) -> None: ...
    def infra(self) -> list[InfraRecord]: ...
    def close(self) -> None: ...


_ITEM_COLUMNS = [f.name for f in fields(Item)]
_INSERT_ITEM = (
    f"INSERT OR REPLACE INTO items ({', '.join(_ITEM_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in _ITEM_COLUMNS)})"
)

_MIGRATIONS: dict[int, str] = {
    1: """
    CREATE TABLE items (
        key TEXT PRIMARY KEY, bucket TEXT NOT NULL, source TEXT NOT NULL,
        source_path TEXT NOT NULL, size INTEGER NOT NULL, sha256 TEXT NOT NULL,
        content_type TEXT NOT NULL, kind TEXT NOT NULL, stream_name TEXT NOT NULL,
        title TEXT NOT NULL, state TEXT NOT NULL, rtmp_url TEXT NOT NULL,
        http_url TEXT NOT NULL, attempts INTEGER NOT NULL, error_code TEXT NOT NULL,
        error TEXT NOT NULL, published_at TEXT NOT NULL, updated_at TEXT NOT NULL,
        probe TEXT NOT NULL
    );
    CREATE TABLE transitions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, state TEXT NOT NULL,
        at TEXT NOT NULL, detail TEXT NOT NULL
    );
    CREATE INDEX transitions_key ON transitions (key);
    CREATE TABLE infra (
        name TEXT PRIMARY KEY, resource_id TEXT NOT NULL, domain TEXT NOT NULL,
        etag TEXT NOT NULL, status TEXT NOT NULL, data TEXT NOT NULL, updated_at TEXT NOT NULL
    );
    """,
    2: "ALTER TABLE items ADD COLUMN source_mtime_ns INTEGER NOT NULL DEFAULT 0;",
    3: "ALTER TABLE items ADD COLUMN extras TEXT NOT NULL DEFAULT '{}';",
}


_INSERT_TRANSITION = "INSERT INTO transitions (key, state, at, detail) VALUES (?, ?, ?, ?)"


class SQLiteStateStore:
    """`StateStore` on one SQLite file; safe to share between threads of one process."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        # With WAL, NORMAL survives a crash of mediapub; only a power cut can lose the last
        # transactions (never corrupt the store). FULL costs an fsync per state change.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._migrate()

    def _migrate(self) -> None:
        (version,) = self._db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            raise PipelineError(
                f"{self.path}: state store schema version {version} is newer than this "
                f"mediapub understands ({SCHEMA_VERSION}). Upgrade mediapub, or point "
                "state_dir at another folder."
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            # executescript commits first, so the transaction is part of the script.
            script = (
                f"BEGIN IMMEDIATE;\n{_MIGRATIONS[target]}\nPRAGMA user_version = {target};\nCOMMIT;"
            )
            with self._lock:
                self._db.executescript(script)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    # items
    def get_item(self, key: str) -> Item | None:
        rows = self._query(f"SELECT {', '.join(_ITEM_COLUMNS)} FROM items WHERE key = ?", key)
        return _item(rows[0]) if rows else None

    def put_item(self, item: Item, transition: tuple[str, str, str] | None = None) -> None:
        """Store `item`; with `transition` (state, at, detail), record it in the same
        transaction."""
        values = asdict(item)
        values["probe"] = json.dumps(item.probe, sort_keys=True)
        values["extras"] = json.dumps(item.extras, sort_keys=True)
        with self._transaction():
            self._db.execute(_INSERT_ITEM, [values[c] for c in _ITEM_COLUMNS])
            if transition is not None:
                self._db.execute(_INSERT_TRANSITION, (item.key, *transition))

    def items(self) -> list[Item]:
        rows = self._query(f"SELECT {', '.join(_ITEM_COLUMNS)} FROM items ORDER BY key")
        return [_item(row) for row in rows]

    def items_in(self, state: str) -> list[Item]:
        rows = self._query(
            f"SELECT {', '.join(_ITEM_COLUMNS)} FROM items WHERE state = ? ORDER BY key", state
        )
        return [_item(row) for row in rows]

    def record_transition(self, key: str, state: str, at: str, detail: str = "") -> None:
        with self._transaction():
            self._db.execute(_INSERT_TRANSITION, (key, state, at, detail))

    def transitions(self, key: str) -> list[tuple[str, str, str]]:
        rows = self._query(
            "SELECT state, at, detail FROM transitions WHERE key = ? ORDER BY id", key
        )
        return [(str(s), str(a), str(d)) for s, a, d in rows]

    # infrastructure
    def get_infra(self, name: str) -> InfraRecord | None:
        rows = self._query(
            "SELECT name, resource_id, domain, etag, status, data, updated_at FROM infra "
            "WHERE name = ?",
            name,
        )
        return _infra(rows[0]) if rows else None

    def put_infra(self, record: InfraRecord) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT OR REPLACE INTO infra VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    record.name,
                    record.resource_id,
                    record.domain,
                    record.etag,
                    record.status,
                    json.dumps(record.data, sort_keys=True),
                    record.updated_at,
                ),
            )

    def infra(self) -> list[InfraRecord]:
        rows = self._query(
            "SELECT name, resource_id, domain, etag, status, data, updated_at FROM infra "
            "ORDER BY name"
        )
        return [_infra(row) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _item(row: tuple[Any, ...]) -> Item:
    values = dict(zip(_ITEM_COLUMNS, row, strict=True))
    values["probe"] = json.loads(values["probe"])
    values["extras"] = json.loads(values["extras"])
    return Item(**values)


def _infra(row: tuple[Any, ...]) -> InfraRecord:
    name, resource_id, domain, etag, status, data, updated_at = row
    return InfraRecord(name, resource_id, domain, etag, status, json.loads(data), updated_at)


def open_store(state_dir: Path) -> SQLiteStateStore:
    """Open (creating and migrating as needed) the store in `state_dir`."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        return SQLiteStateStore(state_dir / STATE_FILE)
    except (OSError, sqlite3.Error) as exc:
        raise PipelineError(
            f"{state_dir}: cannot open the state store ({exc}). Check that state_dir is a "
            "writable folder."
        ) from None
