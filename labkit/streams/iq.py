"""Interactive queries: read a state store while (or after) the app runs.

``app.store(name)`` gathers the store's partitions this instance holds (one per task) into one
read-only view of the *committed* state: what the changelog and the output topic say too, under
exactly-once never anything a later abort could take back.

A persistent store is also a set of SQLite files, one per task: :meth:`StoreView.sql` (or
:func:`store_sql`, for an app that does not run in this process) opens them together for SQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.streams.config import default_state_dir
from labkit.streams.exceptions import StreamsError
from labkit.streams.stores.base import KeyValueStore
from labkit.streams.windows import Windowed

if TYPE_CHECKING:
    import pandas as pd


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _attach_sql(paths: Iterable[Path]) -> sqlite3.Connection:
    """An in-memory SQLite connection with each task's file of one store attached (as
    ``task_<task id>``) and a TEMP VIEW over all of them with the task as its first column:
    ``kv(task, key, value)`` for a key-value store, ``windows(task, key, start, value)`` for a
    window store. Read-only by convention: the app owns the files."""
    db = sqlite3.connect(":memory:", check_same_thread=False)
    parts: dict[str, list[str]] = {"kv": [], "windows": []}
    for path in sorted(Path(p) for p in paths):
        task = path.parent.name
        schema = f"task_{task}"
        db.execute("ATTACH DATABASE ? AS " + _quote(schema), (str(path),))
        tables = {
            name for (name,) in db.execute(f"SELECT name FROM {_quote(schema)}.sqlite_master")
        }
        table = "windows" if "windows" in tables else "kv"  # a window store's file has both
        columns = "key, start, value" if table == "windows" else "key, value"
        literal = "'" + task.replace("'", "''") + "'"
        parts[table].append(f"SELECT {literal} AS task, {columns} FROM {_quote(schema)}.{table}")
    for view, selects in parts.items():
        if selects:
            db.execute(f"CREATE TEMP VIEW {view} AS " + " UNION ALL ".join(selects))
    return db


def store_sql(app_id: str, store: str, state_dir: Any = None) -> sqlite3.Connection:
    """The SQLite files of ``store`` of the app ``app_id`` (``<state_dir>/<app_id>/<task>/
    <store>.sqlite``), opened together as :meth:`StoreView.sql` opens them: for an app that
    ran in another process, or ran before. ``state_dir``: the app's (default the same default
    as ``StreamApp``'s).

    >>> db = store_sql("customer-totals", "customer-order-counts")      # doctest: +SKIP
    >>> db.execute("SELECT sum(json_extract(value, '$')) FROM kv").fetchone()  # doctest: +SKIP
    (5500,)
    """
    base = Path(state_dir).expanduser() if state_dir is not None else default_state_dir()
    paths = sorted((base / app_id).glob(f"*/{store}.sqlite"))
    if not paths:
        raise StreamsError(
            f"no SQLite files of store {store!r} of {app_id!r} under {base}: has the app run "
            "there, with store_type='sqlite' (the default), and not been reset since?"
        )
    return _attach_sql(paths)


def _sorted(rows: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    try:
        return sorted(rows, key=lambda kv: kv[0])
    except TypeError:  # keys of mixed types: keep the stores' order
        return rows


class StoreView:
    """A store's committed contents across the partitions this instance holds.

    >>> view = app.store("customer-totals-store")          # doctest: +SKIP
    >>> view.get("C0001"), len(view)                        # doctest: +SKIP
    >>> view.to_dataframe().head()                          # doctest: +SKIP
    """

    def __init__(self, name: str, stores: list[KeyValueStore]) -> None:
        self.name = name
        self._stores = sorted(stores, key=lambda s: s.partition)

    @property
    def partitions(self) -> dict[int, KeyValueStore]:
        """The store of each partition (task) this instance holds."""
        return {s.partition: s for s in self._stores}

    @property
    def paths(self) -> list[Path]:
        """The SQLite files of a persistent store (empty for an in-memory one)."""
        return [s.path for s in self._stores if hasattr(s, "path")]

    def sql(self) -> sqlite3.Connection:
        """The store's SQLite files (one per task this instance holds) in one in-memory SQLite
        connection, each attached as ``task_<task id>``, with a TEMP VIEW over all of them:
        ``kv(task, key, value)`` (a window store: ``windows(task, key, start, value)``). Keys
        and values are as the serdes wrote them (JSON as TEXT, so ``json_extract`` reads it).
        For looking only: the app owns the files. Close the connection when done.

        >>> db = app.store("customer-totals-store").sql()                # doctest: +SKIP
        >>> pd.read_sql("SELECT task, count(*) AS customers FROM kv GROUP BY task", db)  # doctest: +SKIP
        >>> db.close()                                                    # doctest: +SKIP
        """
        if any(not hasattr(s, "path") for s in self._stores):
            raise StreamsError(
                f"store {self.name!r} is kept in memory (store_type='memory'): it has no files "
                "to query with SQL; use to_dict()/to_dataframe(), or store_type='sqlite'"
            )
        if not self._stores:
            raise StreamsError(
                f"this instance holds no partition of store {self.name!r} yet (run the app first)"
            )
        return _attach_sql(self.paths)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value for ``key``, or ``default``. Keys live in one partition each."""
        for store in self._stores:
            value = store.read(key)
            if value is not None:
                return value
        return default

    def items(self) -> list[tuple[Any, Any]]:
        """All ``(key, value)`` pairs, sorted by key."""
        return _sorted([kv for store in self._stores for kv in store.read_all()])

    def keys(self) -> list[Any]:
        return [k for k, _ in self.items()]

    def to_dict(self) -> dict[Any, Any]:
        """``{key: value}``; e.g. customerId -> total for the customer-totals store."""
        return dict(self.items())

    def to_dataframe(self) -> pd.DataFrame:
        """One row per key: columns ``key`` and ``value``, or ``key`` and the value's fields
        when every value is a dict."""
        import pandas as pd  # only when a DataFrame is made: labkit attaches faster

        rows = self.items()
        if rows and all(isinstance(v, dict) for _, v in rows):
            return pd.DataFrame([{"key": k, **v} for k, v in rows])
        return pd.DataFrame(rows, columns=["key", "value"])

    def __len__(self) -> int:
        return sum(len(s) for s in self._stores)

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None

    def __iter__(self) -> Iterator[Any]:
        return iter(self.keys())

    def __repr__(self) -> str:
        parts = ", ".join(str(p) for p in self.partitions) or "none yet (run the app first)"
        what = "window(s)" if isinstance(self, WindowStoreView) else "key(s)"
        return f"<{type(self).__name__} {self.name!r}: {len(self)} {what}, partitions {parts}>"


class WindowStoreView(StoreView):
    """A window store's committed contents: one value per key and window.

    >>> view = app.store("orders-per-minute")                       # doctest: +SKIP
    >>> view.fetch("C0001", time_from=1767225600000)                 # doctest: +SKIP
    [(Windowed(key='C0001', start=1767225600000, end=1767225660000), 3), ...]
    >>> view.to_dataframe()           # columns key, start, end, value  # doctest: +SKIP
    """

    def __init__(self, name: str, stores: list[KeyValueStore], size_ms: int) -> None:
        super().__init__(name, stores)
        self.size_ms = size_ms

    def _windowed(self, key: Any, start: int) -> Windowed:
        return Windowed(key, start, start + self.size_ms)

    def get(self, key: Any, default: Any = None) -> Any:
        """The value of one window: ``get(("C0001", start))`` or ``get(Windowed(...))``."""
        if not isinstance(key, tuple) or len(key) not in (2, 3):
            raise TypeError(
                f"{self.name!r} is a window store: get((key, window_start)); "
                "fetch(key, time_from, time_to) reads a time range"
            )
        return super().get((key[0], key[1]), default)

    def fetch(
        self, key: Any, time_from: int | None = None, time_to: int | None = None
    ) -> list[tuple[Windowed, Any]]:
        """``key``'s windows that start in ``[time_from, time_to]`` (epoch ms), oldest first."""
        rows = [
            (self._windowed(key, start), value)
            for store in self._stores
            for start, value in store.fetch(key, time_from, time_to)  # type: ignore[attr-defined]
        ]
        return sorted(rows, key=lambda kv: kv[0].start)

    def fetch_all(
        self, time_from: int | None = None, time_to: int | None = None
    ) -> list[tuple[Windowed, Any]]:
        """Every key's windows that start in ``[time_from, time_to]``, by key then start."""
        return _sorted(
            [
                (self._windowed(key, start), value)
                for store in self._stores
                for key, start, value in store.fetch_all(time_from, time_to)  # type: ignore[attr-defined]
            ]
        )

    def items(self) -> list[tuple[Windowed, Any]]:
        """All ``(Windowed(key, start, end), value)`` pairs, by key then start."""
        return self.fetch_all()

    def to_dataframe(self) -> pd.DataFrame:
        """One row per key and window: columns ``key``, ``start``, ``end`` (epoch ms) and
        ``value`` (or the value's fields when every value is a dict)."""
        import pandas as pd

        rows = self.items()
        if rows and all(isinstance(v, dict) for _, v in rows):
            return pd.DataFrame(
                [{"key": w.key, "start": w.start, "end": w.end, **v} for w, v in rows]
            )
        return pd.DataFrame(
            [(w.key, w.start, w.end, v) for w, v in rows], columns=["key", "start", "end", "value"]
        )
