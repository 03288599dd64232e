"""Producer and bounded reads against the real broker."""

from __future__ import annotations

import logging
import time

import pytest

import labkit
from labkit.clients import DeliveryError, TopicError
from labkit.clients.producer import PRODUCER_DEFAULTS
from labkit.serdes import SerdeError


def test_keys_headers_and_json_values_round_trip(lab, topic_factory):
    topic = topic_factory("orders", partitions=3)
    orders = labkit.data.orders(n=60, seed=7)
    result = lab.produce(topic, orders, key="customerId", headers={"source": "test"})
    assert result.count == 60
    assert sum(result.partitions.values()) == 60
    frame = lab.read(topic)
    assert len(frame) == 60
    assert sorted(frame["value"].map(lambda v: v["orderId"])) == sorted(
        o["orderId"] for o in orders
    )
    assert all(h == {"source": b"test"} for h in frame["headers"])
    # one key, one partition
    assert frame.groupby("key")["partition"].nunique().max() == 1
    # per partition, records keep the order they were produced in
    produced_order = {o["orderId"]: i for i, o in enumerate(orders)}
    for _, part in frame.groupby("partition"):
        seq = [produced_order[v["orderId"]] for v in part.sort_values("offset")["value"]]
        assert seq == sorted(seq)


def test_idempotence_and_murmur2_are_the_defaults():
    assert PRODUCER_DEFAULTS["enable.idempotence"] is True
    assert PRODUCER_DEFAULTS["partitioner"] == "murmur2_random"


def test_same_keys_land_where_the_java_client_puts_them(lab, topic_factory):
    # toPositive(murmur2(key)) % partitions, as the Java producer's BuiltInPartitioner does;
    # _java_partition is a line-by-line port of org.apache.kafka.common.utils.Utils.murmur2.
    topic = topic_factory("keys", partitions=3)
    lab.produce(topic, [{"k": k} for k in ("a", "b", "c", "customer-1")], key="k")
    frame = lab.read(topic)
    placed = dict(zip(frame["key"], frame["partition"], strict=True))
    assert placed == {k: _java_partition(k.encode(), 3) for k in ("a", "b", "c", "customer-1")}


def _java_partition(key: bytes, partitions: int) -> int:
    m, r, seed = 0x5BD1E995, 24, 0x9747B28C
    length = len(key)
    h = (seed ^ length) & 0xFFFFFFFF
    for i in range(0, length - length % 4, 4):
        k = int.from_bytes(key[i : i + 4], "little")
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> r
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
    tail = length % 4
    base = length - tail
    if tail == 3:
        h ^= key[base + 2] << 16
    if tail >= 2:
        h ^= key[base + 1] << 8
    if tail >= 1:
        h ^= key[base]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return (h & 0x7FFFFFFF) % partitions


def test_read_is_bounded_by_max_messages_and_timeout(lab, topic_factory):
    topic = topic_factory("bounded")
    lab.produce(topic, [{"i": i} for i in range(20)])
    assert len(lab.read(topic, max_messages=5)) == 5
    started = time.monotonic()
    frame = lab.read(topic, until_end=False, timeout=2.0)
    assert len(frame) == 20
    assert 1.5 < time.monotonic() - started < 6


def test_group_reads_resume_from_committed_offsets(lab, topic_factory, unique):
    topic = topic_factory("resume", partitions=2)
    group = unique("g")
    lab.produce(topic, [{"i": i} for i in range(30)], key=lambda r: str(r["i"]))
    first = lab.read(topic, group_id=group, max_messages=12)
    rest = lab.read(topic, group_id=group)
    assert len(first) == 12 and len(rest) == 18
    seen = sorted(v["i"] for v in list(first["value"]) + list(rest["value"]))
    assert seen == list(range(30))
    offsets = lab.groups.describe(group).offsets
    assert offsets["lag"].sum() == 0
    assert offsets["committed"].sum() == 30


def test_group_read_without_commit_reads_the_same_again(lab, topic_factory, unique):
    topic = topic_factory("nocommit")
    group = unique("g")
    lab.produce(topic, [{"i": i} for i in range(5)])
    assert len(lab.read(topic, group_id=group, commit=False)) == 5
    assert len(lab.read(topic, group_id=group, commit=False)) == 5


def test_reading_a_missing_topic_names_it(lab):
    with pytest.raises(TopicError, match="'no-such-topic' does not exist"):
        lab.read("no-such-topic")


def test_a_record_that_is_not_json_names_topic_partition_and_offset(lab, topic_factory):
    topic = topic_factory("badjson")
    lab.produce(topic, ["fine", "also fine"], serde="string")
    lab.produce(topic, [{"ok": 1}])
    with pytest.raises(SerdeError, match=r"partition 0, offset 0"):
        lab.read(topic)
    assert len(lab.read(topic, serde="bytes")) == 3


def test_a_batch_with_a_record_the_serde_refuses_sends_none_of_it(lab, topic_factory):
    topic = topic_factory("half-batch")
    records = [{"n": 1}, {"n": 2}, {"n": {1, 2}}, {"n": 4}]  # a set is not JSON
    with pytest.raises(
        SerdeError, match=r"record 2 of the batch: .*JSON.*none of the batch was sent"
    ):
        lab.produce(topic, records)
    assert len(lab.read(topic, timeout=3)) == 0
    records[2] = {"n": 3}
    assert lab.produce(topic, records).count == 4  # fixed and sent again: each record once
    assert sorted(v["n"] for v in lab.read(topic)["value"]) == [1, 2, 3, 4]


def test_delivery_failure_is_raised_not_dropped(lab, topic_factory):
    topic = topic_factory("small", config={"max.message.bytes": "1000"})
    with pytest.raises(DeliveryError, match="failed delivery"):
        lab.produce(topic, [{"blob": "x" * 5000}])


def test_librdkafka_lines_go_through_logging_not_stderr(capfd, caplog):
    from labkit.clients import Producer

    caplog.set_level(logging.DEBUG, logger="labkit.kafka")
    producer = Producer("127.0.0.1:1", config={"message.timeout.ms": 1500})
    producer.send("nowhere", {"x": 1})
    with pytest.raises(DeliveryError):
        producer.flush(5)
    err = capfd.readouterr().err
    assert "rdkafka" not in err and "%3|" not in err
    assert any(r.name == "labkit.kafka" for r in caplog.records)


def test_the_lab_keeps_records_whatever_their_timestamps(lab, topic_factory):
    """Sample events carry 2026-01 event times: under Kafka's default 7-day retention, checked
    every 5 minutes, a topic produced with them would be emptied mid-lesson. The lab keeps all."""
    topic = topic_factory("old-events")
    assert lab.topics.describe(topic).configs["retention.ms"] == "-1"
    orders = labkit.data.orders(n=20, seed=3)
    lab.produce(topic, orders, key="orderId", timestamp="createdAt")
    frame = lab.read(topic)
    kept = sorted(round(t.timestamp() * 1000) for t in frame["timestamp"])
    assert kept == sorted(
        o["createdAt"] for o in orders
    )  # all there, stamped with their event time
