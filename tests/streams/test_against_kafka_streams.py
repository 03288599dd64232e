"""labkit.streams against the real Kafka Streams: the guide's running totals per customer, run by
both on the same input topic, give the same final table.

Kafka Streams 4.3.1 (jvm/kstreams-reference, built with mvn) and labkit's StreamApp each read the
same 20,000 orders over 3 partitions, regroup them by customer through a repartition topic of
their own, and keep the total per customer in integer cents (conftest.py says why not floats).
Both run exactly-once; their output tables are read back read_committed and compared key by key.
"""

from __future__ import annotations

import pytest

from labkit.streams import read_table, reference
from labkit.streams.examples import customer_totals
from tests.streams.oracle import oracle_totals_cents


@pytest.fixture(scope="module")
def reference_jar():
    return reference.build()


@pytest.mark.timeout(900)
def test_labkit_and_kafka_streams_agree_on_the_same_input(
    lab, orders_topic, topic_factory, make_app, unique, reference_jar
):
    source, orders = orders_topic(20_000, partitions=3, seed=23)
    labkit_out = topic_factory("totals-labkit", partitions=3)
    kstreams_out = topic_factory("totals-kstreams", partitions=3)

    app = make_app(guarantee="exactly_once")
    customer_totals.build(app, source, labkit_out)
    result = app.run(until_idle=2.0, timeout=300)
    assert result.input_records == len(orders)

    kstreams_app = unique("totals-kstreams")
    try:
        summary = reference.run_customer_totals(
            lab.bootstrap_servers,
            source,
            kstreams_out,
            kstreams_app,
            guarantee="exactly_once",
            expected_records=len(orders),
            timeout=240,
        )
        assert summary["ok"], summary
        by_kafka_streams = reference.read_totals(lab, kstreams_out)
    finally:
        reference.delete_application(lab, kstreams_app)

    by_labkit = read_table(lab, labkit_out)
    assert len(by_labkit) == len(by_kafka_streams) == len(set(o["customerId"] for o in orders))
    assert by_labkit == by_kafka_streams  # the two stream processors' final tables, exactly
    assert by_labkit == oracle_totals_cents(orders)  # and both equal pandas
    assert app.store(customer_totals.TOTALS_STORE).to_dict() == by_labkit
