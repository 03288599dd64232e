"""The app's producer and its two commit protocols (at-least-once, exactly-once).

Exactly-once follows Kafka Streams' EOS v2: one transactional producer per app instance
(``transactional.id = <app-id>-<instance>``). Each commit interval is one transaction holding the
outputs, the repartition and changelog records, and - through ``send_offsets_to_transaction`` with
the consumer's group metadata - the input offsets. Errors are sorted as confluent-kafka's
``eos_transactions.py`` example does: retriable -> call again; ``txn_requires_abort`` -> abort and
let the app rewind (:class:`TransactionAbortedError`); fatal (fenced by a newer producer with the
same id, or by the coordinator after a transaction timeout) -> :class:`ProducerFencedError`, and the
app builds a new producer. A producer that is started fences any older one with its id and aborts
its open transaction, so a restart after SIGKILL finds no half-written transaction in the way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from labkit.clients.config import client_config, kafka_log
from labkit.streams.config import StreamConfig, merge_config
from labkit.streams.exceptions import (
    DeliveryFailedError,
    ProducerFencedError,
    StreamsError,
    TransactionAbortedError,
)

log = logging.getLogger("labkit.streams")

PRODUCER_DEFAULTS: dict[str, Any] = {
    "enable.idempotence": True,
    "acks": "all",
    "partitioner": "murmur2_random",  # the Java client's partitioner: same key, same partition
    "linger.ms": 5,
}
#: Kafka Streams' default under exactly-once. An instance that dies mid-transaction holds back
#: read_committed readers of what it wrote (the instance taking over its partitions, too) until
#: the broker aborts that transaction after this long - or until it restarts with its instance
#: id, which aborts it at once. A longer commit interval gets a longer timeout.
TRANSACTION_TIMEOUT_MS = 10_000


def transaction_timeout_ms(commit_interval: float) -> int:
    """``transaction.timeout.ms`` for a commit interval (seconds): a transaction stays open for
    about one interval; allow that plus the default."""
    return TRANSACTION_TIMEOUT_MS + round(commit_interval * 1000)


# produce() on a fenced producer raises _FATAL without the fatal flag set
_FATAL_CODES = {
    KafkaError._FATAL,
    KafkaError._FENCED,
    KafkaError.PRODUCER_FENCED,
    KafkaError.INVALID_PRODUCER_EPOCH,
}
OPERATION_TIMEOUT = 60.0


def _error(exc: KafkaException) -> KafkaError:
    err = exc.args[0] if exc.args else None
    return err if isinstance(err, KafkaError) else KafkaError(KafkaError._FAIL, str(exc))


class StreamsProducer:
    """Sends records; commits or aborts as the guarantee says."""

    def __init__(
        self,
        bootstrap_servers: str,
        settings: Mapping[str, Any],
        config: StreamConfig,
        changelog_topics: set[str],
        internal_topics: set[str] | None = None,
    ) -> None:
        self.config = config
        self.exactly_once = config.exactly_once
        self.changelog_topics = changelog_topics
        self.internal_topics = internal_topics or set()
        conf = dict(PRODUCER_DEFAULTS)
        conf["client.id"] = f"{config.app_id}-{config.instance}-producer"
        if self.exactly_once:
            conf["transactional.id"] = config.transactional_id
            conf["transaction.timeout.ms"] = transaction_timeout_ms(config.commit_interval or 0)
        conf = merge_config({**settings, **conf}, config.producer_config)
        conf["on_delivery"] = self._on_delivery
        conf["error_cb"] = self._on_error
        self.fatal: KafkaError | None = None
        self._producer = Producer(client_config(bootstrap_servers, conf))
        self.in_transaction = False
        self.failures: list[tuple[str, KafkaError]] = []
        self.changelog_offsets: dict[tuple[str, int], int] = {}
        self.internal_offsets: dict[tuple[str, int], int] = {}  # repartition records written
        self.sent = 0
        if self.exactly_once:
            self._call("init_transactions", self._producer.init_transactions, OPERATION_TIMEOUT)

    # -- sending ---------------------------------------------------------------------------
    def _on_error(self, err: KafkaError) -> None:
        if err.fatal():
            self.fatal = err
        kafka_log.warning("%s", err.str())

    def _serve(self, fn: Callable[[float], int], timeout: float) -> int:
        """poll() or flush(): serve delivery reports."""
        try:
            return fn(timeout)
        except SystemError as exc:
            # confluent-kafka 2.16, once the producer hit a fatal error (fenced), calls the
            # delivery callback with that KafkaException still pending, or returns NULL without
            # one: a SystemError, sometimes caused by the KafkaException, sometimes bare.
            cause = exc.__cause__ or exc.__context__
            if isinstance(cause, KafkaException):
                raise self._sorted(cause, "delivery reports") from exc
            self._check_fatal("delivery reports")
            if self.exactly_once:  # only seen in the fatal state: a new producer is the way on
                raise ProducerFencedError(
                    f"{self.config.app_id}: the producer with transactional.id "
                    f"{self.config.transactional_id!r} failed ({exc}): fenced by another "
                    "instance with the same id, or a transaction ran past transaction.timeout.ms"
                ) from exc
            raise StreamsError(f"{self.config.app_id}: the producer failed: {exc}") from exc

    def _check_fatal(self, what: str) -> None:
        if self.fatal is not None:
            raise self._sorted(KafkaException(self.fatal), what)

    def _on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        try:
            topic = msg.topic()
        except SystemError:  # see flush(): a fatal error is pending
            self.failures.append(("?", err or KafkaError(KafkaError._FATAL)))
            return
        if err is not None:
            self.failures.append((topic, err))
            return
        if topic in self.changelog_topics:
            tp = (topic, msg.partition())
            offset = msg.offset()
            if offset > self.changelog_offsets.get(tp, -1):
                self.changelog_offsets[tp] = offset
        elif topic in self.internal_topics:
            tp = (topic, msg.partition())
            offset = msg.offset()
            if offset > self.internal_offsets.get(tp, -1):
                self.internal_offsets[tp] = offset

    def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        timestamp: int | None = None,
        headers: list | None = None,
    ) -> None:
        if not self.in_transaction and self.exactly_once:
            self.begin()
        if self.fatal is not None:
            self._check_fatal(f"producing to {topic!r}")
        while True:
            try:
                self._producer.produce(
                    topic,
                    value,
                    key,
                    -1 if partition is None else partition,
                    timestamp=timestamp or 0,
                    headers=headers or None,
                )
                break
            except BufferError:  # the local queue is full: let deliveries drain, then again
                self._serve(self._producer.poll, 0.05)
            except KafkaException as exc:
                raise self._sorted(exc, f"producing to {topic!r}") from exc
        self.sent += 1
        if self.sent % 1000 == 0:
            self._serve(self._producer.poll, 0)

    def begin(self) -> None:
        if self.exactly_once and not self.in_transaction:
            self._call("begin_transaction", self._producer.begin_transaction)
            self.in_transaction = True

    def take_offsets(self) -> tuple[dict[tuple[str, int], int], dict[tuple[str, int], int]]:
        """Offsets of the last changelog and repartition record per partition since the last
        call (delivery reports of a commit: call after it)."""
        changelog, self.changelog_offsets = self.changelog_offsets, {}
        internal, self.internal_offsets = self.internal_offsets, {}
        return changelog, internal

    # -- committing ------------------------------------------------------------------------
    def flush(self, timeout: float = OPERATION_TIMEOUT) -> None:
        """Wait for every delivery report (at-least-once: raise if any record failed)."""
        self._check_fatal("flush")
        remaining = self._serve(self._producer.flush, timeout)
        self._check_fatal("flush")
        if self.exactly_once:
            return  # a failed record makes commit_transaction fail abortably
        if remaining:
            raise DeliveryFailedError(
                f"{self.config.app_id}: {remaining} record(s) unacknowledged after {timeout:.0f} s "
                "(is the broker reachable? `labkit status`)"
            )
        if self.failures:
            topic, err = self.failures[0]
            n = len(self.failures)
            self.failures = []
            raise DeliveryFailedError(
                f"{self.config.app_id}: {n} record(s) could not be written; first to "
                f"{topic!r}: {err.str()}. The app stopped without committing its input offsets, "
                "so the records will be processed again when it restarts"
            )

    def commit_transaction(self, offsets: list[TopicPartition], group_metadata: Any) -> None:
        """Flush, add the input offsets to the transaction and commit it."""
        self.flush()
        if offsets:
            self._call(
                "send_offsets_to_transaction",
                self._producer.send_offsets_to_transaction,
                offsets,
                group_metadata,
                OPERATION_TIMEOUT,
            )
        self._call("commit_transaction", self._producer.commit_transaction, OPERATION_TIMEOUT)
        self.in_transaction = False
        self.failures = []

    def abort(self) -> None:
        """Abort the open transaction (if any); what it wrote is never seen by read_committed."""
        self.changelog_offsets = {}
        self.internal_offsets = {}
        self.failures = []
        if not (self.exactly_once and self.in_transaction):
            return
        self.in_transaction = False
        try:
            self._call("abort_transaction", self._producer.abort_transaction, OPERATION_TIMEOUT)
        except ProducerFencedError:
            raise
        except StreamsError as exc:
            # Aborting an aborted or unknown transaction: nothing of it will become visible.
            log.warning("%s", exc)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call a transactional API; retry what is retriable, sort the rest."""
        deadline = time.monotonic() + OPERATION_TIMEOUT
        while True:
            try:
                return fn(*args)
            except KafkaException as exc:
                err = _error(exc)
                fatal = err.fatal() or err.code() in _FATAL_CODES
                if err.retriable() and not fatal and time.monotonic() < deadline:
                    log.info("%s: %s is retriable (%s); retrying", self.config.app_id, what, err)
                    time.sleep(0.1)
                    continue
                raise self._sorted(exc, what) from exc

    def _sorted(self, exc: KafkaException, what: str) -> StreamsError:
        """The labkit error for a failed producer call."""
        err = _error(exc)
        if err.fatal() or err.code() in _FATAL_CODES:
            return ProducerFencedError(
                f"{self.config.app_id}: the producer with transactional.id "
                f"{self.config.transactional_id!r} can no longer write ({what}: {err.str()}): "
                "another instance with the same id started, or a transaction ran past "
                "transaction.timeout.ms"
            )
        if err.txn_requires_abort():
            return TransactionAbortedError(
                f"{self.config.app_id}: {what} failed and the transaction must be aborted: "
                f"{err.str()}"
            )
        return StreamsError(f"{self.config.app_id}: {what} failed: {err.str()}")

    def close(self, timeout: float = 10.0) -> None:
        """Wait briefly for outstanding deliveries (nothing is in a transaction here)."""
        try:
            self._producer.flush(timeout)
        except Exception as exc:  # a fenced producer may refuse; it holds nothing of value
            log.debug("closing the producer: %s", exc)

    def discard(self) -> None:
        """Drop a producer that can no longer write (fenced): purge its queue."""
        try:
            self._producer.purge()
            self._producer.flush(0)
        except Exception as exc:
            log.debug("discarding the producer: %s", exc)
