"""All sample events of the order domain merged into one event-time-ordered timeline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.data.cancellation import cancellations
from labkit.data.order import orders
from labkit.data.payment import payments
from labkit.data.shipment import shipments

#: Event types in lifecycle order; also the tie-break when two events share a timestamp.
EVENT_TYPES = ("OrderCreated", "PaymentProcessed", "OrderShipped", "OrderCancelled")
_TIME_FIELD = {
    "OrderCreated": "createdAt",
    "PaymentProcessed": "processedAt",
    "OrderShipped": "shippedAt",
    "OrderCancelled": "cancelledAt",
}


def events(
    n: int = 1000,
    seed: int = 42,
    customers: int | Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The lifecycle events of ``n`` orders, sorted by event time.

    Each event is ``{"type", "timestamp", "key", "value"}``: ``key`` is the ``orderId`` (so one
    order's events share a partition) and ``value`` the record from :func:`orders`,
    :func:`payments`, :func:`shipments` or :func:`cancellations`.

    >>> timeline = events(20)
    >>> [(e["type"], e["key"]) for e in timeline[:3]]
    [('OrderCreated', 'O000001'), ('OrderCreated', 'O000002'), ('PaymentProcessed', 'O000001')]
    >>> [e["timestamp"] for e in timeline] == sorted(e["timestamp"] for e in timeline)
    True
    """
    created = orders(n, seed=seed, customers=customers)
    paid = payments(created, seed=seed)
    by_type = {
        "OrderCreated": created,
        "PaymentProcessed": paid,
        "OrderShipped": shipments(paid, seed=seed),
        "OrderCancelled": cancellations(created, paid),
    }
    timeline = [
        {
            "type": kind,
            "timestamp": record[_TIME_FIELD[kind]],
            "key": record["orderId"],
            "value": record,
        }
        for kind, records in by_type.items()
        for record in records
    ]
    rank = {kind: i for i, kind in enumerate(EVENT_TYPES)}
    timeline.sort(key=lambda e: (e["timestamp"], rank[e["type"]], e["key"]))
    return timeline
