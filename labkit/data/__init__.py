"""Deterministic sample events of the order domain, made from a seed.

The same seed gives the same records on every run, machine and Python version: no wall clock,
no global randomness. Event time starts at 2026-01-01T00:00:00Z (epoch millis).

>>> import labkit.data as data
>>> shop = data.customers(50, seed=42)
>>> created = data.orders(1_000, seed=42, customers=shop)
>>> paid = data.payments(created, seed=42)
>>> len(shop), len(created), len(paid)
(50, 1000, 946)
"""

from __future__ import annotations

from labkit.data._rng import BASE_TIME_MS
from labkit.data.cancellation import cancellations
from labkit.data.customer import customers
from labkit.data.exceptions import DataGenError
from labkit.data.export import to_dataframe, to_jsonl, write_sample_files
from labkit.data.order import order_amount_cents, orders
from labkit.data.payment import payments
from labkit.data.product import products
from labkit.data.shipment import shipments
from labkit.data.timeline import events

__all__ = [
    "BASE_TIME_MS",
    "DataGenError",
    "cancellations",
    "customers",
    "events",
    "order_amount_cents",
    "orders",
    "payments",
    "products",
    "shipments",
    "to_dataframe",
    "to_jsonl",
    "write_sample_files",
]
