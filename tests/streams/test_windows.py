"""Windowed aggregation on event time, checked against pandas.

Event time comes from the data (the orders' ``createdAt``, as the record timestamp or through
``timestamp=``), so every result is deterministic. Tumbling and hopping windows with
``emit="update"`` equal a pandas groupby of the orders exploded into their windows, in the output
topic and in the window store (queried by key and time range). With ``emit="close"`` each window
is written once, when stream time passes its end plus grace, across a restart too. Late records
(stream time - a pandas ``cummax`` - already past their window's end plus grace) are left out,
counted, and handed to the error handler when asked.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

import pandas as pd
import pytest

import labkit
from labkit.streams import (
    LateRecordError,
    RecordProcessingError,
    TimeWindows,
    TopologyError,
    Windowed,
    read_table,
)
from tests.streams.oracle import cents, explode_windows, oracle_windowed_cents

MINUTE = 60_000


def add_cents(customer, order, total):
    return total + round(order["amount"] * 100)


@pytest.mark.parametrize("store_type", ["sqlite", "memory"])
def test_hopping_windows_emitting_updates_equal_pandas_in_topic_and_store(
    lab, topic_factory, make_app, store_type
):
    orders = labkit.data.orders(4_000, seed=31)
    source = topic_factory("orders", partitions=3)
    lab.produce(source, orders, key="orderId", timestamp="createdAt")
    output = topic_factory("totals-per-10-minutes", partitions=3)
    app = make_app(guarantee="exactly_once", store_type=store_type)
    windows = TimeWindows.hopping(size=10 * MINUTE, advance=5 * MINUTE, grace=24 * 60 * MINUTE)
    stream = (
        app.stream(source, timestamp=lambda key, order: order["createdAt"])
        if store_type == "memory"  # event time from the value; else the record timestamp
        else app.stream(source)
    )
    (
        stream.group_by(lambda key, order: order["customerId"])  # through a repartition topic
        .windowed_by(windows)
        .aggregate(lambda: 0, add_cents, store="totals")
        .to(output)
    )
    app.run(until_idle=1.0, timeout=90)

    expected = oracle_windowed_cents(orders, 10 * MINUTE, 5 * MINUTE)
    assert read_table(lab, output) == {
        f"{c}@{s}/{s + 10 * MINUTE}": v for (c, s), v in expected.items()
    }
    store = app.store("totals")
    assert {(w.key, w.start): v for w, v in store.items()} == expected
    assert app.metrics.late == 0
    # by key and time range: C0007's windows starting in its first hour of orders
    first = min(s for c, s in expected if c == "C0007")
    hour = [
        (s, v) for (c, s), v in sorted(expected.items()) if c == "C0007" and s < first + 60 * MINUTE
    ]
    assert store.fetch("C0007", first, first + 60 * MINUTE - 1) == [
        (Windowed("C0007", s, s + 10 * MINUTE), v) for s, v in hour
    ]
    assert store.get(("C0007", first)) == hour[0][1]
    frame = store.to_dataframe()
    assert list(frame.columns) == ["key", "start", "end", "value"] and len(frame) == len(expected)
    if store_type == "sqlite":  # the window table answers SQL on its own
        rows = []
        for path in store.paths:
            with sqlite3.connect(path) as conn:
                rows += conn.execute(
                    "SELECT key, start, json_extract(value, '$') FROM windows WHERE key = 'C0007' "
                    "AND start BETWEEN ? AND ?",
                    (first, first + 60 * MINUTE - 1),
                ).fetchall()
        assert sorted(rows) == [("C0007", s, v) for s, v in hour]


def test_tumbling_windows_emitted_once_on_close_across_a_restart(
    lab, topic_factory, make_app, unique
):
    orders = labkit.data.orders(3_000, seed=32)
    source = topic_factory("orders-by-customer", partitions=3)
    output = topic_factory("orders-per-10-minutes", partitions=3)
    app_id = unique("close")
    size, grace = 10 * MINUTE, 2 * MINUTE

    def run(batch):
        lab.produce(source, batch, key="customerId", timestamp="createdAt")
        app = make_app(app_id, guarantee="exactly_once")
        (
            app.stream(source)
            .group_by_key()  # keyed by customer already: each task sees its partition in order
            .windowed_by(TimeWindows.tumbling(size, grace=grace))
            .count(store="counts", emit="close")
            .to(output)
        )
        app.run(until_idle=1.0, timeout=60)
        windows = app.store("counts").items()
        app.close()
        return app, windows

    run(orders[:1_700])
    second, stored = run(orders[1_700:])
    assert second.metrics.late == 0

    # pandas: the windows per customer; a window closes once its partition's stream time (the
    # largest timestamp in that partition) reaches end + grace
    records = lab.read(source, as_dataframe=False, timeout=30)
    partition_of = {r.key: r.partition for r in records}
    frame = pd.DataFrame(orders)
    frame["partition"] = frame["customerId"].map(partition_of)
    stream_time = frame.groupby("partition")["createdAt"].max()
    windows = explode_windows(frame, size, size, ts="createdAt")
    counts = windows.groupby(["customerId", "start", "partition"]).size().reset_index(name="n")
    closed = counts[counts["start"] + size + grace <= counts["partition"].map(stream_time)]
    expected = {f"{r.customerId}@{r.start}/{r.start + size}": r.n for r in closed.itertuples()}
    assert 0 < len(expected) < len(counts)  # some windows closed, the last ones are still open

    emitted = lab.read(output, as_dataframe=False, timeout=30, isolation_level="read_committed")
    keys = Counter(r.key for r in emitted)
    assert max(keys.values()) == 1  # each window once, though the app stopped and restarted
    assert {r.key: r.value for r in emitted} == expected
    # the store holds every window, the open ones too
    assert len(stored) == len(counts)


# A stream of one key in one partition; stream time is the running max of the timestamps.
# Windows of 10 s with 5 s grace: 9 s and 3 s come after [0, 10 s) closed at stream time 16 s,
# and 14 s after [10 s, 20 s) closed at 25 s.
LATE_INPUT = [1_000, 12_000, 8_000, 16_000, 9_000, 3_000, 19_000, 25_000, 14_000, 26_000]
SIZE, GRACE = 10_000, 5_000


def late_oracle():
    frame = pd.DataFrame({"ts": LATE_INPUT, "cents": cents(pd.Series([1.0] * len(LATE_INPUT)))})
    frame["start"] = frame["ts"] // SIZE * SIZE
    frame["stream_time"] = frame["ts"].cummax()
    frame["late"] = frame["start"] + SIZE + GRACE <= frame["stream_time"]
    on_time = frame[~frame["late"]].groupby("start").size()
    return {int(s): int(n) for s, n in on_time.items()}, frame.index[frame["late"]].tolist()


def produce_late_input(lab, topic_factory):
    source = topic_factory("events", partitions=1)
    lab.produce(source, [{"ts": ts} for ts in LATE_INPUT], key=lambda e: "k")
    return source


def test_late_records_are_left_out_and_counted(lab, topic_factory, make_app):
    source = produce_late_input(lab, topic_factory)
    output = topic_factory("counts", partitions=1)
    app = make_app(guarantee="exactly_once")
    (
        app.stream(source, timestamp=lambda key, value: value["ts"])
        .group_by_key()
        .windowed_by(TimeWindows.tumbling(SIZE, grace=GRACE))
        .count(store="counts", emit="close")
        .to(output)
    )
    app.run(until_idle=1.0, timeout=60)
    on_time, late = late_oracle()
    assert late == [4, 5, 8] and app.metrics.late == 3
    assert {w.start: n for w, n in app.store("counts").items()} == on_time
    # closed: [0, 10 s) at 16 s and [10 s, 20 s) at 25 s; [20 s, 30 s) is open at 26 s
    emitted = lab.read(output, as_dataframe=False, timeout=30, isolation_level="read_committed")
    assert [(r.key, r.value) for r in emitted] == [
        ("k@0/10000", on_time[0]),
        ("k@10000/20000", on_time[10_000]),
    ]


def test_late_records_go_to_the_error_handler_when_asked(lab, topic_factory, make_app):
    source = produce_late_input(lab, topic_factory)
    dead_letters = topic_factory("late-events", partitions=1)
    seen = []

    def to_dead_letters(ctx):
        seen.append(ctx)
        ctx.produce(dead_letters, key=ctx.key, value=ctx.value, headers=ctx.error_headers())
        return "continue"

    app = make_app(guarantee="exactly_once", on_error=to_dead_letters)
    (
        app.stream(source, timestamp=lambda key, value: value["ts"])
        .group_by_key()
        .windowed_by(TimeWindows.tumbling(SIZE, grace=GRACE), late="on_error")
        .count(store="counts")
    )
    app.run(until_idle=1.0, timeout=60)
    on_time, late = late_oracle()
    assert app.metrics.late == 3 and app.metrics.errors_continued == 3
    assert {w.start: n for w, n in app.store("counts").items()} == on_time
    assert [c.offset for c in seen] == late
    assert all(c.stage == "late" and isinstance(c.exception, LateRecordError) for c in seen)
    assert "closed when stream time reached end + grace" in str(seen[0].exception)
    letters = lab.read(
        dead_letters, as_dataframe=False, timeout=30, isolation_level="read_committed"
    )
    assert [r.value["ts"] for r in letters] == [LATE_INPUT[i] for i in late]
    assert letters[0].headers["labkit.error.stage"] == b"late"

    # the default handler stops the app at the first late record, naming it
    stopped = make_app(guarantee="exactly_once")
    (
        stopped.stream(source, timestamp=lambda key, value: value["ts"])
        .group_by_key()
        .windowed_by(TimeWindows.tumbling(SIZE, grace=GRACE), late="on_error")
        .count(store="counts")
    )
    with pytest.raises(RecordProcessingError) as info:
        stopped.run(until_idle=1.0, timeout=60)
    assert info.value.offset == late[0] and info.value.context.stage == "late"
    assert "cannot add to its time window(s)" in str(info.value)


def test_a_late_record_is_one_dead_letter_when_two_aggregations_drop_it(
    lab, topic_factory, make_app
):
    source = produce_late_input(lab, topic_factory)
    seen = []

    def collect(ctx):
        seen.append(ctx.offset)
        return "continue"

    app = make_app(on_error=collect)
    windowed = (
        app.stream(source, timestamp=lambda key, value: value["ts"])
        .group_by_key()
        .windowed_by(TimeWindows.tumbling(SIZE, grace=GRACE), late="on_error")
    )
    windowed.count(store="counts")
    windowed.aggregate(lambda: 0, lambda key, value, n: n + 1, store="counts-again")
    app.run(until_idle=1.0, timeout=60)
    on_time, late = late_oracle()
    assert seen == late  # each late record once, though both stores left it out
    assert app.metrics.late == len(late)
    for store in ("counts", "counts-again"):
        assert {w.start: n for w, n in app.store(store).items()} == on_time


@pytest.mark.parametrize("store_type", ["sqlite", "memory"])
def test_retention_bounds_the_window_store_and_its_changelog(
    lab, topic_factory, make_app, store_type
):
    """Windows that start at or before stream time - retention leave the store and, by
    tombstones, the changelog; the output topic still has every window's total."""
    orders = labkit.data.orders(2_000, seed=37)
    source = topic_factory("orders-by-customer", partitions=1)  # one task: one stream time
    lab.produce(source, orders, key="customerId", timestamp="createdAt")
    output = topic_factory("totals-per-minute", partitions=1)
    app = make_app(guarantee="exactly_once", store_type=store_type, commit_interval=0.05)
    retention = 10 * MINUTE
    (
        app.stream(source)
        .group_by_key()  # no repartition
        .windowed_by(TimeWindows.tumbling(MINUTE, grace=0), retention=retention)
        .aggregate(lambda: 0, add_cents, store="totals")
        .to(output)
    )
    app.run(until_idle=1.0, timeout=90)

    expected = oracle_windowed_cents(orders, MINUTE, MINUTE)
    horizon = max(o["createdAt"] for o in orders) - retention
    kept = {(c, s): v for (c, s), v in expected.items() if s > horizon}
    assert 0 < len(kept) < len(expected) / 2
    assert {(w.key, w.start): v for w, v in app.store("totals").items()} == kept
    assert app.metrics.expired == len(expected) - len(kept)
    # every window went downstream before it expired, and no tombstone followed it there
    assert read_table(lab, output) == {f"{c}@{s}/{s + MINUTE}": v for (c, s), v in expected.items()}
    # a new instance without local state restores only the windows retention kept
    app.close()
    fresh = make_app(app.app_id, store_type="memory", state_dir=app.config.state_dir / "fresh")
    (
        fresh.stream(source)
        .group_by_key()
        .windowed_by(TimeWindows.tumbling(MINUTE, grace=0), retention=retention)
        .aggregate(lambda: 0, add_cents, store="totals")
    )
    fresh.run(until_idle=1.0, timeout=60)
    assert {(w.key, w.start): v for w, v in fresh.store("totals").items()} == kept


def test_retention_shorter_than_size_plus_grace_is_refused(make_app):
    app = make_app()
    grouped = app.stream("orders").group_by_key()
    with pytest.raises(
        TopologyError, match=r"retention \(60000 ms\) must be at least .*60000 \+ 5000"
    ):
        grouped.windowed_by(TimeWindows.tumbling(MINUTE, grace=5_000), retention=MINUTE)


def test_emit_on_close_without_windows_is_refused(make_app):
    app = make_app()
    grouped = app.stream("orders").group_by_key()
    with pytest.raises(TopologyError, match=r"emit='close' is for windowed aggregations"):
        grouped.count(store="counts", emit="close")
