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

import re
from collections.abc import Callable, Iterable
from typing import Any

from labkit.streams.config import STORE_TYPES
from labkit.streams.exceptions import TopologyError
from labkit.streams.serdes import STATE_SERDE
from labkit.streams.topology import Node, StoreSpec, Topology

KeyValue = tuple[Any, Any]
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def _check_callable(fn: Any, what: str) -> None:
    if not callable(fn):
        raise TopologyError(f"{what} must be a function, got {type(fn).__name__}")


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

    # -- output ----------------------------------------------------------------------------
    def to(self, topic: str, key: Any = None, value: Any = None, name: str | None = None) -> None:
        """Write every record to ``topic`` (created with the input's partition count if it
        does not exist). ``key``/``value``: serdes, default the app's."""
        if not topic or not isinstance(topic, str):
            raise TopologyError(f"to() needs a topic name, got {topic!r}")
        self._topology.add(
            "sink",
            "sink",
            "KSTREAM-SINK",
            [self._node],
            name=name,
            topic=topic,
            args={"key_serde": key, "value_serde": value},
        )


class KGroupedStream:
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
            base = self._name or store
            t = self._topology
            args = {"key_serde": self._key_serde, "value_serde": self._value_serde}
            sink_index, filter_index, source_index = (t.next_index() for _ in range(3))
            drop = t.add(
                "processor",
                "drop_null_key",
                "KSTREAM-FILTER",
                [self._node],
                index=filter_index,
                name=f"{self._name}-repartition-filter" if self._name else None,
            )
            t.add(
                "sink",
                "sink",
                "KSTREAM-SINK",
                [drop],
                index=sink_index,
                name=f"{self._name}-repartition-sink" if self._name else None,
                topic=f"{base}-repartition",
                internal=True,
                args=args,
            )
            self._source = t.add(
                "source",
                "source",
                "KSTREAM-SOURCE",
                [],
                index=source_index,
                name=f"{self._name}-repartition-source" if self._name else None,
                topic=f"{base}-repartition",
                internal=True,
                args=args,
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
    ) -> KTable:
        t = self._topology
        if store_type is not None and store_type not in STORE_TYPES:
            raise TopologyError(f"store_type {store_type!r} is not one of {', '.join(STORE_TYPES)}")
        if store is not None and not _NAME.match(store):
            raise TopologyError(
                f"store name {store!r} may hold only letters, digits, '.', '_' and '-' "
                "(it names the changelog topic and the SQLite file)"
            )
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
        t.add_store(StoreSpec(store, store_type, key_serde, value or STATE_SERDE, node))
        return KTable(t, node, store, key_serde)

    def aggregate(
        self,
        initializer: Callable[[], Any],
        aggregator: Callable[[Any, Any, Any], Any],
        store: str | None = None,
        store_type: str | None = None,
        value: Any = None,
        key: Any = None,
    ) -> KTable:
        """A table of ``aggregator(key, value, aggregate)`` per key, starting from
        ``initializer()``; kept in the state store ``store`` (``"memory"`` or ``"sqlite"``,
        default the app's ``store_type``). ``value``: the store's serde (default JSON that keeps
        ``Decimal`` and ``datetime``)."""
        _check_callable(initializer, "aggregate's initializer")
        _check_callable(aggregator, "aggregate's aggregator")
        return self._table(
            "aggregate",
            store,
            store_type,
            value,
            key,
            {"initializer": initializer, "aggregator": aggregator},
        )

    def reduce(
        self,
        reducer: Callable[[Any, Any], Any],
        store: str | None = None,
        store_type: str | None = None,
        value: Any = None,
        key: Any = None,
    ) -> KTable:
        """A table of ``reducer(aggregate, value)`` per key; the first value starts it."""
        _check_callable(reducer, "reduce's reducer")
        return self._table("reduce", store, store_type, value, key, {"reducer": reducer})

    def count(
        self, store: str | None = None, store_type: str | None = None, key: Any = None
    ) -> KTable:
        """A table of how many records each key has had."""
        return self._table(
            "aggregate",
            store,
            store_type,
            None,
            key,
            {"initializer": _zero, "aggregator": _plus_one},
        )


def _zero() -> int:
    return 0


def _plus_one(key: Any, value: Any, count: int) -> int:
    return count + 1


class KTable:
    """The latest value per key, kept in a state store; its updates form a changelog stream."""

    def __init__(self, topology: Topology, node: Node, store: str, key_serde: Any) -> None:
        self._topology = topology
        self._node = node
        self.store_name = store
        self._key_serde = key_serde

    def to_stream(self, name: str | None = None) -> KStream:
        """The table's updates as a stream of ``(key, new value)`` records."""
        node = self._topology.add("processor", "pass", "KTABLE-TOSTREAM", [self._node], name=name)
        return KStream(self._topology, node, self._key_serde, None)

    def to(self, topic: str, key: Any = None, value: Any = None) -> None:
        """Write the table's updates to ``topic``: ``to_stream().to(topic)``."""
        self.to_stream().to(topic, key=key, value=value)
