"""The processors a task runs: one class per DSL operation, each forwarding to its children.

A processor is built per task from a node of the topology. ``process(key, value, rc)`` gets the
record and its context (``rc``: topic, partition, offset, timestamp, headers of the input record);
``forward`` hands the result to the children. An exception raised inside a child is wrapped once
in :class:`NodeFailure` naming that child, so an error can say which processor failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labkit.serdes import Serde
from labkit.streams.exceptions import RecordProcessingError, TransactionError
from labkit.streams.stores.base import KeyValueStore

if TYPE_CHECKING:
    from labkit.streams.task import Task

log = logging.getLogger("labkit.streams")


class NodeFailure(Exception):
    """An exception raised in processor ``node`` (the original is ``__cause__``)."""

    def __init__(self, node: str, error: BaseException) -> None:
        super().__init__(node, error)
        self.node = node
        self.error = error


# raised inside a processor and handled by the task or the engine, not by the error handler
PASS_THROUGH = (NodeFailure, TransactionError, RecordProcessingError)


class RecordContext:
    """Where the record being processed came from."""

    __slots__ = ("topic", "partition", "offset", "timestamp", "headers")

    def __init__(
        self,
        topic: str | None,
        partition: int | None,
        offset: int | None,
        timestamp: int | None,
        headers: list | None,
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.headers = headers


class Processor:
    """Forwards records to its children; subclasses transform them on the way."""

    def __init__(self, name: str, task: Task) -> None:
        self.name = name
        self.task = task
        self.children: list[Processor] = []

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        self.forward(key, value, rc)

    def forward(self, key: Any, value: Any, rc: RecordContext) -> None:
        for child in self.children:
            try:
                child.process(key, value, rc)
            except PASS_THROUGH:
                raise
            except Exception as exc:
                raise NodeFailure(child.name, exc) from exc

    def flush(self) -> None:
        """Stateful processors forward their cached updates here (at commit)."""


class SourceProcessor(Processor):
    def __init__(
        self,
        name: str,
        task: Task,
        topic: str,
        key_serde: Serde,
        value_serde: Serde,
        timestamp: Callable[[Any, Any], int] | None = None,
    ):
        super().__init__(name, task)
        self.topic = topic
        self.key_serde = key_serde
        self.value_serde = value_serde
        self.timestamp = timestamp  # event time from the record, instead of Kafka's timestamp


class FunctionProcessor(Processor):
    def __init__(self, name: str, task: Task, fn: Callable[..., Any]) -> None:
        super().__init__(name, task)
        self.fn = fn


class FilterProcessor(FunctionProcessor):
    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        if self.fn(key, value):
            self.forward(key, value, rc)


def _pair(result: Any, what: str) -> tuple[Any, Any]:
    if isinstance(result, tuple) and len(result) == 2:
        return result
    raise TypeError(f"{what} must return a (key, value) pair, got {result!r}")


class MapProcessor(FunctionProcessor):
    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        new_key, new_value = _pair(self.fn(key, value), "map()'s function")
        self.forward(new_key, new_value, rc)


class MapValuesProcessor(FunctionProcessor):
    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        self.forward(key, self.fn(value), rc)


class FlatMapProcessor(FunctionProcessor):
    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        for item in self.fn(key, value):
            new_key, new_value = _pair(item, "flat_map()'s function (each item)")
            self.forward(new_key, new_value, rc)


class PeekProcessor(FunctionProcessor):
    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        self.fn(key, value)
        self.forward(key, value, rc)


class KeySelectProcessor(FunctionProcessor):
    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        self.forward(self.fn(key, value), value, rc)


class BranchProcessor(Processor):
    def __init__(self, name: str, task: Task, fns: tuple[Callable[[Any, Any], bool], ...]):
        super().__init__(name, task)
        self.fns = fns

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        for fn, child in zip(self.fns, self.children, strict=True):
            if fn(key, value):
                try:
                    child.process(key, value, rc)
                except PASS_THROUGH:
                    raise
                except Exception as exc:
                    raise NodeFailure(child.name, exc) from exc
                return


class DropNullKeyProcessor(Processor):
    """Before a repartition topic: a record whose new key is None cannot be grouped. Kafka
    Streams drops it with a warning; so does labkit, and counts it in ``metrics``."""

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        if key is None:
            self.task.dropped(rc, "group_by returned None as the key")
            return
        self.forward(key, value, rc)


class SinkProcessor(Processor):
    def __init__(self, name: str, task: Task, topic: str, key_serde: Serde, value_serde: Serde):
        super().__init__(name, task)
        self.topic = topic
        self.key_serde = key_serde
        self.value_serde = value_serde

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        topic = self.topic
        kb = None if key is None else self.key_serde.serialize(key, topic)
        vb = None if value is None else self.value_serde.serialize(value, topic)
        self.task.engine.send_record(topic, kb, vb, rc.timestamp, rc.headers)


class TableProcessor(Processor):
    """An aggregation into a store; forwards ``(key, new aggregate)`` downstream - at commit
    when the store caches (only the latest per key), else on every update."""

    def __init__(self, name: str, task: Task, store: KeyValueStore) -> None:
        super().__init__(name, task)
        self.store = store

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        if key is None:
            self.task.dropped(rc, "an aggregation cannot use None as the key")
            return
        new = self.compute(key, value, self.store.get(key))
        self.store.put(key, new, rc.timestamp)
        if not self.store.caching and self.children:
            self.forward(key, new, RecordContext(None, None, None, rc.timestamp, None))

    def compute(self, key: Any, value: Any, current: Any) -> Any:
        raise NotImplementedError

    def flush(self) -> None:
        for key, value, timestamp in self.store.flush_dirty():
            if self.children:
                self.forward(key, value, RecordContext(None, None, None, timestamp, None))


class TableSourceProcessor(TableProcessor):
    """``app.table(topic)``: each record is the key's new row (None deletes it)."""

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        if key is None:
            self.task.dropped(rc, "a table record needs a key")
            return
        self.store.put(key, value, rc.timestamp)
        if not self.store.caching and self.children:
            self.forward(key, value, RecordContext(None, None, None, rc.timestamp, None))


class StreamTableJoinProcessor(Processor):
    """A stream record meets the table's current row for its key: ``joiner(value, row)``."""

    def __init__(
        self,
        name: str,
        task: Task,
        store: KeyValueStore,
        joiner: Callable[[Any, Any], Any],
        left: bool,
    ) -> None:
        super().__init__(name, task)
        self.store = store
        self.joiner = joiner
        self.left = left

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        if key is None:  # Kafka Streams drops these too: no row can match
            self.task.dropped(rc, "a stream-table join needs a key")
            return
        row = self.store.get(key)
        if row is None and not self.left:
            return  # an inner join: no row, no output
        self.forward(key, self.joiner(value, row), rc)


class AggregateProcessor(TableProcessor):
    def __init__(
        self,
        name: str,
        task: Task,
        store: KeyValueStore,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
    ) -> None:
        super().__init__(name, task, store)
        self.initializer = initializer
        self.aggregator = aggregator

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        # TableProcessor.process, with the key serialized once for the read and the write
        if key is None:
            self.task.dropped(rc, "an aggregation cannot use None as the key")
            return
        store = self.store
        kb = store.key_bytes(key)
        current = store.get_bytes(kb)
        new = self.aggregator(key, value, self.initializer() if current is None else current)
        store.put_bytes(kb, key, new, rc.timestamp)
        if not store.caching and self.children:
            self.forward(key, new, RecordContext(None, None, None, rc.timestamp, None))

    def compute(self, key: Any, value: Any, current: Any) -> Any:
        if current is None:
            current = self.initializer()
        return self.aggregator(key, value, current)


class ReduceProcessor(TableProcessor):
    def __init__(
        self, name: str, task: Task, store: KeyValueStore, reducer: Callable[[Any, Any], Any]
    ) -> None:
        super().__init__(name, task, store)
        self.reducer = reducer

    def compute(self, key: Any, value: Any, current: Any) -> Any:
        return value if current is None else self.reducer(current, value)


SIMPLE: dict[str, type[FunctionProcessor]] = {
    "filter": FilterProcessor,
    "map": MapProcessor,
    "map_values": MapValuesProcessor,
    "flat_map": FlatMapProcessor,
    "peek": PeekProcessor,
    "key_select": KeySelectProcessor,
}
