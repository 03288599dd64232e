"""The windowed stream-stream join: two streams of one key meet when their event times are close.

Kafka Streams' ``KStream.join`` / ``leftJoin`` / ``outerJoin`` with another stream and
``JoinWindows``. Each side keeps its records in a window store of its own (``(key, timestamp)`` ->
the records at that time, each with whether it has met a partner yet; logged to a changelog like
every store), so a record meets the other side's records that came before it and those that come
after it. A left record at ``t`` meets the right records of its key in ``[t - before, t + after]``
(a right record at ``t`` the left ones in ``[t - after, t + before]``); each pair goes downstream
once, as ``joiner(left value, right value)`` with the later of the two timestamps, when its second
record arrives.

Stream time (the largest timestamp the task has seen) decides the rest, the same way on every run:

* a record at or before ``stream time - (before + after + grace)`` is **late**: left out, counted in
  ``app.metrics.late`` and logged;
* so a record at ``t`` can meet no new partner once stream time reaches ``t + before + after +
  grace`` plus how far it looks ahead (``after`` for a left record, ``before`` for a right one):
  it is **closed**. A left join then sends each closed
  left record that met nobody as ``joiner(left value, None)`` (an outer join also each such right
  record, as ``joiner(None, right value)``), once, at the next commit, with the record's timestamp;
  then closed records leave the store (and its changelog, by tombstones).

Kafka Streams decides on its own clock which record of a task goes first (the lowest timestamp
across its partitions); labkit takes them as they arrive, so a backfill of one stream long after
the other needs a grace that covers the gap.
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
    """One side of the join: remember each record, pair it with the other side's; with
    ``outer``, send this side's records that closed unmatched with ``None`` for a partner;
    with ``track``, mark the other side's records that found a partner (that side is outer)."""

    def __init__(
        self,
        name: str,
        task: Task,
        store: WindowStore,
        other: WindowStore,
        joiner: Callable[[Any, Any], Any],
        windows: JoinWindows,
        left: bool,
        outer: bool = False,
        track: bool = False,
    ) -> None:
        super().__init__(name, task)
        self.store = store  # this side's records (flushed and expired by this processor)
        self.other = other
        self.joiner = joiner
        self.left = left
        self.outer = outer
        self.track = track
        # the other side's times a record at t looks at: [t - before, t + after] from the left
        self.before = windows.before_ms if left else windows.after_ms
        self.after = windows.after_ms if left else windows.before_ms
        self.late_after = windows.retention_ms  # before + after + grace
        self.close_after = windows.retention_ms + self.after
        self._next_close = 0

    def process(self, key: Any, value: Any, rc: RecordContext) -> None:
        ts = rc.timestamp
        if key is None or ts is None or ts < 0:
            why = "a key" if key is None else f"a timestamp >= 0, got {ts}"
            self.task.dropped(rc, f"a stream-stream join needs {why}")
            return
        stream_time = self.task.stream_time
        if ts <= stream_time - self.late_after:
            self._late(key, ts, stream_time, rc)
            return
        joiner, other_store = self.joiner, self.other
        matched = False
        for other_ts, entries in other_store.fetch_live(key, ts - self.before, ts + self.after):
            context = RecordContext(None, None, None, max(ts, other_ts), None)
            for entry in entries:
                other = entry[0]
                joined = joiner(value, other) if self.left else joiner(other, value)
                self.forward(key, joined, context)
            matched = True
            if self.track and not all(entry[1] for entry in entries):
                marked = [[entry[0], True] for entry in entries]
                other_store.put_bytes(
                    other_store.key_bytes((key, other_ts)), (key, other_ts), marked, other_ts
                )
        store = self.store
        kb = store.key_bytes((key, ts))
        held = store.get_bytes(kb)
        entry = [value, matched]
        store.put_bytes(kb, (key, ts), [entry] if held is None else [*held, entry], ts)

    def flush(self) -> None:
        """At commit: log this side's new records; then the closed ones leave the store, and
        with ``outer`` those that met nobody go downstream with ``None`` for a partner."""
        self.store.flush_dirty()
        horizon = self.task.stream_time - self.close_after
        if horizon < self._next_close:
            return
        if self.outer and self.children:
            for key, ts, entries in self.store.fetch_all_live(horizon):
                context = RecordContext(None, None, None, ts, None)
                for value, matched in entries:
                    if not matched:
                        joined = self.joiner(value, None) if self.left else self.joiner(None, value)
                        self.forward(key, joined, context)
        self.task.engine.metrics.expired += self.store.expire(horizon)
        self._next_close = horizon + 1

    def reset(self) -> None:
        """After a restart or an abort."""
        self._next_close = 0

    def _late(self, key: Any, ts: int, stream_time: int, rc: RecordContext) -> None:
        self.task.engine.metrics.late += 1
        log.warning(
            "%s: late record for join %s: key %r, timestamp %s is before + after + grace "
            "(%d ms) or more behind stream time %s; left out (topic %r, partition %s, offset %s)",
            self.task.engine.config.app_id,
            self.name,
            key,
            ts,
            self.late_after,
            stream_time,
            rc.topic,
            rc.partition,
            rc.offset,
        )
