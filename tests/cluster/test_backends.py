"""Backend selection, the external backend, and the docker backend (skipped without a daemon)."""

from __future__ import annotations

import pytest

import labkit
from labkit.cluster import choose_backend, resolve
from labkit.cluster.docker import DockerCluster, docker_available, kafka_environment
from labkit.cluster.external import external_info, security_config

DOCKER_OK, DOCKER_REASON = docker_available()


def test_external_wins_when_bootstrap_servers_are_set(monkeypatch):
    monkeypatch.delenv("LABKIT_BACKEND", raising=False)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    assert choose_backend() == "external"


def test_docker_then_local_when_nothing_is_set(monkeypatch):
    monkeypatch.delenv("LABKIT_BACKEND", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setattr(resolve, "docker_available", lambda: (True, "test"))
    assert choose_backend() == "docker"
    monkeypatch.setattr(resolve, "docker_available", lambda: (False, "test"))
    assert choose_backend() == "local"


def test_argument_and_environment_override(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.example:9092")
    monkeypatch.setenv("LABKIT_BACKEND", "docker")
    assert choose_backend() == "docker"
    assert choose_backend("local") == "local"


def test_external_backend_talks_to_a_real_cluster(lab, monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", lab.bootstrap_servers)
    external = labkit.lab()
    assert external.backend == "external"
    assert external.status()["bootstrap_servers"] == lab.bootstrap_servers
    assert isinstance(external.topics.list(), list)


def test_external_security_settings_come_from_the_environment(monkeypatch):
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "PLAIN",
        "KAFKA_SASL_USERNAME": "u",
        "KAFKA_SASL_PASSWORD": "p",
    }
    assert security_config(env) == {
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "PLAIN",
        "sasl.username": "u",
        "sasl.password": "p",
    }
    with pytest.raises(labkit.LabkitError, match="not host:port"):
        external_info("no-port-here")


def test_docker_environment_is_a_complete_kraft_node():
    env = kafka_environment(29092)
    assert env["KAFKA_ADVERTISED_LISTENERS"] == "PLAINTEXT://127.0.0.1:29092"
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@localhost:9093"
    assert env["KAFKA_LOG_RETENTION_MS"] == "-1"  # sample events are months old


def test_docker_backend_refuses_clearly_without_a_daemon(monkeypatch):
    from labkit.cluster import docker as docker_module

    monkeypatch.setattr(docker_module, "docker_available", lambda: (False, "no daemon (test)"))
    with pytest.raises(labkit.LabkitError, match="needs a running Docker daemon"):
        DockerCluster().start()


@pytest.mark.docker
@pytest.mark.skipif(not DOCKER_OK, reason=f"needs a Docker daemon: {DOCKER_REASON}")
def test_docker_backend_runs_apache_kafka():  # pragma: no cover - no daemon on CI here
    from confluent_kafka import Producer

    cluster = DockerCluster()
    try:
        info = cluster.start()
        producer = Producer({"bootstrap.servers": info.bootstrap_servers})
        producer.produce("docker-check", b"x")
        assert producer.flush(30) == 0
    finally:
        cluster.stop()
