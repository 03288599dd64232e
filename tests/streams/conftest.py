"""Fixtures for labkit.streams: apps with unique ids and their own state directory, and topics
of sample orders.

Totals are compared in integer cents throughout: amounts are 2-decimal floats, float addition is
not associative, and a repartition topic interleaves the records of several input partitions in
no fixed order, so a float total could differ in its last bit from a pandas sum of the same
orders. Integer cents make every comparison exact.
"""

from __future__ import annotations

import logging

import pytest

import labkit
from labkit.streams import StreamApp


@pytest.fixture(autouse=True)
def _quiet_kafka_logs():
    logging.getLogger("labkit.kafka").setLevel(logging.ERROR)


@pytest.fixture
def make_app(lab, unique, tmp_path):
    """Make a StreamApp with a unique id (or the given ``app_id``) and a state directory under
    ``tmp_path``; at the end it is closed and reset (internal topics and group deleted)."""
    apps: list[StreamApp] = []

    def make(app_id: str | None = None, **kwargs) -> StreamApp:
        kwargs.setdefault("state_dir", tmp_path / "state")
        app = StreamApp(app_id or unique("app"), lab, **kwargs)
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.close()
    for app_id in {a.app_id for a in apps}:
        survivor = next(a for a in apps if a.app_id == app_id)
        try:
            survivor.reset()
        except Exception as exc:  # cleanup must not hide the test's own outcome
            logging.getLogger(__name__).warning("resetting %s: %s", app_id, exc)


@pytest.fixture
def orders_topic(lab, topic_factory):
    """Create a topic holding ``n`` sample orders keyed by orderId; return (topic, orders)."""

    def make(n: int, partitions: int = 3, seed: int = 42, customers: int | None = None):
        topic = topic_factory("orders", partitions=partitions)
        orders = labkit.data.orders(n, seed=seed, customers=customers)
        lab.produce(topic, orders, key="orderId")
        return topic, orders

    return make


def cents_app(app: StreamApp, source: str, output: str | None = None, **kwargs):
    """The running-totals topology (integer cents) on ``app``; returns the table."""
    table = (
        app.stream(source)
        .group_by(lambda order_id, order: order["customerId"])
        .aggregate(
            lambda: 0,
            lambda customer, order, cents: cents + round(order["amount"] * 100),
            store="totals",
            **kwargs,
        )
    )
    if output:
        table.to(output)
    return table
