"""docker/compose.yaml is a consistent three-node KRaft cluster (checked offline, no daemon)."""

from __future__ import annotations

from pathlib import Path

import yaml

from labkit.cluster.jars import KAFKA_VERSION

COMPOSE = Path(__file__).resolve().parents[1] / "docker" / "compose.yaml"


def test_compose_runs_three_kraft_nodes_of_the_pinned_version():
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert sorted(services) == ["kafka-1", "kafka-2", "kafka-3"]
    voters = set()
    for name, svc in services.items():
        env = svc["environment"]
        node = env["KAFKA_NODE_ID"]
        assert name == f"kafka-{node}"
        assert svc["image"] == f"apache/kafka:{KAFKA_VERSION}"
        assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
        host_port = int(svc["ports"][0].split(":")[0])
        assert f"EXTERNAL://127.0.0.1:{host_port}" in env["KAFKA_ADVERTISED_LISTENERS"]
        voters.add(env["KAFKA_CONTROLLER_QUORUM_VOTERS"])
        assert env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == 2
        assert env["KAFKA_LOG_RETENTION_MS"] == -1
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
