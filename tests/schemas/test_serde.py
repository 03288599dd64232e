"""Avro serde: round trips, the wire format byte for byte, and errors that name the field."""

from __future__ import annotations

import datetime as dt
import io
import struct
from decimal import Decimal

import fastavro
import pytest

import labkit.schemas
from labkit.schemas import (
    AvroSerde,
    DecodeError,
    EmbeddedRegistry,
    RecordValidationError,
    UnknownSchemaError,
    WireFormatError,
    encode,
    pack_header,
    parse_schema,
    unpack,
    validate,
)
from labkit.serdes import SerdeError, resolve

from .samples import SAMPLES, T0

UTC = dt.UTC


def _expected(value, schema):
    """What a round trip should give: decimals as Decimal(scale 2), timestamps as UTC datetimes,
    keys the schema lacks left out, defaults filled in."""
    out = {}
    for f in schema["fields"]:
        name, ftype = f["name"], f["type"]
        if name not in value:
            out[name] = f["default"]
            continue
        v = value[name]
        if isinstance(ftype, list):
            ftype = next(b for b in ftype if b != "null") if v is not None else "null"
        if isinstance(ftype, dict) and ftype.get("logicalType") == "decimal":
            v = Decimal(repr(v) if isinstance(v, float) else v).quantize(Decimal("0.01"))
        elif isinstance(ftype, dict) and ftype.get("logicalType") == "timestamp-millis":
            v = dt.datetime.fromtimestamp(v / 1000, UTC)
        elif isinstance(ftype, dict) and ftype.get("type") == "array":
            v = [_expected(i, ftype["items"]) for i in v]
        out[name] = v
    return out


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_schema_round_trips(name, catalog):
    serde = AvroSerde(name, registry=EmbeddedRegistry())
    data = serde.serialize(SAMPLES[name], topic="t")
    assert data[0] == 0 and len(data) > 5
    got = serde.deserialize(data, topic="t")
    assert got == _expected(SAMPLES[name], catalog[name].schema)


def test_decimals_accept_float_str_int_and_come_back_as_decimal(catalog):
    serde = AvroSerde("OrderItem", registry=EmbeddedRegistry())
    for given, expected in [
        (19.99, "19.99"),
        ("19.99", "19.99"),
        (20, "20.00"),
        (Decimal("0.1"), "0.10"),
        (0.125, "0.12"),  # half to even
        (0.135, "0.14"),
        (1e-3, "0.00"),
        ("-3.5", "-3.50"),
    ]:
        value = {"productId": "P", "quantity": 1, "price": given}
        price = serde.deserialize(serde.serialize(value, "t"), "t")["price"]
        assert isinstance(price, Decimal) and price == Decimal(expected)
        assert str(price) == expected, given


def test_numpy_scalars_from_dataframes_are_written_as_python_numbers():
    np = pytest.importorskip("numpy")  # comes with pandas, a labkit dependency
    serde = AvroSerde("OrderItem", registry=EmbeddedRegistry())
    value = {"productId": "P", "quantity": np.int64(3), "price": np.float64(2.5)}
    assert serde.deserialize(serde.serialize(value, "t"), "t") == {
        "productId": "P",
        "quantity": 3,
        "price": Decimal("2.50"),
    }
    with pytest.raises(RecordValidationError, match="expected int"):
        serde.serialize({**value, "quantity": np.float64(3.0)}, "t")


def test_timestamps_accept_datetime_and_come_back_as_utc_datetime():
    serde = AvroSerde("CustomerUpdated", registry=EmbeddedRegistry())
    when = dt.datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    value = {**SAMPLES["CustomerUpdated"], "updatedAt": when}
    assert serde.deserialize(serde.serialize(value, "t"), "t")["updatedAt"] == when


def test_wire_format_is_magic_byte_schema_id_and_the_avro_body(catalog):
    item = catalog["OrderItem"]
    data = encode({"productId": "P-1", "quantity": 3, "price": "2.50"}, item, schema_id=0x01020304)
    # header: magic 0, id big-endian
    assert data[:5] == b"\x00\x01\x02\x03\x04"
    # body, by the Avro spec: string = zigzag length + utf-8; int = zigzag varint;
    # decimal bytes = zigzag length + big-endian two's complement of the unscaled value (250)
    assert data[5:] == b"\x06P-1" + b"\x06" + b"\x04\x00\xfa"
    # and fastavro alone writes the same body
    out = io.BytesIO()
    fastavro.schemaless_writer(
        out, item.parsed, {"productId": "P-1", "quantity": 3, "price": Decimal("2.50")}
    )
    assert data[5:] == out.getvalue()
    assert unpack(data) == (0x01020304, data[5:])
    assert pack_header(7) == struct.pack(">bI", 0, 7)


def test_the_serde_header_carries_the_registry_id():
    registry = EmbeddedRegistry()
    serde = AvroSerde("OrderItem", registry=registry)
    data = serde.serialize(SAMPLES["OrderItem"], "items")
    schema_id, _ = unpack(data)
    assert schema_id == registry.latest("items-value").schema_id == serde.schema_id("items")


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda o: o["items"][1].pop("quantity"), "items[1].quantity", "missing required field"),
        (lambda o: o["items"][1].update(quantity="3"), "items[1].quantity", "expected int"),
        (lambda o: o.pop("orderId"), "orderId", "missing required field"),
        (lambda o: o.update(amount=[1]), "amount", "expected a decimal"),
        (lambda o: o.update(amount="ten"), "amount", "not a finite decimal"),
        (lambda o: o.update(amount=10**11), "amount", "more than 12 digits"),
        (lambda o: o.update(items={"a": 1}), "items", "expected a list"),
        (lambda o: o["items"].append("P-9"), "items[2]", "expected a record"),
        (lambda o: o.update(createdAt="yesterday"), "createdAt", "expected long"),
        (lambda o: o["items"][0].update(quantity=2**31), "items[0].quantity", "does not fit"),
        (lambda o: o.update(currency=None), "currency", "expected string"),
    ],
)
def test_a_bad_record_names_the_field_path(change, path, words):
    order = {
        **SAMPLES["OrderCreated"],
        "items": [dict(i) for i in SAMPLES["OrderCreated"]["items"]],
    }
    change(order)
    serde = AvroSerde("OrderCreated", registry=EmbeddedRegistry())
    with pytest.raises(RecordValidationError, match=words) as info:
        serde.serialize(order, "orders")
    assert info.value.field_path == path
    assert path in str(info.value) and "OrderCreated" in str(info.value)
    assert info.value.topic == "orders"
    assert isinstance(info.value, SerdeError)  # one except clause for every serde


def test_union_and_enum_errors_name_the_field(catalog):
    cancelled = catalog["OrderCancelled"]
    with pytest.raises(RecordValidationError, match="expected one of") as info:
        validate({**SAMPLES["OrderCancelled"], "reason": "BORED"}, cancelled)
    assert info.value.field_path == "reason"
    with pytest.raises(RecordValidationError, match="expected a decimal") as info:
        validate({**SAMPLES["OrderCancelled"], "refundAmount": b"x"}, cancelled)
    assert info.value.field_path == "refundAmount"
    # null is a valid branch; a missing field with a default takes the default
    ok = validate(
        {k: v for k, v in SAMPLES["OrderCancelled"].items() if k != "refundAmount"}, cancelled
    )
    assert "refundAmount" not in ok  # fastavro writes the default


def test_an_unknown_schema_id_raises_with_the_raw_bytes():
    data = pack_header(123456) + b"\x02"
    serde = AvroSerde("OrderItem", registry=EmbeddedRegistry())
    with pytest.raises(UnknownSchemaError, match="123456") as info:
        serde.deserialize(data, "orders")
    assert info.value.data == data
    assert info.value.schema_id == 123456
    assert info.value.topic == "orders"


def test_on_error_receives_every_bad_record_and_decides_the_result():
    seen = []

    def to_dead_letters(error):
        seen.append(error)
        return {"dead_letter": type(error).__name__}

    serde = AvroSerde("OrderItem", registry=EmbeddedRegistry(), on_error=to_dead_letters)
    good = serde.serialize(SAMPLES["OrderItem"], "t")
    unknown = pack_header(99) + b"\x02"
    assert serde.deserialize(unknown, "t") == {"dead_letter": "UnknownSchemaError"}
    assert serde.deserialize(b'{"json": 1}', "t") == {"dead_letter": "WireFormatError"}
    assert serde.deserialize(good[:7], "t") == {"dead_letter": "DecodeError"}  # cut short
    assert [e.data for e in seen] == [unknown, b'{"json": 1}', good[:7]]
    assert all(e.topic == "t" for e in seen)
    assert serde.deserialize(good, "t")["productId"] == "P-0042"


def test_not_wire_format_is_a_clear_error():
    serde = AvroSerde("OrderItem", registry=EmbeddedRegistry())
    with pytest.raises(WireFormatError, match="serde='bytes'") as info:
        serde.deserialize(b'{"orderId": "O-1"}', "orders")
    assert info.value.data == b'{"orderId": "O-1"}'


def test_a_reader_schema_reads_an_older_writer_schema():
    registry = EmbeddedRegistry()
    v1 = parse_schema({"type": "record", "name": "x.P", "fields": [{"name": "n", "type": "int"}]})
    v2 = parse_schema(
        {
            "type": "record",
            "name": "x.P",
            "fields": [
                {"name": "n", "type": "long"},
                {"name": "unit", "type": "string", "default": "kg"},
            ],
        }
    )
    old = AvroSerde(v1, registry=registry).serialize({"n": 5}, "p")
    assert AvroSerde(v2, registry=registry).deserialize(old, "p") == {"n": 5, "unit": "kg"}
    # the writer's own schema through "avro:*"
    assert AvroSerde(None, registry=registry).deserialize(old, "p") == {"n": 5}


def test_a_record_of_another_type_is_a_decode_error():
    registry = EmbeddedRegistry()
    payment = AvroSerde("PaymentProcessed", registry=registry).serialize(
        SAMPLES["PaymentProcessed"], "mixed"
    )
    with pytest.raises(DecodeError, match="PaymentProcessed") as info:
        AvroSerde("OrderCreated", registry=registry).deserialize(payment, "mixed")
    assert info.value.data == payment


def test_the_avro_prefix_resolves_by_simple_or_full_name():
    assert resolve("avro:OrderCreated").name == "avro:OrderCreated"
    assert resolve("avro:lab.orders.OrderCreated").schema.fullname == "lab.orders.OrderCreated"
    with pytest.raises(Exception, match="no Avro schema named 'Nope'"):
        resolve("avro:Nope")
    with pytest.raises(SerdeError, match="only reads"):
        resolve("avro:*").serialize({"a": 1}, "t")


def test_prefix_serdes_share_the_process_registry_so_ids_resolve_across_serdes():
    labkit.schemas.set_default_registry(None)
    try:
        data = resolve("avro:OrderCreated").serialize(SAMPLES["OrderCreated"], "orders")
        # a fresh serde (and a fresh embedded registry in another process) finds the writer
        # schema: embedded ids derive from the schema, and the default registry knows data/schemas
        labkit.schemas.set_default_registry(None)
        got = resolve("avro:*").deserialize(data, "orders")
        assert got["createdAt"] == dt.datetime.fromtimestamp(T0 / 1000, UTC)
    finally:
        labkit.schemas.set_default_registry(None)


def test_none_is_a_tombstone_both_ways():
    serde = AvroSerde("OrderItem", registry=EmbeddedRegistry())
    assert serde.serialize(None, "t") is None and serde.deserialize(None, "t") is None
