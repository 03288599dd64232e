"""State stores: in memory, or in a SQLite file per task; each backed by a changelog topic."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from labkit.serdes import Serde
from labkit.streams.stores.base import KeyValueStore
from labkit.streams.stores.memory import MemoryStore
from labkit.streams.stores.sqlite import SqliteStore


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
) -> KeyValueStore:
    """A store of ``store_type`` ("memory" or "sqlite") for one task."""
    args = (name, task_id, partition, changelog_topic, key_serde, value_serde)
    if store_type == "sqlite":
        return SqliteStore(*args, path=state_dir / task_id / f"{name}.sqlite", meta=meta)
    return MemoryStore(*args)


__all__ = ["KeyValueStore", "MemoryStore", "SqliteStore", "open_store"]
