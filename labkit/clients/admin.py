"""Topic and consumer-group administration: create, fresh, delete, describe, list."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic, ResourceType

from labkit.clients.config import client_config
from labkit.clients.exceptions import BrokerUnreachableError, ClientError, TopicError

if TYPE_CHECKING:
    import pandas as pd


METADATA_TIMEOUT = 8.0


def _metadata(client: Any, topic: str | None, timeout: float, servers: str | None):
    try:
        return (
            client.list_topics(topic, timeout=timeout)
            if topic
            else client.list_topics(timeout=timeout)
        )
    except KafkaException as exc:
        raise BrokerUnreachableError(
            f"No Kafka broker answered at {servers} within {timeout:.0f} s ({exc.args[0].str()}). "
            "`labkit status` shows the lab; `labkit up` starts it."
        ) from exc


def partitions_of(
    client: Any, topic: str, timeout: float = METADATA_TIMEOUT, servers: str | None = None
) -> list[int]:
    """The partition numbers of ``topic``; a clear error when it does not exist."""
    metadata = _metadata(client, None, timeout, servers)
    entry = metadata.topics.get(topic)
    if (
        entry is None
        or entry.error is not None
        and entry.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    ):
        shown = (
            ", ".join(sorted(t for t in metadata.topics if not t.startswith("__"))[:20]) or "none"
        )
        raise TopicError(
            f"topic {topic!r} does not exist (topics: {shown}). Create it with "
            f"lab.topics.create({topic!r}) or `labkit topics create {topic}`"
        )
    return sorted(entry.partitions)


def watermarks(
    servers: str, partitions: list[tuple[str, int]], config: dict[str, Any] | None = None
) -> dict[tuple[str, int], tuple[int, int]]:
    """(beginning, end) offsets of each (topic, partition), asked of the partition leaders."""
    from confluent_kafka import Consumer as _Consumer

    probe = _Consumer(client_config(servers, config, **{"group.id": "labkit-offsets-probe"}))
    try:
        return {
            (t, p): probe.get_watermark_offsets(TopicPartition(t, p), timeout=METADATA_TIMEOUT)
            for t, p in partitions
        }
    finally:
        probe.close()


@dataclass
class TopicDescription:
    """A topic's partitions (leader, replicas, in-sync replicas) and its non-default configs."""

    name: str
    partitions: pd.DataFrame
    configs: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Topic {self.name!r}: {len(self.partitions)} partition(s), replication factor "
            f"{self.replication_factor}\n{self.partitions.to_string(index=False)}\n"
            f"configs (non-default): {self.configs}"
        )

    @property
    def replication_factor(self) -> int:
        return int(self.partitions["replicas"].map(len).max()) if len(self.partitions) else 0


class Topics:
    """Topic administration for one cluster.

    >>> topics = Topics("127.0.0.1:9092")  # doctest: +SKIP
    >>> topics.fresh("orders", partitions=3)  # doctest: +SKIP
    """

    def __init__(self, bootstrap_servers: str, config: dict[str, Any] | None = None) -> None:
        self.servers = bootstrap_servers
        self.config = dict(config or {})
        self.admin = AdminClient(client_config(bootstrap_servers, config))

    def list(self, internal: bool = False) -> list[str]:
        """Topic names, sorted (internal ``__``-topics only when asked)."""
        names = _metadata(self.admin, None, METADATA_TIMEOUT, self.servers).topics
        return sorted(n for n in names if internal or not n.startswith("__"))

    def exists(self, name: str) -> bool:
        return name in _metadata(self.admin, None, METADATA_TIMEOUT, self.servers).topics

    def create(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int | None = None,
        config: dict[str, str] | None = None,
        exist_ok: bool = False,
        timeout: float = 30.0,
    ) -> str:
        """Create a topic and wait until every broker's metadata shows it."""
        new = NewTopic(
            name,
            num_partitions=partitions,
            replication_factor=replication_factor or -1,
            config=config or {},
        )
        deadline = time.monotonic() + timeout
        while True:
            future = self.admin.create_topics([new], operation_timeout=timeout)[name]
            try:
                future.result()
                break
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    if exist_ok:
                        return name
                    raise TopicError(
                        f"topic {name!r} already exists; use topics.fresh({name!r}) "
                        "to delete and recreate it"
                    ) from exc
                raise TopicError(f"cannot create topic {name!r}: {err.str()}") from exc
        self._wait(name, present=True, partitions=partitions, deadline=deadline)
        return name

    def fresh(
        self,
        name: str,
        partitions: int = 1,
        replication_factor: int | None = None,
        config: dict[str, str] | None = None,
        timeout: float = 60.0,
    ) -> str:
        """Delete ``name`` if it exists and create it anew: idempotent re-runs of a notebook."""
        self.delete(name, missing_ok=True, timeout=timeout)
        return self.create(name, partitions, replication_factor, config, timeout=timeout)

    def delete(
        self, names: str | list[str], missing_ok: bool = True, timeout: float = 30.0
    ) -> None:
        """Delete topics and wait until they are gone from the metadata."""
        names = [names] if isinstance(names, str) else list(names)
        existing = set(_metadata(self.admin, None, METADATA_TIMEOUT, self.servers).topics)
        missing = [n for n in names if n not in existing]
        if missing and not missing_ok:
            raise TopicError(f"cannot delete {missing}: no such topic")
        todo = [n for n in names if n in existing]
        if not todo:
            return
        for name, future in self.admin.delete_topics(todo, operation_timeout=timeout).items():
            try:
                future.result()
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                    raise TopicError(f"cannot delete topic {name!r}: {exc.args[0].str()}") from exc
        deadline = time.monotonic() + timeout
        for name in todo:
            self._wait(name, present=False, deadline=deadline)

    def describe(self, name: str) -> TopicDescription:
        """Partitions with leader, replicas and ISR, and the topic's non-default configs."""
        import pandas as pd

        partitions_of(self.admin, name, servers=self.servers)
        meta = _metadata(self.admin, None, METADATA_TIMEOUT, self.servers).topics[name]
        rows = [
            {
                "partition": p.id,
                "leader": p.leader,
                "replicas": sorted(p.replicas),
                "isr": sorted(p.isrs),
            }
            for p in sorted(meta.partitions.values(), key=lambda p: p.id)
        ]
        resource = ConfigResource(ResourceType.TOPIC, name)
        entries = self.admin.describe_configs([resource])[resource].result(timeout=METADATA_TIMEOUT)
        configs = {k: e.value for k, e in sorted(entries.items()) if not e.is_default}
        return TopicDescription(
            name, pd.DataFrame(rows, columns=["partition", "leader", "replicas", "isr"]), configs
        )

    def offsets(self, name: str) -> pd.DataFrame:
        """The beginning and end offset of every partition of ``name`` (end - beginning = records)."""
        import pandas as pd

        partitions = partitions_of(self.admin, name, servers=self.servers)
        marks = watermarks(self.servers, [(name, p) for p in partitions], self.config)
        rows = [
            {"partition": p, "beginning": marks[(name, p)][0], "end": marks[(name, p)][1]}
            for p in partitions
        ]
        return pd.DataFrame(rows, columns=["partition", "beginning", "end"])

    def _wait(
        self, name: str, present: bool, deadline: float, partitions: int | None = None
    ) -> None:

        while True:
            topics = _metadata(self.admin, None, METADATA_TIMEOUT, self.servers).topics
            entry = topics.get(name)
            ok = (
                (
                    entry is not None
                    and entry.error is None
                    and (partitions is None or len(entry.partitions) == partitions)
                    and all(p.leader >= 0 for p in entry.partitions.values())
                )
                if present
                else entry is None
            )
            if ok:
                return
            if time.monotonic() > deadline:
                state = "appear" if present else "disappear"
                raise TopicError(f"topic {name!r} did not {state} in the metadata in time")
            time.sleep(0.05)


@dataclass
class GroupDescription:
    """A consumer group: its state, members with their partitions, and its committed offsets."""

    group_id: str
    state: str
    members: pd.DataFrame
    offsets: pd.DataFrame

    def __repr__(self) -> str:
        return (
            f"Group {self.group_id!r}: {self.state}, {len(self.members)} member(s)\n"
            f"{self.members.to_string(index=False)}\n{self.offsets.to_string(index=False)}"
        )


class Groups:
    """Consumer-group descriptions: members, assignments, committed offsets and lag."""

    def __init__(self, bootstrap_servers: str, config: dict[str, Any] | None = None) -> None:
        self.servers = bootstrap_servers
        self.config = dict(config or {})
        self.admin = AdminClient(client_config(bootstrap_servers, config))

    def list(self) -> list[str]:
        try:
            result = self.admin.list_consumer_groups(request_timeout=METADATA_TIMEOUT).result()
        except KafkaException as exc:
            raise ClientError(f"cannot list consumer groups: {exc.args[0].str()}") from exc
        return sorted(g.group_id for g in result.valid)

    def describe(self, group_id: str) -> GroupDescription:
        """State, members (client id, partitions) and per-partition committed offset and lag."""
        import pandas as pd

        try:
            desc = self.admin.describe_consumer_groups(
                [group_id], request_timeout=METADATA_TIMEOUT
            )[group_id].result()
        except KafkaException as exc:
            raise ClientError(f"cannot describe group {group_id!r}: {exc.args[0].str()}") from exc
        members = pd.DataFrame(
            [
                {
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "partitions": sorted(
                        (tp.topic, tp.partition)
                        for tp in (m.assignment.topic_partitions if m.assignment else [])
                    ),
                }
                for m in desc.members
            ],
            columns=["member_id", "client_id", "host", "partitions"],
        )
        return GroupDescription(group_id, desc.state.name.lower(), members, self.offsets(group_id))

    def offsets(self, group_id: str) -> pd.DataFrame:
        """Committed offset, end offset and lag for each partition the group has committed on."""
        import pandas as pd

        request = [ConsumerGroupTopicPartitions(group_id)]
        try:
            result = self.admin.list_consumer_group_offsets(request)[group_id].result()
        except KafkaException as exc:
            raise ClientError(
                f"cannot read offsets of group {group_id!r}: {exc.args[0].str()}"
            ) from exc
        committed = {
            (tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0
        }
        marks = watermarks(self.servers, sorted(committed), self.config)
        rows = [
            {
                "topic": t,
                "partition": p,
                "committed": off,
                "end": marks[(t, p)][1],
                "lag": max(0, marks[(t, p)][1] - off),
            }
            for (t, p), off in sorted(committed.items())
        ]
        return pd.DataFrame(rows, columns=["topic", "partition", "committed", "end", "lag"])

    def delete(self, group_ids: str | list[str], missing_ok: bool = True) -> None:
        """Delete consumer groups (their committed offsets); missing ones are fine by default."""
        ids = [group_ids] if isinstance(group_ids, str) else list(group_ids)
        if missing_ok:
            existing = set(self.list())
            ids = [g for g in ids if g in existing]
        if not ids:
            return
        futures = self.admin.delete_consumer_groups(ids, request_timeout=METADATA_TIMEOUT)
        for group_id, future in futures.items():
            try:
                future.result()
            except KafkaException as exc:
                raise ClientError(f"cannot delete group {group_id!r}: {exc.args[0].str()}") from exc
