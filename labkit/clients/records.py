"""What a bounded read returns: plain records, or a pandas DataFrame of them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


COLUMNS = ["topic", "partition", "offset", "timestamp", "key", "value", "headers"]


@dataclass
class Record:
    """One consumed record, its key and value already deserialized."""

    topic: str
    partition: int
    offset: int
    timestamp: int | None
    key: Any
    value: Any
    headers: dict[str, bytes] = field(default_factory=dict)


def to_dataframe(records: list[Record]) -> pd.DataFrame:
    """Records as a DataFrame with the columns of :data:`COLUMNS` (timestamp as datetime).

    >>> to_dataframe([Record("t", 0, 0, 0, "k", {"a": 1})]).columns.tolist()[:3]
    ['topic', 'partition', 'offset']
    """
    import pandas as pd

    frame = pd.DataFrame([asdict(r) for r in records], columns=COLUMNS)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], unit="ms", utc=True)
    return frame
