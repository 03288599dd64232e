"""The serde state stores and changelogs use by default: JSON that gives back what it was given.

Plain JSON turns a ``Decimal`` into a string (or a float) and a ``datetime`` into text, so an
aggregate restored from its changelog would come back as a different type. This serde writes those
two as tagged objects and reads them back as the same type; everything else is ordinary compact
JSON, readable in the changelog topic and the SQLite file.

>>> from decimal import Decimal
>>> STATE_SERDE.serialize({"total": Decimal("12.30")}, "t")
b'{"total":{"$decimal":"12.30"}}'
>>> STATE_SERDE.deserialize(b'{"total":{"$decimal":"12.30"}}', "t")
{'total': Decimal('12.30')}
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from typing import Any

from labkit.serdes import Serde, SerdeError, resolve
from labkit.streams.windows import WindowedSerde


def _encode(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, (set, frozenset)):
        raise TypeError("a set has no JSON form; store a sorted list")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$decimal" in obj:
            return decimal.Decimal(obj["$decimal"])
        if "$datetime" in obj:
            return dt.datetime.fromisoformat(obj["$datetime"])
    return obj


class StateSerde:
    """JSON with ``Decimal`` and ``datetime`` kept (see the module docstring)."""

    name = "state-json"

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None:
            return None
        try:
            return json.dumps(value, separators=(",", ":"), default=_encode).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise SerdeError(
                f"state for {topic!r} cannot be written as JSON: {exc}. Give the store a serde "
                "that can (value=...)"
            ) from exc

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        if data is None:
            return None
        try:
            return json.loads(data, object_hook=_decode)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SerdeError(f"state record of {topic!r} is not JSON ({exc})") from exc


STATE_SERDE = StateSerde()


def serde_for(spec: Any, fallback: Any) -> Serde:
    """``spec`` resolved; ``None`` means ``fallback`` (itself a name or a serde)."""
    chosen = fallback if spec is None else spec
    if isinstance(chosen, WindowedSerde):
        if hasattr(chosen.inner, "serialize"):
            return chosen
        return WindowedSerde(serde_for(chosen.inner, fallback))  # the app's key serde inside
    if isinstance(chosen, str) and chosen == STATE_SERDE.name:
        return STATE_SERDE
    return resolve(chosen)


def serde_name(serde: Serde) -> str:
    return getattr(serde, "name", type(serde).__name__)
