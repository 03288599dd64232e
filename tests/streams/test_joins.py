"""Tables and stream-table joins: enrich orders with customers, checked against a pandas merge.

``app.table(topic)`` reads a compacted topic of customers into a store whose changelog is the
topic itself; a stream of orders re-keyed by customerId is repartitioned to the table's partitions
and joined. Sources read by one task must be co-partitioned: when they are not, the app refuses to
start and says which topics differ and how to fix it.
"""

from __future__ import annotations

import pandas as pd
import pytest

import labkit
from labkit.streams import (
    CoPartitioningError,
    JoinWindows,
    StreamApp,
    TopologyError,
    read_table,
)
from labkit.streams.topics import task_counts

COMPACTED = {"cleanup.policy": "compact"}


def enrich(order, customer):
    return {
        "orderId": order["orderId"],
        "amount": order["amount"],
        "country": None if customer is None else customer["country"],
        "tier": None if customer is None else customer["tier"],
    }


def merged(orders, customers, how: str) -> dict[str, dict]:
    """The oracle: a pandas merge of orders with the latest row of each customer."""
    frame = pd.DataFrame(orders)[["orderId", "customerId", "amount"]]
    table = pd.DataFrame(customers).drop_duplicates("customerId", keep="last")
    out = frame.merge(table[["customerId", "country", "tier"]], on="customerId", how=how)
    out = out.astype(object).where(out.notna(), None)
    return {
        row["orderId"]: {k: row[k] for k in ("orderId", "amount", "country", "tier")}
        for row in out.to_dict("records")
    }


def join_app(app, orders_topic, customers_topic, output, left=False, store="customers"):
    customers = app.table(customers_topic, store=store)
    by_customer = app.stream(orders_topic).select_key(lambda order_id, o: o["customerId"])
    joined = (by_customer.left_join if left else by_customer.join)(customers, enrich)
    joined.map(lambda customer_id, row: (row["orderId"], row)).to(output)
    return app


@pytest.mark.parametrize("left", [False, True], ids=["inner", "left"])
def test_orders_enriched_with_customers_equal_a_pandas_merge(lab, topic_factory, make_app, left):
    customers = labkit.data.customers(60, seed=4)
    orders = labkit.data.orders(3_000, seed=5, customers=customers)
    # Five customers are missing from the table, and two changed their tier and country after
    # their first row: the join must see the latest row of each key.
    missing = {c["customerId"] for c in customers[:5]}
    rows = [c for c in customers if c["customerId"] not in missing]
    updates = [{**rows[0], "tier": "gold", "country": "NL"}, {**rows[1], "tier": "silver"}]
    # The table topic has 2 partitions, the orders 3: the re-keyed orders are repartitioned
    # into 2 partitions to meet the table (Kafka Streams sizes the repartition topic the same).
    table_topic = topic_factory("customers", partitions=2, config=COMPACTED)
    lab.produce(table_topic, rows + updates, key="customerId")
    source = topic_factory("orders", partitions=3)
    lab.produce(source, orders, key="orderId")
    output = topic_factory("orders-enriched", partitions=2)

    app = join_app(make_app(guarantee="exactly_once"), source, table_topic, output, left=left)
    result = app.run(until_idle=1.0, timeout=90)

    expected = merged(orders, rows + updates, "left" if left else "inner")
    assert read_table(lab, output) == expected
    assert len(expected) == (
        3_000 if left else 3_000 - sum(o["customerId"] in missing for o in orders)
    )
    assert result.input_records == 3_000  # the table was restored, not processed as input
    assert app.metrics.restored == len(rows) + len(updates)
    table = app.store("customers").to_dict()
    assert table[rows[0]["customerId"]]["tier"] == "gold" and len(table) == len(rows)
    assert app.topology.repartition_topics() == [
        f"{app.app_id}-KSTREAM-KEY-SELECT-0000000003-repartition"
    ]
    assert len(lab.topics.describe(app.topology.repartition_topics()[0]).partitions) == 2


def test_table_updates_while_running_and_a_restart_that_reads_no_row_twice(
    lab, topic_factory, make_app, unique
):
    customers = labkit.data.customers(20, seed=6)
    table_topic = topic_factory("customers", partitions=3, config=COMPACTED)
    lab.produce(table_topic, customers, key="customerId")
    source = topic_factory("orders", partitions=3)
    output = topic_factory("enriched", partitions=3)
    app_id = unique("join")
    first = join_app(make_app(app_id, guarantee="exactly_once"), source, table_topic, output)
    first.run(until_idle=1.0, timeout=60)
    first.close()
    assert first.metrics.restored == 20

    # A customer changes country, another is deleted (a tombstone), then orders arrive.
    moved = {**customers[3], "country": "IS"}
    lab.produce(table_topic, [moved], key="customerId")
    with lab.producer(serde="json") as producer:
        producer.send(table_topic, None, key=customers[4]["customerId"])
    orders = labkit.data.orders(500, seed=7, customers=customers)
    lab.produce(source, orders, key="orderId")

    again = join_app(make_app(app_id, guarantee="exactly_once"), source, table_topic, output)
    result = again.run(until_idle=1.0, timeout=60)
    # its SQLite store resumed at its checkpoint: only the two new rows were read
    assert again.metrics.restored == 2 and result.input_records == 500
    latest = [moved if c is customers[3] else c for c in customers if c is not customers[4]]
    assert read_table(lab, output) == merged(orders, latest, "inner")
    assert customers[4]["customerId"] not in again.store("customers").to_dict()
    # reset() deletes the app's internal topics, never the table's own topic
    again.close()
    again.reset()
    assert table_topic in lab.topics.list()


def test_sources_that_are_not_co_partitioned_are_refused_before_processing(
    lab, topic_factory, make_app
):
    table_topic = topic_factory("customers", partitions=2, config=COMPACTED)
    source = topic_factory("orders-by-customer", partitions=3)
    lab.produce(source, labkit.data.orders(10, seed=8), key="customerId")
    app = make_app(guarantee="exactly_once")
    customers = app.table(table_topic)
    # keyed by customerId already, so no repartition: the two topics meet in one task
    app.stream(source).join(customers, enrich).to(topic_factory("out", partitions=3))
    with pytest.raises(CoPartitioningError) as info:
        app.run(until_idle=1.0, timeout=30)
    message = str(info.value)
    assert f"{source!r} has 3" in message and f"{table_topic!r} has 2" in message
    assert "not co-partitioned" in message and "KSTREAM-JOIN-0000000003" in message
    assert f"lab.topics.fresh({table_topic!r}, partitions=3)" in message
    assert "select_key()" in message
    assert isinstance(info.value, TopologyError)
    assert app.metrics.records == 0


def test_join_topology_and_partition_counts_without_a_broker():
    app = StreamApp("enrich", lab=None)
    customers = app.table("customers", store="customers")
    app.stream("orders").select_key(lambda k, o: o["customerId"]).join(customers, enrich).to("out")
    text = str(app.describe())
    assert "Processor: KTABLE-SOURCE-0000000001 (stores: [customers])" in text
    assert "Processor: KSTREAM-JOIN-0000000007 (stores: [customers])" in text
    # the table's topic is its changelog: no changelog topic is created, none is ever deleted
    assert app.topology.internal_topics() == ["enrich-KSTREAM-KEY-SELECT-0000000003-repartition"]
    assert app.topology.changelog_topic("customers") == "customers"
    subs = app.topology.subtopologies()
    assert [s.store_names for s in subs] == [["customers"], []]
    assert task_counts(app.topology, subs, {"customers": 4, "orders": 6}) == {0: 4, 1: 6}
    with pytest.raises(TopologyError, match="same app"):
        StreamApp("other", lab=None).stream("x").join(customers, enrich)
    with pytest.raises(TopologyError, match="already a source"):
        app.table("orders")


@pytest.mark.parametrize("store_type", ["sqlite", "memory"])
def test_orders_join_their_payments_within_a_minute_equal_pandas(
    lab, topic_factory, make_app, store_type
):
    """A windowed stream-stream join: each order meets the payment of its orderId made within
    60 s of it (either way), once; a payment keyed by paymentId is re-keyed and repartitioned
    first. Checked against a pandas merge filtered on the time difference."""
    orders = labkit.data.orders(3_000, seed=23)
    payments = labkit.data.payments(orders, seed=23)
    order_topic = topic_factory("orders", partitions=3)
    payment_topic = topic_factory("payments", partitions=2)  # keyed by paymentId: repartitioned
    output = topic_factory("orders-paid", partitions=3)
    lab.produce(order_topic, orders, key="orderId", timestamp="createdAt")
    lab.produce(payment_topic, payments, key="paymentId", timestamp="processedAt")
    app = make_app(guarantee="exactly_once", store_type=store_type)
    paid = app.stream(payment_topic).select_key(lambda payment_id, payment: payment["orderId"])
    (
        app.stream(order_topic)
        .join(
            paid,
            lambda order, payment: {"amount": order["amount"], "method": payment["method"]},
            windows=JoinWindows.of(60_000, grace=24 * 3_600_000),  # grace: a backfill
            name="order-payment",
        )
        .to(output)
    )
    app.run(until_idle=1.0, timeout=90)

    frame = pd.DataFrame(orders).merge(pd.DataFrame(payments), on="orderId", suffixes=("", "_p"))
    near = frame[(frame["processedAt"] - frame["createdAt"]).abs() <= 60_000]
    expected = {
        r["orderId"]: {"amount": r["amount"], "method": r["method"]} for _, r in near.iterrows()
    }
    assert 0 < len(expected) < len(orders)  # some payments came more than a minute later
    assert read_table(lab, output) == expected
    assert len(lab.read(output, timeout=20)) == len(expected)  # each pair once
    assert app.metrics.late == 0
    assert sorted(app.topology.stores) == [
        "order-payment-other-join-store",
        "order-payment-this-join-store",
    ]


def test_a_payment_too_late_for_the_join_is_counted_not_joined(lab, topic_factory, make_app):
    orders = labkit.data.orders(200, seed=5)
    order_topic = topic_factory("orders", partitions=1)
    payment_topic = topic_factory("payments", partitions=1)
    output = topic_factory("orders-paid", partitions=1)
    lab.produce(order_topic, orders, key="orderId", timestamp="createdAt")
    first, last = orders[0], orders[-1]
    late = {"orderId": first["orderId"], "method": "card", "processedAt": first["createdAt"]}
    on_time = {"orderId": last["orderId"], "method": "card", "processedAt": last["createdAt"]}
    app = make_app()
    (
        app.stream(order_topic)
        .join(app.stream(payment_topic), lambda o, p: p["method"], windows=JoinWindows.of(60_000))
        .to(output)
    )
    app.run(until_idle=1.0, timeout=60)  # stream time: the last order's
    lab.produce(payment_topic, [late, on_time], key="orderId", timestamp="processedAt")
    app.run(until_idle=1.0, timeout=60)
    assert read_table(lab, output) == {last["orderId"]: "card"}
    assert app.metrics.late == 1


def test_a_stream_join_needs_join_windows(make_app):
    app = make_app()
    with pytest.raises(TopologyError, match="needs windows=JoinWindows.of"):
        app.stream("orders").join(app.stream("payments"), lambda o, p: o)


@pytest.mark.parametrize("store_type", ["sqlite", "memory"])
def test_join_state_moves_through_the_changelogs(
    lab, topic_factory, make_app, tmp_path, store_type
):
    """The orders a first instance held meet payments that arrive after it is gone: a new
    instance without local state restores both sides' stores from their changelogs."""
    orders = labkit.data.orders(1_000, seed=29)
    payments = labkit.data.payments(orders, seed=29)
    order_topic = topic_factory("orders", partitions=3)
    payment_topic = topic_factory("payments", partitions=3)
    output = topic_factory("orders-paid", partitions=3)
    lab.produce(order_topic, orders, key="orderId", timestamp="createdAt")
    lab.produce(payment_topic, payments[:500], key="orderId", timestamp="processedAt")

    def build(app):
        (
            app.stream(order_topic)
            .join(
                app.stream(payment_topic),
                lambda order, payment: payment["method"],
                windows=JoinWindows.of(10 * 60_000, grace=24 * 3_600_000),
            )
            .to(output)
        )
        return app

    first = build(make_app(guarantee="exactly_once", state_dir=tmp_path / "first"))
    first.run(until_idle=1.0, timeout=60)
    first.close()
    lab.produce(payment_topic, payments[500:], key="orderId", timestamp="processedAt")
    second = build(
        make_app(
            first.app_id,
            guarantee="exactly_once",
            state_dir=tmp_path / "second",
            store_type=store_type,  # a memory store is rebuilt from the changelog, index and all
        )
    )
    second.run(until_idle=1.0, timeout=60)

    assert second.metrics.restored >= 1_000  # at least every order, from the changelog
    frame = pd.DataFrame(orders).merge(pd.DataFrame(payments), on="orderId")
    near = frame[(frame["processedAt"] - frame["createdAt"]).abs() <= 10 * 60_000]
    assert read_table(lab, output) == dict(zip(near["orderId"], near["method"], strict=True))
    assert len(lab.read(output, timeout=20)) == len(near)


@pytest.mark.parametrize("how", ["left", "outer"])
def test_left_and_outer_joins_of_two_streams_keep_who_met_nobody(lab, topic_factory, make_app, how):
    """Each order (and, in the outer join, each payment) that met no partner within 60 s goes
    downstream once with None for it, after stream time has closed its window; every other pair
    once, joined. Three payments have no order at all. Checked against pandas."""
    orders = labkit.data.orders(400, seed=43)
    payments = labkit.data.payments(orders, seed=43)
    last = max(o["createdAt"] for o in orders)
    ghosts = [
        {"paymentId": f"PAY-G{i}", "orderId": f"O-GHOST-{i}", "method": "card", "processedAt": last}
        for i in range(3)
    ]
    order_topic = topic_factory("orders", partitions=1)  # one task: one stream time
    payment_topic = topic_factory("payments", partitions=1)
    output = topic_factory("orders-paid", partitions=1)
    lab.produce(order_topic, orders, key="orderId", timestamp="createdAt")
    app = make_app(guarantee="exactly_once")

    def joiner(order, payment):
        return [order and order["orderId"], payment and payment["paymentId"]]

    orders_stream, payments_stream = app.stream(order_topic), app.stream(payment_topic)
    windows = JoinWindows.of(60_000, grace=24 * 3_600_000)  # grace: a backfill
    if how == "left":
        joined = orders_stream.left_join(payments_stream, joiner, windows=windows)
    else:
        joined = orders_stream.outer_join(payments_stream, joiner, windows=windows)
    joined.to(output)
    app.run(until_idle=1.0, timeout=60)  # every order first: their payments find them later
    lab.produce(payment_topic, payments + ghosts, key="orderId", timestamp="processedAt")
    app.run(until_idle=1.0, timeout=60)
    # a record three days on moves stream time past every window
    end = {
        "orderId": "O-END",
        "customerId": "C0001",
        "amount": 1.0,
        "createdAt": last + 3 * 86_400_000,
    }
    lab.produce(order_topic, [end], key="orderId", timestamp="createdAt")
    app.run(until_idle=1.0, timeout=60)

    frame = pd.DataFrame(orders).merge(pd.DataFrame(payments + ghosts), on="orderId", how="outer")
    near = (frame["processedAt"] - frame["createdAt"]).abs() <= 60_000
    expected = [(r.orderId, [r.orderId, r.paymentId]) for r in frame[near].itertuples()]
    lonely_orders = set(pd.DataFrame(orders)["orderId"]) - {k for k, _ in expected}
    expected += [(o, [o, None]) for o in lonely_orders]
    if how == "outer":
        paid = {v[1] for _, v in expected}
        expected += [
            (p["orderId"], [None, p["paymentId"]])
            for p in payments + ghosts
            if p["paymentId"] not in paid
        ]
    assert len(lonely_orders) > 0 and (how == "left" or len(expected) > len(orders) + 3)
    got = [
        (r.key, r.value)
        for r in lab.read(output, as_dataframe=False, timeout=20, isolation_level="read_committed")
    ]
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert app.metrics.late == 0


@pytest.mark.parametrize("how", ["inner", "left"])
def test_a_record_stays_joinable_until_no_partner_can_still_come(lab, topic_factory, make_app, how):
    """Window 60 s, no grace: a payment 50 s after its order is on time (and must meet it) while
    stream time is 150 s past the order, because late means more than before + after + grace
    (120 s) behind stream time. So the order must still be in its store then, not sent as
    unpaid: it closes only when no partner can come any more (120 s + its 60 s look-ahead)."""
    order_topic = topic_factory("orders", partitions=1)
    payment_topic = topic_factory("payments", partitions=1)
    output = topic_factory("joined", partitions=1)
    t = 1_767_225_600_000
    app = make_app()
    orders_stream, payments_stream = app.stream(order_topic), app.stream(payment_topic)
    windows = JoinWindows.of(60_000)
    join = orders_stream.join if how == "inner" else orders_stream.left_join
    join(payments_stream, lambda o, p: p and p["id"], windows=windows).to(output)

    def send(topic, key, at):
        lab.produce(topic, [{"id": f"{key}@{at - t}", "ts": at}], key=lambda r: key, timestamp="ts")
        app.run(until_idle=0.5, timeout=60)  # a commit after each record

    send(order_topic, "O1", t)
    send(order_topic, "O2", t + 150_000)  # stream time: 150 s past O1
    send(payment_topic, "O1", t + 50_000)  # 100 s behind stream time: on time, meets O1
    send(order_topic, "O3", t + 3_600_000)  # closes O1 and O2
    got = [(r.key, r.value) for r in lab.read(output, as_dataframe=False, timeout=10)]
    expected = [("O1", "O1@50000")] + ([("O2", None)] if how == "left" else [])
    assert sorted(got, key=str) == sorted(expected, key=str)
    assert app.metrics.late == 0
