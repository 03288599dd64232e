"""Before the first record: check the source topics, create internal and output topics.

Partition counts follow Kafka Streams: a sub-topology reading external topics has as many tasks
as those topics have partitions (they must agree: co-partitioning); a repartition topic gets the
partition count of the sub-topology that writes it; a changelog topic has one partition per task
of its store's sub-topology and is compacted (only the latest value per key needs to survive).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaException, TopicCollection

from labkit.streams.exceptions import InternalTopicError, MissingSourceTopicError, TopologyError
from labkit.streams.topology import Topology

log = logging.getLogger("labkit.streams")

METADATA_TIMEOUT = 10.0
CHANGELOG_CONFIG = {"cleanup.policy": "compact"}
REPARTITION_CONFIG = {"cleanup.policy": "delete"}


@dataclass
class Plan:
    """What the topics of a topology came to on this cluster."""

    partitions: dict[int, int]  # sub-topology -> number of tasks
    topic_ids: dict[str, str] = field(default_factory=dict)  # changelog topic -> topic id
    created: list[str] = field(default_factory=list)


def _existing(admin: Any) -> dict[str, int]:
    try:
        metadata = admin.list_topics(timeout=METADATA_TIMEOUT)
    except KafkaException as exc:
        from labkit.clients.exceptions import BrokerUnreachableError

        raise BrokerUnreachableError(
            f"no Kafka broker answered within {METADATA_TIMEOUT:.0f} s ({exc.args[0].str()}); "
            "`labkit status` shows the lab"
        ) from exc
    return {name: len(t.partitions) for name, t in metadata.topics.items() if t.error is None}


def prepare(topology: Topology, topics: Any) -> Plan:
    """Check sources, create what is missing, return partition counts and changelog ids.

    ``topics`` is a :class:`labkit.clients.Topics` (``lab.topics``).
    """
    existing = _existing(topics.admin)
    missing = [t for t in topology.external_source_topics() if t not in existing]
    if missing:
        shown = ", ".join(sorted(t for t in existing if not t.startswith("_"))[:20]) or "none"
        first = missing[0]
        raise MissingSourceTopicError(
            f"{topology.app_id}: source topic(s) {', '.join(map(repr, missing))} do not exist "
            f"(topics: {shown}). Create it first, e.g. lab.topics.create({first!r}, "
            "partitions=3), and produce to it"
        )
    subs = topology.subtopologies()
    sub_of = {id(n): s.id for s in subs for n in s.nodes}
    partitions: dict[int, int] = {}
    writer: dict[str, int] = {}  # repartition topic -> sub-topology writing it
    for sub in subs:
        for sink in sub.sinks:
            if sink.internal:
                writer[topology.topic(sink)] = sub.id
    for _ in range(len(subs) + 1):  # sub-topologies are built upstream first; loop to be safe
        for sub in subs:
            counts = set()
            for source in sub.sources:
                topic = topology.topic(source)
                if not source.internal:
                    counts.add(existing[topic])
                elif writer.get(topic) in partitions:
                    counts.add(partitions[writer[topic]])
            if len(counts) > 1:
                names = ", ".join(topology.topic(s) for s in sub.sources)
                raise TopologyError(
                    f"sub-topology {sub.id} reads topics with different partition counts "
                    f"({names}); they must be co-partitioned"
                )
            if counts:
                partitions[sub.id] = counts.pop()
    plan = Plan(partitions)
    wanted: list[tuple[str, int, dict[str, str]]] = []
    for topic, sub_id in writer.items():
        wanted.append((topic, partitions[sub_id], REPARTITION_CONFIG))
    for name, spec in topology.stores.items():
        wanted.append(
            (topology.changelog_topic(name), partitions[sub_of[id(spec.node)]], CHANGELOG_CONFIG)
        )
    for topic, count, config in wanted:
        if topic in existing:
            if existing[topic] != count:
                raise InternalTopicError(
                    f"internal topic {topic!r} has {existing[topic]} partition(s) but the app "
                    f"needs {count}; the input changed shape. app.reset() deletes the internal "
                    "topics and local state so the app starts over"
                )
            continue
        topics.create(topic, partitions=count, config=dict(config), exist_ok=True)
        plan.created.append(topic)
    for sub in subs:
        for sink in sub.sinks:
            topic = topology.topic(sink)
            if sink.internal or topic in existing or topic in plan.created:
                continue
            log.info("%s: creating output topic %r", topology.app_id, topic)
            topics.create(topic, partitions=partitions[sub.id], exist_ok=True)
            plan.created.append(topic)
    changelogs = [topology.changelog_topic(s) for s in topology.stores]
    if changelogs:
        futures = topics.admin.describe_topics(TopicCollection(changelogs))
        for topic, future in futures.items():
            plan.topic_ids[topic] = str(future.result().topic_id)
    return plan
