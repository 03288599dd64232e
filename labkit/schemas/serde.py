"""Avro records in the Confluent wire format: ``0x00`` + 4-byte big-endian schema id + Avro body.

Before writing, a value is checked against its schema by a walker that names the place of the first
problem (``items[2].quantity``) and converts what Avro needs converted:

* **decimal** fields (``bytes``/``fixed`` with ``logicalType: decimal``) accept ``Decimal``,
  ``int``, ``float`` and ``str``; the value becomes a ``Decimal`` rounded to the schema's scale
  (half to even; a float goes through its shortest repr, so ``19.99`` is exactly
  ``Decimal("19.99")``). One that needs more digits than the precision is an error. Reading gives
  ``Decimal`` back.
* **timestamp-millis/-micros** fields accept epoch ``int`` or ``datetime`` (naive = UTC); reading
  gives a UTC ``datetime``, as confluent-kafka's ``AvroDeserializer`` does.
* keys of a record that the schema does not have are left out (Avro projection); missing fields with
  a default get the default; a missing field without one is an error.

>>> from labkit.schemas.parse import load_schemas
>>> item = load_schemas()["OrderItem"]
>>> data = encode({"productId": "P-1", "quantity": 2, "price": 9.99}, item, schema_id=7)
>>> data[:5], decode_body(data[5:], item)["price"]
(b'\\x00\\x00\\x00\\x00\\x07', Decimal('9.99'))
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import numbers
import struct
import uuid
import weakref
from collections.abc import Callable, Mapping
from typing import Any

import fastavro

from labkit.schemas.compiled import Undecided, compile_prepare
from labkit.schemas.exceptions import (
    DecodeError,
    RecordSerdeError,
    RecordValidationError,
    UnknownSchemaError,
    WireFormatError,
)
from labkit.schemas.parse import AvroSchema, load_schemas
from labkit.serdes import SerdeError

MAGIC_BYTE = 0
HEADER = struct.Struct(">bI")

try:  # numpy comes with pandas; its bool is not a Python bool
    from numpy import bool_ as _np_bool
except ImportError:  # pragma: no cover
    _np_bool = bool
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_NAMED = ("record", "error", "enum", "fixed")


def pack_header(schema_id: int) -> bytes:
    """The 5-byte wire-format header for a schema id.

    >>> pack_header(258)
    b'\\x00\\x00\\x00\\x01\\x02'
    """
    if not 0 <= schema_id < 2**32:
        raise ValueError(f"schema id {schema_id} does not fit the 4-byte wire-format header")
    return HEADER.pack(MAGIC_BYTE, schema_id)


def unpack(data: bytes, *, topic: str | None = None) -> tuple[int, bytes]:
    """Split wire-format bytes into ``(schema_id, body)``; :class:`WireFormatError` if not one.

    >>> unpack(b"\\x00\\x00\\x00\\x00\\x05\\x02")
    (5, b'\\x02')
    """
    if len(data) < HEADER.size or data[0] != MAGIC_BYTE:
        where = f" on topic {topic!r}" if topic else ""
        raise WireFormatError(
            f"record{where} is not in the Confluent Avro wire format (magic byte 0 and a 4-byte "
            f"schema id, then the body); first bytes: {bytes(data[:8])!r}. It was probably "
            "written with another serde: read it with serde='bytes' to look at it",
            data=bytes(data),
            topic=topic,
        )
    _, schema_id = HEADER.unpack_from(data)
    return schema_id, bytes(data[HEADER.size :])


def validate(value: Any, schema: AvroSchema) -> Any:
    """Check ``value`` against ``schema`` and return it as it will be written (decimals converted).

    >>> from labkit.schemas.parse import load_schemas
    >>> validate({"productId": "P-1", "quantity": "2", "price": 1}, load_schemas()["OrderItem"])
    Traceback (most recent call last):
    ...
    labkit.schemas.exceptions.RecordValidationError: OrderItem: field quantity: expected int, ...
    """
    return _preparer(schema)(value)


def write_body(value: Any, schema: AvroSchema) -> bytes:
    """The Avro binary body of ``value`` (validated first), without a header.

    >>> from labkit.schemas.parse import parse_schema
    >>> write_body(3, parse_schema("int"))
    b'\\x06'
    """
    return _preparer(schema).write(value)


class _Preparer:
    """validate() and the Avro body for one schema: the compiled fast path, and the walker for
    whatever it leaves undecided. Built once per schema object (see :func:`_preparer`).
    """

    def __init__(self, schema: AvroSchema) -> None:
        # Not the AvroSchema itself: the cache in _preparer() lets go when the schema goes.
        self.root, self.name, self.parsed = schema.schema, schema.name, schema.parsed
        self.walker = walker = _Walker(schema)

        def walk(node: Any, value: Any) -> Any:
            return walker.prepare(node, value, "")

        try:
            self.fast = compile_prepare(schema.schema, walker.names, walk)
            self.fast_wire = compile_prepare(schema.schema, walker.names, walk, wire=True)
        except Exception:  # noqa: BLE001 - a schema the generator does not know: walker only
            self.fast = self.fast_wire = _undecided

    def __call__(self, value: Any) -> Any:
        try:
            return self.fast(value)
        except Exception:  # noqa: BLE001, S110 - undecided: the walker decides or names the field
            pass  # (called below, not here, so its error is not chained to this one)
        return self.walker.prepare(self.root, value, "")

    def write(self, value: Any) -> bytes:
        """The validated Avro body of ``value`` (the per-record path: no more calls than needed)."""
        try:
            prepared = self.fast_wire(value)  # decimals already as their Avro bytes
        except Exception:  # noqa: BLE001 - as in __call__
            prepared = _UNDECIDED
        if prepared is _UNDECIDED:  # the walker's Decimals fastavro converts itself
            prepared = self.walker.prepare(self.root, value, "")
        out = io.BytesIO()
        try:
            fastavro.schemaless_writer(out, self.parsed, prepared)
        except (ValueError, TypeError, AttributeError, KeyError, OverflowError) as exc:
            raise RecordSerdeError(f"{self.name}: value cannot be written as Avro: {exc}") from exc
        return out.getvalue()


def _undecided(value: Any) -> Any:
    raise Undecided


_UNDECIDED = object()


_PREPARERS: dict[int, tuple[weakref.ref[AvroSchema], _Preparer]] = {}


def _preparer(schema: AvroSchema) -> _Preparer:
    """The cached :class:`_Preparer` of a schema object (schemas of a catalog live on)."""
    key = id(schema)
    entry = _PREPARERS.get(key)
    if entry is not None and entry[0]() is schema:
        return entry[1]
    preparer = _Preparer(schema)
    _PREPARERS[key] = (weakref.ref(schema, lambda _: _PREPARERS.pop(key, None)), preparer)
    return preparer


def encode(value: Any, schema: AvroSchema, schema_id: int) -> bytes:
    """Header + body: the bytes a Confluent-compatible consumer expects.

    >>> from labkit.schemas.parse import parse_schema
    >>> encode("hi", parse_schema("string"), schema_id=1)
    b'\\x00\\x00\\x00\\x00\\x01\\x04hi'
    """
    return pack_header(schema_id) + write_body(value, schema)


def decode_body(body: bytes, writer: AvroSchema, reader: AvroSchema | None = None) -> Any:
    """Read an Avro body written with ``writer``, resolved to ``reader`` (default: the writer).

    >>> from labkit.schemas.parse import parse_schema
    >>> decode_body(b"\\x06", parse_schema("int"), reader=parse_schema("long"))
    3
    """
    try:
        return fastavro.schemaless_reader(
            io.BytesIO(body), writer.parsed, reader.parsed if reader is not None else None
        )
    except Exception as exc:  # fastavro raises many kinds (EOFError, SchemaResolutionError, ...)
        target = f" as {reader.fullname}" if reader is not None else ""
        raise DecodeError(
            f"Avro body written with {writer.fullname} cannot be read{target}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


ErrorHandler = Callable[[RecordSerdeError], Any]


class AvroSerde:
    """A labkit serde for one Avro schema, registering it with a schema registry on first use.

    ``schema`` is an :class:`AvroSchema`, a name in the schema directory (``"OrderCreated"``), or
    ``None`` for a reader that returns records as their writer schema has them. ``registry``
    defaults to :func:`labkit.schemas.registry.default_registry`. The subject is ``<topic>-value``
    unless ``subject`` (a name, or a function of the topic) says otherwise. With
    ``auto_register=False`` the schema must already be registered under the subject.

    ``on_error(error)`` is called with any :class:`RecordSerdeError` raised while deserializing
    (unknown schema id, not wire format, unreadable body); the error carries ``data``, ``topic``
    and ``schema_id``, and ``deserialize`` returns what the handler returns. It is the hook for a
    dead-letter queue; without it the error is raised, so no record is ever skipped silently.

    >>> from labkit.schemas.registry import EmbeddedRegistry
    >>> serde = AvroSerde("OrderItem", registry=EmbeddedRegistry())
    >>> data = serde.serialize({"productId": "P-1", "quantity": 1, "price": "2.5"}, "items")
    >>> serde.deserialize(data, "items")
    {'productId': 'P-1', 'quantity': 1, 'price': Decimal('2.50')}
    """

    def __init__(
        self,
        schema: AvroSchema | str | None,
        *,
        registry: Any = None,
        subject: str | Callable[[str], str] | None = None,
        auto_register: bool = True,
        on_error: ErrorHandler | None = None,
        directory: Any = None,
    ) -> None:
        if isinstance(schema, str):
            schema = load_schemas(directory).lookup(schema)
        self.schema: AvroSchema | None = schema
        self.name = f"avro:{schema.name}" if schema is not None else "avro:*"
        self.subject = subject
        self.auto_register = auto_register
        self.on_error = on_error
        self._registry = registry
        self._ids: dict[str, int] = {}
        self._writers: dict[int, AvroSchema] = {}
        self._headers: dict[str, bytes] = {}  # topic -> wire-format header
        self._prepare: _Preparer | None = None
        self._prepared_for: AvroSchema | None = None

    def __repr__(self) -> str:
        return f"AvroSerde({self.name!r})"

    @property
    def registry(self) -> Any:
        """The schema registry this serde uses (the process default unless one was given)."""
        if self._registry is None:
            from labkit.schemas.registry import default_registry

            self._registry = default_registry()
        return self._registry

    def subject_for(self, topic: str) -> str:
        """The registry subject for records on ``topic`` (TopicNameStrategy by default)."""
        if callable(self.subject):
            return self.subject(topic)
        return self.subject or f"{topic}-value"

    def schema_id(self, topic: str) -> int:
        """The registry id of this serde's schema under ``topic``'s subject (registers it)."""
        subject = self.subject_for(topic)
        if subject not in self._ids:
            schema = self._require_schema()
            if self.auto_register:
                self._ids[subject] = self.registry.register(subject, schema)
            else:
                self._ids[subject] = self.registry.lookup(subject, schema).schema_id
        return self._ids[subject]

    def serialize(self, value: Any, topic: str) -> bytes | None:
        """Value → wire-format bytes (``None`` stays ``None``: a tombstone)."""
        if value is None:
            return None
        prepare = self._prepare
        if prepare is None or self._prepared_for is not self.schema:  # first use, or replaced
            prepare = self._prepare = _preparer(self._require_schema())
            self._prepared_for = self.schema
            self._headers.clear()
        try:
            body = prepare.write(value)
        except RecordSerdeError as exc:
            exc.topic = topic
            raise
        header = self._headers.get(topic)
        if header is None:
            header = self._headers[topic] = pack_header(self.schema_id(topic))
        return header + body

    def deserialize(self, data: bytes | None, topic: str) -> Any:
        """Wire-format bytes → value, in this serde's schema (the writer's if it has none)."""
        if data is None:
            return None
        try:
            schema_id, body = unpack(data, topic=topic)
            writer = self._writer(schema_id, data, topic)
            try:
                return decode_body(body, writer, self.schema)
            except DecodeError as exc:
                raise DecodeError(
                    f"record on topic {topic!r} (schema id {schema_id}): {exc}",
                    data=bytes(data),
                    topic=topic,
                    schema_id=schema_id,
                ) from exc
        except RecordSerdeError as exc:
            if self.on_error is None:
                raise
            return self.on_error(exc)

    def _writer(self, schema_id: int, data: bytes, topic: str) -> AvroSchema:
        if schema_id not in self._writers:
            try:
                self._writers[schema_id] = self.registry.get_schema(schema_id)
            except UnknownSchemaError as exc:
                raise UnknownSchemaError(
                    f"record on topic {topic!r} names schema id {schema_id}, which the schema "
                    f"registry ({_registry_label(self.registry)}) does not know: it was written "
                    "against another registry, or the registry lost its schemas (an in-memory "
                    "registry restarted)",
                    data=bytes(data),
                    topic=topic,
                    schema_id=schema_id,
                ) from exc
        return self._writers[schema_id]

    def _require_schema(self) -> AvroSchema:
        if self.schema is None:
            raise SerdeError(
                "serde 'avro:*' only reads; name a schema to write, e.g. avro:OrderCreated"
            )
        return self.schema


def _registry_label(registry: Any) -> str:
    return getattr(registry, "url", None) or type(registry).__name__


class _Walker:
    """Checks a value against a self-contained schema, converting decimals on the way."""

    def __init__(self, schema: AvroSchema) -> None:
        self.root_name = schema.name
        self.names: dict[str, Any] = {}
        self._collect(schema.schema)

    def _collect(self, node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                self._collect(branch)
        elif isinstance(node, dict):
            if node.get("type") in _NAMED and "name" in node:
                self.names.setdefault(node["name"], node)
            for f in node.get("fields", ()):
                self._collect(f["type"])
            for key in ("items", "values", "type"):
                if isinstance(node.get(key), (dict, list)):
                    self._collect(node[key])

    def fail(self, path: str, message: str) -> RecordValidationError:
        where = f"field {path}" if path else "value"
        return RecordValidationError(f"{self.root_name}: {where}: {message}", field_path=path)

    def prepare(self, node: Any, value: Any, path: str) -> Any:
        if isinstance(node, str):
            if node in self.names:
                return self.prepare(self.names[node], value, path)
            return self._primitive(node, value, path)
        if isinstance(node, list):
            return self._union(node, value, path)
        kind = node["type"]
        if isinstance(kind, (dict, list)) or kind in self.names:
            return self.prepare(kind, value, path)
        logical = node.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return self._decimal(node, value, path)
        if kind in ("record", "error"):
            return self._record(node, value, path)
        if kind == "enum":
            if not isinstance(value, str) or value not in node["symbols"]:
                raise self.fail(path, f"expected one of {node['symbols']}, got {_show(value)}")
            return value
        if kind == "array":
            if not isinstance(value, (list, tuple)):
                raise self.fail(path, f"expected a list, got {_show(value)}")
            return [self.prepare(node["items"], v, f"{path}[{i}]") for i, v in enumerate(value)]
        if kind == "map":
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise self.fail(path, f"expected a dict with str keys, got {_show(value)}")
            return {k: self.prepare(node["values"], v, f"{path}[{k!r}]") for k, v in value.items()}
        if kind == "fixed":
            if not isinstance(value, (bytes, bytearray)) or len(value) != node["size"]:
                raise self.fail(path, f"expected {node['size']} bytes, got {_show(value)}")
            return bytes(value)
        if logical in (
            "timestamp-millis",
            "timestamp-micros",
            "local-timestamp-millis",
            "local-timestamp-micros",
        ) and isinstance(value, dt.datetime):
            return value
        if logical == "date" and isinstance(value, dt.date):
            return value
        if logical in ("time-millis", "time-micros") and isinstance(value, dt.time):
            return value
        if logical == "uuid" and isinstance(value, uuid.UUID):
            return value
        return self._primitive(kind, value, path)

    def _primitive(self, kind: str, value: Any, path: str) -> Any:
        # numbers.Integral/Real also admit numpy scalars (rows of a pandas DataFrame); they are
        # written as plain Python numbers.
        integral = isinstance(value, numbers.Integral) and not isinstance(value, (bool, _np_bool))
        ok = {
            "null": value is None,
            "boolean": isinstance(value, (bool, _np_bool)),
            "int": integral,
            "long": integral,
            "float": integral or isinstance(value, numbers.Real) and not isinstance(value, bool),
            "double": integral or isinstance(value, numbers.Real) and not isinstance(value, bool),
            "bytes": isinstance(value, (bytes, bytearray)),
            "string": isinstance(value, str),
        }.get(kind)
        if ok is None:
            raise self.fail(path, f"schema uses unknown type {kind!r}")
        if not ok:
            raise self.fail(path, f"expected {kind}, got {_show(value)}")
        if kind == "boolean":
            return bool(value)
        if kind in ("float", "double"):
            return float(value)
        if kind in _INT_RANGE:
            value = int(value)
            low, high = _INT_RANGE[kind]
            if not low <= value <= high:
                raise self.fail(path, f"{value} does not fit Avro {kind} ({low}..{high})")
        return value

    def _record(self, node: Mapping[str, Any], value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(
                path, f"expected a record ({node['name']}) as a dict, got {_show(value)}"
            )
        out: dict[str, Any] = {}
        for f in node["fields"]:
            name = f["name"]
            here = f"{path}.{name}" if path else name
            if name in value:
                out[name] = self.prepare(f["type"], value[name], here)
            elif "default" not in f:
                raise RecordValidationError(
                    f"{self.root_name}: missing required field {here} ({_type_text(f['type'])}); "
                    f"the value has {sorted(map(str, value))}",
                    field_path=here,
                )
        return out

    def _union(self, branches: list[Any], value: Any, path: str) -> Any:
        errors: list[RecordValidationError] = []
        for branch in branches:
            try:
                return self.prepare(branch, value, path)
            except RecordValidationError as exc:
                errors.append(exc)
        candidates = [
            (b, e)
            for b, e in zip(branches, errors, strict=True)
            if not (b == "null" or value is None)
        ]
        if len(candidates) == 1:  # e.g. ["null", record]: the record's own problem says most
            raise candidates[0][1]
        raise self.fail(path, f"{_show(value)} matches none of {_type_text(branches)}")

    def _decimal(self, node: Mapping[str, Any], value: Any, path: str) -> decimal.Decimal:
        precision, scale = int(node["precision"]), int(node.get("scale", 0))
        if isinstance(value, numbers.Integral) and not isinstance(value, (bool, _np_bool)):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (decimal.Decimal, int, float, str)):
            raise self.fail(
                path, f"expected a decimal (Decimal, int, float or str), got {_show(value)}"
            )
        try:
            number = decimal.Decimal(repr(float(value)) if isinstance(value, float) else value)
            if not number.is_finite():
                raise decimal.InvalidOperation
            quantum = decimal.Decimal(1).scaleb(-scale)
            number = number.quantize(quantum, rounding=decimal.ROUND_HALF_EVEN)
        except decimal.InvalidOperation:
            raise self.fail(path, f"{_show(value)} is not a finite decimal number") from None
        if len(number.as_tuple().digits) > precision:
            raise self.fail(
                path,
                f"{number} has more than {precision} digits: it does not fit "
                f"decimal({precision},{scale})",
            )
        return number


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"


def _type_text(node: Any) -> str:
    if isinstance(node, list):
        return "[" + ", ".join(_type_text(b) for b in node) + "]"
    if isinstance(node, dict):
        if node.get("logicalType") == "decimal":
            return f"decimal({node.get('precision')},{node.get('scale', 0)})"
        if node.get("type") in _NAMED:
            return str(node["name"]).rsplit(".", 1)[-1]
        if node.get("type") == "array":
            return f"array<{_type_text(node['items'])}>"
        if node.get("type") == "map":
            return f"map<{_type_text(node['values'])}>"
        return node.get("logicalType") or _type_text(node.get("type"))
    return str(node).rsplit(".", 1)[-1]
