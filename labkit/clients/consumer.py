"""Consumers that end: bounded reads returning records or a DataFrame, and a consumer helper.

Every read stops at the first of ``max_messages`` records, the end of the topic (``until_end``),
or ``timeout`` seconds, and always closes its consumer, so an interrupted read (Ctrl-C, a kernel
interrupt) leaves no member behind in a consumer group.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, KafkaError, Message, TopicPartition
from confluent_kafka import Consumer as _KafkaConsumer

from labkit.clients.config import client_config, kafka_properties
from labkit.clients.exceptions import ClientError
from labkit.clients.records import Record, to_dataframe
from labkit.serdes import Serde, SerdeError, resolve

if TYPE_CHECKING:
    import pandas as pd


POLL_SLICE = 0.1  # short polls keep a read responsive to interrupts


class Consumer:
    """A confluent-kafka consumer with serdes; use it in a ``with`` block so it always closes.

    >>> with Consumer("127.0.0.1:9092", group_id="billing", topics=["orders"]) as c:  # doctest: +SKIP
    ...     records = c.consume(max_messages=10, timeout=5)
    ...     c.commit()
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str | None = None,
        topics: Iterable[str] | None = None,
        serde: str | Serde | None = "json",
        key_serde: str | Serde | None = "string",
        from_beginning: bool = True,
        config: Mapping[str, Any] | None = None,
        **kafka_config: Any,
    ) -> None:
        merged: dict[str, Any] = {
            "group.id": group_id or "labkit-reader",  # librdkafka wants one even when unused
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.partition.eof": True,
            "isolation.level": "read_committed",
            **kafka_properties({**(config or {}), **kafka_config}),
        }
        self.group_id = group_id
        self._consumer = _KafkaConsumer(client_config(bootstrap_servers, merged))
        self.serde = resolve(serde)
        self.key_serde = resolve(key_serde, default="string")
        self._closed = False
        self.topics: list[str] = []
        self.at_end: set[tuple[str, int]] = set()
        if topics:
            self.subscribe(list(topics))

    @property
    def raw(self) -> _KafkaConsumer:
        """The underlying confluent_kafka.Consumer."""
        return self._consumer

    def subscribe(self, topics: list[str]) -> None:
        self.topics = list(topics)

        def on_assign(consumer, partitions):  # noqa: ANN001
            self.at_end.difference_update((p.topic, p.partition) for p in partitions)

        self._consumer.subscribe(topics, on_assign=on_assign)

    def assign(self, partitions: list[TopicPartition]) -> None:
        self._consumer.assign(partitions)

    def assignment(self) -> list[tuple[str, int]]:
        """The (topic, partition) pairs this member owns now, sorted."""
        return sorted((p.topic, p.partition) for p in self._consumer.assignment())

    def poll(self, timeout: float = 1.0) -> Record | None:
        """One record, or None when none arrived within ``timeout`` (end-of-partition noted)."""
        msg = self._consumer.poll(timeout)
        if msg is None:
            return None
        if msg.error() is not None:
            if msg.error().code() == KafkaError._PARTITION_EOF:
                self.at_end.add((msg.topic(), msg.partition()))
                return None
            raise ClientError(f"consuming {msg.topic()}: {msg.error().str()}")
        self.at_end.discard((msg.topic(), msg.partition()))
        return self._record(msg)

    def _record(self, msg: Message) -> Record:
        try:
            key = self.key_serde.deserialize(msg.key(), msg.topic())
            value = self.serde.deserialize(msg.value(), msg.topic())
        except SerdeError as exc:
            raise SerdeError(
                f"{exc} (topic {msg.topic()}, partition {msg.partition()}, offset {msg.offset()})"
            ) from exc
        ts_type, ts = msg.timestamp()
        return Record(
            msg.topic(),
            msg.partition(),
            msg.offset(),
            ts if ts_type else None,
            key,
            value,
            dict(msg.headers() or []),
        )

    def consume(
        self, max_messages: int | None = None, timeout: float = 10.0, until_end: bool = False
    ) -> list[Record]:
        """Poll until ``max_messages``, ``timeout`` seconds, or (``until_end``) every assigned
        partition is at its end."""
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while (max_messages is None or len(records) < max_messages) and time.monotonic() < deadline:
            record = self.poll(min(POLL_SLICE, max(0.0, deadline - time.monotonic())))
            if record is not None:
                records.append(record)
            elif until_end and self._all_at_end():
                break
        return records

    def _all_at_end(self) -> bool:
        assigned = {(p.topic, p.partition) for p in self._consumer.assignment()}
        return bool(assigned) and assigned <= self.at_end

    def commit(self, records: list[Record] | None = None) -> None:
        """Commit synchronously: the positions after ``records``, or the current positions."""
        if records:
            nxt: dict[tuple[str, int], int] = {}
            for r in records:
                nxt[(r.topic, r.partition)] = max(nxt.get((r.topic, r.partition), 0), r.offset + 1)
            self._consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in nxt.items()], asynchronous=False
            )
        else:
            try:
                self._consumer.commit(asynchronous=False)
            except Exception as exc:  # nothing consumed yet: nothing to commit
                if "NO_OFFSET" not in str(exc):
                    raise

    def close(self) -> None:
        """Leave the group (if any) and free the client; safe to call twice."""
        if not self._closed:
            self._closed = True
            self._consumer.close()

    def __enter__(self) -> Consumer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self.close()


def read(
    bootstrap_servers: str,
    topic: str,
    *,
    max_messages: int | None = None,
    timeout: float = 10.0,
    from_beginning: bool = True,
    group_id: str | None = None,
    commit: bool = True,
    until_end: bool = True,
    serde: str | Serde | None = "json",
    key_serde: str | Serde | None = "string",
    as_dataframe: bool = True,
    config: Mapping[str, Any] | None = None,
) -> pd.DataFrame | list[Record]:
    """Read a bounded batch of records from ``topic``.

    Without ``group_id`` the read joins no group: it starts at the beginning (or the end) of
    every partition. With ``group_id`` it resumes from that group's committed offsets and, when
    ``commit``, commits what it returned. It stops at ``max_messages``, at the end of the topic
    (``until_end``), or after ``timeout`` seconds, whichever comes first.

    >>> read("127.0.0.1:9092", "orders", max_messages=5)  # doctest: +SKIP
    """
    from labkit.clients.admin import partitions_of

    extra = dict(config or {})
    with Consumer(
        bootstrap_servers,
        group_id=group_id,
        serde=serde,
        key_serde=key_serde,
        from_beginning=from_beginning,
        config=extra,
    ) as consumer:
        partitions = partitions_of(
            consumer.raw, topic, timeout=min(timeout, 8.0), servers=bootstrap_servers
        )
        if group_id is None:
            start = OFFSET_BEGINNING if from_beginning else OFFSET_END
            consumer.assign([TopicPartition(topic, p, start) for p in partitions])
        else:
            consumer.subscribe([topic])
        records = consumer.consume(max_messages, timeout, until_end=until_end)
        if group_id is not None and commit and records:
            consumer.commit(records)
    return to_dataframe(records) if as_dataframe else records


def settle(members: list[Consumer], timeout: float = 30.0) -> list[int]:
    """Poll every member of one group until the group's assignment has settled; return the
    number of partitions each member owns, sorted (``[1, 2]`` for two members on 3 partitions).

    Settled means every partition of the subscribed topics has exactly one owner and as many
    members own partitions as can. Records polled meanwhile are not committed, so a later read by
    the group sees them again.

    >>> with lab.consumer("g", ["orders"]) as a, lab.consumer("g", ["orders"]) as b:  # doctest: +SKIP
    ...     settle([a, b])
    [1, 2]
    """
    topics = sorted({t for m in members for t in m.topics})
    metadata = members[0].raw.list_topics(timeout=8.0)
    partitions = sum(len(metadata.topics[t].partitions) for t in topics if t in metadata.topics)
    deadline = time.monotonic() + timeout
    while True:
        for member in members:
            member.poll(POLL_SLICE)
        owned = [set(member.assignment()) for member in members]
        owners = sum(1 for o in owned if o)
        if sum(map(len, owned)) == partitions == len(set().union(*owned)) and owners == min(
            len(members), partitions
        ):
            break
        if time.monotonic() > deadline:
            raise ClientError(
                f"the group's assignment did not settle within {timeout:.0f} s "
                f"(partitions per member: {sorted(map(len, owned))})"
            )
    return sorted(len(member.assignment()) for member in members)
