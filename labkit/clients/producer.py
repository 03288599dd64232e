"""A producer helper: keys, headers, JSON (or any serde) values, delivery reports, flush.

Idempotence is on by default (no duplicates or reordering on retries), and keyed records are
partitioned with murmur2 like the Java client, so a key lands on the same partition whichever
language produced it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from confluent_kafka import KafkaError, Message
from confluent_kafka import Producer as _KafkaProducer

from labkit.clients.config import client_config, kafka_properties
from labkit.clients.exceptions import DeliveryError
from labkit.exceptions import LabkitError
from labkit.serdes import Serde, resolve

PRODUCER_DEFAULTS = {
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",
    "linger.ms": 5,
}

KeySpec = str | Callable[[Any], Any] | None
# a serialized record: topic, value bytes, key bytes, produce() extras (headers, partition, ...)
Encoded = tuple[str, bytes | None, bytes | None, dict[str, Any] | None]


@dataclass
class ProduceResult:
    """What a batch of sends came to: counts per partition, all acknowledged."""

    topic: str
    count: int
    partitions: dict[int, int] = field(default_factory=dict)

    def __repr__(self) -> str:
        parts = ", ".join(f"p{p}: {n}" for p, n in sorted(self.partitions.items()))
        return f"ProduceResult(topic={self.topic!r}, count={self.count}, partitions={{{parts}}})"


class Producer:
    """A confluent-kafka producer with serdes and collected delivery reports.

    >>> with Producer("127.0.0.1:9092") as p:  # doctest: +SKIP
    ...     p.send("orders", {"orderId": "O1"}, key="O1", headers={"source": "doc"})
    """

    def __init__(
        self,
        bootstrap_servers: str,
        serde: str | Serde | None = "json",
        key_serde: str | Serde | None = "string",
        config: Mapping[str, Any] | None = None,
        **kafka_config: Any,
    ) -> None:
        merged = {**PRODUCER_DEFAULTS, **kafka_properties({**(config or {}), **kafka_config})}
        self._producer = _KafkaProducer(client_config(bootstrap_servers, merged))
        self.serde = resolve(serde)
        self.key_serde = resolve(key_serde, default="string")
        self._acked: Counter[tuple[str, int]] = Counter()
        self._failures: list[tuple[Any, KafkaError]] = []
        self._on_delivery = _delivery_reports(self._acked, self._failures)

    @property
    def raw(self) -> _KafkaProducer:
        """The underlying confluent_kafka.Producer."""
        return self._producer

    @property
    def acked(self) -> Counter[tuple[str, int]]:
        """Acknowledged records per ``(topic, partition)``, as delivery reports came in."""
        return self._acked

    @property
    def failures(self) -> list[tuple[Any, KafkaError]]:
        """``(key, error)`` of every record whose delivery failed."""
        return self._failures

    def send(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Mapping[str, Any] | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> None:
        """Queue one record; its delivery report is collected by the next poll or flush."""
        self.send_encoded(self.encode(topic, value, key, headers, partition, timestamp))

    def encode(
        self,
        topic: str,
        value: Any,
        key: Any = None,
        headers: Mapping[str, Any] | None = None,
        partition: int | None = None,
        timestamp: int | None = None,
    ) -> Encoded:
        """One record serialized and ready for :meth:`send_encoded`; raises what the serdes
        raise (a ``SerdeError`` naming the field) without sending anything."""
        data = self.serde.serialize(value, topic)
        if key is not None:
            key = self.key_serde.serialize(key, topic)
        if not (headers or partition is not None or timestamp is not None):
            return topic, data, key, None
        extra: dict[str, Any] = {}
        if headers:
            extra["headers"] = [
                (k, v if isinstance(v, bytes) or v is None else str(v).encode())
                for k, v in headers.items()
            ]
        if partition is not None:
            extra["partition"] = partition
        if timestamp is not None:
            extra["timestamp"] = timestamp
        return topic, data, key, extra

    def send_encoded(self, encoded: Encoded) -> None:
        """Queue a record made by :meth:`encode`."""
        topic, data, key, extra = encoded
        if extra is None:  # the common case, kept to one call into confluent-kafka
            try:
                self._producer.produce(topic, data, key, on_delivery=self._on_delivery)
            except BufferError:
                self._produce(topic, data, key, {})
        else:
            self._produce(topic, data, key, extra)
        self._producer.poll(0)

    def _produce(self, topic: str, value: Any, key: Any, extra: dict[str, Any]) -> None:
        while True:
            try:
                self._producer.produce(topic, value, key, on_delivery=self._on_delivery, **extra)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self._producer.poll(0.1)

    def flush(self, timeout: float = 30.0) -> int:
        """Wait for every queued record's acknowledgement; raise if any failed or is still queued."""
        remaining = self._producer.flush(timeout)
        if remaining:
            raise DeliveryError(
                f"{remaining} record(s) still unacknowledged after {timeout:.0f} s: "
                "is the broker reachable? (`labkit status`)",
                self.failures,
            )
        if self.failures:
            key, err = self.failures[0]
            raise DeliveryError(
                f"{len(self.failures)} record(s) failed delivery; first (key {key!r}): {err.str()}",
                list(self.failures),
            )
        return sum(self.acked.values())

    def close(self, timeout: float = 30.0) -> None:
        self.flush(timeout)

    def __enter__(self) -> Producer:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        if exc_type is None:
            self.flush()
        else:
            self._producer.flush(5)


def _delivery_reports(
    acked: Counter[tuple[str, int]], failures: list[tuple[Any, KafkaError]]
) -> Callable[[KafkaError | None, Message], None]:
    """One delivery callback for every record of a producer.

    Not a bound method: ``self._on_delivery`` would make a new object per record, which
    confluent-kafka keeps until the report arrives; thousands of them in flight keep the garbage
    collector busy (about 1 us a record). Nor a bound method made once: that would tie the
    Producer into a reference cycle and keep librdkafka's handle and threads alive until a
    collection. So a closure over the counters alone.
    """

    def on_delivery(err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            failures.append((msg.key(), err))
        else:
            acked[(msg.topic(), msg.partition())] += 1

    return on_delivery


def key_function(key: KeySpec) -> Callable[[Any], Any]:
    """A function from a record to its key: a field name, a callable, or no key.

    >>> key_function("orderId")({"orderId": "O1"})
    'O1'
    """
    if key is None:
        return lambda record: None
    if callable(key):
        return key
    return itemgetter(key)


def produce_all(
    producer: Producer,
    topic: str,
    records: Iterable[Any],
    key: KeySpec = None,
    headers: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None = None,
    timestamp: str | Callable[[Any], int] | None = None,
    flush_timeout: float = 60.0,
) -> ProduceResult:
    """Send every record, wait for all acknowledgements and report counts per partition.

    Every record is serialized before the first is sent, so a record a serde refuses (a
    missing field, a schema mismatch) stops the batch with nothing sent: the error names the
    record's position in the batch, and fixing it and running again sends each record once.
    """
    get_key = key_function(key)
    get_ts = key_function(timestamp) if timestamp is not None else None
    before = Counter(producer.acked)
    encode = producer.encode
    batch = []
    for index, record in enumerate(records):
        hdrs = headers(record) if callable(headers) else headers
        ts = get_ts(record) if get_ts else None
        try:
            batch.append(encode(topic, record, get_key(record), hdrs, None, ts))
        except LabkitError as exc:  # the same error (type, field path), saying where and what
            exc.args = (f"record {index} of the batch: {exc} (none of the batch was sent)",)
            raise
    send = producer.send_encoded
    for encoded in batch:
        send(encoded)
    count = len(batch)
    producer.flush(flush_timeout)
    delta = {p: n - before[(t, p)] for (t, p), n in producer.acked.items() if t == topic}
    return ProduceResult(topic, count, {p: n for p, n in sorted(delta.items()) if n})
