"""labkit.streams against pandas: totals per customer equal a pandas groupby of the same input.

100,000 orders over 3 partitions, regrouped by customer through a repartition topic, under
exactly-once. The totals are integer cents (see conftest.py for why a float total could not be
compared exactly), and the oracle is the one the Kafka Streams reference is held to.
"""

from __future__ import annotations

import pandas as pd
import pytest

from labkit.streams import read_table
from tests.streams.conftest import cents_app
from tests.streams.oracle import oracle_totals_cents


@pytest.mark.timeout(600)
def test_totals_per_customer_equal_a_pandas_groupby_for_100k_orders(
    lab, orders_topic, topic_factory, make_app
):
    source, orders = orders_topic(100_000, partitions=3, seed=11)
    output = topic_factory("customer-totals", partitions=3)
    app = make_app(guarantee="exactly_once", store_type="sqlite")
    cents_app(app, source, output)

    result = app.run(until_idle=2.0, timeout=300)

    expected = oracle_totals_cents(orders)
    assert result.stopped_by == "idle"
    assert result.input_records == 100_000
    assert result.records == 200_000  # every order once more through the repartition topic
    assert result.aborts == 0
    assert app.store("totals").to_dict() == expected
    assert read_table(lab, output, timeout=60) == expected  # read_committed, latest per key
    # the interactive query as a DataFrame lines up with the pandas groupby itself
    frame = pd.DataFrame(orders)
    frame["cents"] = (frame["amount"] * 100).round().astype("int64")
    by_pandas = frame.groupby("customerId")["cents"].sum().reset_index()
    by_pandas.columns = ["key", "value"]
    pd.testing.assert_frame_equal(app.store("totals").to_dataframe(), by_pandas)
    # the state lives in one SQLite file per task of the aggregating sub-topology
    assert sorted(p.parent.name for p in app.store("totals").paths) == ["1_0", "1_1", "1_2"]
