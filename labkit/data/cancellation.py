"""Sample ``OrderCancelled`` events: orders left unpaid are cancelled after a timeout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: How long an order waits for its payment before it is cancelled: 15 minutes.
PAYMENT_TIMEOUT_MS = 15 * 60 * 1000


def cancellations(
    orders: Sequence[Mapping[str, Any]], payments: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One cancellation per order without a payment, ``PAYMENT_TIMEOUT_MS`` after it was created.

    No seed: which orders go unpaid is already decided by :func:`labkit.data.payments`.

    >>> from labkit.data import orders, payments
    >>> some = orders(40)
    >>> cancellations(some, payments(some))  # doctest: +NORMALIZE_WHITESPACE
    [{'cancellationId': 'X000001', 'orderId': 'O000032', 'customerId': 'C0011',
      'reason': 'payment_timeout', 'cancelledAt': 1767226553461}]
    """
    paid = {payment["orderId"] for payment in payments}
    return [
        {
            "cancellationId": f"X{number:06d}",
            "orderId": order["orderId"],
            "customerId": order["customerId"],
            "reason": "payment_timeout",
            "cancelledAt": order["createdAt"] + PAYMENT_TIMEOUT_MS,
        }
        for number, order in enumerate(
            (order for order in orders if order["orderId"] not in paid), start=1
        )
    ]
