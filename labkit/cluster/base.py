"""What every cluster backend offers: start, stop, describe, and (where it can) fault controls."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Literal

from labkit.cluster.exceptions import BackendUnavailableError
from labkit.cluster.state import BrokerInfo, LabInfo

BackendName = Literal["local", "docker", "external"]
BrokerAction = Literal["stop", "kill", "pause", "resume", "start"]
BROKER_ACTIONS: tuple[str, ...] = ("stop", "kill", "pause", "resume", "start")


class ClusterBackend(ABC):
    """A Kafka cluster the lab can run on."""

    name: str

    @abstractmethod
    def start(self) -> LabInfo:
        """Bring the cluster up and return its description once a client can use it."""

    @abstractmethod
    def stop(self) -> None:
        """Stop the cluster and free what it holds."""

    @abstractmethod
    def info(self) -> LabInfo:
        """The cluster as it is now."""

    def broker(self, action: BrokerAction, node_id: int) -> BrokerInfo:
        """Stop, kill, pause, resume or start one broker (local backend only)."""
        raise BackendUnavailableError(
            f"Fault controls are not available on the {self.name} backend; "
            "start the lab with `labkit up --backend local` to stop or kill brokers."
        )
