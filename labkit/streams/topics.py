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
from confluent_kafka.admin import ConfigResource

from labkit.streams.exceptions import (
    CoPartitioningError,
    InternalTopicError,
    MissingSourceTopicError,
)
from labkit.streams.topology import SubTopology, Topology

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


def task_counts(
    topology: Topology, subs: list[SubTopology], existing: dict[str, int]
) -> dict[int, int]:
    """Tasks per sub-topology. Topics one sub-topology reads must be co-partitioned (a stream
    and the table it joins: a key is in the same partition of both). A sub-topology reading
    external topics has their partition count, and the repartition topics it reads get that count
    too (as Kafka Streams does); one reading only repartition topics takes its writers'."""
    writer: dict[str, int] = {}  # repartition topic -> sub-topology writing it
    for sub in subs:
        for sink in sub.sinks:
            if sink.internal:
                writer[topology.topic(sink)] = sub.id
    partitions: dict[int, int] = {}
    for sub in subs:
        external = {
            topology.topic(s): existing[topology.topic(s)] for s in sub.sources if not s.internal
        }
        if len(set(external.values())) > 1:
            raise CoPartitioningError(_not_copartitioned(topology, sub, external))
        if external:
            partitions[sub.id] = next(iter(external.values()))
    for _ in range(len(subs) + 1):  # sub-topologies are built upstream first; loop to be safe
        for sub in subs:
            if sub.id in partitions:
                continue
            counts = [
                partitions[writer[topology.topic(s)]]
                for s in sub.sources
                if s.internal and writer.get(topology.topic(s)) in partitions
            ]
            if counts:
                partitions[sub.id] = max(counts)
    return partitions


def _not_copartitioned(topology: Topology, sub: SubTopology, counts: dict[str, int]) -> str:
    shown = ", ".join(f"{t!r} has {n}" for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    joins = [n.name for n in sub.nodes if n.op in ("join", "left_join")]
    what = f"joined in {joins[0]}" if joins else f"read together in sub-topology {sub.id}"
    most = max(counts.values())
    fewer = sorted(t for t, n in counts.items() if n != most)
    return (
        f"{topology.app_id}: topics {', '.join(map(repr, sorted(counts)))} are {what} but are not "
        f"co-partitioned: {shown} partition(s), so a key's records are not in the same-numbered "
        f"partition of each and would never meet. Give them the same partition count and key "
        f"them alike (e.g. lab.topics.fresh({fewer[0]!r}, partitions={most}) and produce it "
        "again), or re-key the stream with select_key() so that labkit repartitions it to match"
    )


def _warn_uncompacted(topology: Topology, admin: Any) -> None:
    """A table read from a topic that is not compacted works, but its restore reads every
    record ever written, and old rows may be deleted by retention: say so."""
    tables = sorted({s.source_topic for s in topology.stores.values() if s.source_topic})
    if not tables:
        return
    try:
        futures = admin.describe_configs([ConfigResource("TOPIC", t) for t in tables])
        for resource, future in futures.items():
            policy = future.result(timeout=METADATA_TIMEOUT).get("cleanup.policy")
            if policy is not None and "compact" not in str(policy.value):
                log.warning(
                    "%s: table topic %r has cleanup.policy=%s; a table's topic should be "
                    "compacted (config={'cleanup.policy': 'compact'}) so that it keeps the "
                    "latest row of every key and restores fast",
                    topology.app_id,
                    resource.name,
                    policy.value,
                )
    except Exception as exc:  # only advice: never stop an app for it
        log.debug("checking the table topics' cleanup.policy: %s", exc)


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
    _warn_uncompacted(topology, topics.admin)
    subs = topology.subtopologies()
    sub_of = {id(n): s.id for s in subs for n in s.nodes}
    partitions = task_counts(topology, subs, existing)
    plan = Plan(partitions)
    reader = {topology.topic(src): sub.id for sub in subs for src in sub.sources if src.internal}
    wanted: list[tuple[str, int, dict[str, str]]] = []
    for topic, sub_id in reader.items():
        wanted.append((topic, partitions[sub_id], REPARTITION_CONFIG))
    for name in topology.logged_stores():
        spec = topology.stores[name]
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
