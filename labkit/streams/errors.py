"""What happens to a record that cannot be processed: the error-handler hook.

Every failure - a key or value that does not deserialize, a function of the topology that raises,
an output that does not serialize, a record too late for its time window when the windowed
aggregation says ``late="on_error"`` (stage ``"late"``) - reaches the app's ``on_error`` handler with an
:class:`ErrorContext` naming the record (topic, partition, offset) and the processor. The handler
returns ``"fail"`` (the default, :func:`log_and_fail`): the app aborts what it has not committed
and stops with a :class:`~labkit.streams.RecordProcessingError`. It returns ``"continue"`` only
after it has put the record somewhere (a dead-letter topic, through :meth:`ErrorContext.produce`,
which writes in the app's own transaction under exactly-once): a record is never skipped silently.

>>> def to_dead_letters(ctx):                                           # doctest: +SKIP
...     ctx.produce("orders-dlq", key=ctx.key, value=ctx.value, headers=ctx.error_headers())
...     return "continue"
>>> app = StreamApp("totals", lab, on_error=to_dead_letters)           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("labkit.streams")

ErrorAction = Literal["fail", "continue"]
Stage = Literal["deserialize_key", "deserialize_value", "process", "late"]

#: produce(topic, key, value, headers): raw bytes through the app's producer
RawSender = Callable[[str, "bytes | None", "bytes | None", "list[tuple[str, bytes]] | None"], None]


@dataclass
class ErrorContext:
    """A record that failed, where it came from, and what went wrong."""

    app_id: str
    task_id: str
    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]
    stage: Stage
    node: str
    exception: BaseException
    _send: RawSender | None = field(default=None, repr=False)

    @property
    def where(self) -> str:
        """``topic 'orders', partition 1, offset 17``"""
        return f"topic {self.topic!r}, partition {self.partition}, offset {self.offset}"

    def describe(self) -> str:
        what = {
            "deserialize_key": "cannot deserialize the key of",
            "deserialize_value": "cannot deserialize the value of",
            "process": "cannot process",
            "late": "cannot add to its time window(s)",
        }[self.stage]
        exc = self.exception
        return (
            f"{self.app_id}: {what} the record at {self.where} (task {self.task_id}, "
            f"{self.node}): {type(exc).__name__}: {exc}"
        )

    def error_headers(self) -> list[tuple[str, bytes]]:
        """The record's headers plus ``labkit.error.*`` ones saying where and why it failed."""
        extra = {
            "labkit.error.app": self.app_id,
            "labkit.error.topic": self.topic,
            "labkit.error.partition": str(self.partition),
            "labkit.error.offset": str(self.offset),
            "labkit.error.stage": self.stage,
            "labkit.error.node": self.node,
            "labkit.error.exception": f"{type(self.exception).__name__}: {self.exception}",
        }
        return list(self.headers) + [(k, v.encode("utf-8")) for k, v in extra.items()]

    def produce(
        self,
        topic: str,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        """Write raw bytes through the app's producer: under exactly-once the record commits
        in the same transaction as the offset that moves past the failed one."""
        if self._send is None:
            raise RuntimeError("this error context is not attached to a running app")
        self._send(topic, key, value, headers)


ErrorHandler = Callable[[ErrorContext], ErrorAction]


def log_and_fail(context: ErrorContext) -> ErrorAction:
    """The default handler: log the failure and stop the app."""
    log.error("%s", context.describe())
    return "fail"


def format_exception(exc: BaseException) -> str:
    return "".join(traceback.format_exception_only(type(exc), exc)).strip()


def run_handler(handler: ErrorHandler, context: ErrorContext) -> ErrorAction:
    """Call the handler; anything but "continue" (or an exception in it) means fail."""
    action: Any = handler(context)
    if action not in ("fail", "continue"):
        raise ValueError(f"on_error returned {action!r}; it must return 'fail' or 'continue'")
    if action == "continue":
        log.warning("%s (on_error: continue)", context.describe())
    return action
