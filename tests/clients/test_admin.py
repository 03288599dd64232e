"""Topic admin and consumer-group descriptions against the real broker."""

from __future__ import annotations

import pytest

from labkit.clients import TopicError


def test_create_describe_delete(lab, unique):
    name = unique("adm")
    lab.topics.create(name, partitions=4, config={"cleanup.policy": "compact"})
    try:
        desc = lab.topics.describe(name)
        assert list(desc.partitions["partition"]) == [0, 1, 2, 3]
        assert desc.replication_factor == len(lab.info.brokers)
        assert all(len(isr) >= 1 for isr in desc.partitions["isr"])
        assert desc.configs["cleanup.policy"] == "compact"
        assert name in lab.topics.list()
        with pytest.raises(TopicError, match="already exists"):
            lab.topics.create(name)
        lab.topics.create(name, exist_ok=True)
    finally:
        lab.topics.delete(name)
    assert name not in lab.topics.list()


def test_fresh_empties_a_topic_for_idempotent_reruns(lab, unique):
    name = unique("fresh")
    for _ in range(2):  # as a notebook run twice
        lab.topics.fresh(name, partitions=2)
        lab.produce(name, [{"i": i} for i in range(7)])
        assert len(lab.read(name)) == 7
    lab.topics.delete(name)


def test_delete_missing_topic_can_be_strict(lab):
    with pytest.raises(TopicError, match="no such topic"):
        lab.topics.delete("never-created-topic", missing_ok=False)


def test_group_description_shows_members_and_their_partitions(lab, topic_factory, unique):
    topic = topic_factory("members", partitions=3)
    group = unique("g")
    lab.produce(topic, [{"i": i} for i in range(9)], key=lambda r: str(r["i"]))
    with lab.consumer(group, [topic], client_id="reader-a") as consumer:
        records = consumer.consume(max_messages=9, timeout=20)
        consumer.commit(records)
        desc = lab.groups.describe(group)
        assert desc.state == "stable"
        assert list(desc.members["client_id"]) == ["reader-a"]
        assert desc.members["partitions"][0] == [(topic, 0), (topic, 1), (topic, 2)]
    assert group in lab.groups.list()
    after = lab.groups.describe(group)
    assert len(after.members) == 0  # close() left the group
    assert after.offsets["lag"].tolist() == [0, 0, 0]


def test_topic_offsets_give_beginning_and_end_per_partition(lab, topic_factory):
    topic = topic_factory("offs", partitions=2)
    lab.produce(topic, [{"i": i} for i in range(4)], key=lambda r: "same-key")
    offsets = lab.topics.offsets(topic)
    assert list(offsets["partition"]) == [0, 1]
    assert list(offsets["beginning"]) == [0, 0]
    assert sorted(offsets["end"]) == [0, 4]


def test_group_delete_tolerates_missing_groups_unless_told(lab, topic_factory, unique):
    from labkit.clients import ClientError

    topic = topic_factory("gdel")
    group = unique("g")
    lab.produce(topic, [{"i": 1}])
    lab.read(topic, group_id=group)
    lab.groups.delete([group, unique("never")])
    assert group not in lab.groups.list()
    with pytest.raises(ClientError, match="cannot delete group"):
        lab.groups.delete(unique("never"), missing_ok=False)


def test_settle_splits_partitions_between_members(lab, topic_factory, unique):
    from labkit.clients import settle

    topic = topic_factory("settle", partitions=3)
    group = unique("g")
    with lab.consumer(group, [topic]) as first:
        assert settle([first]) == [3]
        with lab.consumer(group, [topic]) as second:
            assert settle([first, second]) == [1, 2]
        assert settle([first]) == [3]
