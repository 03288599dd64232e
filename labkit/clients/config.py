"""The configuration every labkit client starts from: bootstrap servers, security, logging.

librdkafka's own log lines and error callbacks go through Python logging (logger
``labkit.kafka``), never as raw lines on stderr that would spill into notebook cells.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaError, KafkaException

from labkit.cluster.exceptions import BrokerUnreachableError

kafka_log = logging.getLogger("labkit.kafka")

UNREACHABLE_TIMEOUT = 8.0


def _error_cb(err: KafkaError) -> None:
    # Transport errors are reported by librdkafka while it keeps retrying; a caller that needs
    # the broker gets a clear exception from check_reachable() or its own timeout.
    kafka_log.warning("%s", err.str())


def client_config(
    bootstrap_servers: str, extra: dict[str, Any] | None = None, **overrides: Any
) -> dict[str, Any]:
    """A confluent-kafka config dict with labkit's logging and error callback.

    >>> sorted(client_config("localhost:9092"))
    ['bootstrap.servers', 'error_cb', 'logger']
    """
    config: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "logger": kafka_log,
        "error_cb": _error_cb,
    }
    config.update(extra or {})
    config.update(overrides)
    return config


_PYTHON_KEYS = {
    "logger",
    "on_commit",
    "on_delivery",
    "error_cb",
    "stats_cb",
    "throttle_cb",
    "oauth_cb",
}


def kafka_properties(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments as Kafka properties: ``client_id=`` is ``client.id``.

    >>> kafka_properties({"client_id": "a", "linger.ms": 5, "error_cb": None})
    {'client.id': 'a', 'linger.ms': 5, 'error_cb': None}
    """
    return {(k if k in _PYTHON_KEYS else k.replace("_", ".")): v for k, v in kwargs.items()}


def check_reachable(config: dict[str, Any], timeout: float = UNREACHABLE_TIMEOUT) -> int:
    """Ask the cluster for its metadata; raise naming the address when nobody answers in time.

    Returns the number of brokers the cluster reports.
    """
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(config)
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        servers = config.get("bootstrap.servers")
        raise BrokerUnreachableError(
            f"No Kafka broker answered at {servers} within {timeout:.0f} s ({exc.args[0].str()}). "
            "Is the lab running? `labkit status` shows it and `labkit up` starts it; for an external "
            "cluster check KAFKA_BOOTSTRAP_SERVERS and the network."
        ) from exc
    return len(metadata.brokers)
