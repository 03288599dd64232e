"""State stores without a broker: the uncommitted layer, commit/abort, checkpoints, SQLite, and a
store's SQLite files queried together with SQL."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

import pandas as pd
import pytest

from labkit.serdes import resolve
from labkit.streams import (
    STATE_SERDE,
    StoreView,
    StreamsError,
    TimeWindows,
    WindowStoreView,
    store_sql,
)
from labkit.streams.stores import open_store


@pytest.fixture(params=["memory", "sqlite"])
def store(request, tmp_path):
    s = open_store(
        request.param,
        "totals",
        "1_0",
        0,
        "app-totals-changelog",
        resolve("string"),
        STATE_SERDE,
        tmp_path,
    )
    s.sent = []
    s.attach(lambda topic, k, v, p: s.sent.append((topic, k, v, p)), caching=True)
    yield s
    s.close()


def test_writes_stay_uncommitted_until_commit(store):
    store.put("C1", 100)
    store.put("C1", 250)
    store.put("C2", {"n": 1})
    assert store.get("C1") == 250  # the processor sees its own writes
    assert store.read("C1") is None  # interactive queries see committed state only
    assert store.sent == []  # caching: nothing logged before the commit
    entries = store.flush_dirty()
    assert entries == [("C1", 250, None), ("C2", {"n": 1}, None)]
    assert store.sent == [  # only the latest value per key goes to the changelog
        ("app-totals-changelog", b"C1", b"250", 0),
        ("app-totals-changelog", b"C2", b'{"n":1}', 0),
    ]
    store.commit(42)
    assert store.read_all() == [("C1", 250), ("C2", {"n": 1})]
    assert store.checkpoint() == 42


def test_abort_forgets_everything_since_the_last_commit(store):
    store.put("C1", 1)
    store.flush_dirty()
    store.commit(1)
    store.put("C1", 2)
    store.put("C9", 9)
    store.flush_dirty()
    store.abort()
    assert store.get("C1") == 1 and store.get("C9") is None
    assert store.read_all() == [("C1", 1)] and store.checkpoint() == 1


def test_an_aggregate_changed_in_place_cannot_change_committed_state(store):
    store.put("C1", {"items": [1]})
    store.flush_dirty()
    store.commit(1)
    agg = store.get("C1")
    agg["items"].append(2)  # an aggregator that mutates its argument
    assert store.read("C1") == {"items": [1]}


def test_without_caching_every_update_is_logged_at_once(store):
    store.attach(store._send, caching=False)
    store.put("C1", 1)
    store.put("C1", 2)
    assert [v for _, _, v, _ in store.sent] == [b"1", b"2"]
    assert store.flush_dirty() == []


def test_restore_applies_changelog_records_and_tombstones(store):
    store.restore({b"C1": b"5", b"C2": b"7"}, 2)
    store.restore({b"C1": None, b"C3": b"1"}, 4)
    assert store.read_all() == [("C2", 7), ("C3", 1)] and store.checkpoint() == 4
    store.wipe()
    assert len(store) == 0 and store.checkpoint() is None


def test_sqlite_store_is_a_file_readable_with_sql_and_pandas(tmp_path):
    s = open_store(
        "sqlite",
        "totals",
        "1_2",
        2,
        "app-totals-changelog",
        resolve("string"),
        STATE_SERDE,
        tmp_path,
        meta={"app_id": "app"},
    )
    s.attach(lambda *a: None, caching=True)
    s.put("C0001", 37196)
    s.put("C0002", {"total": Decimal("12.30")})
    s.flush_dirty()
    s.commit(10)
    s.close()
    path = tmp_path / "1_2" / "totals.sqlite"
    with sqlite3.connect(path) as conn:
        frame = pd.read_sql(
            "SELECT key, json_extract(value, '$') AS total FROM kv WHERE key = 'C0001'", conn
        )
        checkpoint = conn.execute("SELECT * FROM checkpoint").fetchall()
        meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    assert frame.to_dict("records") == [{"key": "C0001", "total": 37196}]
    assert checkpoint == [("app-totals-changelog", 2, 10, None)]
    assert meta["app_id"] == "app" and meta["task"] == "1_2" and meta["store"] == "totals"
    # reopened, it has its state and its checkpoint: a clean restart restores nothing
    again = open_store(
        "sqlite",
        "totals",
        "1_2",
        2,
        "app-totals-changelog",
        resolve("string"),
        STATE_SERDE,
        tmp_path,
    )
    assert again.read("C0002") == {"total": Decimal("12.30")}
    assert again.checkpoint() == 10
    again.close()


def test_state_serde_keeps_decimals_and_datetimes():
    import datetime as dt

    value = {"total": Decimal("0.10"), "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)}
    assert STATE_SERDE.deserialize(STATE_SERDE.serialize(value, "t"), "t") == value


def _committed_stores(tmp_path, store_type, rows_by_task, windows=None):
    """One committed store per task ``1_<partition>`` under ``tmp_path/app``, holding ``rows``."""
    stores = []
    for partition, rows in enumerate(rows_by_task):
        s = open_store(
            store_type,
            "totals",
            f"1_{partition}",
            partition,
            "app-totals-changelog",
            resolve("string"),
            STATE_SERDE,
            tmp_path / "app",
            windows=windows,
        )
        s.attach(lambda *a: None, caching=True)
        for key, value in rows:
            s.put(key, value)
        s.flush_dirty()
        s.commit(len(rows))
        stores.append(s)
    return stores


def test_a_stores_files_queried_together_with_sql_equal_its_contents(tmp_path):
    rows = [[("C1", 100), ("C4", 7)], [("C2", {"n": 2})], [("C3", 30)]]
    stores = _committed_stores(tmp_path, "sqlite", rows)
    view = StoreView("totals", stores)
    db = view.sql()
    by_sql = db.execute("SELECT key, value FROM kv").fetchall()
    per_task = db.execute("SELECT task, count(*) FROM kv GROUP BY task ORDER BY task").fetchall()
    one_task = db.execute("SELECT key FROM task_1_0.kv ORDER BY key").fetchall()
    db.close()
    assert {k: STATE_SERDE.deserialize(v.encode(), "t") for k, v in by_sql} == view.to_dict()
    assert per_task == [("1_0", 2), ("1_1", 1), ("1_2", 1)]
    assert one_task == [("C1",), ("C4",)]
    # the same files found by application id and store name, for an app run elsewhere
    db = store_sql("app", "totals", state_dir=tmp_path)
    assert sorted(db.execute("SELECT key, json_extract(value, '$.n') FROM kv").fetchall()) == [
        ("C1", None),
        ("C2", 2),
        ("C3", None),
        ("C4", None),
    ]
    db.close()
    for store in stores:
        store.close()
    with pytest.raises(StreamsError, match="no SQLite files of store 'counts' of 'app'"):
        store_sql("app", "counts", state_dir=tmp_path)


def test_a_window_stores_files_give_a_windows_view(tmp_path):
    windows = TimeWindows.tumbling(60_000)
    rows = [[(("C1", 0), 2), (("C1", 60_000), 1)], [(("C2", 60_000), 5)]]
    stores = _committed_stores(tmp_path, "sqlite", rows, windows=windows)
    view = WindowStoreView("totals", stores, windows.size_ms)
    db = view.sql()
    got = db.execute("SELECT task, key, start, json_extract(value, '$') FROM windows").fetchall()
    db.close()
    expected = [(w.key, w.start, v) for w, v in view.items()]
    for store in stores:
        store.close()
    assert sorted((k, s, v) for _, k, s, v in got) == expected
    assert expected == [("C1", 0, 2), ("C1", 60_000, 1), ("C2", 60_000, 5)]
    assert sorted(t for t, *_ in got) == ["1_0", "1_0", "1_1"]


def test_an_in_memory_store_has_no_sql(tmp_path):
    stores = _committed_stores(tmp_path, "memory", [[("C1", 1)]])
    with pytest.raises(StreamsError, match="kept in memory"):
        StoreView("totals", stores).sql()
    with pytest.raises(StreamsError, match="holds no partition"):
        StoreView("totals", []).sql()


@pytest.mark.parametrize("store_type", ["sqlite", "memory"])
def test_window_store_range_reads_follow_puts_and_deletes(tmp_path, store_type):
    """A key's windows in a time range, after seeded puts, overwrites and deletes, through
    commits: the same as a brute-force filter of what was written last."""
    import random

    rng = random.Random(5)
    windows = TimeWindows.tumbling(1_000)
    store = open_store(
        store_type,
        "w",
        "0_0",
        0,
        "app-w-changelog",
        resolve("string"),
        resolve("json"),
        tmp_path,
        windows=windows,
    )
    store.attach(lambda *args: None, caching=True)
    truth: dict[tuple[str, int], int] = {}
    for step in range(600):
        key, start = rng.choice("abc"), rng.randrange(50) * 1_000
        value = None if rng.random() < 0.3 else step
        store.put((key, start), value)
        if value is None:
            truth.pop((key, start), None)
        else:
            truth[(key, start)] = value
        if step % 50 == 49:
            store.flush_dirty()
            store.commit(step)
    for key in "abc":
        for lo, hi in [(0, 49_000), (7_000, 21_000), (30_000, 30_000), (60_000, 90_000)]:
            expected = sorted((s, v) for (k, s), v in truth.items() if k == key and lo <= s <= hi)
            assert store.fetch(key, lo, hi) == expected
    store.close()
