"""The processing loop of one app instance: Kafka Streams' StreamThread, in one Python thread.

One consumer (group ``<app-id>``, the range assignor so that equal partitions of co-partitioned
topics land on one member) reads every source topic, internal repartition topics included. Each
assigned partition belongs to a task; a task's stores are restored before its first record. Every
``commit_interval`` (and whenever the input runs dry, a store's cache is full, or partitions are
revoked) the loop commits:

* at-least-once: flush the stores' caches to their changelogs and downstream, wait for every
  delivery, commit the input offsets, then write the stores' committed state and checkpoints. A
  crash in between replays input whose effects were already written: duplicates, never loss.
* exactly-once: the same records go into one transaction with the input offsets, committed
  atomically; the stores take the new state only after Kafka did. An abortable error aborts the
  transaction and rewinds the consumer to the committed offsets; a fenced producer is replaced.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from labkit.clients.config import client_config
from labkit.streams.changelog import Restorer
from labkit.streams.config import merge_config
from labkit.streams.errors import ErrorContext, run_handler
from labkit.streams.exceptions import (
    MissingSourceTopicError,
    ProducerFencedError,
    RecordProcessingError,
    StreamsError,
    TransactionAbortedError,
    TransactionError,
)
from labkit.streams.producer import StreamsProducer
from labkit.streams.serdes import serde_for
from labkit.streams.stores import KeyValueStore, open_store
from labkit.streams.task import Task, parse_stream_time, task_id
from labkit.streams.task import TopicPartition as TP
from labkit.streams.topics import Plan

if TYPE_CHECKING:
    from labkit.streams.app import StreamApp

log = logging.getLogger("labkit.streams")

BATCH_SIZE = 500
POLL_TIMEOUT = 0.05
DRY_COMMIT_MIN = 0.02
JOIN_TIMEOUT = 60.0
HOLD_AFTER = 1.0  # s a committed repartition record may wait unread before the input holds
FENCED_LIMIT = 3  # fenced this many times within FENCED_WINDOW: another live instance has our id
FENCED_WINDOW = 120.0
SESSION_TIMEOUT_MS = 10_000  # a killed instance's partitions move on after 10 s, not 45 s
# One consumer reads the input and the repartition topics through one queue. librdkafka's default
# prefetch (64 MB) would queue the whole input ahead of the repartition records the app writes,
# so the aggregation would wait for the input to be read to its end (forever, for a throttled
# or endless input). A small prefetch keeps them interleaved; refilling it without librdkafka's
# 1 s back-off keeps the throughput (measured: the same records/s as with 64 MB).
PREFETCH = {"queued.max.messages.kbytes": 1024, "fetch.queue.backoff.ms": 5}


@dataclass
class Metrics:
    """Counters over the life of an app (``app.metrics``)."""

    records: int = 0
    input_records: int = 0
    commits: int = 0
    aborts: int = 0
    fenced: int = 0
    rebalances: int = 0
    restored: int = 0
    restore_seconds: float = 0.0
    dropped: int = 0
    late: int = 0  # records that came after one of their time windows had closed
    expired: int = 0  # windows deleted from window stores past their retention
    errors_continued: int = 0
    by_topic: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "by_topic"}
        out["by_topic"] = dict(self.by_topic)
        return out


@dataclass
class RunResult:
    """What one ``run()`` did."""

    records: int  # records processed, repartition topics included
    input_records: int  # records of the app's own source topics
    commits: int
    aborts: int
    seconds: float
    stopped_by: str  # "idle", "timeout", "max_records", "stop" or "interrupt"
    busy_seconds: float = 0.0  # from the first record to the commit of the last

    @property
    def rate(self) -> float:
        """Input records per second of busy time."""
        return self.input_records / self.busy_seconds if self.busy_seconds else 0.0

    def __repr__(self) -> str:
        return (
            f"RunResult(input_records={self.input_records}, records={self.records}, "
            f"commits={self.commits}, aborts={self.aborts}, seconds={self.seconds:.1f}, "
            f"stopped_by={self.stopped_by!r})"
        )


class Engine:
    """One run of an app: consumer, producer, tasks. Built by ``StreamApp.run``/``start``."""

    def __init__(self, app: StreamApp, plan: Plan) -> None:
        self.app = app
        self.config = app.config
        self.topology = app.topology
        self.plan = plan
        self.metrics: Metrics = app.metrics
        self.subtopologies = self.topology.subtopologies()
        self.defaults = (self.config.key_serde, self.config.value_serde)
        self.internal_topics = set(self.topology.repartition_topics())
        self.external_topics = set(self.topology.external_source_topics())
        self.changelog_topics = {
            self.topology.changelog_topic(s) for s in self.topology.logged_stores()
        }
        self.sub_of_topic = {
            self.topology.topic(src): sub for sub in self.subtopologies for src in sub.sources
        }
        self.tasks: dict[str, Task] = {}
        self.task_by_tp: dict[TP, Task] = {}
        self.at_end: set[TP] = set()
        self.paused: set[TP] = set()
        self.held: set[TP] = set()  # input paused while the app reads back what it wrote
        self.backlog_since: float | None = None
        # The last repartition record this instance wrote (and Kafka committed), per partition:
        # it is not caught up on a partition it reads until it has read past that.
        self.written: dict[TP, int] = {}
        self._counts: dict[str, int] = {}  # records per topic in the current batch
        self.uncommitted = False
        self.failed = False
        self.revoking = False
        self.assigned = False
        self.fenced_at: deque[float] = deque()
        self.last_commit = time.monotonic()
        self.producer: StreamsProducer | None = None
        self.consumer: Consumer | None = None
        self.restorer: Restorer | None = None

    # -- clients ---------------------------------------------------------------------------
    def _new_producer(self) -> StreamsProducer:
        return StreamsProducer(
            self.app.bootstrap_servers,
            self.app.client_settings,
            self.config,
            self.changelog_topics,
            internal_topics=self.internal_topics,
        )

    def open(self) -> None:
        cfg = self.config
        self.producer = self._new_producer()
        self.restorer = Restorer(self.app.bootstrap_servers, self.app.client_settings, cfg)
        conf = merge_config(
            {
                **self.app.client_settings,
                "group.id": cfg.app_id,
                "client.id": f"{cfg.app_id}-{cfg.instance}-consumer",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "enable.partition.eof": True,
                "partition.assignment.strategy": "range",
                "session.timeout.ms": SESSION_TIMEOUT_MS,
                "isolation.level": "read_committed" if cfg.exactly_once else "read_uncommitted",
                **PREFETCH,
            },
            cfg.consumer_config,
        )
        self.consumer = Consumer(client_config(self.app.bootstrap_servers, conf))
        self.consumer.subscribe(
            sorted(self.sub_of_topic),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    # -- rebalancing -----------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.metrics.rebalances += 1
        committed = consumer.committed(partitions, timeout=30.0) if partitions else []
        offsets = {
            (tp.topic, tp.partition): (tp.offset if tp.offset >= 0 else None) for tp in committed
        }
        stream_times = {
            (tp.topic, tp.partition): parse_stream_time(tp.metadata) for tp in committed
        }
        wanted: dict[str, list[TP]] = {}
        for tp in partitions:
            sub = self.sub_of_topic[tp.topic]
            wanted.setdefault(task_id(sub.id, tp.partition), []).append((tp.topic, tp.partition))
        new = [tid for tid in sorted(wanted) if tid not in self.tasks]
        self._restore(new)
        moved: dict[TP, int] = {}
        for tid, tps in sorted(wanted.items()):
            task = self.tasks.get(tid) or self._create_task(tid)
            for tp in tps:
                start = offsets.get(tp)
                table = task.table_store(tp[0])
                if table is not None:
                    # The table's store was just brought up to its topic's end: read on from
                    # there (records before it are in the store already).
                    checkpoint = table.checkpoint()
                    if checkpoint is not None and (start is None or checkpoint > start):
                        start = moved[tp] = checkpoint
                task.committed_offsets[tp] = start
                task.next_offsets[tp] = start
                self.task_by_tp[tp] = task
                self.at_end.discard(tp)
            task.set_stream_time(max(stream_times.get(tp, -1) for tp in tps))
        if moved:
            for tp in partitions:
                tp.offset = moved.get((tp.topic, tp.partition), tp.offset)
            consumer.assign(partitions)
        self.app._keep_stores({s for t in self.tasks.values() for s in t.stores.values()})
        self.assigned = True
        log.info(
            "%s: assigned %s (tasks %s)",
            self.config.app_id,
            ", ".join(f"{t}[{p}]" for t, p in sorted(self.task_by_tp)) or "nothing",
            ", ".join(sorted(self.tasks)) or "none",
        )

    def _restore(self, task_ids: list[str]) -> None:
        """Open the stores of new tasks and bring them up to date from their changelogs."""
        stores = [self._store(name, tid) for tid in task_ids for name in self._store_names(tid)]
        if not stores:
            return
        assert self.restorer is not None
        started = time.monotonic()
        n = self.restorer.restore([(s, self.plan.topic_ids.get(s.changelog_topic)) for s in stores])
        self.metrics.restored += n
        self.metrics.restore_seconds += time.monotonic() - started
        log.info(
            "%s: %d store partition(s) ready, %d changelog record(s) restored in %.2f s",
            self.config.app_id,
            len(stores),
            n,
            time.monotonic() - started,
        )

    def _store_names(self, tid: str) -> list[str]:
        return self.subtopologies[int(tid.split("_")[0])].store_names

    def _create_task(self, tid: str) -> Task:
        sub_id, partition = (int(x) for x in tid.split("_"))
        sub = self.subtopologies[sub_id]
        stores = {}
        for name in sub.store_names:
            store = self._store(name, tid)
            logged = self.topology.stores[name].source_topic is None
            store.attach(self._send_changelog, self.config.cache_max_keys > 0, logged)
            stores[name] = store
        task = Task(sub, partition, self.topology, stores, self, self.defaults)
        self.tasks[tid] = task
        return task

    def _store(self, name: str, tid: str) -> KeyValueStore:
        """The store ``name`` of task ``tid``: kept from an earlier run, or opened."""
        store = self.app._stores.get((name, tid))
        if store is None:
            spec = self.topology.stores[name]
            store = open_store(
                spec.store_type or self.config.store_type,
                name,
                tid,
                int(tid.split("_")[1]),
                self.topology.changelog_topic(name),
                serde_for(spec.key_serde, self.config.key_serde),
                serde_for(spec.value_serde, None),
                self.config.app_state_dir(),
                meta={"app_id": self.config.app_id},
                windows=spec.windows,
            )
            self.app._stores[(name, tid)] = store
        return store

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.revoking = True  # a failed commit now needs no seek: the partitions are leaving
        try:
            if not self.failed:
                self.commit()
        finally:
            self.revoking = False
        self._drop_tasks(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.warning(
            "%s: partitions lost (session timed out); dropping uncommitted work", self.config.app_id
        )
        self._abandon()
        self._drop_tasks(partitions)

    def _drop_tasks(self, partitions: list[TopicPartition]) -> None:
        gone = {(tp.topic, tp.partition) for tp in partitions}
        for tp in gone:
            self.task_by_tp.pop(tp, None)
            self.at_end.discard(tp)
            self.paused.discard(tp)
            self.held.discard(tp)
        for tid, task in list(self.tasks.items()):
            if all(tp in gone for tp in task.partitions):
                task.abort()  # nothing uncommitted is left after a commit; this only clears
                del self.tasks[tid]

    # -- sending ---------------------------------------------------------------------------
    def send_record(
        self, topic: str, key: bytes | None, value: bytes | None, timestamp: int | None, headers
    ) -> None:  # noqa: ANN001
        """What a sink calls for each record (the current producer, which a fence replaces)."""
        self.producer.send(topic, key, value, None, timestamp, headers)  # type: ignore[union-attr]

    def _send_changelog(self, topic: str, key: bytes, value: bytes | None, partition: int) -> None:
        assert self.producer is not None
        self.producer.send(topic, key, value, partition)

    def _send_raw(self, topic: str, key: bytes | None, value: bytes | None, headers: Any) -> None:
        self.producer.send(topic, key, value, None, None, headers)  # type: ignore[union-attr]

    # -- failures of single records --------------------------------------------------------
    def record_failed(
        self, task: Task, msg: Any, stage: str, node: str, exc: BaseException
    ) -> None:
        """Ask the error handler; return to go on, raise to stop."""
        ts_type, ts = msg.timestamp()
        context = ErrorContext(
            self.config.app_id,
            task.id,
            msg.topic(),
            msg.partition(),
            msg.offset(),
            ts if ts_type else None,
            msg.key(),
            msg.value(),
            list(msg.headers() or []),
            stage,  # type: ignore[arg-type]
            node,
            exc,
            self._send_raw,
        )
        try:
            action = run_handler(self.app.on_error, context)
        except TransactionError:  # the handler's produce() hit the transaction: not its fault
            raise
        except Exception as handler_exc:
            raise RecordProcessingError(
                f"{context.describe()}; then the error handler raised "
                f"{type(handler_exc).__name__}: {handler_exc}",
                context,
            ) from handler_exc
        if action == "continue":
            self.metrics.errors_continued += 1
            return
        raise RecordProcessingError(
            f"{context.describe()}. The app stopped; nothing after its last commit was kept, so "
            "fixing the cause and running it again resumes at this record. "
            "(on_error= can route such records to a dead-letter topic instead.)",
            context,
        ) from exc

    # -- committing ------------------------------------------------------------------------
    def commit(self) -> bool:
        """Commit what was processed since the last commit; False if it had to be aborted."""
        if not self.uncommitted:
            return True
        assert self.producer is not None and self.consumer is not None
        tasks = list(self.tasks.values())
        for task in tasks:
            task.flush()
        offsets = [
            TopicPartition(t, p, o, metadata=task.offset_metadata)
            for task in tasks
            for (t, p), o in task.offsets_to_commit().items()
        ]
        if self.config.exactly_once:
            try:
                self.producer.begin()
                self.producer.commit_transaction(offsets, self.consumer.consumer_group_metadata())
            except TransactionAbortedError as exc:
                log.warning("%s; aborting and rewinding to the last commit", exc)
                self._abort_and_rewind()
                return False
            except ProducerFencedError as exc:
                self._fenced(exc)
                return False
        else:
            self.producer.flush()
            if offsets:
                try:
                    self.consumer.commit(offsets=offsets, asynchronous=False)
                except KafkaException as exc:
                    # A rebalance took the partitions: their records will be processed again
                    # by the new owner. At-least-once allows that; nothing is lost.
                    log.warning("%s: committing offsets failed: %s", self.config.app_id, exc)
        delivered, written = self.producer.take_offsets()
        for tp, offset in written.items():
            self.written[tp] = max(offset, self.written.get(tp, -1))
        for task in tasks:
            task.commit(delivered)
        self.uncommitted = False
        self.last_commit = time.monotonic()
        self.metrics.commits += 1
        return True

    def _abort_and_rewind(self) -> None:
        assert self.producer is not None
        self.metrics.aborts += 1
        try:
            self.producer.abort()
        except ProducerFencedError as exc:
            self._fenced(exc)
            return
        self._rewind()

    def _fenced(self, exc: ProducerFencedError) -> None:
        now = time.monotonic()
        self.metrics.fenced += 1
        self.fenced_at.append(now)
        while self.fenced_at and now - self.fenced_at[0] > FENCED_WINDOW:
            self.fenced_at.popleft()
        if len(self.fenced_at) >= FENCED_LIMIT:
            raise ProducerFencedError(
                f"{exc} - {len(self.fenced_at)} times within {FENCED_WINDOW:.0f} s, so another "
                f"live instance uses transactional.id {self.config.transactional_id!r}. Give each "
                "running instance its own instance= (StreamApp(..., instance='1'))"
            ) from exc
        log.warning("%s; replacing the producer and rewinding to the last commit", exc)
        assert self.producer is not None
        self.producer.discard()
        self.producer = self._new_producer()
        self._rewind()

    def _rewind(self) -> None:
        """Forget uncommitted work; make the consumer re-read from the committed offsets."""
        assert self.consumer is not None
        self._release()
        for task in self.tasks.values():
            task.abort()
            for (topic, partition), offset in task.committed_offsets.items():
                if (topic, partition) in self.paused or self.revoking:
                    continue
                start = OFFSET_BEGINNING if offset is None else offset
                try:
                    self.consumer.seek(TopicPartition(topic, partition, start))
                except KafkaException as exc:
                    raise StreamsError(
                        f"{self.config.app_id}: cannot rewind {topic}[{partition}] to {start}: "
                        f"{exc}"
                    ) from exc
                self.at_end.discard((topic, partition))
        self.uncommitted = False
        self.last_commit = time.monotonic()

    def _abandon(self) -> None:
        """After a failure: abort (exactly-once) and forget uncommitted work. Never raises."""
        try:
            if self.producer is not None:
                self.producer.abort()
        except Exception as exc:
            log.debug("aborting after a failure: %s", exc)
        for task in self.tasks.values():
            task.abort()
        self.uncommitted = False

    # -- the loop --------------------------------------------------------------------------
    def run(
        self,
        until_idle: float | None,
        timeout: float | None,
        max_records: int | None,
        stop: threading.Event,
    ) -> RunResult:
        """Process until idle, timeout, ``max_records`` input records or ``stop`` is set."""
        started = time.monotonic()
        deadline = started + timeout if timeout is not None else None
        m = self.metrics
        before = (m.records, m.input_records, m.commits, m.aborts)
        self.max_input = None if max_records is None else m.input_records + max_records
        self.max_reached = False
        first_record: float | None = None
        last_busy = idle_since = started
        stopped_by = "stop"
        try:
            self.open()
            assert self.consumer is not None
            while True:
                if stop.is_set():
                    stopped_by = "interrupt" if getattr(stop, "interrupted", False) else "stop"
                    break
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    stopped_by = "timeout"
                    break
                msgs, dry = self._poll()
                processed = self._process_batch(msgs) if msgs else 0
                now = time.monotonic()
                if self.written:
                    self._balance(now)
                if processed:
                    first_record = first_record or now
                    idle_since = now
                if self.uncommitted and (
                    dry
                    or self.max_reached
                    or now - self.last_commit >= (self.config.commit_interval or 0.0)
                    or self._cache_full()
                ):
                    if self.commit():
                        last_busy = idle_since = time.monotonic()
                if not self.assigned:
                    if deadline is None and now - started > JOIN_TIMEOUT:
                        raise StreamsError(
                            f"{self.config.app_id}: got no partitions within {JOIN_TIMEOUT:.0f} "
                            f"s; is the group stuck? lab.groups.describe({self.config.app_id!r})"
                        )
                    idle_since = now
                    continue
                caught_up = not self.uncommitted and self._caught_up()
                if self.max_reached and caught_up:
                    stopped_by = "max_records"
                    break
                if until_idle is not None and caught_up and now - idle_since >= until_idle:
                    stopped_by = "idle"
                    break
            if self.uncommitted and self.commit():
                last_busy = time.monotonic()
        except BaseException:
            self.failed = True
            self._abandon()
            raise
        finally:
            self.close()
        return RunResult(
            records=m.records - before[0],
            input_records=m.input_records - before[1],
            commits=m.commits - before[2],
            aborts=m.aborts - before[3],
            seconds=time.monotonic() - started,
            stopped_by=stopped_by,
            busy_seconds=(last_busy - first_record) if first_record is not None else 0.0,
        )

    def _poll(self) -> tuple[list[Any], bool]:
        """The records waiting, up to ``BATCH_SIZE``, and whether the input ran dry. With
        uncommitted work and nothing to read, it commits at once rather than waiting out the
        commit interval (at most every ``DRY_COMMIT_MIN`` s): results of a slow input show up
        within milliseconds, and a busy one still commits on the interval."""
        consume = self.consumer.consume  # type: ignore[union-attr]
        msgs = consume(BATCH_SIZE, 0)
        if msgs:
            return msgs, False
        wait = POLL_TIMEOUT
        if self.uncommitted:
            wait = min(wait, self.last_commit + DRY_COMMIT_MIN - time.monotonic())
            if wait <= 0:
                return [], True
        msgs = consume(1, wait)  # returns with the first record, not after a batch filled
        if not msgs:
            return [], True
        return msgs + consume(BATCH_SIZE - 1, 0), False

    def _process_batch(self, msgs: list[Any]) -> int:
        """Process a batch of consumed records, committing whenever the commit interval is up.
        A transaction that fails aborts and rewinds; the rest of the batch is then dropped (the
        consumer reads it again from the committed offsets)."""
        interval = self.config.commit_interval or 0.0
        task_by_tp, paused, at_end = self.task_by_tp, self.paused, self.at_end
        external, counts = self.external_topics, self._counts
        limited = self.max_input is not None
        monotonic = time.monotonic
        processed = 0
        try:
            for msg in msgs:
                if msg.error() is not None:
                    self._consumer_error(msg, msg.error())
                    continue
                topic = msg.topic()
                tp = (topic, msg.partition())
                task = task_by_tp.get(tp)
                if task is None or tp in paused:
                    continue  # revoked, or held back after max_records: read again later
                if at_end:
                    at_end.discard(tp)
                self.uncommitted = True
                task.process(msg, topic)
                processed += 1
                counts[topic] = counts.get(topic, 0) + 1
                if limited and topic in external:
                    self._count_input()
                if processed % 64 == 0 and (
                    monotonic() - self.last_commit >= interval or self._cache_full()
                ):
                    self._take_counts()
                    if not self.commit():
                        break
        except TransactionAbortedError as exc:
            log.warning("%s; aborting and rewinding to the last commit", exc)
            self._abort_and_rewind()
        except ProducerFencedError as exc:
            self._fenced(exc)
        finally:
            self._take_counts()
        return processed

    def _take_counts(self) -> None:
        """Move the batch's per-topic counts into the metrics (once per batch, not per record)."""
        if not self._counts:
            return
        m = self.metrics
        for topic, n in self._counts.items():
            m.records += n
            m.by_topic[topic] += n
            if topic in self.external_topics and self.max_input is None:
                m.input_records += n
        self._counts.clear()

    def _count_input(self) -> None:
        """With max_records: count input records one by one, pausing the input at the limit."""
        self.metrics.input_records += 1
        assert self.max_input is not None
        if self.metrics.input_records >= self.max_input:
            self.max_reached = True
            self._pause_inputs()

    def _balance(self, now: float) -> None:
        """Hold the input back while repartition records this instance wrote (and committed)
        wait unread for longer than ``HOLD_AFTER``: one consumer queue serves both, and a busy
        or throttled input would otherwise keep the aggregation waiting."""
        backlog = False
        for tp, offset in self.written.items():
            task = self.task_by_tp.get(tp)
            if task is not None and offset >= (task.next_offsets.get(tp) or 0):
                backlog = True
                break
        if not backlog:
            self.backlog_since = None
            self._release()
        elif self.backlog_since is None:
            self.backlog_since = now
        elif now - self.backlog_since >= HOLD_AFTER and not self.held:
            assert self.consumer is not None
            tps = [
                tp
                for tp in self.task_by_tp
                if tp[0] in self.external_topics and tp not in self.paused
            ]
            if tps:
                self.consumer.pause([TopicPartition(t, p) for t, p in tps])
                self.held.update(tps)

    def _release(self) -> None:
        # a partition paused since for max_records stays paused
        resume = [TopicPartition(t, p) for t, p in self.held if (t, p) not in self.paused]
        if resume and self.consumer is not None:
            self.consumer.resume(resume)
        self.held.clear()
        self.backlog_since = None

    def _consumer_error(self, msg: Any, err: KafkaError) -> None:
        if err.code() == KafkaError._PARTITION_EOF:
            self.at_end.add((msg.topic(), msg.partition()))
            return
        if err.code() in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
            raise MissingSourceTopicError(
                f"{self.config.app_id}: source topic {msg.topic()!r} disappeared while running "
                f"({err.str()})"
            )
        if err.fatal():
            raise StreamsError(f"{self.config.app_id}: consumer failed: {err.str()}")
        log.warning("%s: consumer: %s", self.config.app_id, err.str())

    def _pause_inputs(self) -> None:
        assert self.consumer is not None
        tps = [
            tp for tp in self.task_by_tp if tp[0] in self.external_topics and tp not in self.paused
        ]
        if tps:
            self.consumer.pause([TopicPartition(t, p) for t, p in tps])
            self.paused.update(tps)

    def _cache_full(self) -> bool:
        limit = self.config.cache_max_keys
        return bool(limit) and any(t.dirty_count >= limit for t in self.tasks.values())

    def _caught_up(self) -> bool:
        """Every partition this instance reads (and has not paused) is at its end, and it has
        read back every repartition record it wrote."""
        for tp, task in self.task_by_tp.items():
            if tp in self.paused:
                continue
            if tp not in self.at_end:
                return False
            written = self.written.get(tp)
            if written is not None and (task.next_offsets.get(tp) or 0) <= written:
                return False
        return True

    def close(self) -> None:
        """Leave the group (the revoke callback commits unless the run failed), free clients."""
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception as exc:
                if not self.failed:
                    raise
                log.debug("closing the consumer after a failure: %s", exc)
            self.consumer = None
        if self.restorer is not None:
            self.restorer.close()
            self.restorer = None
        if self.producer is not None:
            self.producer.close()
            self.producer = None
        self.tasks.clear()
        self.task_by_tp.clear()
