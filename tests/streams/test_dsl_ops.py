"""Each DSL operation on a real broker, checked against the same computation in plain Python."""

from __future__ import annotations

from collections import Counter, defaultdict
from decimal import Decimal

import pytest

import labkit
from labkit.schemas import AvroSerde, SchemaNotFoundError
from labkit.schemas.registry import ConfluentRegistry
from labkit.streams import read_table


def test_filter_map_values_and_peek(lab, orders_topic, topic_factory, make_app):
    source, orders = orders_topic(500)
    output = topic_factory("big-orders", partitions=3)
    seen = []
    app = make_app(guarantee="exactly_once")
    (
        app.stream(source)
        .peek(lambda key, order: seen.append(key))
        .filter(lambda key, order: order["amount"] >= 300)
        .map_values(lambda order: round(order["amount"] * 100))
        .to(output)
    )
    app.run(until_idle=1.0, timeout=60)
    assert sorted(seen) == sorted(o["orderId"] for o in orders)
    expected = {o["orderId"]: round(o["amount"] * 100) for o in orders if o["amount"] >= 300}
    assert read_table(lab, output) == expected


def test_map_to_a_new_key_then_group_by_key_repartitions(lab, orders_topic, make_app):
    source, orders = orders_topic(800)
    app = make_app()
    app.stream(source).map(lambda key, order: (order["customerId"], 1)).group_by_key().count(
        store="orders-per-customer"
    )
    assert len(app.topology.repartition_topics()) == 1
    app.run(until_idle=1.0, timeout=60)
    assert app.store("orders-per-customer").to_dict() == dict(
        Counter(o["customerId"] for o in orders)
    )


def test_flat_map_and_reduce(lab, orders_topic, make_app):
    source, orders = orders_topic(600)
    app = make_app(guarantee="exactly_once", store_type="memory")
    (
        app.stream(source)
        .flat_map(lambda key, order: [(i["productId"], i["quantity"]) for i in order["items"]])
        .group_by_key()
        .reduce(lambda total, quantity: total + quantity, store="units-per-product")
    )
    app.run(until_idle=1.0, timeout=60)
    units: Counter[str] = Counter()
    for order in orders:
        for item in order["items"]:
            units[item["productId"]] += item["quantity"]
    assert app.store("units-per-product").to_dict() == dict(units)


def test_branch_sends_each_record_to_the_first_match(lab, orders_topic, topic_factory, make_app):
    source, orders = orders_topic(400)
    big, small = topic_factory("big", partitions=3), topic_factory("small", partitions=3)
    app = make_app()
    large, rest = app.stream(source).branch(lambda k, o: o["amount"] >= 500, lambda k, o: True)
    large.to(big)
    rest.to(small)
    app.run(until_idle=1.0, timeout=60)
    assert set(read_table(lab, big)) == {o["orderId"] for o in orders if o["amount"] >= 500}
    assert set(read_table(lab, small)) == {o["orderId"] for o in orders if o["amount"] < 500}


def test_without_the_cache_every_update_goes_downstream(lab, orders_topic, topic_factory, make_app):
    source, orders = orders_topic(300, partitions=1)
    cached, uncached = topic_factory("cached"), topic_factory("uncached")
    for output, cache in ((cached, 10_000), (uncached, 0)):
        app = make_app(guarantee="exactly_once", cache_max_keys=cache)
        (
            app.stream(source)
            .group_by(lambda k, o: o["customerId"])
            .count(store="n")
            .to_stream()
            .to(output)
        )
        app.run(until_idle=1.0, timeout=60)
    per_customer = Counter(o["customerId"] for o in orders)
    every = lab.read(uncached, as_dataframe=False)
    assert len(every) == len(orders)  # one update per order: 1, 2, 3, ... per customer
    updates: dict[str, list[int]] = defaultdict(list)
    for record in every:
        updates[record.key].append(record.value)
    assert updates == {c: list(range(1, n + 1)) for c, n in per_customer.items()}
    # with the cache, only the latest value per key and commit goes out; the end is the same
    assert len(lab.read(cached, as_dataframe=False)) < len(orders)
    assert read_table(lab, cached) == read_table(lab, uncached) == dict(per_customer)


def test_avro_orders_and_a_decimal_aggregate(lab, topic_factory, make_app):
    """The architecture's example with Avro input: amounts arrive as Decimal, and the store's
    default serde keeps a Decimal total a Decimal across the changelog."""
    source = topic_factory("orders-avro", partitions=3)
    output = topic_factory("customer-totals", partitions=3)
    orders = labkit.data.orders(500, seed=17)
    lab.produce(source, orders, key="orderId", serde="avro:OrderCreated")
    app = make_app(guarantee="exactly_once")
    (
        app.stream(source, value="avro:OrderCreated")
        .group_by(lambda key, order: order["customerId"])
        .aggregate(
            lambda: Decimal("0"),
            lambda cid, order, total: total + order["amount"],
            store="customer-totals-store",
        )
        .to(output)
    )
    app.run(until_idle=1.0, timeout=60)
    expected: dict[str, Decimal] = defaultdict(Decimal)
    for order in orders:
        expected[order["customerId"]] += Decimal(str(order["amount"]))
    assert app.store("customer-totals-store").to_dict() == expected
    assert all(
        isinstance(v, Decimal) for v in app.store("customer-totals-store").to_dict().values()
    )
    # JSON output writes a Decimal as its exact decimal string
    assert read_table(lab, output) == {c: str(t) for c, t in expected.items()}


def test_reset_deletes_the_registry_subjects_of_the_internal_topics(lab, orders_topic, make_app):
    """An Avro repartition topic registers ``<topic>-value``; reset() deletes the topic and the
    subject with it, so reruns leave nothing behind in the registry."""
    url = labkit.lab(registry=True).schema_registry_url
    with ConfluentRegistry(url) as registry:
        source, _ = orders_topic(100)
        app = make_app()
        serde = AvroSerde("OrderCreated", registry=registry)
        (
            app.stream(source)
            .group_by(lambda key, order: order["customerId"], value=serde, name="by-customer")
            .count(store="orders-per-customer")
        )
        app.run(until_idle=1.0, timeout=60)
        subject = f"{app.app_id}-by-customer-repartition-value"
        assert registry.versions(subject) == [1]
        app.close()
        app.reset()
        with pytest.raises(SchemaNotFoundError):
            registry.versions(subject)
