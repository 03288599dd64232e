"""Errors of the producer, consumer and admin helpers."""

from __future__ import annotations

from labkit.cluster.exceptions import BrokerUnreachableError
from labkit.exceptions import LabkitError


class ClientError(LabkitError):
    """A Kafka client operation failed."""


class DeliveryError(ClientError):
    """One or more produced records were not acknowledged by the broker."""

    def __init__(self, message: str, failures: list) -> None:
        super().__init__(message)
        self.failures = failures


class TopicError(ClientError):
    """A topic could not be created, deleted or described."""


__all__ = ["BrokerUnreachableError", "ClientError", "DeliveryError", "TopicError"]
