"""Errors of labkit.streams; each derives from :class:`labkit.LabkitError`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from labkit.exceptions import LabkitError

if TYPE_CHECKING:
    from labkit.streams.errors import ErrorContext


class StreamsError(LabkitError):
    """A stream application could not be built, started or run."""


class TopologyError(StreamsError):
    """The topology is not valid (a topic read twice, an empty app, a bad argument)."""


class CoPartitioningError(TopologyError):
    """Topics read by one task (a stream and the table it joins) have different partition
    counts, so equal keys would not meet in one task."""


class LateRecordError(StreamsError):
    """A record arrived after its time window had closed (stream time past end + grace); what
    the error handler sees for a late record of ``windowed_by(..., late="on_error")``."""


class MissingSourceTopicError(StreamsError):
    """A topic the app reads from does not exist."""


class InternalTopicError(StreamsError):
    """An internal (repartition or changelog) topic exists with the wrong shape."""


class UnknownStoreError(StreamsError, KeyError):
    """No state store of that name; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class RecordProcessingError(StreamsError):
    """A record could not be deserialized or processed, and the error handler said "fail".

    ``context`` names the record (topic, partition, offset), the stage and the processor.
    """

    def __init__(self, message: str, context: ErrorContext) -> None:
        super().__init__(message)
        self.context = context

    @property
    def topic(self) -> str:
        return self.context.topic

    @property
    def partition(self) -> int:
        return self.context.partition

    @property
    def offset(self) -> int:
        return self.context.offset


class TransactionError(StreamsError):
    """The producer's transaction failed; the app handles these between records."""


class ProducerFencedError(TransactionError):
    """The producer was fenced (another instance with the same ``transactional.id`` started,
    or a transaction timed out). The app replaces its producer and rewinds; raised to the caller
    only when it keeps happening."""


class TransactionAbortedError(TransactionError):
    """A transaction had to be aborted; the app rewinds to its last commit and goes on."""


class DeliveryFailedError(StreamsError):
    """Records could not be written (at-least-once: the app stops rather than lose them)."""
