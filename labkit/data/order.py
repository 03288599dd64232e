"""Sample ``OrderCreated`` events: the stream at the centre of the lab."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.data._rng import BASE_TIME_MS, between, check_count, rng, sample, weighted
from labkit.data.customer import customer_id
from labkit.data.exceptions import DataGenError
from labkit.data.product import products

_ITEM_COUNTS = (1, 2, 3, 4)
_ITEM_COUNT_WEIGHTS = (4, 3, 2, 1)
_QUANTITIES = (1, 2, 3, 4, 5)
_QUANTITY_WEIGHTS = (10, 5, 3, 2, 1)
#: Event time advances 0.2-3 s per order: about 37 orders a minute, so a one-minute window
#: holds a few dozen and 1,000 orders span roughly half an hour.
_GAP_MS = (200, 3_000)


def _customer_ids(customers: int | Sequence[Mapping[str, Any]] | None) -> list[str]:
    if customers is None:
        customers = 50
    if isinstance(customers, int):
        return [customer_id(i) for i in range(1, check_count("customers", customers, 1) + 1)]
    ids = [c["customerId"] for c in customers]
    if not ids:
        raise DataGenError("customers is empty: pass a count or at least one customer record")
    return ids


def order_amount_cents(order: Mapping[str, Any]) -> int:
    """The order total in cents: the sum of quantity times unit price over its items.

    >>> order_amount_cents({"items": [{"productId": "P-001", "quantity": 3, "price": 0.1}]})
    30
    """
    return sum(item["quantity"] * round(item["price"] * 100) for item in order["items"])


def orders(
    n: int = 1000,
    seed: int = 42,
    customers: int | Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """``n`` orders ``O000001``, ``O000002``, ... in event-time order.

    ``customers`` is how many customers (``C0001``...) place them, 50 by default, or the
    customer records themselves. A few customers place most orders (weights 1, 1/2, 1/3, ...
    over a seeded ranking), which makes running totals per customer worth watching.
    ``createdAt`` starts at 2026-01-01T00:00:00Z and grows by 0.2-3 s per order; ``amount`` is
    exact in cents (see :func:`order_amount_cents`).

    >>> first = orders(3)[0]
    >>> first["orderId"], first["customerId"], first["amount"], first["createdAt"]
    ('O000001', 'C0015', 371.96, 1767225600000)
    >>> first["items"][0]
    {'productId': 'P-018', 'quantity': 2, 'price': 145.99}
    """
    check_count("n", n)
    r = rng(seed, "orders")
    ids = _customer_ids(customers)
    ranked = sample(r, ids, len(ids))
    weights = [1 / rank for rank in range(1, len(ranked) + 1)]
    catalog = products(seed=seed)
    created_at = BASE_TIME_MS
    result = []
    for number in range(1, n + 1):
        if number > 1:
            created_at += between(r, *_GAP_MS)
        customer = weighted(r, ranked, weights)
        picked = sample(r, catalog, weighted(r, _ITEM_COUNTS, _ITEM_COUNT_WEIGHTS))
        items = [
            {
                "productId": product["productId"],
                "quantity": weighted(r, _QUANTITIES, _QUANTITY_WEIGHTS),
                "price": product["price"],
            }
            for product in picked
        ]
        result.append(
            {
                "orderId": f"O{number:06d}",
                "customerId": customer,
                "items": items,
                "amount": order_amount_cents({"items": items}) / 100,
                "currency": "EUR",
                "createdAt": created_at,
                "status": "CREATED",
            }
        )
    return result
