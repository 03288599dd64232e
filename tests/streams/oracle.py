"""Independent oracles for the stream-processing tests: pandas on the same input.

Shared by the Kafka Streams reference test and the labkit.streams tests, so both are held to the
same figures.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd


def cents(amounts: pd.Series) -> pd.Series:
    """Amounts in integer cents as Java's ``Math.round(amount * 100)`` gives them (ties round up).

    >>> cents(pd.Series([371.96, 0.125, -0.125])).tolist()
    [37196, 13, -12]
    """
    scaled = amounts.to_numpy(dtype="float64") * 100
    whole = np.floor(scaled)
    # scaled - whole is exact in binary floating point, so ties are recognised as ties
    rounded = whole + (scaled - whole >= 0.5)
    return pd.Series(rounded.astype("int64"), index=amounts.index)


def oracle_totals_cents(orders: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """The final running total per customer, in integer cents: a pandas groupby of the orders.

    >>> oracle_totals_cents([{"customerId": "C1", "amount": 1.10}, {"customerId": "C1", "amount": 2.2}])
    {'C1': 330}
    """
    frame = pd.DataFrame.from_records(list(orders), columns=["customerId", "amount"])
    totals = cents(frame["amount"]).groupby(frame["customerId"]).sum()
    return {str(customer): int(total) for customer, total in totals.items()}


def explode_windows(frame: pd.DataFrame, size: int, advance: int, ts: str = "ts") -> pd.DataFrame:
    """One row per record and window ``[start, start + size)`` it falls in (windows start every
    ``advance`` ms from 0, as Kafka Streams aligns them): columns ``start`` and ``end`` added.

    >>> explode_windows(pd.DataFrame({"ts": [125_000]}), 60_000, 20_000)["start"].tolist()
    [80000, 100000, 120000]
    """
    parts = []
    for k in range(size // advance):
        part = frame.copy()
        part["start"] = (part[ts] // advance - k) * advance
        parts.append(part[(part["start"] >= 0) & (part["start"] + size > part[ts])])
    out = pd.concat(parts)
    out["end"] = out["start"] + size
    return out.sort_values([ts, "start"], kind="stable")


def oracle_windowed_cents(
    orders: Iterable[Mapping[str, Any]], size: int, advance: int | None = None
) -> dict[tuple[str, int], int]:
    """Total cents per (customerId, window start) of the orders, windows on ``createdAt``."""
    frame = pd.DataFrame.from_records(list(orders), columns=["customerId", "amount", "createdAt"])
    frame["cents"] = cents(frame["amount"])
    windows = explode_windows(frame, size, advance or size, ts="createdAt")
    totals = windows.groupby(["customerId", "start"])["cents"].sum()
    return {(str(c), int(s)): int(v) for (c, s), v in totals.items()}
