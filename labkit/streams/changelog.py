"""Restoring a store from its changelog topic, from its checkpoint on.

A store whose checkpoint is ``n`` already holds every changelog record before offset ``n``, so only
records from ``n`` on are read (none, after a clean stop). The checkpoint is thrown away and the
whole changelog replayed when it cannot be trusted: it lies outside the partition's offsets, or it
was taken on another topic of the same name (the topic was deleted and created again).
Under exactly-once the restore consumer reads ``read_committed``: records of aborted transactions,
such as those a SIGKILLed instance left behind, are never restored.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from labkit.clients.config import client_config
from labkit.streams.config import StreamConfig, merge_config
from labkit.streams.exceptions import StreamsError
from labkit.streams.stores.base import KeyValueStore

log = logging.getLogger("labkit.streams")

BATCH = 5_000
# A restore reads as fast as the broker serves: large fetches and a deep prefetch (librdkafka's
# defaults, 1 MB per partition and 100,000 messages, halve the rate of small changelog records).
RESTORE_FETCH = {
    "max.partition.fetch.bytes": 16 * 1024 * 1024,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "queued.min.messages": 1_000_000,
    "queued.max.messages.kbytes": 128 * 1024,
}
STALL_TIMEOUT = 60.0  # no progress for this long: the changelog is unreadable


class Restorer:
    """One assign-only consumer that replays changelog partitions into stores."""

    def __init__(
        self, bootstrap_servers: str, settings: Mapping[str, Any], config: StreamConfig
    ) -> None:
        conf = merge_config(
            {
                **settings,
                "group.id": f"{config.app_id}-restore",  # never joined nor committed: assign only
                "client.id": f"{config.app_id}-{config.instance}-restore",
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 10,  # an empty partition's end shows up at once
                "isolation.level": "read_committed" if config.exactly_once else "read_uncommitted",
                **RESTORE_FETCH,
            },
            config.consumer_config,
        )
        conf.pop("group.instance.id", None)
        self._consumer = Consumer(client_config(bootstrap_servers, conf))

    def _start_offset(self, store: KeyValueStore, topic_id: str | None) -> int | None:
        """Where to start reading ``store``'s changelog partition; None: nothing to read."""
        tp = TopicPartition(store.changelog_topic, store.partition)
        low, high = self._consumer.get_watermark_offsets(tp, timeout=10.0)
        checkpoint = store.checkpoint()
        if topic_id is not None and store.topic_id not in (None, topic_id):
            log.info("%s: its changelog was re-created; restoring it all", store.describe())
            checkpoint = None
            store.wipe()
        elif checkpoint is not None and not low <= checkpoint <= high:
            log.info(
                "%s: checkpoint %s outside the changelog's offsets %s..%s; restoring it all",
                store.describe(),
                checkpoint,
                low,
                high,
            )
            checkpoint = None
            store.wipe()
        elif checkpoint is None and len(store):
            store.wipe()
        if topic_id is not None and store.topic_id != topic_id:
            store.set_topic_id(topic_id)
        if checkpoint is None:
            return None if high <= low else OFFSET_BEGINNING
        return None if checkpoint >= high else checkpoint

    def restore(self, stores: list[tuple[KeyValueStore, str | None]]) -> int:
        """Bring every store up to the end of its changelog partition, reading the partitions
        side by side; return how many records were read. ``stores``: (store, changelog id)."""
        todo: dict[tuple[str, int], KeyValueStore] = {}
        assignment = []
        for store, topic_id in stores:
            start = self._start_offset(store, topic_id)
            if start is not None:
                todo[(store.changelog_topic, store.partition)] = store
                assignment.append(TopicPartition(store.changelog_topic, store.partition, start))
        if not todo:
            return 0
        self._consumer.assign(assignment)
        batches: dict[tuple[str, int], dict[bytes, bytes | None]] = {tp: {} for tp in todo}
        restored = 0
        stalled = time.monotonic() + STALL_TIMEOUT
        consume = self._consumer.consume
        try:
            while todo:
                msgs = consume(10_000, 0.2)
                if msgs:
                    stalled = time.monotonic() + STALL_TIMEOUT
                elif time.monotonic() > stalled:
                    names = ", ".join(f"{t}[{p}]" for t, p in todo)
                    raise StreamsError(
                        f"restoring {names} made no progress for {STALL_TIMEOUT:.0f} s"
                    )
                # Records come in runs of one partition: look the partition up once per run.
                tp: tuple[str, int] | None = None
                batch: dict[bytes, bytes | None] | None = None
                for msg in msgs:
                    partition = msg.partition()
                    if tp is None or partition != tp[1] or msg.topic() != tp[0]:
                        tp = (msg.topic(), partition)
                        batch = batches.get(tp)
                    if batch is None:
                        continue  # not (or no longer) being restored
                    if msg.error() is not None:
                        err = msg.error()
                        if err.code() != KafkaError._PARTITION_EOF:
                            raise StreamsError(f"restoring from {tp[0]!r}: {err.str()}")
                        todo.pop(tp).restore(batches.pop(tp), msg.offset())
                        batch = None
                        continue
                    batch[msg.key()] = msg.value()
                    restored += 1
                    if len(batch) >= BATCH:
                        todo[tp].restore(batch, msg.offset() + 1)
                        batch = batches[tp] = {}
        finally:
            self._consumer.unassign()
        return restored

    def close(self) -> None:
        self._consumer.close()
