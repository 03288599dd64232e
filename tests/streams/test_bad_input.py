"""Bad input stops the app with an error naming the record, through the on_error hook.

A record that does not deserialize, or an aggregator that raises, goes to the app's error handler;
the default fails the app with a RecordProcessingError naming topic, partition and offset. A handler
that routes the record to a dead-letter topic (the hook a DLQ plugs into) lets the app go on, and
under exactly-once the dead letter commits with the offset that moves past it. An unknown store or
a missing source topic gets a clear error at once.
"""

from __future__ import annotations

import time

import pytest

import labkit
from labkit.streams import (
    MissingSourceTopicError,
    RecordProcessingError,
    UnknownStoreError,
    read_table,
)
from tests.streams.conftest import cents_app
from tests.streams.oracle import oracle_totals_cents


def orders_with_a_poison_pill(lab, topic):
    """Five orders, a record that is not JSON (partition 0, offset 5), five more orders."""
    orders = labkit.data.orders(10, seed=5)
    lab.produce(topic, orders[:5], key="orderId")
    with lab.producer(serde="bytes") as producer:
        producer.send(topic, b"\x00not json{", key="O-bad")
    lab.produce(topic, orders[5:], key="orderId")
    return orders


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_a_record_that_fails_deserialization_stops_the_app_naming_it(
    lab, topic_factory, make_app, guarantee
):
    source = topic_factory("orders", partitions=1)
    orders_with_a_poison_pill(lab, source)
    app = make_app(guarantee=guarantee)
    cents_app(app, source)

    started = time.monotonic()
    with pytest.raises(RecordProcessingError) as info:
        app.run(until_idle=2.0, timeout=60)
    assert time.monotonic() - started < 30
    error = info.value
    assert (error.topic, error.partition, error.offset) == (source, 0, 5)
    assert f"topic {source!r}, partition 0, offset 5" in str(error)
    assert "cannot deserialize the value" in str(error) and "is not JSON" in str(error)
    assert error.context.stage == "deserialize_value"
    assert error.context.node == "KSTREAM-SOURCE-0000000000"
    assert error.context.value == b"\x00not json{"  # the raw record, for a dead-letter topic
    assert app.state == "ERROR"
    # the app left its group and committed no offset past the bad record
    assert len(lab.groups.describe(app.app_id).members) == 0
    committed = lab.groups.offsets(app.app_id)
    assert all(o <= 5 for o in committed.loc[committed["topic"] == source, "committed"])


def test_an_aggregator_that_raises_stops_the_app_naming_the_record_and_processor(
    lab, orders_topic, make_app
):
    source, orders = orders_topic(300, partitions=3, seed=9)
    bad = orders[123]["orderId"]
    app = make_app(guarantee="exactly_once")

    def aggregator(customer, order, cents):
        if order["orderId"] == bad:
            return cents / 0
        return cents + round(order["amount"] * 100)

    app.stream(source).group_by(lambda k, o: o["customerId"]).aggregate(
        lambda: 0, aggregator, store="totals"
    )
    with pytest.raises(RecordProcessingError) as info:
        app.run(until_idle=2.0, timeout=60)
    error = info.value
    assert isinstance(error.__cause__, ZeroDivisionError)
    # the failing record is the order as the aggregation read it: in the repartition topic
    assert error.topic == f"{app.app_id}-totals-repartition"
    assert f"partition {error.partition}, offset {error.offset}" in str(error)
    assert error.context.node == "KSTREAM-AGGREGATE-0000000002"
    assert error.context.stage == "process"
    assert f'"orderId":"{bad}"' in error.context.value.decode()
    assert "ZeroDivisionError" in str(error)


def test_an_error_handler_can_send_bad_records_to_a_dead_letter_topic(lab, topic_factory, make_app):
    source = topic_factory("orders", partitions=1)
    dlq = topic_factory("orders-dlq", partitions=1)
    output = topic_factory("totals", partitions=1)
    orders = orders_with_a_poison_pill(lab, source)
    seen = []

    def to_dead_letters(ctx):
        seen.append(ctx)
        ctx.produce(dlq, key=ctx.key, value=ctx.value, headers=ctx.error_headers())
        return "continue"

    app = make_app(guarantee="exactly_once", on_error=to_dead_letters)
    cents_app(app, source, output)
    result = app.run(until_idle=2.0, timeout=60)

    assert result.input_records == 11 and app.metrics.errors_continued == 1
    assert [(c.topic, c.partition, c.offset) for c in seen] == [(source, 0, 5)]
    expected = oracle_totals_cents(orders)
    assert app.store("totals").to_dict() == expected == read_table(lab, output)
    dead = lab.read(dlq, serde="bytes", as_dataframe=False)
    assert [(r.key, r.value) for r in dead] == [("O-bad", b"\x00not json{")]
    headers = {k: v.decode() for k, v in dead[0].headers.items()}
    assert headers["labkit.error.topic"] == source
    assert headers["labkit.error.offset"] == "5"
    assert headers["labkit.error.stage"] == "deserialize_value"


def test_a_failing_error_handler_fails_the_app_with_both_errors(lab, topic_factory, make_app):
    source = topic_factory("orders", partitions=1)
    orders_with_a_poison_pill(lab, source)

    def broken(ctx):
        raise RuntimeError("the DLQ is down")

    app = make_app(on_error=broken)
    cents_app(app, source)
    with pytest.raises(RecordProcessingError, match="the DLQ is down") as info:
        app.run(until_idle=2.0, timeout=60)
    assert "offset 5" in str(info.value)


def test_an_unknown_store_name_lists_the_known_ones_after_a_run(lab, orders_topic, make_app):
    source, _ = orders_topic(50)
    app = make_app()
    cents_app(app, source)
    app.run(until_idle=1.0, timeout=60)
    with pytest.raises(UnknownStoreError, match=r"no store named 'total'; known: 'totals'"):
        app.store("total")


def test_a_missing_source_topic_is_a_clear_error(lab, unique, make_app):
    missing = unique("no-such-topic")
    app = make_app()
    cents_app(app, missing)
    started = time.monotonic()
    with pytest.raises(MissingSourceTopicError) as info:
        app.run(until_idle=1.0)
    assert time.monotonic() - started < 15
    assert f"{missing!r}" in str(info.value) and "lab.topics.create" in str(info.value)
    with pytest.raises(MissingSourceTopicError):
        app.start()  # in the caller's cell, not later in a background thread
    assert app.state != "RUNNING"
    assert missing not in lab.topics.list()  # nothing was created for it
