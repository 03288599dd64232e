"""The DSL and describe(), without a broker: the shape Kafka Streams would build."""

from __future__ import annotations

import pytest

from labkit.streams import StreamApp, TopologyError, UnknownStoreError
from labkit.streams.examples.customer_totals import build

TARGET = """\
Topologies:
   Sub-topology: 0
    Source: KSTREAM-SOURCE-0000000000 (topics: [orders])
      --> KSTREAM-KEY-SELECT-0000000001
    Processor: KSTREAM-KEY-SELECT-0000000001 (stores: [])
      --> KSTREAM-FILTER-0000000004
      <-- KSTREAM-SOURCE-0000000000
    Processor: KSTREAM-FILTER-0000000004 (stores: [])
      --> KSTREAM-SINK-0000000003
      <-- KSTREAM-KEY-SELECT-0000000001
    Sink: KSTREAM-SINK-0000000003 (topic: customer-totals-customer-totals-store-repartition)
      <-- KSTREAM-FILTER-0000000004

   Sub-topology: 1
    Source: KSTREAM-SOURCE-0000000005 (topics: [customer-totals-customer-totals-store-repartition])
      --> KSTREAM-AGGREGATE-0000000002
    Processor: KSTREAM-AGGREGATE-0000000002 (stores: [customer-totals-store])
      --> KTABLE-TOSTREAM-0000000006
      <-- KSTREAM-SOURCE-0000000005
    Processor: KTABLE-TOSTREAM-0000000006 (stores: [])
      --> KSTREAM-SINK-0000000007
      <-- KSTREAM-AGGREGATE-0000000002
    Sink: KSTREAM-SINK-0000000007 (topic: customer-totals)
      <-- KTABLE-TOSTREAM-0000000006

Internal topics:
   customer-totals-customer-totals-store-repartition (repartition)
   customer-totals-customer-totals-store-changelog (changelog of customer-totals-store, compacted)
"""


def target_app() -> StreamApp:
    app = StreamApp("customer-totals", lab=None, guarantee="exactly_once")
    (
        app.stream("orders", value="avro:OrderCreated")
        .group_by(lambda key, order: order["customerId"])
        .aggregate(
            lambda: 0.0,
            lambda cid, order, total: total + order["amount"],
            store="customer-totals-store",
        )
        .to("customer-totals")
    )
    return app


def test_describe_prints_the_target_topology_like_kafka_streams():
    assert str(target_app().describe()) == TARGET


def test_group_by_splits_into_two_subtopologies_through_a_repartition_topic():
    topology = target_app().topology
    subs = topology.subtopologies()
    assert [[n.role for n in s.nodes if n.role != "processor"] for s in subs] == [
        ["source", "sink"],
        ["source", "sink"],
    ]
    assert topology.repartition_topics() == ["customer-totals-customer-totals-store-repartition"]
    assert topology.internal_topics()[-1] == "customer-totals-customer-totals-store-changelog"
    assert subs[1].store_names == ["customer-totals-store"]


def test_group_by_key_repartitions_only_after_a_key_change():
    app = StreamApp("a", lab=None)
    app.stream("in").group_by_key().count(store="same-key")
    assert app.topology.repartition_topics() == []
    assert len(app.topology.subtopologies()) == 1

    app = StreamApp("b", lab=None)
    app.stream("in").map(lambda k, v: (v["x"], v)).group_by_key().count(store="new-key")
    assert app.topology.repartition_topics() == ["b-new-key-repartition"]
    app = StreamApp("c", lab=None)
    app.stream("in").map_values(lambda v: v["x"]).group_by_key().count(store="values-only")
    assert app.topology.repartition_topics() == []


def test_two_aggregations_of_one_grouped_stream_share_its_repartition_topic():
    app = build(StreamApp("customer-totals", lab=None))
    assert app.topology.repartition_topics() == [
        "customer-totals-customer-totals-by-customer-repartition"
    ]
    assert app.store_names == ["customer-order-counts", "customer-totals-store"]
    text = str(app.describe())
    assert "customer-totals-by-customer-repartition-sink" in text
    assert "(stores: [customer-order-counts])" in text


def test_branch_describes_one_child_per_predicate():
    app = StreamApp("br", lab=None)
    big, small = app.stream("in").branch(lambda k, v: v > 10, lambda k, v: True)
    big.to("big")
    small.filter(lambda k, v: v > 0).to("small")
    text = str(app.describe())
    assert (
        "KSTREAM-BRANCH-0000000001 (stores: [])\n      --> KSTREAM-BRANCHCHILD-0000000002, KSTREAM-BRANCHCHILD-0000000003"
        in text
    )
    assert "Sink: KSTREAM-SINK-0000000004 (topic: big)" in text
    assert app.topology.sink_topics() == ["big", "small"]


def test_bad_topologies_are_refused_with_the_reason():
    app = StreamApp("x", lab=None)
    app.stream("in").group_by_key().count(store="s")
    with pytest.raises(TopologyError, match="already a source"):
        app.stream("in")
    with pytest.raises(TopologyError, match="already exists"):
        app.stream("other").group_by_key().count(store="s")
    with pytest.raises(TopologyError, match="must be a function"):
        app.stream("third").filter("not a function")
    with pytest.raises(TopologyError, match="application id"):
        StreamApp("has space", lab=None)
    with pytest.raises(TopologyError, match="guarantee"):
        StreamApp("ok", lab=None, guarantee="exactly-once")  # type: ignore[arg-type]
    with pytest.raises(TopologyError, match="store name"):
        StreamApp("ok", lab=None).stream("in").group_by_key().count(store="a/b")


def test_an_unknown_store_name_lists_the_known_ones():
    app = build(StreamApp("customer-totals", lab=None))
    with pytest.raises(UnknownStoreError) as info:
        app.store("customer-total")
    message = str(info.value)
    assert "no store named 'customer-total'" in message
    assert "'customer-order-counts', 'customer-totals-store'" in message
    assert isinstance(info.value, KeyError)  # a store lookup that misses, as in a dict
    # a known store before any run is simply empty
    assert len(app.store("customer-totals-store")) == 0


def test_exactly_once_defaults_follow_kafka_streams():
    eos = StreamApp("t", lab=None, guarantee="exactly_once", instance="2")
    assert eos.config.commit_interval == 0.1
    assert eos.config.transactional_id == "t-2"
    assert StreamApp("t", lab=None).config.guarantee == "at_least_once"
    assert StreamApp("t", lab=None, commit_interval=1.5).config.commit_interval == 1.5
