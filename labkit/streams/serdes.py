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
import os
from typing import Any

from labkit.serdes import JsonSerde, Serde, SerdeError, _json_default, resolve
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

try:  # the fast JSON library: a dependency of labkit (and of Quix Streams); json if it is absent
    import orjson as _orjson

    _FAST_LOADS: Any = _orjson.loads
    _FAST_DUMPS: Any = _orjson.dumps
    _DUMPS_OPTIONS = (
        _orjson.OPT_PASSTHROUGH_DATETIME  # datetime, Decimal: through _json_default, as json
        | _orjson.OPT_PASSTHROUGH_DATACLASS
        | _orjson.OPT_PASSTHROUGH_SUBCLASS
    )
except ImportError:  # pragma: no cover - depends on the environment
    _FAST_LOADS = _FAST_DUMPS = None
if os.environ.get("LABKIT_STREAMS_ORJSON") == "0":  # to measure without it
    _FAST_LOADS = _FAST_DUMPS = None

# orjson reads an integer beyond 64 bits as a float; json.loads keeps it exact. Such a number
# has 19 digits or more: leave any record holding a run of 19 digits to json.loads (found by
# mapping digits to "0" and the rest to "x": 0.4 us for an order, a regex takes 2 us).
_DIGITS = bytes(48 if 48 <= i <= 57 else 120 for i in range(256))
_RUN = b"0" * 19


def _long_digits(data: bytes) -> bool:
    return _RUN in data.translate(_DIGITS)


_ENCODER = json.JSONEncoder(separators=(",", ":"), default=_json_default)
_DECODE = json.JSONDecoder().decode


class StreamsJsonSerde(JsonSerde):
    """labkit's ``"json"`` serde as the stream processor runs it: the same bytes out and the
    same values in, faster. Writing reuses one encoder with ``json.dumps``' exact settings
    (``json.dumps`` builds a new one per call). Reading uses orjson when it is installed, and
    the standard parser for anything orjson refuses (NaN, integers beyond 64 bits, text that
    is not UTF-8, invalid JSON) or may misread (integers of 19 digits or more), so every record
    reads as ``json.loads`` reads it."""

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None:
            return None
        try:
            return _ENCODER.encode(value).encode("utf-8")
        except TypeError:
            return super().serialize(value, topic)  # raises the SerdeError with the reason

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        if data is None:
            return None
        try:
            if _FAST_LOADS is not None and not _long_digits(data):
                return _FAST_LOADS(data)
            return _DECODE(data.decode("utf-8"))
        except (ValueError, TypeError):  # orjson's JSONDecodeError is a ValueError
            return super().deserialize(data, topic)  # json.loads: the same answer or error


STREAMS_JSON = StreamsJsonSerde()


class InternalJsonSerde(StreamsJsonSerde):
    """The ``"json"`` serde of repartition topics, which only labkit reads back: written by
    orjson when it is installed - the same JSON values, non-ASCII text as UTF-8 rather than
    ``\\u`` escapes. orjson writes NaN and infinities as ``null``, so any output holding
    ``null`` is written again by the standard encoder; what orjson refuses (integers beyond 64
    bits, keys that are not strings, subclasses) is too. One difference is kept: orjson writes an
    ``Enum`` or a ``UUID`` as its value where ``json.dumps`` refuses it."""

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None:
            return None
        if _FAST_DUMPS is not None:
            try:
                data = _FAST_DUMPS(value, default=_json_default, option=_DUMPS_OPTIONS)
            except TypeError:
                pass
            else:
                if b"null" not in data:
                    return data
        return super().serialize(value, topic)


INTERNAL_JSON = InternalJsonSerde()


def serde_for(spec: Any, fallback: Any) -> Serde:
    """``spec`` resolved; ``None`` means ``fallback`` (itself a name or a serde)."""
    chosen = fallback if spec is None else spec
    if isinstance(chosen, WindowedSerde):
        if hasattr(chosen.inner, "serialize"):
            return chosen
        return WindowedSerde(serde_for(chosen.inner, fallback))  # the app's key serde inside
    if isinstance(chosen, str) and chosen == STATE_SERDE.name:
        return STATE_SERDE
    serde = resolve(chosen)
    return STREAMS_JSON if type(serde) is JsonSerde else serde


def serde_name(serde: Serde) -> str:
    return getattr(serde, "name", type(serde).__name__)
