"""A persistent store in SQLite: one file per task, readable with SQL and pandas.

The file is ``<state_dir>/<app-id>/<task-id>/<store>.sqlite`` and holds three tables:

* ``kv(key, value)`` - the committed state (a ``WITHOUT ROWID`` table: one B-tree, keyed). Keys and values are the bytes of their serdes, stored
  as TEXT when they are UTF-8 (JSON and string serdes) and as BLOB otherwise, so
  ``SELECT key, value FROM kv`` reads like the changelog topic.
* ``checkpoint(changelog_topic, changelog_partition, next_offset, topic_id)`` - the changelog
  offset the state reflects, written in the same SQLite transaction as the state.
* ``meta(name, value)`` - which app, task, store and serdes the file belongs to.

>>> import sqlite3, pandas as pd                                            # doctest: +SKIP
>>> pd.read_sql("SELECT key, json_extract(value, '$') AS total FROM kv",
...             sqlite3.connect(path))                                      # doctest: +SKIP

WAL journal with ``synchronous=NORMAL``: a killed process never leaves a half-written commit; a
power cut may lose the last commits, which the checkpoint (rolled back with them) then replays
from the changelog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

from labkit.streams.stores.base import KeyValueStore, split_batch

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key PRIMARY KEY, value NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoint (
    changelog_topic TEXT NOT NULL,
    changelog_partition INTEGER NOT NULL,
    next_offset INTEGER,
    topic_id TEXT,
    PRIMARY KEY (changelog_topic, changelog_partition)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
"""


def to_column(data: bytes) -> str | bytes:
    """UTF-8 bytes as TEXT (readable in SQL), anything else as BLOB; the same bytes always map
    to the same column value, so lookups agree with writes."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data


def to_columns(pairs: list[tuple[bytes, bytes]]) -> list[tuple[str | bytes, str | bytes]]:
    """:func:`to_column` of both items of each pair; all at once while all are UTF-8 (the usual
    case: JSON and string serdes), pair by pair otherwise."""
    try:
        return [(k.decode("utf-8"), v.decode("utf-8")) for k, v in pairs]
    except UnicodeDecodeError:
        return [(to_column(k), to_column(v)) for k, v in pairs]


def from_column(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


class SqliteStore(KeyValueStore):
    store_type = "sqlite"

    def __init__(self, *args, path: Path, meta: dict[str, str] | None = None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(SCHEMA)
        rows = {
            "store": self.name,
            "task": self.task_id,
            "changelog_topic": self.changelog_topic,
            "changelog_partition": str(self.partition),
            "key_serde": getattr(self.key_serde, "name", type(self.key_serde).__name__),
            "value_serde": getattr(self.value_serde, "name", type(self.value_serde).__name__),
            **(meta or {}),
        }
        with self._lock:
            self._conn.execute("BEGIN")
            self._conn.executemany(
                "INSERT OR REPLACE INTO meta(name, value) VALUES (?, ?)", rows.items()
            )
            self._conn.execute("COMMIT")

    def _read(self, kb: bytes) -> bytes | None:
        row = self._conn.execute("SELECT value FROM kv WHERE key = ?", (to_column(kb),)).fetchone()
        return None if row is None else from_column(row[0])

    def _scan(self) -> Iterator[tuple[bytes, bytes]]:
        rows = self._conn.execute("SELECT key, value FROM kv ORDER BY key").fetchall()
        return ((from_column(k), from_column(v)) for k, v in rows)

    def _apply(self, batch: dict[bytes, bytes | None]) -> None:
        """Upsert and delete ``batch`` (inside the caller's transaction)."""
        puts, deletes = split_batch(batch)
        self._conn.executemany(
            "INSERT INTO kv(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            to_columns(puts),
        )
        self._conn.executemany(
            "DELETE FROM kv WHERE key = ?", [(to_column(k),) for (k,) in deletes]
        )

    def _clear(self) -> None:
        self._conn.execute("DELETE FROM kv")

    def _write(self, batch: dict[bytes, bytes | None], checkpoint: int | None) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._apply(batch)
            if checkpoint is not None:
                conn.execute(
                    "INSERT INTO checkpoint(changelog_topic, changelog_partition, next_offset) "
                    "VALUES (?, ?, ?) ON CONFLICT(changelog_topic, changelog_partition) "
                    "DO UPDATE SET next_offset = excluded.next_offset",
                    (self.changelog_topic, self.partition, checkpoint),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def checkpoint(self) -> int | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT next_offset FROM checkpoint "
                "WHERE changelog_topic = ? AND changelog_partition = ?",
                (self.changelog_topic, self.partition),
            ).fetchone()
        return None if row is None else row[0]

    @property
    def topic_id(self) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT topic_id FROM checkpoint "
                "WHERE changelog_topic = ? AND changelog_partition = ?",
                (self.changelog_topic, self.partition),
            ).fetchone()
        return None if row is None else row[0]

    def set_topic_id(self, topic_id: str | None) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO checkpoint(changelog_topic, changelog_partition, topic_id) "
                "VALUES (?, ?, ?) ON CONFLICT(changelog_topic, changelog_partition) "
                "DO UPDATE SET topic_id = excluded.topic_id",
                (self.changelog_topic, self.partition, topic_id),
            )

    def wipe(self) -> None:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            self._clear()
            self._conn.execute("DELETE FROM checkpoint")
            self._conn.execute("COMMIT")

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM kv").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def describe(self) -> str:
        return f"sqlite store {self.name!r} of task {self.task_id} ({self.path})"
