"""Errors about getting, reaching and controlling a Kafka cluster."""

from __future__ import annotations

from labkit.exceptions import LabkitError


class ClusterError(LabkitError):
    """Something about the lab's cluster went wrong."""


class JavaNotFoundError(ClusterError):
    """No Java 17+ runtime could be found for the local backend."""


class JarResolutionError(ClusterError):
    """The Apache Kafka jars could not be resolved from Maven Central or KAFKA_HOME."""


class BackendUnavailableError(ClusterError):
    """The requested backend cannot run on this machine (no Docker daemon, no Java, ...)."""


class StartupError(ClusterError):
    """A broker or the lab supervisor did not come up."""


class BrokerUnreachableError(ClusterError):
    """No broker answered at the bootstrap address in time."""


class LabNotRunningError(ClusterError):
    """An operation needs a running lab and there is none."""


class RegistryServerError(ClusterError):
    """The lab's schema registry server could not be resolved, started or stopped."""
