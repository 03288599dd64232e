"""The external backend: a cluster someone else runs, named by ``KAFKA_BOOTSTRAP_SERVERS``.

Security settings come from optional variables, passed to every client as librdkafka properties:
``KAFKA_SECURITY_PROTOCOL``, ``KAFKA_SASL_MECHANISM``, ``KAFKA_SASL_USERNAME``,
``KAFKA_SASL_PASSWORD``, ``KAFKA_SSL_CA_LOCATION``.
"""

from __future__ import annotations

import os

from labkit.cluster.exceptions import ClusterError
from labkit.cluster.state import BrokerInfo, LabInfo

SECURITY_VARIABLES = {
    "KAFKA_SECURITY_PROTOCOL": "security.protocol",
    "KAFKA_SASL_MECHANISM": "sasl.mechanism",
    "KAFKA_SASL_USERNAME": "sasl.username",
    "KAFKA_SASL_PASSWORD": "sasl.password",
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
}


def security_config(environ: dict[str, str] | None = None) -> dict[str, str]:
    """librdkafka security properties from the environment.

    >>> security_config({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"})
    {'security.protocol': 'SASL_SSL'}
    """
    environ = dict(os.environ) if environ is None else environ
    return {prop: environ[var] for var, prop in SECURITY_VARIABLES.items() if environ.get(var)}


def external_info(bootstrap_servers: str | None = None) -> LabInfo:
    """Describe the external cluster (brokers are filled in once a client has connected)."""
    servers = bootstrap_servers or os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    if not servers.strip():
        raise ClusterError(
            "the external backend needs KAFKA_BOOTSTRAP_SERVERS (host:port[,host:port])"
        )
    brokers = []
    for i, address in enumerate(servers.split(","), start=1):
        host, _, port = address.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ClusterError(f"KAFKA_BOOTSTRAP_SERVERS entry {address!r} is not host:port")
        brokers.append(BrokerInfo(i, host, int(port), status="unknown"))
    return LabInfo(backend="external", bootstrap_servers=servers, brokers=brokers)
