"""One naming scheme for serializers across labkit: ``"json"``, ``"string"``, ``"bytes"``,
``"avro:OrderCreated"``, ...

A serde turns a Python value into bytes for a topic and back. Built-in names are plain; a name with
a prefix (``"avro:OrderCreated"``) is built by the factory registered for that prefix (the
``labkit.schemas`` package registers ``avro``). Anything with ``serialize``/``deserialize`` may be
passed wherever a serde name is accepted.

>>> resolve("json").serialize({"a": 1}, topic="t")
b'{"a":1}'
>>> resolve("string").deserialize(b"hi", topic="t")
'hi'
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from labkit.exceptions import LabkitError


class SerdeError(LabkitError):
    """A value could not be serialized or deserialized, or a serde name is unknown."""


@runtime_checkable
class Serde(Protocol):
    """Turns values into bytes for a topic and back."""

    name: str

    def serialize(self, value: Any, topic: str) -> bytes | None: ...

    def deserialize(self, data: bytes | None, topic: str) -> Any: ...


class BytesSerde:
    name = "bytes"

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None or isinstance(value, bytes):
            return value
        raise SerdeError(
            f"serde 'bytes' takes bytes, got {type(value).__name__}: use serde='json' "
            "or 'string' for other values"
        )

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        return data


class StringSerde:
    name = "string"

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None:
            return None
        return str(value).encode("utf-8")

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SerdeError(
                f"record on topic {topic!r} is not UTF-8 text ({exc}); read it with serde='bytes'"
            ) from exc


class JsonSerde:
    """Compact JSON, keys in the order given (so equal inputs give equal bytes)."""

    name = "json"

    def serialize(self, value: Any, topic: str) -> bytes | None:
        if value is None:
            return None
        try:
            return json.dumps(value, separators=(",", ":"), default=_json_default).encode("utf-8")
        except TypeError as exc:
            raise SerdeError(f"value for topic {topic!r} cannot be written as JSON: {exc}") from exc

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        if data is None:
            return None
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            preview = data[:40]
            raise SerdeError(
                f"record on topic {topic!r} is not JSON ({exc}); first bytes: "
                f"{preview!r}. Read it with serde='bytes' to inspect it"
            ) from exc


def _json_default(value: Any) -> Any:
    # Decimal and datetime show up in sample data; write them the way a JSON reader expects.
    import datetime
    import decimal

    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


_BUILTIN: dict[str, Serde] = {s.name: s for s in (BytesSerde(), StringSerde(), JsonSerde())}
_PREFIXES: dict[str, Callable[[str], Serde]] = {}
# Packages that register a prefix when imported, loaded on first use of that prefix.
_PLUGINS = {"avro": "labkit.schemas"}


def register_prefix(prefix: str, factory: Callable[[str], Serde]) -> None:
    """Make ``"<prefix>:<arg>"`` names resolvable; ``factory(arg)`` builds the serde."""
    _PREFIXES[prefix] = factory


def resolve(serde: str | Serde | None, default: str = "json") -> Serde:
    """Return the serde for a name (or pass a serde object through)."""
    if serde is None:
        serde = default
    if not isinstance(serde, str):
        if isinstance(serde, Serde):
            return serde
        raise SerdeError(
            f"{serde!r} is not a serde: give a name such as 'json' or an object with "
            "serialize() and deserialize()"
        )
    if serde in _BUILTIN:
        return _BUILTIN[serde]
    prefix, sep, arg = serde.partition(":")
    if sep and prefix not in _PREFIXES and prefix in _PLUGINS:
        import importlib

        importlib.import_module(_PLUGINS[prefix])
    if sep and prefix in _PREFIXES:
        return _PREFIXES[prefix](arg)
    known = sorted(_BUILTIN) + [f"{p}:<name>" for p in sorted(_PREFIXES)]
    raise SerdeError(f"unknown serde {serde!r}; known: {', '.join(known)}")
