"""The docker backend: the ``apache/kafka`` image through testcontainers (single node, KRaft).

``apache/kafka`` takes its whole server configuration from ``KAFKA_*`` variables (``KAFKA_X_Y`` is
``x.y``) once any is set, so the full set is given here. The host port is chosen first and mapped
one to one, so the advertised listener is the address a client on the host dials.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from labkit.cluster.base import ClusterBackend
from labkit.cluster.exceptions import BackendUnavailableError, ClusterError, StartupError
from labkit.cluster.jars import KAFKA_VERSION
from labkit.cluster.local import LAB_RETENTION_MS
from labkit.cluster.ports import pick_port
from labkit.cluster.state import BrokerInfo, LabInfo

IMAGE = f"apache/kafka:{KAFKA_VERSION}"


def docker_available(timeout: float = 1.0) -> tuple[bool, str]:
    """Whether a Docker daemon answers, and why not when it does not.

    >>> ok, reason = docker_available()
    >>> isinstance(reason, str)
    True
    """
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            path = host[len("unix://") :]
            if not os.path.exists(path):
                return False, f"no Docker daemon: {path} does not exist"
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(path)
        elif host.startswith("tcp://"):
            hostport = host[len("tcp://") :].rstrip("/")
            name, _, port = hostport.rpartition(":")
            sock = socket.create_connection((name, int(port)), timeout=timeout)
        else:
            return False, f"DOCKER_HOST={host} is not a unix:// or tcp:// address labkit can check"
        with sock:
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            reply = sock.recv(64)
    except OSError as exc:
        return False, f"no Docker daemon answers at {host}: {exc}"
    if b" 200 " not in reply:
        return False, f"the Docker daemon at {host} answered {reply[:30]!r} to a ping"
    return True, f"Docker daemon at {host}"


def kafka_environment(host_port: int) -> dict[str, str]:
    """The ``KAFKA_*`` variables of a single combined node advertised on ``localhost:host_port``."""
    return {
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://0.0.0.0:9092,CONTROLLER://0.0.0.0:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{host_port}",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_NUM_PARTITIONS": "1",
        "KAFKA_LOG_RETENTION_MS": LAB_RETENTION_MS,  # as the local backend: see broker_properties
        "KAFKA_LOG_DIRS": "/tmp/kraft-combined-logs",
        "KAFKA_HEAP_OPTS": "-Xmx512m -Xms256m",
    }


class DockerCluster(ClusterBackend):
    """One ``apache/kafka`` container, kept while this object lives."""

    name = "docker"

    def __init__(self, brokers: int = 1, home: Path | None = None, image: str = IMAGE) -> None:
        if brokers != 1:
            raise ClusterError(
                "the docker backend runs one broker; for three use the local backend "
                "or `docker compose -f docker/compose.yaml up` (external backend)"
            )
        self.home = home
        self.image = image
        self.container = None
        self.port = 0
        self.started_at = time.time()

    def start(self) -> LabInfo:
        ok, reason = docker_available()
        if not ok:
            raise BackendUnavailableError(
                f"the docker backend needs a running Docker daemon ({reason}). "
                "Start Docker, or use `--backend local` (needs Java 17+)."
            )
        try:
            from testcontainers.core.container import DockerContainer
            from testcontainers.core.waiting_utils import wait_for_logs
        except ImportError as exc:
            raise BackendUnavailableError(
                "the docker backend needs testcontainers: `pip install 'labkit[docker]'`"
            ) from exc
        self.port = pick_port(9092)
        container = DockerContainer(self.image).with_bind_ports(9092, self.port)
        for key, value in kafka_environment(self.port).items():
            container = container.with_env(key, value)
        try:
            container.start()
            wait_for_logs(container, "Kafka Server started", timeout=120)
        except Exception as exc:
            container.stop()
            raise StartupError(f"the {self.image} container did not start: {exc}") from exc
        self.container = container
        self.started_at = time.time()
        return self.info()

    def stop(self) -> None:
        if self.container is not None:
            self.container.stop()
            self.container = None

    def info(self) -> LabInfo:
        broker = BrokerInfo(
            1,
            "127.0.0.1",
            self.port,
            None,
            None,
            "running" if self.container is not None else "stopped",
            None,
        )
        return LabInfo(
            backend=self.name,
            bootstrap_servers=f"127.0.0.1:{self.port}",
            brokers=[broker],
            started_at=self.started_at,
            home=str(self.home) if self.home else None,
            kafka_version=KAFKA_VERSION,
        )
