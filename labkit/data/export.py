"""Sample data out of Python: a pandas DataFrame, or JSON-lines files on disk."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.data.customer import customers
from labkit.data.order import orders
from labkit.data.payment import payments

if TYPE_CHECKING:
    import pandas as pd


def to_dataframe(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """The records as a DataFrame, one row each; nested values (``items``) stay as they are.

    >>> from labkit.data import orders
    >>> frame = to_dataframe(orders(3))
    >>> frame.shape, list(frame.columns)  # doctest: +NORMALIZE_WHITESPACE
    ((3, 7), ['orderId', 'customerId', 'items', 'amount', 'currency', 'createdAt', 'status'])
    """
    import pandas as pd  # deferred: generating data needs no pandas

    return pd.DataFrame.from_records([dict(record) for record in records])


def to_jsonl(records: Iterable[Mapping[str, Any]]) -> str:
    """The records as JSON lines: compact, ASCII, keys in each record's own (fixed) order.

    >>> print(to_jsonl([{"b": 1, "a": [1.5]}, {"b": 2, "a": []}]), end="")
    {"b":1,"a":[1.5]}
    {"b":2,"a":[]}
    """
    return "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records)


def write_sample_files(
    directory: str | Path, seed: int = 42, n_customers: int = 50, n_orders: int = 200
) -> list[Path]:
    """Write ``customers.jsonl``, ``orders.jsonl`` and ``payments.jsonl`` into ``directory``.

    The defaults make the files committed under ``data/sample/``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     [path.name for path in write_sample_files(tmp)]
    ['customers.jsonl', 'orders.jsonl', 'payments.jsonl']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    created = orders(n_orders, seed=seed, customers=n_customers)
    contents = {
        "customers.jsonl": customers(n_customers, seed=seed),
        "orders.jsonl": created,
        "payments.jsonl": payments(created, seed=seed),
    }
    written = []
    for name, records in contents.items():
        path = directory / name
        path.write_bytes(to_jsonl(records).encode("ascii"))
        written.append(path)
    return written
