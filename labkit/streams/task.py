"""A task: one sub-topology running over one partition of its source topics, with its stores.

Kafka Streams' unit of work and of state: task ``1_2`` runs sub-topology 1 on partition 2, owns
partition 2 of every store of that sub-topology (and of their changelog topics), and remembers
the offsets it has processed (``next_offsets``) and committed (``committed_offsets``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from confluent_kafka import Message

from labkit.streams.exceptions import StreamsError
from labkit.streams.processors import (
    SIMPLE,
    AggregateProcessor,
    BranchProcessor,
    DropNullKeyProcessor,
    NodeFailure,
    Processor,
    RecordContext,
    ReduceProcessor,
    SinkProcessor,
    SourceProcessor,
    TableProcessor,
)
from labkit.streams.serdes import serde_for
from labkit.streams.stores.base import KeyValueStore
from labkit.streams.topology import Node, SubTopology, Topology

if TYPE_CHECKING:
    from labkit.streams.engine import Engine

log = logging.getLogger("labkit.streams")

TopicPartition = tuple[str, int]


def task_id(subtopology: int, partition: int) -> str:
    """Kafka Streams' task naming: ``<sub-topology>_<partition>``."""
    return f"{subtopology}_{partition}"


class Task:
    def __init__(
        self,
        sub: SubTopology,
        partition: int,
        topology: Topology,
        stores: dict[str, KeyValueStore],
        engine: Engine,
        defaults: tuple[Any, Any],
    ) -> None:
        self.id = task_id(sub.id, partition)
        self.partition = partition
        self.engine = engine
        self.stores = stores
        self.sources: dict[str, SourceProcessor] = {}
        self.tables: list[TableProcessor] = []
        self.next_offsets: dict[TopicPartition, int | None] = {}
        self.committed_offsets: dict[TopicPartition, int | None] = {}
        processors = {id(n): self._build(n, topology, defaults) for n in sub.nodes}
        for node in sub.nodes:
            processors[id(node)].children = [processors[id(c)] for c in node.children]

    def _build(self, node: Node, topology: Topology, defaults: tuple[Any, Any]) -> Processor:
        key_default, value_default = defaults
        if node.role in ("source", "sink"):
            topic = topology.topic(node)
            key_serde = serde_for(node.args.get("key_serde"), key_default)
            value_serde = serde_for(node.args.get("value_serde"), value_default)
            if node.role == "sink":
                return SinkProcessor(node.name, self, topic, key_serde, value_serde)
            source = SourceProcessor(node.name, self, topic, key_serde, value_serde)
            self.sources[topic] = source
            return source
        if node.op in SIMPLE:
            return SIMPLE[node.op](node.name, self, node.args["fn"])
        if node.op == "branch":
            return BranchProcessor(node.name, self, node.args["fns"])
        if node.op == "drop_null_key":
            return DropNullKeyProcessor(node.name, self)
        if node.op == "pass":
            return Processor(node.name, self)
        store = self.stores[node.stores[0]]
        table: TableProcessor
        if node.op == "aggregate":
            table = AggregateProcessor(
                node.name, self, store, node.args["initializer"], node.args["aggregator"]
            )
        elif node.op == "reduce":
            table = ReduceProcessor(node.name, self, store, node.args["reducer"])
        else:  # pragma: no cover - the DSL makes no other
            raise StreamsError(f"unknown operation {node.op!r} in node {node.name}")
        self.tables.append(table)
        return table

    @property
    def partitions(self) -> list[TopicPartition]:
        return [(topic, self.partition) for topic in self.sources]

    # -- processing ------------------------------------------------------------------------
    def process(self, msg: Message) -> None:
        """Run one input record through the sub-topology."""
        topic = msg.topic()
        source = self.sources[topic]
        try:
            key = source.key_serde.deserialize(msg.key(), topic)
        except Exception as exc:
            self.engine.record_failed(self, msg, "deserialize_key", source.name, exc)
        else:
            try:
                value = source.value_serde.deserialize(msg.value(), topic)
            except Exception as exc:
                self.engine.record_failed(self, msg, "deserialize_value", source.name, exc)
            else:
                ts_type, ts = msg.timestamp()
                rc = RecordContext(
                    topic, self.partition, msg.offset(), ts if ts_type else None, msg.headers()
                )
                try:
                    source.forward(key, value, rc)
                except NodeFailure as failure:
                    self.engine.record_failed(self, msg, "process", failure.node, failure.error)
        self.next_offsets[(topic, self.partition)] = msg.offset() + 1

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None, headers
    ) -> None:  # noqa: ANN001
        self.engine.send(topic, key, value, None, timestamp, headers)

    def dropped(self, rc: RecordContext, reason: str) -> None:
        self.engine.metrics.dropped += 1
        log.warning(
            "%s: dropped the record at topic %r, partition %s, offset %s: %s",
            self.engine.config.app_id,
            rc.topic,
            rc.partition,
            rc.offset,
            reason,
        )

    # -- commit ----------------------------------------------------------------------------
    @property
    def dirty_count(self) -> int:
        return max((s.dirty_count for s in self.stores.values()), default=0)

    def flush(self) -> None:
        """Log cached store updates to the changelogs and forward them downstream."""
        for table in self.tables:
            try:
                table.flush()
            except NodeFailure as failure:
                raise StreamsError(
                    f"task {self.id}: forwarding the updates of store {table.store.name!r} failed "
                    f"in {failure.node}: {type(failure.error).__name__}: {failure.error}"
                ) from failure.error
            except Exception as exc:
                raise StreamsError(
                    f"task {self.id}: writing the changelog of store {table.store.name!r} "
                    f"failed: {type(exc).__name__}: {exc}"
                ) from exc

    def offsets_to_commit(self) -> dict[TopicPartition, int]:
        return {
            tp: offset
            for tp, offset in self.next_offsets.items()
            if offset is not None and offset != self.committed_offsets.get(tp)
        }

    def commit(self, changelog_offsets: dict[TopicPartition, int]) -> None:
        """Kafka took the commit: move the stores and the committed offsets forward."""
        for store in self.stores.values():
            last = changelog_offsets.get((store.changelog_topic, store.partition))
            store.commit(None if last is None else last + 1)
        self.committed_offsets.update(self.next_offsets)

    def abort(self) -> None:
        """Forget everything since the last commit (the consumer is rewound separately)."""
        for store in self.stores.values():
            store.abort()
        self.next_offsets = dict(self.committed_offsets)
