"""Stateful stream processing in Python: a small Kafka Streams.

``StreamApp`` builds a topology with Kafka Streams' DSL (``stream``/``table`` -> ``filter``/
``map``/``map_values``/``select_key``/``flat_map``/``peek``/``branch``/``join``/``left_join``
with a table, ``join``/``left_join``/``outer_join(stream, windows=JoinWindows...)`` with a
stream ->
``group_by``/``group_by_key`` [-> ``windowed_by(TimeWindows...)``] -> ``aggregate``/``reduce``/
``count`` -> ``to_stream``/``to``), runs it in tasks per input partition with state stores (in
memory or SQLite) backed by compacted changelog topics, and commits with at-least-once or
exactly-once (Kafka transactions) guarantees. Instances with the same application id share the
partitions; a store moves with its task through its changelog.

>>> from labkit.streams import StreamApp
>>> app = StreamApp("customer-totals", lab=None, guarantee="exactly_once")
>>> (app.stream("orders")
...     .group_by(lambda key, order: order["customerId"])
...     .aggregate(lambda: 0, lambda cid, order, cents: cents + round(order["amount"] * 100),
...                store="customer-totals-store")
...     .to("customer-totals"))
>>> print(app.describe())  # doctest: +ELLIPSIS
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [orders])
...
"""

from __future__ import annotations

from labkit.streams.app import StreamApp
from labkit.streams.config import Guarantee, StoreType
from labkit.streams.dsl import KGroupedStream, KStream, KTable, TimeWindowedKStream
from labkit.streams.engine import Metrics, RunResult
from labkit.streams.errors import ErrorAction, ErrorContext, ErrorHandler, log_and_fail
from labkit.streams.exceptions import (
    CoPartitioningError,
    DeliveryFailedError,
    InternalTopicError,
    LateRecordError,
    MissingSourceTopicError,
    ProducerFencedError,
    RecordProcessingError,
    StreamsError,
    TopologyError,
    TransactionAbortedError,
    UnknownStoreError,
)
from labkit.streams.iq import StoreView, WindowStoreView, store_sql
from labkit.streams.serdes import STATE_SERDE
from labkit.streams.table import read_table
from labkit.streams.topology import TopologyDescription
from labkit.streams.windows import JoinWindows, TimeWindows, Windowed

__all__ = [
    "STATE_SERDE",
    "CoPartitioningError",
    "DeliveryFailedError",
    "ErrorAction",
    "ErrorContext",
    "ErrorHandler",
    "Guarantee",
    "InternalTopicError",
    "KGroupedStream",
    "KStream",
    "KTable",
    "LateRecordError",
    "Metrics",
    "MissingSourceTopicError",
    "ProducerFencedError",
    "RecordProcessingError",
    "RunResult",
    "StoreType",
    "StoreView",
    "StreamApp",
    "StreamsError",
    "TimeWindowedKStream",
    "JoinWindows",
    "TimeWindows",
    "TopologyDescription",
    "TopologyError",
    "TransactionAbortedError",
    "UnknownStoreError",
    "WindowStoreView",
    "Windowed",
    "log_and_fail",
    "read_table",
    "store_sql",
]
