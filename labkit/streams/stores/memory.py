"""An in-memory store: a dict of bytes, restored from its changelog when its task starts.

The checkpoint lives as long as the process: a second ``run()`` in the same notebook resumes
from it; a new process restores the whole (compacted) changelog, as Kafka Streams' in-memory
stores do.
"""

from __future__ import annotations

from collections.abc import Iterator

from labkit.streams.stores.base import KeyValueStore


class MemoryStore(KeyValueStore):
    store_type = "memory"

    def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
        super().__init__(*args, **kwargs)
        self._data: dict[bytes, bytes] = {}
        self._checkpoint: int | None = None
        self._topic_id: str | None = None

    def _read(self, kb: bytes) -> bytes | None:
        return self._data.get(kb)

    def _scan(self) -> Iterator[tuple[bytes, bytes]]:
        return iter(list(self._data.items()))

    def _write(self, batch: dict[bytes, bytes | None], checkpoint: int | None) -> None:
        for k, v in batch.items():
            if v is None:
                self._data.pop(k, None)
            else:
                self._data[k] = v
        if checkpoint is not None:
            self._checkpoint = checkpoint

    def checkpoint(self) -> int | None:
        return self._checkpoint

    @property
    def topic_id(self) -> str | None:
        return self._topic_id

    def set_topic_id(self, topic_id: str | None) -> None:
        self._topic_id = topic_id

    def wipe(self) -> None:
        with self._lock:
            self._data.clear()
            self._checkpoint = None

    def __len__(self) -> int:
        return len(self._data)
