"""The real Kafka Streams reference (jvm/kstreams-reference) against a pandas oracle.

The reference is what labkit.streams is checked against, so it is checked first: the guide's
running totals per customer, run by Kafka Streams 4.3.1 on the session's real broker, must give
exactly the totals (in integer cents) that a pandas groupby of the same orders gives.
"""

from __future__ import annotations

import time

import pytest

import labkit
from labkit.streams import reference
from tests.streams.oracle import oracle_totals_cents


@pytest.fixture(scope="session")
def reference_jar():
    """The reference built once per source version (the first build resolves jars with mvn)."""
    return reference.build()


@pytest.fixture
def application_id(lab, unique):
    """A unique application id; its internal topics and consumer group are removed afterwards."""
    app = unique("totals-ref")
    yield app
    reference.delete_application(lab, app)


@pytest.mark.timeout(900)
def test_exactly_once_totals_equal_the_pandas_oracle(
    lab, topic_factory, application_id, reference_jar
):
    orders_topic = topic_factory("orders", partitions=3)
    totals_topic = topic_factory("customer-totals", partitions=3)
    orders = list(labkit.data.orders(n=20_000, seed=7))
    lab.produce(orders_topic, orders, key="orderId")

    summary = reference.run_customer_totals(
        lab.bootstrap_servers,
        orders_topic,
        totals_topic,
        application_id,
        guarantee="exactly_once",
        commit_interval_ms=100,
        expected_records=len(orders),
        timeout=240,
    )

    expected = oracle_totals_cents(orders)
    assert summary["ok"] and summary["stoppedBy"] == "records", summary
    assert summary["processingGuarantee"] == "exactly_once_v2"
    assert summary["recordsRead"] == summary["recordsProcessed"] == len(orders)
    assert summary["storeKeys"] == len(expected)
    assert summary["storeTotalCents"] == sum(expected.values())
    # groupBy re-keys the orders, so Kafka Streams routed them through a repartition topic
    assert set(reference.internal_topics(application_id)) <= set(lab.topics.list())
    assert reference.read_totals(lab, totals_topic) == expected


@pytest.mark.timeout(900)
def test_at_least_once_run_stops_by_itself_when_idle(
    lab, topic_factory, application_id, reference_jar
):
    orders_topic = topic_factory("orders", partitions=3)
    totals_topic = topic_factory("customer-totals", partitions=2)
    orders = list(labkit.data.orders(n=2_000, seed=11))
    lab.produce(orders_topic, orders, key="orderId")

    summary = reference.run_customer_totals(
        lab.bootstrap_servers,
        orders_topic,
        totals_topic,
        application_id,
        guarantee="at_least_once",
        idle_ms=1_500,
        store="memory",
        timeout=120,
    )

    assert summary["ok"] and summary["stoppedBy"] == "idle", summary
    assert summary["processingGuarantee"] == "at_least_once"
    assert summary["recordsProcessed"] == len(orders)
    assert reference.read_totals(lab, totals_topic) == oracle_totals_cents(orders)


@pytest.mark.timeout(900)
def test_a_missing_input_topic_is_named_within_seconds(
    lab, topic_factory, unique, application_id, reference_jar
):
    totals_topic = topic_factory("customer-totals")
    missing = unique("no-such-orders")
    started = time.monotonic()
    with pytest.raises(reference.ReferenceRunError, match=f"topic {missing} does not exist") as err:
        reference.run_customer_totals(
            lab.bootstrap_servers, missing, totals_topic, application_id, expected_records=1
        )
    assert time.monotonic() - started < 30
    assert err.value.summary["exitCode"] == 2
    assert err.value.log_file.exists()


@pytest.mark.timeout(900)
def test_an_order_without_amount_fails_the_run_with_its_context(
    lab, topic_factory, application_id, reference_jar
):
    orders_topic = topic_factory("orders")
    totals_topic = topic_factory("customer-totals")
    bad = {"orderId": "O000002", "customerId": "C0001", "items": []}
    lab.produce(orders_topic, [{"orderId": "O000001", "customerId": "C0001", "amount": 1.5}, bad])

    with pytest.raises(reference.ReferenceRunError, match="no numeric amount") as err:
        reference.run_customer_totals(
            lab.bootstrap_servers, orders_topic, totals_topic, application_id, expected_records=2
        )
    assert err.value.summary["stoppedBy"] == "error"
    assert '"orderId":"O000002"' in err.value.summary["error"]
    # the dead stream thread's member was removed, so the group can be deleted at once
    reference.delete_application(lab, application_id)
    assert application_id not in lab.groups.list()


def test_build_without_maven_says_what_to_install(monkeypatch):
    monkeypatch.setattr(reference.shutil, "which", lambda name: None)
    with pytest.raises(reference.ReferenceBuildError, match=r"needs Maven \(`mvn`\)"):
        reference.build(force=True)


def test_an_unknown_guarantee_is_refused_before_anything_runs():
    with pytest.raises(ValueError, match="exactly_once"):
        reference.run_customer_totals("127.0.0.1:1", "a", "b", "c", guarantee="exactly_twice")


def test_amount_cents_rounds_like_java_math_round():
    assert [reference.amount_cents(a) for a in (371.96, 0.125, -0.125, 2.675, 0.0)] == [
        37196,
        13,
        -12,
        268,
        0,
    ]
