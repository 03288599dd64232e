"""The windowed stream-stream join: two streams of one key meet when their event times are close.

Kafka Streams' ``KStream.join(otherStream, joiner, JoinWindows)``, an inner join. Each side keeps
its records in a window store of its own (``(key, timestamp)`` -> the values at that time, logged
to a changelog like every store), so a record can meet the other side's records that came before
it and those that come after it. A left record at ``t`` meets the right records of its key in
``[t - before, t + after]`` (and a right record at ``t`` the left ones in ``[t - after, t +
before]``); each pair goes downstream once, as ``joiner(left value, right value)`` with the later
of the two timestamps, when its second record arrives. A record older than stream time minus
``before + after + grace`` is late: it is left out and counted (``app.metrics.late``). Records
stay in their store that long, then leave it (and the changelog, by tombstones) at a commit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from labkit.streams.processors import Processor, RecordContext
from labkit.streams.windows import JoinWindows

if TYPE_CHECKING:
    from labkit.streams.stores.window import WindowStore
    from labkit.streams.task import Task

log = logging.getLogger("labkit.streams")


class StreamStreamJoinProcessor(Processor):
    """One side of the join: remember each record, then pair it with the other side's."""

    def __init__(
        self,
        name: str,
        task: Task,
        store: WindowStore,
        other: WindowStore,
        joiner: Callable[[Any, Any], Any],
        windows: JoinWindows,
        left: bool,
    ) -> None:
        super().__init__(name, task)
        self.store = store  # this side's records (flushed and expired by this processor)
        self.other = other
        self.joiner = joiner
        self.left = left
        # the other side's times a record at t looks at: [t - before, t + after] from the left
        self.before = windows.before_ms if left else windows.after_ms
        self.after = windows.after_ms if left else windows.before_ms
        self.retention = windows.retention_ms
        self._next_expiry = 0

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        ts = rc.timestamp
        if key is None or ts is None or ts < 0:
            why = "a key" if key is None else f"a timestamp >= 0, got {ts}"
            self.task.dropped(rc, f"a stream-stream join needs {why}")
            return
        stream_time = self.task.stream_time
        if ts <= stream_time - self.retention:
            self.task.engine.metrics.late += 1
            log.warning(
                "%s: late record for join %s: key %r, timestamp %s is more than before + after + "
                "grace (%d ms) behind stream time %s; left out (topic %r, partition %s, offset %s)",
                self.task.engine.config.app_id,
                self.name,
                key,
                ts,
                self.retention,
                stream_time,
                rc.topic,
                rc.partition,
                rc.offset,
            )
            return
        store = self.store
        kb = store.key_bytes((key, ts))
        held = store.get_bytes(kb)
        store.put_bytes(kb, (key, ts), [value] if held is None else [*held, value], ts)
        joiner = self.joiner
        for other_ts, others in self.other.fetch_live(key, ts - self.before, ts + self.after):
            context = RecordContext(None, None, None, max(ts, other_ts), None)
            for other in others:
                joined = joiner(value, other) if self.left else joiner(other, value)
                self.forward(key, joined, context)

    def flush(self) -> None:
        """At commit: log this side's new records; drop those past the retention."""
        self.store.flush_dirty()
        horizon = self.task.stream_time - self.retention
        if horizon >= self._next_expiry:
            self.task.engine.metrics.expired += self.store.expire(horizon)
            self._next_expiry = horizon + 1

    def reset(self) -> None:
        """After a restart or an abort."""
        self._next_expiry = 0
