"""Getting a Kafka cluster: local JVM brokers, the apache/kafka container, or an external cluster."""

from labkit.cluster.base import BROKER_ACTIONS, ClusterBackend
from labkit.cluster.control import request, start_supervisor, stop_supervisor
from labkit.cluster.exceptions import (
    BackendUnavailableError,
    BrokerUnreachableError,
    ClusterError,
    JarResolutionError,
    JavaNotFoundError,
    LabNotRunningError,
    StartupError,
)
from labkit.cluster.resolve import choose_backend, ensure_lab
from labkit.cluster.state import BrokerInfo, LabInfo, lab_home, read_state

__all__ = [
    "BROKER_ACTIONS",
    "BackendUnavailableError",
    "BrokerInfo",
    "BrokerUnreachableError",
    "ClusterBackend",
    "ClusterError",
    "JarResolutionError",
    "JavaNotFoundError",
    "LabInfo",
    "LabNotRunningError",
    "StartupError",
    "choose_backend",
    "ensure_lab",
    "lab_home",
    "read_state",
    "request",
    "start_supervisor",
    "stop_supervisor",
]
