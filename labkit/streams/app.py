"""``StreamApp``: build a topology with the DSL, run it bounded or in the background, query it.

>>> from labkit.streams import StreamApp                                  # doctest: +SKIP
>>> app = StreamApp("customer-totals", lab, guarantee="exactly_once")     # doctest: +SKIP
>>> (app.stream("orders")
...     .group_by(lambda key, order: order["customerId"])
...     .aggregate(lambda: 0, lambda cid, order, cents: cents + round(order["amount"] * 100),
...                store="customer-totals-store")
...     .to("customer-totals"))                                           # doctest: +SKIP
>>> app.run(until_idle=2.0)                                               # doctest: +SKIP
>>> app.store("customer-totals-store").to_dataframe()                     # doctest: +SKIP
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from labkit.exceptions import LabkitError
from labkit.streams.config import Guarantee, StoreType, StreamConfig
from labkit.streams.dsl import KStream, KTable, check_store
from labkit.streams.engine import Engine, Metrics, RunResult
from labkit.streams.errors import ErrorHandler, log_and_fail
from labkit.streams.exceptions import StreamsError, TopologyError, UnknownStoreError
from labkit.streams.iq import StoreView, WindowStoreView
from labkit.streams.runner import StopSignal, background, deferred_interrupt
from labkit.streams.stores.base import KeyValueStore
from labkit.streams.topics import Plan, prepare
from labkit.streams.topology import StoreSpec, Topology, TopologyDescription

log = logging.getLogger("labkit.streams")


class StreamApp:
    """A stream-processing application: Kafka Streams' ``KafkaStreams`` + ``StreamsBuilder``.

    ``app_id`` names the consumer group, the internal topics (``<app-id>-<store>-changelog``,
    ``<app-id>-<store>-repartition``) and the state directory. ``guarantee`` is
    ``"at_least_once"`` (Kafka Streams' default) or ``"exactly_once"``. ``commit_interval`` is in
    seconds (default 0.1 under exactly-once, 5 under at-least-once). ``instance`` tells running
    copies of one app apart (``transactional.id = <app-id>-<instance>``); a restarted copy keeps
    its instance so it fences its dead predecessor at once. ``store_type`` ("sqlite" or
    "memory") is the default for stores; ``cache_max_keys=0`` turns the record cache off, so
    every update goes downstream and to the changelog at once. ``on_error`` decides about
    records that fail (see :mod:`labkit.streams.errors`). ``key``/``value``: default serdes.
    """

    def __init__(
        self,
        app_id: str,
        lab: Any = None,
        *,
        guarantee: Guarantee = "at_least_once",
        commit_interval: float | None = None,
        instance: str = "0",
        state_dir: Any = None,
        store_type: StoreType = "sqlite",
        cache_max_keys: int = 10_000,
        on_error: ErrorHandler | None = None,
        key: Any = "string",
        value: Any = "json",
        consumer_config: Mapping[str, Any] | None = None,
        producer_config: Mapping[str, Any] | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if state_dir is not None:
            extra["state_dir"] = state_dir
        self.config = StreamConfig(
            app_id,
            guarantee=guarantee,
            commit_interval=commit_interval,
            instance=str(instance),
            store_type=store_type,
            cache_max_keys=cache_max_keys,
            key_serde=key,
            value_serde=value,
            consumer_config=dict(consumer_config or {}),
            producer_config=dict(producer_config or {}),
            **extra,
        )
        if on_error is not None and not callable(on_error):
            raise TopologyError("on_error must be a function taking an ErrorContext")
        self.on_error: ErrorHandler = on_error or log_and_fail
        self._lab = lab
        self.topology = Topology(app_id)
        self.metrics = Metrics()
        self.last_result: RunResult | None = None
        self._stores: dict[tuple[str, str], KeyValueStore] = {}
        self._thread: threading.Thread | None = None
        self._engine: Engine | None = None
        self._stop = StopSignal()
        self._state = "CREATED"
        self._error: BaseException | None = None
        self._sources: set[str] = set()

    # -- where it runs ---------------------------------------------------------------------
    @property
    def app_id(self) -> str:
        return self.config.app_id

    @property
    def lab(self) -> Any:
        if self._lab is None:
            import labkit

            self._lab = labkit.lab()
        return self._lab

    @property
    def bootstrap_servers(self) -> str:
        return self.lab.bootstrap_servers

    @property
    def client_settings(self) -> dict[str, Any]:
        return dict(getattr(self.lab, "client_settings", {}) or {})

    # -- building --------------------------------------------------------------------------
    def _source(
        self, what: str, topic: str, key: Any, value: Any, name: str | None, timestamp: Any
    ) -> Any:
        if not topic or not isinstance(topic, str):
            raise TopologyError(f"{what}() needs a topic name, got {topic!r}")
        if topic in self._sources:
            raise TopologyError(
                f"topic {topic!r} is already a source of this app; reuse that stream "
                "(a topic can be read once per app, as in Kafka Streams)"
            )
        if timestamp is not None and not callable(timestamp):
            raise TopologyError("timestamp= must be a function (key, value) -> epoch ms")
        self._sources.add(topic)
        return self.topology.add(
            "source",
            "source",
            "KSTREAM-SOURCE",
            name=name,
            topic=topic,
            args={"key_serde": key, "value_serde": value, "timestamp": timestamp},
        )

    def stream(
        self,
        topic: str,
        key: Any = None,
        value: Any = None,
        name: str | None = None,
        timestamp: Callable[[Any, Any], int] | None = None,
    ) -> KStream:
        """The records of ``topic`` as a stream; ``key``/``value``: serdes (default the app's),
        e.g. ``value="avro:OrderCreated"``. ``timestamp(key, value)`` gives a record's event
        time in epoch ms (default: the record's Kafka timestamp); windows use it, and records
        written downstream carry it."""
        node = self._source("stream", topic, key, value, name, timestamp)
        return KStream(self.topology, node, key, value)

    def table(
        self,
        topic: str,
        key: Any = None,
        value: Any = None,
        store: str | None = None,
        store_type: StoreType | None = None,
        name: str | None = None,
    ) -> KTable:
        """The latest value per key of ``topic`` (a compacted topic, as a table of customers):
        Kafka Streams' ``builder.table``. The table lives in a store (queryable with
        ``app.store(name)``) whose changelog is the topic itself; when its task starts, the store
        is brought up to the topic's end before any record is processed, so a stream joined with
        it sees every row already written. A ``None`` value deletes the key.

        >>> customers = app.table("customers", store="customers")       # doctest: +SKIP
        >>> app.stream("orders").select_key(lambda k, o: o["customerId"]).join(
        ...     customers, lambda order, customer: {**order, "country": customer["country"]}
        ... ).to("orders-with-country")                                  # doctest: +SKIP
        """
        source = self._source("table", topic, key, value, name, None)
        t = self.topology
        index = t.next_index()
        store = store or f"{topic}-STATE-STORE-{source.index:010d}"
        check_store(store, store_type)
        if store in t.stores:
            raise TopologyError(f"a store named {store!r} already exists; give this table its own")
        node = t.add("processor", "table_source", "KTABLE-SOURCE", [source], index=index)
        node.stores.append(store)
        t.add_store(
            StoreSpec(
                store,
                store_type,
                key if key is not None else self.config.key_serde,
                value if value is not None else self.config.value_serde,
                node,
                source_topic=topic,
            )
        )
        return KTable(t, node, store, key)

    def describe(self) -> TopologyDescription:
        """The topology: sub-topologies, sources, processors, stores, sinks, internal topics
        (printed like Kafka Streams' ``Topology.describe()``)."""
        return self.topology.describe()

    # -- running ---------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """``CREATED``, ``RUNNING``, ``STOPPED`` or ``ERROR`` (as ``KafkaStreams.State``)."""
        return self._state

    @property
    def running(self) -> bool:
        return self._state == "RUNNING"

    @property
    def tasks(self) -> list[str]:
        """The tasks this instance runs now, sorted: ``"<sub-topology>_<partition>"`` (Kafka
        Streams' active tasks). Empty when it is not running; instances with one application id
        share the tasks, and a rebalance moves them.

        >>> app.start(); app.tasks                        # doctest: +SKIP
        ['0_0', '0_1', '0_2', '1_0', '1_1', '1_2']
        """
        engine = self._engine
        return sorted(list(engine.tasks)) if engine is not None else []

    @property
    def error(self) -> BaseException | None:
        """What stopped a background run, if it failed."""
        return self._error

    def _check_idle(self) -> None:
        if self.running:
            raise StreamsError(
                f"{self.app_id} is already running; app.stop() first (one run per app at a time)"
            )

    def _prepare(self) -> Plan:
        self.topology.freeze()
        return prepare(self.topology, self.lab.topics)

    def run(
        self,
        until_idle: float | None = 2.0,
        timeout: float | None = None,
        max_records: int | None = None,
    ) -> RunResult:
        """Process, then return: after ``until_idle`` seconds with nothing to do and everything
        committed, after ``timeout`` seconds, or once ``max_records`` input records are
        processed (and what they caused downstream). Leaves the consumer group on return.

        >>> app.run(until_idle=2.0)                       # doctest: +SKIP
        RunResult(input_records=1000, records=2000, commits=12, aborts=0, ...)
        """
        if until_idle is None and timeout is None and max_records is None:
            log.info("%s: run() without bounds: it runs until interrupted", self.app_id)
        self._check_idle()
        plan = self._prepare()
        stop = StopSignal()
        self._stop = stop
        self._error = None
        self._state = "RUNNING"
        try:
            with deferred_interrupt(stop):
                self._engine = Engine(self, plan)
                result = self._engine.run(until_idle, timeout, max_records, stop)
        except BaseException as exc:
            self._state = "ERROR"
            self._error = exc
            raise
        finally:
            self._engine = None
        self._state = "STOPPED"
        self.last_result = result
        if stop.interrupted:
            raise KeyboardInterrupt(
                f"{self.app_id} stopped cleanly after {result.input_records} input record(s)"
            )
        return result

    def start(self) -> StreamApp:
        """Run in a background thread until :meth:`stop` (or an interrupt, or exit)."""
        self._check_idle()
        plan = self._prepare()  # a missing topic fails here, in the caller's cell
        stop = StopSignal()
        self._stop = stop
        self._error = None
        engine = self._engine = Engine(self, plan)

        def target() -> None:
            try:
                self.last_result = engine.run(None, None, None, stop)
                self._state = "STOPPED"
            except BaseException as exc:  # kept for stop()/join() to raise in the caller
                self._error = exc
                self._state = "ERROR"
                log.error("%s stopped with an error: %s", self.app_id, exc)
            finally:
                self._engine = None
                background.unregister(self)

        self._thread = threading.Thread(target=target, name=f"labkit-streams-{self.app_id}")
        self._thread.daemon = True  # an atexit hook stops it cleanly before the process ends
        self._state = "RUNNING"
        background.register(self)
        self._thread.start()
        return self

    def _interrupt(self) -> None:
        self._stop.interrupt()

    def stop(self, timeout: float = 60.0, raise_error: bool = True) -> RunResult | None:
        """Stop the background run: commit, leave the group, close. Raises what stopped it
        if it failed on its own."""
        thread = self._thread
        if thread is None:
            return self.last_result
        self._stop.set()
        thread.join(timeout)
        if thread.is_alive():
            raise StreamsError(f"{self.app_id} did not stop within {timeout:.0f} s")
        self._thread = None
        background.unregister(self)  # again, from this thread: it may restore the SIGINT handler
        if self._error is not None and raise_error:
            error, self._error = self._error, None
            raise error
        return self.last_result

    def wait_until(
        self, condition: Callable[[], Any], timeout: float = 60.0, interval: float = 0.1
    ) -> bool:
        """While the app runs in the background, wait (``timeout`` seconds at most) until
        ``condition()`` is true, e.g. until its store holds what the input adds up to. Returns
        whether it came true; checks once without waiting when the app is not running. If the
        app stops with an error meanwhile, raises that error rather than waiting on.

        >>> app.start()                                                        # doctest: +SKIP
        >>> app.wait_until(lambda: app.store("totals").to_dict() == expected)  # doctest: +SKIP
        True
        """
        deadline = time.monotonic() + timeout
        while not condition():
            if self._state == "ERROR":
                self.stop()  # raises what stopped it
            if not self.running or time.monotonic() >= deadline:
                return bool(condition())
            time.sleep(interval)
        return True

    def join(self, timeout: float | None = None) -> RunResult | None:
        """Wait for the background run to end; Ctrl-C (a kernel interrupt) stops it cleanly."""
        thread = self._thread
        if thread is None:
            return self.last_result
        try:
            thread.join(timeout)
        except KeyboardInterrupt:
            self.stop()
            raise
        if not thread.is_alive():
            return self.stop()
        return None

    # -- interactive queries ---------------------------------------------------------------
    @property
    def store_names(self) -> list[str]:
        return sorted(self.topology.stores)

    def store(self, name: str) -> StoreView:
        """The committed contents of store ``name`` on this instance (all its partitions)."""
        if name not in self.topology.stores:
            known = ", ".join(map(repr, self.store_names)) or "none (no aggregation yet)"
            raise UnknownStoreError(f"{self.app_id} has no store named {name!r}; known: {known}")
        stores = [s for (n, _), s in list(self._stores.items()) if n == name]
        windows = self.topology.stores[name].windows
        if windows is not None:
            return WindowStoreView(name, stores, windows.size_ms)
        return StoreView(name, stores)

    def _keep_stores(self, owned: set[KeyValueStore]) -> None:
        """After a rebalance: close the stores of tasks this instance no longer has."""
        for key, store in list(self._stores.items()):
            if store not in owned:
                store.close()
                del self._stores[key]

    # -- housekeeping ----------------------------------------------------------------------
    def reset(self) -> None:
        """Start over: delete the internal topics, the group's offsets and the local state
        (Kafka's ``kafka-streams-application-reset`` plus a state-directory wipe). Input and
        output topics stay."""
        self._check_idle()
        self._close_stores()
        internal = self.topology.internal_topics()
        self.lab.topics.delete(internal, missing_ok=True)
        self.lab.groups.delete(self.app_id, missing_ok=True)
        shutil.rmtree(self.config.app_state_dir(), ignore_errors=True)
        self._delete_subjects(internal)

    def _delete_subjects(self, topics: list[str]) -> None:
        """Delete the registry subjects the app's Avro serdes register for its internal topics
        (``<topic>-value``), which would otherwise outlive them. A subject that does not name
        the topic (a fixed ``subject=``) may be shared, and stays."""
        specs = [self.config.key_serde, self.config.value_serde]
        specs += [v for n in self.topology.nodes for k, v in n.args.items() if k.endswith("serde")]
        specs += [
            s for spec in self.topology.stores.values() for s in (spec.key_serde, spec.value_serde)
        ]
        avro = [
            s
            for s in specs
            if (isinstance(s, str) and s.startswith("avro:")) or hasattr(s, "subject_for")
        ]
        if not avro or not topics:
            return
        from labkit.schemas import SchemaNotFoundError
        from labkit.serdes import resolve

        subjects: dict[str, Any] = {}
        for serde in map(resolve, avro):
            for topic in topics:
                subject = serde.subject_for(topic)
                if topic in subject:
                    subjects[subject] = serde.registry
        for subject, registry in subjects.items():
            try:
                registry.delete_subject(subject, permanent=True)
            except SchemaNotFoundError:
                pass  # never registered: the app did not get that far
            except LabkitError as exc:  # the topics are gone; say what is left behind
                log.warning("%s: subject %r not deleted: %s", self.app_id, subject, exc)

    def _close_stores(self) -> None:
        for store in self._stores.values():
            store.close()
        self._stores.clear()

    def close(self) -> None:
        """Stop a background run and close the stores."""
        if self._thread is not None:
            self.stop(raise_error=False)
        self._close_stores()

    def __enter__(self) -> StreamApp:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<StreamApp {self.app_id!r} {self.config.guarantee}: {self._state}, "
            f"stores {self.store_names}>"
        )
