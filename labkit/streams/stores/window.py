"""Window stores: one value per key and window, queried by key and time range.

A window store is a key-value store whose keys are ``(key, window start)``: in the changelog and
the uncommitted layer the key's serde bytes followed by the start as 8 big-endian bytes (as Kafka
Streams' window stores lay out theirs). The SQLite backend keeps the start in a column of its own,
``windows(key, start, value)``, so SQL can read a time range:

>>> pd.read_sql("SELECT key, start, json_extract(value, '$') AS n FROM windows "
...             "WHERE start >= 1767225600000 ORDER BY key, start", conn)   # doctest: +SKIP
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labkit.serdes import Serde
from labkit.streams.stores.base import KeyValueStore, split_batch
from labkit.streams.stores.memory import MemoryStore
from labkit.streams.stores.sqlite import SqliteStore, from_column, to_column

_START = 8  # bytes of the window start at the end of a window-store key
_NO_LIMIT = (-(2**63), 2**63 - 1)


class WindowKeySerde:
    """``(key, start)`` <-> the key's bytes followed by ``start`` as 8 big-endian bytes."""

    def __init__(self, inner: Serde) -> None:
        self.inner = inner
        self.name = f"window({getattr(inner, 'name', type(inner).__name__)})"

    def serialize(self, value: Any, topic: str) -> bytes:
        key, start = value[0], value[1]
        data = self.inner.serialize(key, topic)
        if data is None:
            raise ValueError("a window store cannot hold a None key")
        return data + start.to_bytes(_START, "big")

    def deserialize(self, data: bytes, topic: str) -> tuple[Any, int]:
        return self.inner.deserialize(data[:-_START], topic), int.from_bytes(data[-_START:], "big")


def split(kb: bytes) -> tuple[bytes, int]:
    return kb[:-_START], int.from_bytes(kb[-_START:], "big")


class WindowStore(KeyValueStore):
    """What a window store adds: range reads of its committed state (any thread)."""

    size_ms: int = 0

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        # the windows written since the last commit, by key bytes: what fetch_live adds
        self._pending: dict[bytes, list[int]] = {}

    def put_bytes(self, kb: bytes, key: Any, value: Any, timestamp: int | None = None) -> None:
        if kb not in self._uncommitted:
            prefix, start = split(kb)
            self._pending.setdefault(prefix, []).append(start)
        super().put_bytes(kb, key, value, timestamp)

    def commit(self, changelog_offset: int | None) -> None:
        super().commit(changelog_offset)
        self._pending = {}

    def abort(self) -> None:
        super().abort()
        self._pending = {}

    def fetch_live(self, key: Any, time_from: int, time_to: int) -> list[tuple[int, Any]]:
        """``(start, value)`` of ``key``'s windows starting in ``[time_from, time_to]``,
        this commit interval's writes included (what a processor sees; :meth:`fetch` gives
        the committed state other threads may read)."""
        assert isinstance(self.key_serde, WindowKeySerde)
        topic = self.changelog_topic
        prefix = self.key_serde.inner.serialize(key, topic)
        with self._lock:
            rows = self._range(prefix, time_from, time_to)
        found = {start: self.value_serde.deserialize(v, topic) for _, start, v in rows}
        for start in self._pending.get(prefix, ()):
            if time_from <= start <= time_to:
                entry = self._uncommitted.get(prefix + start.to_bytes(_START, "big"))
                if entry is not None:
                    found[start] = entry[1]
        return sorted(((s, v) for s, v in found.items() if v is not None), key=lambda sv: sv[0])

    def fetch_all_live(self, time_to: int) -> list[tuple[Any, int, Any]]:
        """``(key, start, value)`` of every window starting at or before ``time_to``, this
        commit interval's writes included, by start."""
        assert isinstance(self.key_serde, WindowKeySerde)
        topic = self.changelog_topic
        with self._lock:
            rows = self._range(None, _NO_LIMIT[0], time_to)
        found: dict[bytes, Any] = {k + s.to_bytes(_START, "big"): v for k, s, v in rows}
        out = {kb: self.value_serde.deserialize(v, topic) for kb, v in found.items()}
        for prefix, starts in self._pending.items():
            for start in starts:
                if start <= time_to:
                    kb = prefix + start.to_bytes(_START, "big")
                    out[kb] = self._uncommitted[kb][1]
        rows_out = [
            (*self.key_serde.deserialize(kb, topic), value)
            for kb, value in out.items()
            if value is not None
        ]
        return sorted(rows_out, key=lambda row: row[1])

    def fetch(
        self, key: Any, time_from: int | None = None, time_to: int | None = None
    ) -> list[tuple[int, Any]]:
        """``(start, value)`` of ``key``'s windows starting in ``[time_from, time_to]``."""
        assert isinstance(self.key_serde, WindowKeySerde)
        prefix = self.key_serde.inner.serialize(key, self.changelog_topic)
        topic = self.changelog_topic
        return [
            (start, self.value_serde.deserialize(v, topic))
            for _, start, v in self._locked_range(prefix, time_from, time_to)
        ]

    def fetch_all(
        self, time_from: int | None = None, time_to: int | None = None
    ) -> list[tuple[Any, int, Any]]:
        """``(key, start, value)`` of every window starting in ``[time_from, time_to]``."""
        assert isinstance(self.key_serde, WindowKeySerde)
        inner, topic = self.key_serde.inner, self.changelog_topic
        return [
            (inner.deserialize(k, topic), start, self.value_serde.deserialize(v, topic))
            for k, start, v in self._locked_range(None, time_from, time_to)
        ]

    def expire(self, horizon: int) -> int:
        """Delete every window starting at or before ``horizon``: from this commit's layer and,
        with a tombstone logged now, from the committed state and the changelog. Nothing is
        marked dirty, so nothing goes downstream. Returns how many windows went."""
        with self._lock:
            old = [
                k + s.to_bytes(_START, "big")
                for k, s, _ in self._range(None, _NO_LIMIT[0], horizon)
            ]
        old += [kb for kb in self._uncommitted if split(kb)[1] <= horizon]
        gone = 0
        for kb in dict.fromkeys(old):
            entry = self._uncommitted.get(kb)
            if entry is not None and entry[1] is None:
                continue  # deleted already in this commit
            if entry is None:
                prefix, start = split(kb)
                self._pending.setdefault(prefix, []).append(start)
            self._uncommitted[kb] = (
                self.key_serde.deserialize(kb, self.changelog_topic),
                None,
                None,
            )
            self._dirty.pop(kb, None)
            self._log(kb, None)
            gone += 1
        return gone

    def _locked_range(
        self, prefix: bytes | None, time_from: int | None, time_to: int | None
    ) -> list[tuple[bytes, int, bytes]]:
        lo = _NO_LIMIT[0] if time_from is None else time_from
        hi = _NO_LIMIT[1] if time_to is None else time_to
        with self._lock:
            return self._range(prefix, lo, hi)

    def _range(self, prefix: bytes | None, lo: int, hi: int) -> list[tuple[bytes, int, bytes]]:
        """Committed ``(key bytes, start, value bytes)`` with ``lo <= start <= hi``, by key then
        start; only ``prefix``'s windows when given."""
        raise NotImplementedError

    def describe(self) -> str:
        return f"window {super().describe()}"


class MemoryWindowStore(WindowStore, MemoryStore):
    """Keeps, beside the dict of bytes, each key's window starts in order, so that a range read
    of one key (what a join does for every record) is a binary search, not a scan."""

    store_type = "memory"

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._starts: dict[bytes, list[int]] = {}  # key bytes -> its window starts, sorted

    def _write(self, batch: dict[bytes, bytes | None], checkpoint: int | None) -> None:
        data, index = self._data, self._starts
        for kb, value in batch.items():
            present = kb in data
            if (value is None) != present:
                continue  # a put over an existing window or a delete of a missing one
            prefix, start = split(kb)
            starts = index.setdefault(prefix, [])
            if value is None:
                del starts[bisect_left(starts, start)]
                if not starts:
                    del index[prefix]
            else:
                insort(starts, start)
        super()._write(batch, checkpoint)

    def wipe(self) -> None:
        with self._lock:
            super().wipe()
            self._starts.clear()

    def _range(self, prefix: bytes | None, lo: int, hi: int) -> list[tuple[bytes, int, bytes]]:
        data = self._data
        if prefix is not None:
            starts = self._starts.get(prefix, [])
            chosen = starts[bisect_left(starts, lo) : bisect_right(starts, hi)]
            return [(prefix, s, data[prefix + s.to_bytes(_START, "big")]) for s in chosen]
        out = []
        for kb, value in data.items():
            key, start = split(kb)
            if lo <= start <= hi:
                out.append((key, start, value))
        out.sort(key=lambda row: (row[0], row[1]))
        return out


WINDOW_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    key NOT NULL, start INTEGER NOT NULL, value NOT NULL, PRIMARY KEY (key, start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS windows_by_start ON windows (start);
"""


class SqliteWindowStore(WindowStore, SqliteStore):
    """The SQLite file holds ``windows(key, start, value)`` instead of ``kv``."""

    store_type = "sqlite"

    def __init__(self, *args, path: Path, meta: dict[str, str] | None = None, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, path=path, meta=meta, **kwargs)
        with self._lock:
            self._conn.executescript(WINDOW_SCHEMA)

    def _read(self, kb: bytes) -> bytes | None:
        key, start = split(kb)
        row = self._conn.execute(
            "SELECT value FROM windows WHERE key = ? AND start = ?", (to_column(key), start)
        ).fetchone()
        return None if row is None else from_column(row[0])

    def _scan(self) -> Iterator[tuple[bytes, bytes]]:
        rows = self._conn.execute("SELECT key, start, value FROM windows ORDER BY key, start")
        return (
            (from_column(k) + s.to_bytes(_START, "big"), from_column(v))
            for k, s, v in rows.fetchall()
        )

    def _range(self, prefix: bytes | None, lo: int, hi: int) -> list[tuple[bytes, int, bytes]]:
        if prefix is None:
            rows = self._conn.execute(
                "SELECT key, start, value FROM windows WHERE start BETWEEN ? AND ? "
                "ORDER BY key, start",
                (lo, hi),
            )
        else:
            rows = self._conn.execute(
                "SELECT key, start, value FROM windows WHERE key = ? AND start BETWEEN ? AND ? "
                "ORDER BY start",
                (to_column(prefix), lo, hi),
            )
        return [(from_column(k), s, from_column(v)) for k, s, v in rows.fetchall()]

    def _apply(self, batch: dict[bytes, bytes | None]) -> None:
        puts, deletes = split_batch(batch)
        rows = []
        for kb, value in puts:
            key, start = split(kb)
            rows.append((to_column(key), start, to_column(value)))
        self._conn.executemany(
            "INSERT INTO windows(key, start, value) VALUES (?, ?, ?) "
            "ON CONFLICT(key, start) DO UPDATE SET value = excluded.value",
            rows,
        )
        gone = []
        for (kb,) in deletes:
            key, start = split(kb)
            gone.append((to_column(key), start))
        self._conn.executemany("DELETE FROM windows WHERE key = ? AND start = ?", gone)

    def _clear(self) -> None:
        self._conn.execute("DELETE FROM windows")

    def __len__(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM windows").fetchone()[0]
