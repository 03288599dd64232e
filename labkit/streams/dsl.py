"""The DSL: ``KStream`` -> ``KGroupedStream`` -> ``KTable``, named as in Kafka Streams.

Functions take what their Java counterparts take: ``filter(lambda key, value: ...)``,
``map(lambda key, value: (new_key, new_value))``, ``map_values(lambda value: ...)``,
``group_by(lambda key, value: new_key)``, ``aggregate(lambda: initial,
lambda key, value, aggregate: new_aggregate)``, ``reduce(lambda aggregate, value: ...)``.

>>> from labkit.streams import StreamApp
>>> app = StreamApp("demo", lab=None)
>>> totals = (app.stream("orders")
...     .group_by(lambda key, order: order["customerId"])
...     .aggregate(lambda: 0, lambda cid, order, total: total + 1, store="per-customer"))
>>> totals.store_name
'per-customer'
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from typing import Any

from labkit.streams.config import STORE_TYPES
from labkit.streams.exceptions import TopologyError
from labkit.streams.serdes import STATE_SERDE
from labkit.streams.topology import Node, StoreSpec, Topology
from labkit.streams.windows import (
    Emit,
    JoinWindows,
    LatePolicy,
    TimeWindows,
    WindowedSerde,
    check_options,
    to_ms,
)

KeyValue = tuple[Any, Any]
_Table = tuple[str | None, str | None, Any, Any]  # store, store_type, value serde, key serde
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _check_callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise TopologyError(f"{what} must be a function, got {type(fn).__name__}")


def check_store(store: str | None, store_type: str | None) -> None:
    if store_type is not None and store_type not in STORE_TYPES:
        raise TopologyError(f"store_type {store_type!r} is not one of {', '.join(STORE_TYPES)}")
    if store is not None and not _NAME.match(store):
        raise TopologyError(
            f"store name {store!r} may hold only letters, digits, '.', '_' and '-' "
            "(it names the changelog topic and the SQLite file)"
        )


class KStream:
    """A stream of records: every record is an event; nothing is remembered between them."""

    def __init__(
        self,
        topology: Topology,
        node: Node,
        key_serde: Any = None,
        value_serde: Any = None,
        key_changed: bool = False,
    ) -> None:
        self._topology = topology
        self._node = node
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._key_changed = key_changed

    def _then(
        self,
        op: str,
        prefix: str,
        name: str | None,
        *,
        key_changed: bool | None = None,
        keep_key_serde: bool = True,
        keep_value_serde: bool = True,
        **args: Any,
    ) -> KStream:
        node = self._topology.add("processor", op, prefix, [self._node], name=name, args=args)
        return KStream(
            self._topology,
            node,
            self._key_serde if keep_key_serde else None,
            self._value_serde if keep_value_serde else None,
            self._key_changed if key_changed is None else key_changed,
        )

    # -- stateless -------------------------------------------------------------------------
    def filter(self, predicate: Callable[[Any, Any], bool], name: str | None = None) -> KStream:
        """Keep the records for which ``predicate(key, value)`` is true."""
        _check_callable(predicate, "filter's predicate")
        return self._then("filter", "KSTREAM-FILTER", name, fn=predicate)

    def map(self, mapper: Callable[[Any, Any], KeyValue], name: str | None = None) -> KStream:
        """``mapper(key, value)`` returns a new ``(key, value)`` pair. A new key means a later
        ``group_by_key`` repartitions, as in Kafka Streams."""
        _check_callable(mapper, "map's function")
        return self._then(
            "map",
            "KSTREAM-MAP",
            name,
            fn=mapper,
            key_changed=True,
            keep_key_serde=False,
            keep_value_serde=False,
        )

    def map_values(self, mapper: Callable[[Any], Any], name: str | None = None) -> KStream:
        """``mapper(value)`` returns the new value; the key stays (no repartition needed)."""
        _check_callable(mapper, "map_values' function")
        return self._then(
            "map_values", "KSTREAM-MAPVALUES", name, fn=mapper, keep_value_serde=False
        )

    def flat_map(
        self, mapper: Callable[[Any, Any], Iterable[KeyValue]], name: str | None = None
    ) -> KStream:
        """``mapper(key, value)`` returns any number of ``(key, value)`` pairs."""
        _check_callable(mapper, "flat_map's function")
        return self._then(
            "flat_map",
            "KSTREAM-FLATMAP",
            name,
            fn=mapper,
            key_changed=True,
            keep_key_serde=False,
            keep_value_serde=False,
        )

    def select_key(self, selector: Callable[[Any, Any], Any], name: str | None = None) -> KStream:
        """A new key ``selector(key, value)`` for each record, the value unchanged; a later join
        or ``group_by_key`` repartitions (Kafka Streams' ``selectKey``)."""
        _check_callable(selector, "select_key's function")
        return self._then(
            "key_select",
            "KSTREAM-KEY-SELECT",
            name,
            fn=selector,
            key_changed=True,
            keep_key_serde=False,
        )

    def peek(self, action: Callable[[Any, Any], None], name: str | None = None) -> KStream:
        """Call ``action(key, value)`` for each record (printing, counting) and pass it on."""
        _check_callable(action, "peek's action")
        return self._then("peek", "KSTREAM-PEEK", name, fn=action)

    def branch(self, *predicates: Callable[[Any, Any], bool]) -> list[KStream]:
        """One stream per predicate; a record goes to the first branch whose predicate holds
        (and nowhere if none does: add ``lambda k, v: True`` last to catch the rest)."""
        if not predicates:
            raise TopologyError("branch() needs at least one predicate")
        for p in predicates:
            _check_callable(p, "each branch predicate")
        branch = self._topology.add(
            "processor", "branch", "KSTREAM-BRANCH", [self._node], args={"fns": predicates}
        )
        out = []
        for _ in predicates:
            child = self._topology.add("processor", "pass", "KSTREAM-BRANCHCHILD", [branch])
            out.append(
                KStream(
                    self._topology, child, self._key_serde, self._value_serde, self._key_changed
                )
            )
        return out

    # -- grouping --------------------------------------------------------------------------
    def group_by(
        self,
        selector: Callable[[Any, Any], Any],
        key: Any = None,
        value: Any = None,
        name: str | None = None,
    ) -> KGroupedStream:
        """Group by a new key ``selector(key, value)``: records go through a repartition topic
        so that equal keys meet in one partition. ``key``/``value`` are the serdes of that
        topic (default: the app's key serde, and this stream's value serde)."""
        _check_callable(selector, "group_by's key selector")
        node = self._topology.add(
            "processor", "key_select", "KSTREAM-KEY-SELECT", [self._node], args={"fn": selector}
        )
        return KGroupedStream(
            self._topology, node, key, value or self._value_serde, repartition=True, name=name
        )

    def group_by_key(self, key: Any = None, value: Any = None) -> KGroupedStream:
        """Group by the current key; repartitions only if an earlier step changed the key."""
        return KGroupedStream(
            self._topology,
            self._node,
            key or self._key_serde,
            value or self._value_serde,
            repartition=self._key_changed,
            name=None,
        )

    # -- joins -----------------------------------------------------------------------------
    def join(
        self,
        table: KTable | KStream,
        joiner: Callable[[Any, Any], Any],
        name: str | None = None,
        key: Any = None,
        windows: JoinWindows | None = None,
    ) -> KStream:
        """Enrich each record with the table's current value for its key: ``joiner(value,
        table_value)`` becomes the new value; records whose key the table lacks are dropped
        (an inner join). The stream and the table must be co-partitioned (same key, same
        partition count); if a step before changed the key, the stream is repartitioned first.
        ``key``: the serde of that repartition topic's key.

        Given another *stream* and ``windows=JoinWindows.of(...)``, a windowed stream-stream
        join (see :mod:`labkit.streams.join`): each pair of records of one key whose event times
        are within the windows becomes ``joiner(value, other_value)``, once.

        >>> (app.stream("orders")
        ...     .join(app.stream("payments"), lambda order, payment: {**order, **payment},
        ...           windows=JoinWindows.of(10 * 60_000, grace=3_600_000))
        ...     .to("orders-paid"))                                      # doctest: +SKIP

        >>> customers = app.table("customers")                          # doctest: +SKIP
        >>> (app.stream("orders")
        ...     .select_key(lambda order_id, order: order["customerId"])
        ...     .join(customers, lambda order, customer: {**order, "tier": customer["tier"]})
        ...     .to("orders-enriched"))                                  # doctest: +SKIP
        """
        return self._join(table, joiner, "inner", name, key, windows)

    def _stream_join(
        self,
        other: KStream,
        joiner: Callable[[Any, Any], Any],
        windows: JoinWindows | None,
        name: str | None,
        key: Any,
        how: str,
    ) -> KStream:
        if other._topology is not self._topology:
            raise TopologyError("join() takes a stream of the same app")
        if not isinstance(windows, JoinWindows):
            raise TopologyError(
                "a join of two streams needs windows=JoinWindows.of(time_difference, grace): "
                "how far apart in event time two records may be to meet"
            )
        _check_callable(joiner, "the joiner")
        t = self._topology
        key_serde = key or self._key_serde
        base = name or f"KSTREAM-JOIN-{t.next_index():010d}"
        sides = []
        for side, stream in (("this", self), ("other", other)):
            node = stream._node
            if stream._key_changed:  # both sides must be partitioned by the join key
                node = t.repartition(
                    node, f"{base}-{side}", f"{base}-{side}", key_serde, stream._value_serde
                )
            sides.append(node)
        stores = [f"{base}-{side}-join-store" for side in ("this", "other")]
        joins = []
        for i, (side, parent) in enumerate(zip(("this", "other"), sides, strict=True)):
            node = t.add(
                "processor",
                "stream_join",
                f"KSTREAM-JOIN{side.upper()}",
                [parent],
                name=f"{name}-join-{side}" if name else None,
                args={
                    "joiner": joiner,
                    "windows": windows,
                    "left": side == "this",
                    # which sides send their unmatched records with None for a partner
                    "outer": how == "outer" or (how == "left" and side == "this"),
                    "track": how == "outer" or (how == "left" and side == "other"),
                },
            )
            node.stores += [stores[i], stores[1 - i]]  # its own side's store first
            joins.append(node)
        for store, node in zip(stores, joins, strict=True):
            t.add_store(StoreSpec(store, None, key_serde, STATE_SERDE, node, windows=windows))
        merge = t.add(
            "processor", "pass", "KSTREAM-MERGE", joins, name=f"{name}-merge" if name else None
        )
        return KStream(t, merge, key_serde, None)

    def left_join(
        self,
        table: KTable | KStream,
        joiner: Callable[[Any, Any], Any],
        name: str | None = None,
        key: Any = None,
        windows: JoinWindows | None = None,
    ) -> KStream:
        """As :meth:`join`, but a record whose key the table lacks is kept: ``joiner(value,
        None)``. With another stream and ``windows=``: each record of this stream that met
        nobody by the time its window closed goes downstream once as ``joiner(value, None)``
        (e.g. the orders not paid within ten minutes).

        >>> (app.stream("orders")
        ...     .left_join(app.stream("payments"), lambda order, payment: payment is None,
        ...                windows=JoinWindows.of(10 * 60_000))
        ...     .filter(lambda order_id, unpaid: unpaid)
        ...     .to("orders-unpaid"))                                    # doctest: +SKIP
        """
        return self._join(table, joiner, "left", name, key, windows)

    def outer_join(
        self,
        other: KStream,
        joiner: Callable[[Any, Any], Any],
        windows: JoinWindows | None = None,
        name: str | None = None,
        key: Any = None,
    ) -> KStream:
        """A windowed join of two streams that also keeps, once their window has closed, the
        records of either side that met nobody: ``joiner(value, None)`` for this stream's,
        ``joiner(None, other_value)`` for the other's."""
        if not isinstance(other, KStream):
            raise TopologyError(
                "outer_join() takes another stream (a table join is join/left_join)"
            )
        return self._stream_join(other, joiner, windows, name, key, "outer")

    def _join(
        self,
        other: KTable | KStream,
        joiner: Callable[[Any, Any], Any],
        how: str,
        name: str | None,
        key: Any,
        windows: JoinWindows | None,
    ) -> KStream:
        """A table join, or a windowed join with another stream (``how``: inner or left)."""
        if isinstance(other, KStream):
            return self._stream_join(other, joiner, windows, name, key, how)
        if windows is not None:
            raise TopologyError("windows= is for a join of two streams; a table join takes none")
        return self._table_join(other, joiner, how == "left", name, key)

    def _table_join(
        self,
        table: KTable,
        joiner: Callable[[Any, Any], Any],
        left: bool,
        name: str | None,
        key: Any,
    ) -> KStream:
        if not isinstance(table, KTable) or table._topology is not self._topology:
            raise TopologyError("join() takes a table of the same app (app.table(topic))")
        if table.windows is not None:
            raise TopologyError("a stream cannot be joined with a windowed table")
        _check_callable(joiner, "the joiner")
        t = self._topology
        node = self._node
        key_serde = key or self._key_serde
        if self._key_changed:
            # as Kafka Streams does: the new key must be in the partition of the table's key
            node = t.repartition(node, name or node.name, name, key_serde, self._value_serde)
        op, prefix = ("left_join", "KSTREAM-LEFTJOIN") if left else ("join", "KSTREAM-JOIN")
        joined = t.add("processor", op, prefix, [node], name=name, args={"joiner": joiner})
        joined.stores.append(table.store_name)
        return KStream(t, joined, key_serde, None)

    # -- output ----------------------------------------------------------------------------
    def to(self, topic: str, key: Any = None, value: Any = None, name: str | None = None) -> None:
        """Write every record to ``topic`` (created with the input's partition count if it
        does not exist). ``key``/``value``: serdes, default the app's (a windowed key is
        written as ``<key>@<start>/<end>``)."""
        if not topic or not isinstance(topic, str):
            raise TopologyError(f"to() needs a topic name, got {topic!r}")
        if key is None and isinstance(self._key_serde, WindowedSerde):
            key = self._key_serde
        self._topology.add(
            "sink",
            "sink",
            "KSTREAM-SINK",
            [self._node],
            name=name,
            topic=topic,
            args={"key_serde": key, "value_serde": value},
        )


class _Aggregations:
    """``aggregate``, ``reduce`` and ``count``: the same for a grouped stream (one value per
    key) and a windowed one (one value per key and window); ``_materialize`` makes the table."""

    def _materialize(self, op: str, emit: Emit, args: dict[str, Any], table: _Table) -> KTable:
        raise NotImplementedError

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        store: str | None = None,
        store_type: str | None = None,
        value: Any = None,
        key: Any = None,
        emit: Emit = "update",
    ) -> KTable:
        """A table of ``aggregator(key, value, aggregate)`` per key (and window, after
        ``windowed_by``), starting from ``initializer()``; kept in the state store ``store``
        (``"memory"`` or ``"sqlite"``, default the app's ``store_type``). ``value``: the store's
        serde (default JSON that keeps ``Decimal`` and ``datetime``). ``emit`` (windows only):
        ``"update"`` sends every change downstream (the latest per window at each commit when
        the store caches), ``"close"`` sends each window once, final, when it closes."""
        _check_callable(initializer, "aggregate's initializer")
        _check_callable(aggregator, "aggregate's aggregator")
        args = {"initializer": initializer, "aggregator": aggregator}
        return self._materialize("aggregate", emit, args, (store, store_type, value, key))

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        store: str | None = None,
        store_type: str | None = None,
        value: Any = None,
        key: Any = None,
        emit: Emit = "update",
    ) -> KTable:
        """A table of ``reducer(aggregate, value)`` per key (and window); the first value
        starts it."""
        _check_callable(reducer, "reduce's reducer")
        args = {"reducer": reducer}
        return self._materialize("reduce", emit, args, (store, store_type, value, key))

    def count(
        self,
        store: str | None = None,
        store_type: str | None = None,
        key: Any = None,
        emit: Emit = "update",
    ) -> KTable:
        """A table of how many records each key (in each window) has had."""
        args = {"initializer": _zero, "aggregator": _plus_one}
        return self._materialize("aggregate", emit, args, (store, store_type, None, key))


class KGroupedStream(_Aggregations):
    """Records grouped by key, waiting for an aggregation."""

    def __init__(
        self,
        topology: Topology,
        node: Node,
        key_serde: Any,
        value_serde: Any,
        repartition: bool,
        name: str | None,
    ) -> None:
        self._topology = topology
        self._node = node
        self._key_serde = key_serde
        self._value_serde = value_serde
        self._repartition = repartition
        self._name = name
        self._source: Node | None = None  # the repartition source, shared by every aggregation

    def _input(self, store: str) -> Node:
        if not self._repartition:
            return self._node
        if self._source is None:
            # Kafka Streams names the topic after the first store: <app-id>-<store>-repartition.
            self._source = self._topology.repartition(
                self._node, self._name or store, self._name, self._key_serde, self._value_serde
            )
        return self._source

    def _table(
        self,
        op: str,
        store: str | None,
        store_type: str | None,
        value: Any,
        key: Any,
        args: dict[str, Any],
        windows: TimeWindows | None = None,
    ) -> KTable:
        t = self._topology
        check_store(store, store_type)
        agg_index = t.next_index()
        store = store or f"KSTREAM-AGGREGATE-STATE-STORE-{t.next_index():010d}"
        if store in t.stores:
            raise TopologyError(
                f"a store named {store!r} already exists; give each aggregation its own store="
            )
        source = self._input(store)
        node = t.add("processor", op, "KSTREAM-AGGREGATE", [source], index=agg_index, args=args)
        node.stores.append(store)
        key_serde = key or self._key_serde
        spec = StoreSpec(store, store_type, key_serde, value or STATE_SERDE, node, windows=windows)
        t.add_store(spec)
        return KTable(t, node, store, key_serde, windows)

    def _materialize(self, op: str, emit: Emit, args: dict[str, Any], table: _Table) -> KTable:
        if emit != "update":
            raise TopologyError(
                f"emit={emit!r} is for windowed aggregations (windowed_by(...) first): a table "
                "without windows never closes, so every update goes downstream"
            )
        return self._table(op, *table, args)

    def windowed_by(
        self,
        windows: TimeWindows,
        late: LatePolicy = "drop",
        retention: int | dt.timedelta | None = None,
    ) -> TimeWindowedKStream:
        """Aggregate per key *and* time window (event time: the record timestamps, or the
        ``timestamp=`` of ``app.stream``). ``late``: what becomes of a record that arrives
        after its window closed (stream time past ``end + grace``): ``"drop"`` counts it in
        ``app.metrics.late`` and logs it, ``"on_error"`` also hands it to the app's error
        handler (to route it to a dead-letter topic, or to stop). ``retention`` (ms or a
        ``timedelta``, at least size + grace): how long a window stays in the store, counted
        back from stream time; older windows are deleted at commit, from the store and (with a
        tombstone) from its changelog, so the store stays bounded in a service that runs for
        weeks. Kafka Streams' ``Materialized.withRetention``; its default is size + grace, so
        that only open windows are kept. labkit's default, ``None``, keeps every window, so
        that a lab can query the closed ones.

        >>> from labkit.streams import TimeWindows
        >>> (app.stream("orders", timestamp=lambda k, o: o["createdAt"])
        ...     .group_by(lambda k, o: o["customerId"])
        ...     .windowed_by(TimeWindows.tumbling(60_000, grace=10_000))
        ...     .count(store="orders-per-minute", emit="close")
        ...     .to("orders-per-minute"))                                # doctest: +SKIP
        """
        if not isinstance(windows, TimeWindows):
            raise TopologyError(
                "windowed_by() takes TimeWindows.tumbling(size, grace) or "
                "TimeWindows.hopping(size, advance, grace)"
            )
        check_options("update", late)
        retention_ms = None
        if retention is not None:
            retention_ms = to_ms(retention, "retention")
            if retention_ms < windows.size_ms + windows.grace_ms:
                raise TopologyError(
                    f"retention ({retention_ms} ms) must be at least the window size plus its "
                    f"grace ({windows.size_ms} + {windows.grace_ms} ms): a window must stay in "
                    "the store until it closes"
                )
        return TimeWindowedKStream(self, windows, late, retention_ms)


class TimeWindowedKStream(_Aggregations):
    """A grouped stream cut into time windows, waiting for an aggregation (one value per key
    and window, kept in a window store)."""

    def __init__(
        self,
        grouped: KGroupedStream,
        windows: TimeWindows,
        late: LatePolicy,
        retention_ms: int | None = None,
    ) -> None:
        self._grouped = grouped
        self.windows = windows
        self.late = late
        self.retention_ms = retention_ms

    def _materialize(self, op: str, emit: Emit, args: dict[str, Any], table: _Table) -> KTable:
        check_options(emit, self.late)
        args = {**args, "windows": self.windows, "emit": emit, "late": self.late}
        args["retention"] = self.retention_ms
        return self._grouped._table(f"window_{op}", *table, args, self.windows)


def _zero() -> int:
    return 0


def _plus_one(key: Any, value: Any, count: int) -> int:
    return count + 1


class KTable:
    """The latest value per key, kept in a state store; its updates form a changelog stream.

    A windowed table (from ``windowed_by``) holds one value per key and window; its stream's
    keys are :class:`~labkit.streams.Windowed` ``(key, start, end)``.
    """

    def __init__(
        self,
        topology: Topology,
        node: Node,
        store: str,
        key_serde: Any,
        windows: TimeWindows | None = None,
    ) -> None:
        self._topology = topology
        self._node = node
        self.store_name = store
        self._key_serde = key_serde
        self.windows = windows

    def to_stream(self, name: str | None = None) -> KStream:
        """The table's updates as a stream of ``(key, new value)`` records."""
        node = self._topology.add("processor", "pass", "KTABLE-TOSTREAM", [self._node], name=name)
        key_serde = self._key_serde if self.windows is None else WindowedSerde(self._key_serde)
        return KStream(self._topology, node, key_serde, None)

    def to(self, topic: str, key: Any = None, value: Any = None) -> None:
        """Write the table's updates to ``topic``: ``to_stream().to(topic)``."""
        self.to_stream().to(topic, key=key, value=value)
