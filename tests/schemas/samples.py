"""One valid sample value for every schema in data/schemas."""

from __future__ import annotations

from decimal import Decimal

T0 = 1_700_000_000_123  # epoch millis

SAMPLES: dict[str, dict] = {
    "OrderItem": {"productId": "P-0042", "quantity": 2, "price": 19.99},
    "OrderCreated": {
        "orderId": "O-1",
        "customerId": "C-7",
        "amount": 64.97,
        "currency": "EUR",
        "items": [
            {"productId": "P-0042", "quantity": 2, "price": 19.99},
            {"productId": "P-0007", "quantity": 1, "price": "24.99"},
        ],
        "createdAt": T0,
        "status": "CREATED",  # not in the schema: left out, as Avro projection does
    },
    "PaymentProcessed": {
        "paymentId": "PAY-1",
        "orderId": "O-1",
        "customerId": "C-7",
        "amount": Decimal("64.97"),
        "method": "card",
        "processedAt": T0 + 1_000,
    },
    "OrderShipped": {
        "orderId": "O-1",
        "customerId": "C-7",
        "carrier": "DHL",
        "trackingNumber": "JD0001",
        "items": [{"productId": "P-0042", "quantity": 2, "price": 19.99}],
        "shippedAt": T0 + 86_400_000,
    },
    "OrderCancelled": {
        "orderId": "O-2",
        "customerId": "C-8",
        "reason": "OUT_OF_STOCK",
        "refundAmount": 10,
        "cancelledAt": T0 + 5_000,
    },
    "CustomerUpdated": {
        "customerId": "C-7",
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "country": "GB",
        "tier": "gold",
        "updatedAt": T0,
    },
}
