"""State stores: in memory, or in a SQLite file per task; each backed by a changelog topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.serdes import Serde
from labkit.streams.stores.base import KeyValueStore
from labkit.streams.stores.memory import MemoryStore
from labkit.streams.stores.sqlite import SqliteStore
from labkit.streams.stores.window import (
    MemoryWindowStore,
    SqliteWindowStore,
    WindowKeySerde,
    WindowStore,
)


def open_store(
    store_type: str,
    name: str,
    task_id: str,
    partition: int,
    changelog_topic: str,
    key_serde: Serde,
    value_serde: Serde,
    state_dir: Path,
    meta: dict[str, Any] | None = None,
    windows: Any = None,
) -> KeyValueStore:
    """A store of ``store_type`` ("memory" or "sqlite") for one task; a window store when
    ``windows`` (a :class:`~labkit.streams.TimeWindows`) is given."""
    if windows is not None:
        key_serde = WindowKeySerde(key_serde)
    args = (name, task_id, partition, changelog_topic, key_serde, value_serde)
    path = state_dir / task_id / f"{name}.sqlite"
    if windows is None:
        if store_type == "sqlite":
            return SqliteStore(*args, path=path, meta=meta)
        return MemoryStore(*args)
    store: WindowStore
    if store_type == "sqlite":
        store = SqliteWindowStore(*args, path=path, meta=meta)
    else:
        store = MemoryWindowStore(*args)
    store.size_ms = windows.size_ms
    return store


__all__ = [
    "KeyValueStore",
    "MemoryStore",
    "MemoryWindowStore",
    "SqliteStore",
    "SqliteWindowStore",
    "WindowStore",
    "open_store",
]
