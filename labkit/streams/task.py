"""A task: one sub-topology running over one partition of its source topics, with its stores.

Kafka Streams' unit of work and of state: task ``1_2`` runs sub-topology 1 on partition 2, owns
partition 2 of every store of that sub-topology (and of their changelog topics), and remembers
the offsets it has processed (``next_offsets``) and committed (``committed_offsets``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from confluent_kafka import Message

from labkit.streams.exceptions import LateRecordError, StreamsError
from labkit.streams.join import StreamStreamJoinProcessor
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
    StreamTableJoinProcessor,
    TableProcessor,
    TableSourceProcessor,
)
from labkit.streams.serdes import INTERNAL_JSON, STREAMS_JSON, serde_for
from labkit.streams.stores.base import KeyValueStore
from labkit.streams.topology import Node, SubTopology, Topology
from labkit.streams.windowed import WindowedAggregateProcessor

if TYPE_CHECKING:
    from labkit.streams.engine import Engine

log = logging.getLogger("labkit.streams")

TopicPartition = tuple[str, int]

LATE_LOG_LIMIT = 10  # late records logged one by one per task; then every 1,000th
_STREAM_TIME = "labkit.stream_time="


def stream_time_metadata(stream_time: int) -> str:
    """The committed offsets' metadata: the task's stream time (as Kafka Streams keeps it)."""
    return f"{_STREAM_TIME}{stream_time}"


def parse_stream_time(metadata: str | None) -> int:
    if metadata and metadata.startswith(_STREAM_TIME):
        try:
            return int(metadata[len(_STREAM_TIME) :])
        except ValueError:
            pass
    return -1


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
        self.tables: list[
            TableProcessor | WindowedAggregateProcessor | StreamStreamJoinProcessor
        ] = []
        self.windowed: list[WindowedAggregateProcessor | StreamStreamJoinProcessor] = []
        self.next_offsets: dict[TopicPartition, int | None] = {}
        self.committed_offsets: dict[TopicPartition, int | None] = {}
        self.stream_time = -1  # the largest record timestamp seen; -1: none yet
        self.committed_stream_time = -1
        self.late_count = 0
        self._late_record: Message | None = None  # the input record last found late
        self.current: Message | None = None  # the input record being processed
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
                if node.internal and value_serde is STREAMS_JSON:
                    value_serde = INTERNAL_JSON  # only labkit reads a repartition topic back
                return SinkProcessor(node.name, self, topic, key_serde, value_serde)
            source = SourceProcessor(
                node.name, self, topic, key_serde, value_serde, node.args.get("timestamp")
            )
            self.sources[topic] = source
            return source
        op, args = node.op, node.args
        if op in SIMPLE:
            return SIMPLE[op](node.name, self, args["fn"])
        if op == "branch":
            return BranchProcessor(node.name, self, args["fns"])
        if op == "drop_null_key":
            return DropNullKeyProcessor(node.name, self)
        if op == "pass":
            return Processor(node.name, self)
        store = self.stores[node.stores[0]]
        if op == "stream_join":
            join = StreamStreamJoinProcessor(
                node.name,
                self,
                store,  # type: ignore[arg-type]
                self.stores[node.stores[1]],  # type: ignore[arg-type]
                args["joiner"],
                args["windows"],
                args["left"],
                outer=args["outer"],
                track=args["track"],
            )
            self.tables.append(join)  # flushed at commit
            self.windowed.append(join)  # reset after an abort
            return join
        if op in ("join", "left_join"):
            return StreamTableJoinProcessor(
                node.name, self, store, args["joiner"], op == "left_join"
            )
        table: TableProcessor | WindowedAggregateProcessor
        if op == "aggregate":
            table = AggregateProcessor(
                node.name, self, store, args["initializer"], args["aggregator"]
            )
        elif op == "reduce":
            table = ReduceProcessor(node.name, self, store, args["reducer"])
        elif op == "table_source":
            table = TableSourceProcessor(node.name, self, store)
        elif op in ("window_aggregate", "window_reduce"):
            table = WindowedAggregateProcessor(
                node.name,
                self,
                store,  # type: ignore[arg-type]
                args["windows"],
                args["emit"],
                args["late"],
                retention_ms=args.get("retention"),
                initializer=args.get("initializer"),
                aggregator=args.get("aggregator"),
                reducer=args.get("reducer"),
            )
            self.windowed.append(table)
        else:  # pragma: no cover - the DSL makes no other
            raise StreamsError(f"unknown operation {op!r} in node {node.name}")
        self.tables.append(table)
        return table

    def table_store(self, topic: str) -> KeyValueStore | None:
        """The store of the table read from ``topic``, if ``topic`` is a table's source."""
        for store in self.stores.values():
            if not store.logged and store.changelog_topic == topic:
                return store
        return None

    @property
    def partitions(self) -> list[TopicPartition]:
        return [(topic, self.partition) for topic in self.sources]

    # -- processing ------------------------------------------------------------------------
    def process(self, msg: Message, topic: str) -> None:
        """Run one input record (of ``topic``) through the sub-topology."""
        source = self.sources[topic]
        offset = msg.offset()
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
                self.current = msg
                ts_type, ts = msg.timestamp()
                if not ts_type:
                    ts = None
                if source.timestamp is not None:
                    try:
                        ts = _event_time(source.timestamp(key, value))
                    except Exception as exc:
                        self.engine.record_failed(self, msg, "process", source.name, exc)
                        self.next_offsets[(topic, self.partition)] = offset + 1
                        return
                if ts is not None and ts > self.stream_time:
                    self.stream_time = ts
                rc = RecordContext(topic, self.partition, offset, ts, msg.headers())
                try:
                    source.forward(key, value, rc)
                except NodeFailure as failure:
                    self.engine.record_failed(self, msg, "process", failure.node, failure.error)
        self.next_offsets[(topic, self.partition)] = offset + 1

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None, headers
    ) -> None:  # noqa: ANN001
        self.engine.send_record(topic, key, value, timestamp, headers)

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

    def late(
        self,
        node: Processor,
        rc: RecordContext,
        key: Any,
        timestamp: int,
        starts: list[int],
        stream_time: int,
    ) -> None:
        """A record came after some of its windows had closed: count it, log it, and hand it
        to the error handler when the aggregation asked for that - once per input record, when
        a stream feeds several windowed aggregations (one dead letter, not one per store)."""
        assert isinstance(node, WindowedAggregateProcessor)
        if self.current is not None and self._late_record is self.current:
            return  # counted and handled for another aggregation already
        self._late_record = self.current
        self.engine.metrics.late += 1
        self.late_count += 1
        windows = ", ".join(f"[{s}, {s + node.size})" for s in starts)
        message = (
            f"late record: key {key!r}, timestamp {timestamp}, for window(s) {windows} that closed "
            f"when stream time reached end + grace ({node.grace} ms); stream time is "
            f"{stream_time}"
        )
        if node.late_to_handler and self.current is not None:
            self.engine.record_failed(
                self, self.current, "late", node.name, LateRecordError(message)
            )
        elif self.late_count <= LATE_LOG_LIMIT or self.late_count % 1000 == 0:
            log.warning(
                "%s: %s (topic %r, partition %s, offset %s); dropped (%d late so far in task %s)",
                self.engine.config.app_id,
                message,
                rc.topic,
                rc.partition,
                rc.offset,
                self.late_count,
                self.id,
            )

    def set_stream_time(self, stream_time: int) -> None:
        """The committed stream time (from the offsets' metadata), when the task starts."""
        self.stream_time = self.committed_stream_time = stream_time
        for processor in self.windowed:
            processor.reset()

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

    @property
    def offset_metadata(self) -> str | None:
        return None if self.stream_time < 0 else stream_time_metadata(self.stream_time)

    def commit(self, changelog_offsets: dict[TopicPartition, int]) -> None:
        """Kafka took the commit: move the stores and the committed offsets forward."""
        for store in self.stores.values():
            tp = (store.changelog_topic, store.partition)
            if store.logged:
                last = changelog_offsets.get(tp)
                store.commit(None if last is None else last + 1)
            else:  # a table: its checkpoint is the position in its source topic
                store.commit(self.next_offsets.get(tp))
        self.committed_offsets.update(self.next_offsets)
        self.committed_stream_time = self.stream_time

    def abort(self) -> None:
        """Forget everything since the last commit (the consumer is rewound separately)."""
        for store in self.stores.values():
            store.abort()
        self.next_offsets = dict(self.committed_offsets)
        if self.windowed or self.stream_time != self.committed_stream_time:
            self.set_stream_time(self.committed_stream_time)


def _event_time(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"the timestamp function must return epoch milliseconds, got {value!r}")
    return int(value)
