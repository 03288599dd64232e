"""Time windows on event time: tumbling and hopping, with a grace period for late records.

A window ``[start, start + size)`` holds the records whose timestamp falls inside it. Tumbling
windows follow each other without gaps or overlap (``advance == size``); hopping windows start
every ``advance`` and overlap, so a record counts in ``size / advance`` of them. Times are
milliseconds since the epoch, the unit of Kafka's record timestamps; durations may be given as
``int`` milliseconds or as a :class:`datetime.timedelta`.

*Stream time* is the largest record timestamp a task has seen. A window *closes* once stream time
reaches ``end + grace``: a record that arrives after that for the window is *late*; it is not
added (Kafka Streams drops it too), it is counted in ``app.metrics.late``, and with
``late="on_error"`` it goes to the app's error handler (which may route it to a dead-letter
topic). Windows close only as records arrive: stream time does not move with the wall clock.

>>> w = TimeWindows.hopping(size=60_000, advance=20_000, grace=5_000)
>>> [(s, s + w.size_ms) for s in w.starts(125_000)]
[(80000, 140000), (100000, 160000), (120000, 180000)]
>>> TimeWindows.tumbling(60_000).starts(125_000)
[120000]
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from labkit.serdes import Serde, SerdeError
from labkit.streams.exceptions import TopologyError

#: "update": every change of a window goes downstream (at commit, latest per window, when the
#: store caches); "close": each window once, with its final value, when it closes.
Emit = Literal["update", "close"]
#: "drop": count and log late records; "on_error": hand each to the app's error handler.
LatePolicy = Literal["drop", "on_error"]

EMITS: tuple[str, ...] = ("update", "close")
LATE_POLICIES: tuple[str, ...] = ("drop", "on_error")


def to_ms(duration: int | float | dt.timedelta, what: str) -> int:
    """A duration in whole milliseconds (``int``/``float`` ms, or a ``timedelta``)."""
    if isinstance(duration, dt.timedelta):
        ms = duration / dt.timedelta(milliseconds=1)
    elif isinstance(duration, (int, float)) and not isinstance(duration, bool):
        ms = duration
    else:
        raise TopologyError(f"{what} must be milliseconds or a timedelta, got {duration!r}")
    if ms < 0 or ms != int(ms):
        raise TopologyError(f"{what} must be a whole, non-negative number of ms, got {duration!r}")
    return int(ms)


@dataclass(frozen=True)
class TimeWindows:
    """Fixed-size windows aligned to the epoch: ``[k * advance, k * advance + size)``.

    >>> TimeWindows.tumbling(dt.timedelta(minutes=1), grace=dt.timedelta(seconds=10))
    TimeWindows(size_ms=60000, advance_ms=60000, grace_ms=10000)
    """

    size_ms: int
    advance_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise TopologyError("a window's size must be positive")
        if not 0 < self.advance_ms <= self.size_ms:
            raise TopologyError(
                f"a window's advance must be positive and at most its size ({self.size_ms} ms), "
                f"got {self.advance_ms} ms"
            )

    @classmethod
    def tumbling(cls, size: int | dt.timedelta, grace: int | dt.timedelta = 0) -> TimeWindows:
        """Windows of ``size`` one after the other (Kafka Streams' ``TimeWindows.ofSizeAndGrace``)."""
        size_ms = to_ms(size, "size")
        return cls(size_ms, size_ms, to_ms(grace, "grace"))

    @classmethod
    def hopping(
        cls, size: int | dt.timedelta, advance: int | dt.timedelta, grace: int | dt.timedelta = 0
    ) -> TimeWindows:
        """Windows of ``size`` starting every ``advance`` (``...advanceBy(advance)``)."""
        return cls(to_ms(size, "size"), to_ms(advance, "advance"), to_ms(grace, "grace"))

    @property
    def tumbling_windows(self) -> bool:
        return self.advance_ms == self.size_ms

    def starts(self, timestamp: int) -> list[int]:
        """The starts of the windows ``timestamp`` falls in, oldest first (none start below 0)."""
        size, advance = self.size_ms, self.advance_ms
        if advance == size:
            return [timestamp - timestamp % size]
        first = max(0, timestamp - size + advance)
        start = first - first % advance
        out = []
        while start <= timestamp:
            out.append(start)
            start += advance
        return out

    def describe(self) -> str:
        kind = "tumbling" if self.tumbling_windows else f"hopping every {self.advance_ms} ms"
        return f"{kind} windows of {self.size_ms} ms, grace {self.grace_ms} ms"


@dataclass(frozen=True)
class JoinWindows:
    """How far apart in event time two records may be to join: a record at ``t`` of the left
    stream meets the right stream's records of the same key in ``[t - before, t + after]``.
    ``grace``: how long after that a record may still arrive out of order; older ones are late.

    labkit reads a task's partitions in the order records arrive (Kafka Streams picks the
    partition whose next record has the lowest timestamp), so when one stream is produced long
    before the other, the grace must cover the gap.

    >>> JoinWindows.of(dt.timedelta(minutes=10), grace=dt.timedelta(hours=1))
    JoinWindows(before_ms=600000, after_ms=600000, grace_ms=3600000)
    """

    before_ms: int
    after_ms: int
    grace_ms: int = 0

    def __post_init__(self) -> None:
        if min(self.before_ms, self.after_ms, self.grace_ms) < 0:
            raise TopologyError("join windows' before, after and grace must not be negative")

    @classmethod
    def of(cls, time_difference: int | dt.timedelta, grace: int | dt.timedelta = 0) -> JoinWindows:
        """At most ``time_difference`` apart either way (``JoinWindows.ofTimeDifferenceAndGrace``)."""
        ms = to_ms(time_difference, "time difference")
        return cls(ms, ms, to_ms(grace, "grace"))

    @property
    def size_ms(self) -> int:
        """The span a record looks across (``before + after``), as Kafka Streams sizes it."""
        return self.before_ms + self.after_ms

    @property
    def retention_ms(self) -> int:
        """How long a record stays in its side's store: ``before + after + grace``."""
        return self.before_ms + self.after_ms + self.grace_ms

    def describe(self) -> str:
        return f"join windows -{self.before_ms}/+{self.after_ms} ms, grace {self.grace_ms} ms"


class Windowed(NamedTuple):
    """The key of a windowed aggregate: the record key and its window ``[start, end)``."""

    key: Any
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.key}@{self.start}/{self.end}"


class WindowedSerde:
    """Serializes a :class:`Windowed` key as ``<key>@<start>/<end>`` (the inner key's serde
    bytes, then the window in ms), as Kafka Streams prints a ``Windowed`` key: readable in a
    topic, a string key for ``read_table``.

    >>> from labkit.serdes import resolve
    >>> serde = WindowedSerde(resolve("string"))
    >>> serde.serialize(Windowed("C0001", 0, 60000), "t")
    b'C0001@0/60000'
    >>> serde.deserialize(b'C0001@0/60000', "t")
    Windowed(key='C0001', start=0, end=60000)
    """

    def __init__(self, inner: Serde | Any) -> None:
        self.inner = inner  # a Serde, or (before the app resolves it) a serde name or None

    @property
    def name(self) -> str:
        return f"windowed({getattr(self.inner, 'name', self.inner)})"

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None:
            return None
        if not isinstance(value, Windowed):
            raise SerdeError(f"a windowed key was expected, got {value!r}")
        inner = self.inner.serialize(value.key, topic) or b""
        return inner + f"@{value.start}/{value.end}".encode()

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        if data is None:
            return None
        head, sep, window = data.rpartition(b"@")
        start, slash, end = window.partition(b"/")
        if not sep or not slash:
            raise SerdeError(f"{data!r} on {topic!r} is not a windowed key (<key>@<start>/<end>)")
        return Windowed(self.inner.deserialize(head, topic), int(start), int(end))


def check_options(emit: str, late: str) -> None:
    if emit not in EMITS:
        raise TopologyError(f"emit={emit!r} is not one of {', '.join(EMITS)}")
    if late not in LATE_POLICIES:
        raise TopologyError(f"late={late!r} is not one of {', '.join(LATE_POLICIES)}")
