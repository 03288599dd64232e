"""The windowed aggregation processor: one aggregate per key and time window, on event time.

Each record updates the windows its timestamp falls in that are still open; stream time (the
largest timestamp the task has seen, kept across restarts in the committed offsets' metadata, as
Kafka Streams keeps it) decides which are: a window closes once stream time reaches
``end + grace``. A record too late for a window is left out of it and reported to the task
(counted; with ``late="on_error"`` handed to the error handler).

``emit="update"`` forwards each change (through the store's cache: the latest per window at each
commit). ``emit="close"`` forwards each window once, when it closes, with the record timestamp
``end - 1``; the windows still open are found again in the store after a restart or an abort, so
a window is emitted exactly once under exactly-once.

With a ``retention`` the windows that start at or before ``stream time - retention`` are deleted
at commit, with a tombstone in the changelog, so a long-running app's store stays bounded.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labkit.streams.processors import Processor, RecordContext
from labkit.streams.windows import TimeWindows, Windowed

if TYPE_CHECKING:
    from labkit.streams.stores.window import WindowStore
    from labkit.streams.task import Task


class WindowedAggregateProcessor(Processor):
    def __init__(
        self,
        name: str,
        task: Task,
        store: WindowStore,
        windows: TimeWindows,
        emit: str,
        late: str,
        retention_ms: int | None = None,
        initializer: Callable[[], Any] | None = None,
        aggregator: Callable[[Any, Any, Any], Any] | None = None,
        reducer: Callable[[Any, Any], Any] | None = None,
    ) -> None:
        super().__init__(name, task)
        self.store = store
        self.windows = windows
        self.size = windows.size_ms
        self.grace = windows.grace_ms
        self.emit_on_close = emit == "close"
        self.late_to_handler = late == "on_error"
        self.initializer = initializer
        self.aggregator = aggregator
        self.reducer = reducer
        self._key_bytes = store.key_bytes
        # emit="close": windows not yet emitted, by end: {end: {store key: (key, start)}}
        self._open: dict[int, dict[bytes, tuple[Any, int]]] = {}
        self._ends: list[int] = []
        self.retention = retention_ms
        self._next_expiry = 0  # stream time - retention must reach this before a sweep finds more

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        if key is None:
            self.task.dropped(rc, "a windowed aggregation cannot use None as the key")
            return
        ts = rc.timestamp
        if ts is None or ts < 0:
            self.task.dropped(rc, f"a windowed aggregation needs a timestamp >= 0, got {ts}")
            return
        stream_time = self.task.stream_time
        close = stream_time - self.grace
        store = self.store
        late: list[int] = []
        for start in self.windows.starts(ts):
            end = start + self.size
            if end <= close:
                late.append(start)
                continue
            kb = self._key_bytes((key, start))
            current = store.get_bytes(kb)
            if self.reducer is not None:
                new = value if current is None else self.reducer(current, value)
            else:
                assert self.initializer is not None and self.aggregator is not None
                new = self.aggregator(
                    key, value, self.initializer() if current is None else current
                )
            store.put_bytes(kb, (key, start), new, ts)
            if self.emit_on_close:
                bucket = self._open.get(end)
                if bucket is None:
                    bucket = self._open[end] = {}
                    heapq.heappush(self._ends, end)
                bucket[kb] = (key, start)
            elif not store.caching and self.children:
                self.forward(Windowed(key, start, end), new, rc)
        if late:
            self.task.late(self, rc, key, ts, late, stream_time)
        if self.emit_on_close:
            self.emit_closed()

    def emit_closed(self) -> None:
        """Forward every window that stream time has closed, once."""
        close = self.task.stream_time - self.grace
        ends = self._ends
        while ends and ends[0] <= close:
            end = heapq.heappop(ends)
            for kb, (key, start) in self._open.pop(end).items():
                value = self.store.get_bytes(kb)
                if self.children:
                    ctx = RecordContext(None, None, None, end - 1, None)
                    self.forward(Windowed(key, start, end), value, ctx)

    def flush(self) -> None:
        """At commit: log the changed windows; with emit="update" forward them downstream.
        Then drop the windows past their retention."""
        if self.emit_on_close:
            self.emit_closed()  # stream time may have moved on records that never got here
            self.store.flush_dirty()
        else:
            for (key, start), value, timestamp in self.store.flush_dirty():
                if self.children:
                    ctx = RecordContext(None, None, None, timestamp, None)
                    self.forward(Windowed(key, start, start + self.size), value, ctx)
        if self.retention is not None:
            self.expire()

    def expire(self) -> None:
        """Delete the windows that start at or before ``stream time - retention`` (closed, as
        retention >= size + grace): from the store and, by tombstones, from the changelog;
        nothing goes downstream. Window starts are multiples of the advance, so a sweep runs
        only when that horizon has passed a new one."""
        assert self.retention is not None
        horizon = self.task.stream_time - self.retention
        if horizon < self._next_expiry:
            return
        self.task.engine.metrics.expired += self.store.expire(horizon)
        advance = self.windows.advance_ms
        self._next_expiry = horizon - horizon % advance + advance

    def reset(self) -> None:
        """After a restart or an abort: the open windows are the committed ones stream time has
        not closed yet."""
        self._open.clear()
        self._ends.clear()
        self._next_expiry = 0
        if not self.emit_on_close:
            return
        close = self.task.stream_time - self.grace
        first = close - self.size + 1  # the oldest start whose end is past close
        for key, start, _ in self.store.fetch_all(time_from=max(first, 0)):
            kb = self._key_bytes((key, start))
            end = start + self.size
            bucket = self._open.get(end)
            if bucket is None:
                bucket = self._open[end] = {}
                heapq.heappush(self._ends, end)
            bucket[kb] = (key, start)
