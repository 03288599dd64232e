"""The compiled fast path gives exactly what the validation walker gives, or leaves it to it.

The walker (``serde._Walker``) is the definition; these tests run both on the same values and
require the same prepared value, or - where the value is wrong - the same error with the same field
path through the public functions.
"""

from __future__ import annotations

import datetime as dt
import gc
import io
import math
import uuid
from decimal import Decimal

import fastavro
import pytest

import labkit.data
from labkit.schemas import RecordValidationError, parse_schema, validate, write_body
from labkit.schemas.compiled import Undecided
from labkit.schemas.serde import _PREPARERS, _preparer, _undecided, _Walker

from .samples import SAMPLES


def walk(value, schema):
    return _Walker(schema).prepare(schema.schema, value, "")


def walker_body(value, schema):
    """The Avro body fastavro writes for the walker's value (its own Decimal conversion)."""
    out = io.BytesIO()
    fastavro.schemaless_writer(out, schema.parsed, walk(value, schema))
    return out.getvalue()


def outcome(fn, *args):
    """What a call gives: ("ok", value, its repr) or ("error", type, message, field path)."""
    try:
        value = fn(*args)
    except RecordValidationError as exc:
        return ("error", type(exc).__name__, str(exc), exc.field_path)
    return ("ok", value, repr(value))


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_takes_the_fast_path_and_matches_the_walker(name, catalog):
    schema = catalog[name]
    fast = _preparer(schema).fast(SAMPLES[name])  # raises Undecided if it fell back
    assert fast == walk(SAMPLES[name], schema)
    assert repr(fast) == repr(walk(SAMPLES[name], schema))  # same Decimal exponents too


def test_generated_orders_match_the_walker_value_for_value_and_byte_for_byte(catalog):
    schema = catalog["OrderCreated"]
    fast = _preparer(schema).fast
    for order in labkit.data.orders(2_000, seed=7):
        ours = fast(order)
        assert ours == walk(order, schema)
        assert repr(ours) == repr(walk(order, schema))
        # the write path makes the decimals' bytes itself; fastavro made the same from Decimals
        assert write_body(order, schema) == walker_body(order, schema)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_sample_is_written_as_fastavro_writes_the_walkers_value(name, catalog):
    schema = catalog[name]
    _preparer(schema).fast_wire(SAMPLES[name])  # decided on the fast path
    assert write_body(SAMPLES[name], schema) == walker_body(SAMPLES[name], schema)


DECIMALS = [
    19.99,
    0.125,
    0.135,
    2.675,
    1e-3,
    -0.0,
    0.0,
    -3.5,
    20,
    0,
    -(10**10) + 1,
    10**10,  # 13 digits at scale 2: too many
    9_999_999_999.995,  # rounds up to 11 integer digits
    9_999_999_999.994,
    Decimal("0.1"),
    Decimal("-0"),
    Decimal("1E+3"),
    Decimal("12345678901.234"),
    Decimal("NaN"),
    Decimal("Infinity"),
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    "19.99",
    "ten",
    True,
    None,
    b"x",
    [1],
]


@pytest.mark.parametrize("price", DECIMALS, ids=repr)
def test_decimal_edge_values_give_the_walkers_outcome(price, catalog):
    schema = catalog["OrderItem"]
    value = {"productId": "P", "quantity": 1, "price": price}
    assert outcome(validate, value, schema) == outcome(walk, value, schema)
    assert outcome(write_body, value, schema) == outcome(walker_body, value, schema)


@pytest.mark.parametrize(
    "unscaled", [0, 1, -1, 127, 128, -128, -129, 255, 256, -(2**39), 10**12 - 1]
)
def test_decimal_bytes_are_fastavros_at_every_length_and_sign(unscaled, catalog):
    schema = catalog["OrderItem"]
    for price in (Decimal(unscaled).scaleb(-2), float(Decimal(unscaled).scaleb(-2))):
        value = {"productId": "P", "quantity": 1, "price": price}
        assert write_body(value, schema) == walker_body(value, schema), price


def test_numpy_scalars_are_left_to_the_walker(catalog):
    np = pytest.importorskip("numpy")
    schema = catalog["OrderItem"]
    value = {"productId": "P", "quantity": np.int64(3), "price": np.float64(2.5)}
    with pytest.raises(Undecided):
        _preparer(schema).fast(value)
    assert outcome(validate, value, schema) == outcome(walk, value, schema)
    assert type(validate(value, schema)["quantity"]) is int


KITCHEN_SINK = parse_schema(
    {
        "type": "record",
        "name": "Node",
        "namespace": "t",
        "fields": [
            {"name": "id", "type": "long"},
            {"name": "flag", "type": "boolean", "default": False},
            {"name": "ratio", "type": "double"},
            {"name": "small", "type": "float", "default": 0.0},
            {"name": "blob", "type": "bytes"},
            {"name": "nothing", "type": "null", "default": None},
            {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["A", "B"]}},
            {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
            {"name": "tags", "type": {"type": "map", "values": "int"}, "default": {}},
            {
                "name": "matrix",
                "type": {"type": "array", "items": {"type": "array", "items": "t.Kind"}},
            },
            {"name": "next", "type": ["null", "t.Node"], "default": None},
            {"name": "either", "type": ["int", "string", "t.Hash"], "default": 0},
            {
                "name": "at",
                "type": {"type": "long", "logicalType": "timestamp-millis"},
                "default": 0,
            },
            {"name": "day", "type": {"type": "int", "logicalType": "date"}, "default": 0},
            {"name": "uid", "type": {"type": "string", "logicalType": "uuid"}, "default": ""},
            {
                "name": "refund",
                "type": [
                    "null",
                    {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2},
                ],
                "default": None,
            },
            {
                "name": "cost",
                "type": {
                    "type": "fixed",
                    "name": "Cost",
                    "size": 8,
                    "logicalType": "decimal",
                    "precision": 10,
                    "scale": 3,
                },
            },
        ],
    }
)
NODE = {
    "id": 1,
    "ratio": 2,
    "kind": "A",
    "hash": b"abcd",
    "blob": b"",
    "cost": Decimal("-7"),
    "matrix": [["A", "B"], []],
    "next": {
        "id": 2,
        "flag": True,
        "ratio": 0.5,
        "small": 1,
        "kind": "B",
        "hash": b"wxyz",
        "blob": b"\x00\xff",
        "matrix": [],
        "tags": {"a": 1},
        "next": None,
        "either": "text",
        "at": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
        "uid": uuid.UUID(int=5),
        "cost": 1.2345,
        "refund": -0.5,
    },
    "either": b"four",
    "extra": "ignored",
}
BROKEN = [
    ("id", "1"),
    ("id", 2**63),
    ("id", True),
    ("flag", 1),
    ("ratio", "2"),
    ("small", None),
    ("blob", bytearray(b"x")),  # the walker takes it as it is
    ("nothing", 0),
    ("kind", "C"),
    ("hash", b"abc"),
    ("tags", {"a": "1"}),
    ("tags", {1: 1}),
    ("matrix", [["A"], ["Z"]]),
    ("matrix", (("A",),)),
    ("next", {"id": 3}),
    ("next", "x"),
    ("either", 2.5),
    ("either", 7),
    ("at", "now"),
    ("day", dt.datetime(2026, 1, 1)),
    ("uid", "not-a-uuid-but-a-string"),
    ("cost", 10**8),
    ("cost", "0.0005"),
    ("refund", 10**7),
    ("refund", Decimal("-0.004")),
]


def test_a_schema_with_every_kind_of_type_and_recursion():
    prepared = _preparer(KITCHEN_SINK).fast(NODE)  # all of it decided on the fast path
    assert prepared == walk(NODE, KITCHEN_SINK)
    assert prepared["ratio"] == 2.0 and type(prepared["ratio"]) is float
    assert prepared["next"]["cost"] == Decimal("1.234")  # half to even at scale 3
    assert "extra" not in prepared and "flag" not in prepared
    assert type(_preparer(KITCHEN_SINK).fast_wire(NODE)["next"]["refund"]) is bytes
    assert write_body(NODE, KITCHEN_SINK) == walker_body(NODE, KITCHEN_SINK)


@pytest.mark.parametrize(("field", "value"), BROKEN, ids=[f"{f}={v!r}" for f, v in BROKEN])
def test_changed_values_give_the_walkers_outcome_and_field_path(field, value):
    node = {**NODE, field: value}
    nested = {**NODE, "next": {**NODE["next"], field: value}}
    for changed in (node, nested):
        assert outcome(validate, changed, KITCHEN_SINK) == outcome(walk, changed, KITCHEN_SINK)
        assert outcome(write_body, changed, KITCHEN_SINK) == outcome(
            walker_body, changed, KITCHEN_SINK
        )


def test_missing_fields_and_wrong_containers_are_named_by_the_walker(catalog):
    schema = catalog["OrderCreated"]
    order = {**SAMPLES["OrderCreated"], "items": [{"productId": "P", "price": 1.5}]}
    for check in (validate, write_body):
        with pytest.raises(RecordValidationError, match="missing required field") as info:
            check(order, schema)
        assert info.value.field_path == "items[0].quantity"
        # the fast path's KeyError is not chained to it: the traceback shows the walker's error
        assert info.value.__context__ is None
    for value in (None, [], "order", SAMPLES["OrderCreated"].items()):
        assert outcome(validate, value, schema) == outcome(walk, value, schema)


def test_a_schema_the_generator_cannot_compile_still_validates():
    deep = "long"
    for _ in range(30):  # more nested loops than Python compiles: the walker does it all
        deep = {"type": "array", "items": deep}
    schema = parse_schema(deep)
    assert _preparer(schema).fast is _undecided
    value = 5
    for _ in range(30):
        value = [value]
    assert validate(value, schema) == value
    with pytest.raises(RecordValidationError, match=r"\[0\]"):
        validate([["x"]], schema)


def test_a_schemas_compiled_functions_go_when_the_schema_goes():
    before = len(_PREPARERS)
    for i in range(20):
        schema = parse_schema(
            {"type": "record", "name": f"T{i}", "fields": [{"name": "n", "type": "int"}]}
        )
        assert validate({"n": i}, schema) == {"n": i}
    del schema
    gc.collect()
    assert len(_PREPARERS) == before
