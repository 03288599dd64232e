"""Sample ``PaymentProcessed`` events: most orders get paid, a few never do."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.data._rng import between, rng, weighted

METHODS = ("card", "paypal", "bank_transfer")
_METHOD_WEIGHTS = (6, 3, 1)
#: Delay from order to payment per method, in milliseconds (a bank transfer takes minutes).
_DELAY_MS = {"card": (300, 5_000), "paypal": (1_000, 15_000), "bank_transfer": (60_000, 600_000)}
PAID_SHARE = 0.95


def payments(orders: Sequence[Mapping[str, Any]], seed: int = 42) -> list[dict[str, Any]]:
    """One payment for about 95% of ``orders`` (seeded), listed in the orders' order.

    ``processedAt`` is the order's ``createdAt`` plus a seeded delay that depends on the
    method, so payments arrive out of event-time order, as real ones do.

    >>> from labkit.data import orders
    >>> payments(orders(2))[0]  # doctest: +NORMALIZE_WHITESPACE
    {'paymentId': 'PAY000001', 'orderId': 'O000001', 'customerId': 'C0015', 'amount': 371.96,
     'currency': 'EUR', 'method': 'card', 'processedAt': 1767225602172}
    """
    r = rng(seed, "payments")
    result = []
    for order in orders:
        if r.random() >= PAID_SHARE:
            continue
        method = weighted(r, METHODS, _METHOD_WEIGHTS)
        result.append(
            {
                "paymentId": f"PAY{len(result) + 1:06d}",
                "orderId": order["orderId"],
                "customerId": order["customerId"],
                "amount": order["amount"],
                "currency": order["currency"],
                "method": method,
                "processedAt": order["createdAt"] + between(r, *_DELAY_MS[method]),
            }
        )
    return result
