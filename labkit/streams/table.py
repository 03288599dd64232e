"""Reading an output topic as a table: the latest value per key (what a KTable holds)."""

from __future__ import annotations

from typing import Any


def read_table(
    lab: Any,
    topic: str,
    key: Any = "string",
    value: Any = "json",
    timeout: float = 30.0,
) -> dict[Any, Any]:
    """``{key: latest value}`` of ``topic``, read ``read_committed`` to its end (a ``None`` value
    deletes the key, as a tombstone does). The check an app's output is held to:

    >>> totals = read_table(lab, "customer-totals")       # doctest: +SKIP
    >>> totals["C0001"]                                    # doctest: +SKIP
    """
    records = lab.read(
        topic,
        timeout=timeout,
        serde=value,
        key_serde=key,
        as_dataframe=False,
        isolation_level="read_committed",
    )
    table: dict[Any, Any] = {}
    for record in records:
        if record.value is None:
            table.pop(record.key, None)
        else:
            table[record.key] = record.value
    return table
