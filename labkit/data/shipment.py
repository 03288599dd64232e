"""Sample ``OrderShipped`` events: every paid order ships."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from labkit.data._rng import between, pick, rng

CARRIERS = ("DHL", "DPD", "GLS", "UPS")
#: From payment to shipment: 10 minutes to 2 hours, in milliseconds.
_DELAY_MS = (600_000, 7_200_000)


def shipments(payments: Sequence[Mapping[str, Any]], seed: int = 42) -> list[dict[str, Any]]:
    """One shipment per payment, ``shippedAt`` 10 min to 2 h after ``processedAt``.

    >>> from labkit.data import orders, payments
    >>> shipments(payments(orders(2)))[0]  # doctest: +NORMALIZE_WHITESPACE
    {'shipmentId': 'S000001', 'orderId': 'O000001', 'customerId': 'C0015', 'carrier': 'UPS',
     'shippedAt': 1767230747444}
    """
    r = rng(seed, "shipments")
    return [
        {
            "shipmentId": f"S{number:06d}",
            "orderId": payment["orderId"],
            "customerId": payment["customerId"],
            "carrier": pick(r, CARRIERS),
            "shippedAt": payment["processedAt"] + between(r, *_DELAY_MS),
        }
        for number, payment in enumerate(payments, start=1)
    ]
