"""A key-value state store: committed state below, this commit interval's writes on top.

Writes between two commits stay in an *uncommitted* layer that reads see first. At commit the
store hands its changelog records to the producer (only the latest value of each key when caching
is on, as Kafka Streams' record cache does), and once Kafka has taken the commit the layer is
written to the committed state together with the changelog offset it reflects (the checkpoint).
An abort simply drops the layer: the committed state never holds anything Kafka did not commit,
so a restart (clean or after SIGKILL) replays only the changelog records after the checkpoint.

Keys and values are kept committed as the bytes their serdes give, as Kafka Streams stores do;
reads deserialize, so an aggregator that changes its aggregate in place cannot change committed
state behind the store's back.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any

from labkit.serdes import Serde

#: send(topic, key_bytes, value_bytes, partition) - the app's producer (inside its transaction).
ChangelogSender = Callable[[str, bytes, "bytes | None", int], None]


class KeyValueStore(ABC):
    """The base of every store; a backend implements the committed layer (``_read`` ...)."""

    store_type: str = "base"

    def __init__(
        self,
        name: str,
        task_id: str,
        partition: int,
        changelog_topic: str,
        key_serde: Serde,
        value_serde: Serde,
    ) -> None:
        self.name = name
        self.task_id = task_id
        self.partition = partition
        self.changelog_topic = changelog_topic
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.caching = True
        self.logged = True  # False: the changelog is a table's source topic, written by others
        self._send: ChangelogSender | None = None
        self._uncommitted: dict[bytes, tuple[Any, Any, int | None]] = {}
        self._dirty: dict[bytes, None] = {}  # keys whose latest value is not yet logged
        self._logged: dict[bytes, bytes | None] = {}  # what this transaction wrote, serialized
        self._lock = threading.RLock()  # interactive queries read from other threads

    def attach(self, send: ChangelogSender, caching: bool, logged: bool = True) -> None:
        """Connect the store to a run's producer (called when its task is created).
        ``logged=False``: nothing is sent; the changelog is the topic the store is read from."""
        self._send = send
        self.caching = caching
        self.logged = logged

    # -- what processors call --------------------------------------------------------------
    def key_bytes(self, key: Any) -> bytes:
        data = self.key_serde.serialize(key, self.changelog_topic)
        if data is None:
            raise ValueError(f"store {self.name!r} cannot hold a None key")
        return data

    def get(self, key: Any) -> Any:
        """The value for ``key`` including this commit interval's writes (None if absent)."""
        return self.get_bytes(self.key_bytes(key))

    def get_bytes(self, kb: bytes) -> Any:
        """:meth:`get` for a key already serialized with :meth:`key_bytes`."""
        entry = self._uncommitted.get(kb)
        if entry is not None:
            return entry[1]
        with self._lock:
            data = self._read(kb)
        return None if data is None else self.value_serde.deserialize(data, self.changelog_topic)

    def put(self, key: Any, value: Any, timestamp: int | None = None) -> None:
        """Write ``value`` (None deletes); logged at commit when caching, else at once."""
        self.put_bytes(self.key_bytes(key), key, value, timestamp)

    def put_bytes(self, kb: bytes, key: Any, value: Any, timestamp: int | None = None) -> None:
        """:meth:`put` for a key already serialized with :meth:`key_bytes`."""
        self._uncommitted[kb] = (key, value, timestamp)
        if self.caching:
            self._dirty[kb] = None
        else:
            self._log(kb, value)

    def delete(self, key: Any) -> None:
        self.put(key, None)

    @property
    def dirty_count(self) -> int:
        return len(self._dirty)

    def flush_dirty(self) -> list[tuple[Any, Any, int | None]]:
        """Log the latest value of each key written since the last flush; return those entries
        (key, value, timestamp) for the processor to forward downstream."""
        out = []
        for kb in self._dirty:
            key, value, timestamp = self._uncommitted[kb]
            self._log(kb, value)
            out.append((key, value, timestamp))
        self._dirty.clear()
        return out

    def _log(self, kb: bytes, value: Any) -> None:
        vb = None if value is None else self.value_serde.serialize(value, self.changelog_topic)
        self._logged[kb] = vb
        if not self.logged:
            return
        if self._send is None:
            raise RuntimeError(f"store {self.name!r} is not attached to a running app")
        self._send(self.changelog_topic, kb, vb, self.partition)

    def commit(self, changelog_offset: int | None) -> None:
        """Kafka took the commit: write this interval's records (and the checkpoint) below."""
        with self._lock:
            if self._logged or changelog_offset is not None:
                self._write(self._logged, changelog_offset)
        self._uncommitted.clear()
        self._dirty.clear()
        self._logged = {}

    def abort(self) -> None:
        """Forget everything since the last commit."""
        self._uncommitted.clear()
        self._dirty.clear()
        self._logged = {}

    # -- restore ---------------------------------------------------------------------------
    def restore(self, batch: dict[bytes, bytes | None], next_offset: int) -> None:
        """Apply changelog records (None deletes) and move the checkpoint to ``next_offset``."""
        with self._lock:
            self._write(batch, next_offset)

    # -- interactive queries (committed state, any thread) ---------------------------------
    def read(self, key: Any) -> Any:
        with self._lock:
            data = self._read(self.key_bytes(key))
        return None if data is None else self.value_serde.deserialize(data, self.changelog_topic)

    def read_all(self) -> list[tuple[Any, Any]]:
        with self._lock:
            rows = list(self._scan())
        topic = self.changelog_topic
        return [
            (self.key_serde.deserialize(k, topic), self.value_serde.deserialize(v, topic))
            for k, v in rows
        ]

    # -- the committed layer ---------------------------------------------------------------
    @abstractmethod
    def _read(self, kb: bytes) -> bytes | None: ...

    @abstractmethod
    def _scan(self) -> Iterator[tuple[bytes, bytes]]: ...

    @abstractmethod
    def _write(self, batch: dict[bytes, bytes | None], checkpoint: int | None) -> None:
        """Apply ``batch`` and (if not None) set the checkpoint, atomically."""

    @abstractmethod
    def checkpoint(self) -> int | None:
        """The changelog offset the committed state reflects (None: unknown, restore it all)."""

    @property
    @abstractmethod
    def topic_id(self) -> str | None:
        """The id of the changelog topic the checkpoint refers to."""

    @abstractmethod
    def set_topic_id(self, topic_id: str | None) -> None: ...

    @abstractmethod
    def wipe(self) -> None:
        """Forget the committed state and the checkpoint (before a full restore)."""

    @abstractmethod
    def __len__(self) -> int: ...

    def close(self) -> None:  # noqa: B027 - a backend without files has nothing to release
        """Release files or connections."""

    def describe(self) -> str:
        return f"{self.store_type} store {self.name!r} of task {self.task_id}"

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} task {self.task_id}: {len(self)} key(s)>"


def split_batch(batch: dict[bytes, bytes | None]) -> tuple[list, list]:
    """(upserts, deletes) of a batch."""
    puts = [(k, v) for k, v in batch.items() if v is not None]
    deletes = [(k,) for k, v in batch.items() if v is None]
    return puts, deletes
