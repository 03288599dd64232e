"""labkit's compatibility verdicts against a real registry's (Apicurio, which runs Apache Avro's
Java SchemaCompatibility), for a matrix of schema changes, plus the reasons in words."""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from labkit.schemas import (
    IncompatibleSchemaError,
    can_read,
    check_compatibility,
    compare,
)

BASE = {
    "type": "record",
    "name": "Order",
    "namespace": "lab.test",
    "fields": [
        {"name": "id", "type": "string"},
        {"name": "qty", "type": "int"},
        {"name": "note", "type": ["null", "string"], "default": None},
        {
            "name": "status",
            "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]},
        },
        {
            "name": "price",
            "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 2},
        },
        {"name": "tags", "type": {"type": "array", "items": "string"}, "default": []},
        {
            "name": "item",
            "type": {
                "type": "record",
                "name": "Item",
                "fields": [{"name": "sku", "type": "string"}, {"name": "weight", "type": "float"}],
            },
        },
    ],
}


def _field(schema, name):
    return next(f for f in schema["fields"] if f["name"] == name)


def change(fn: Callable[[dict], object]) -> dict:
    schema = copy.deepcopy(BASE)
    fn(schema)
    return schema


def _enum(schema):
    return _field(schema, "status")["type"]


# (name, v2, expected verdict for (BACKWARD, FORWARD, FULL))
CASES = [
    (
        "add field with null default",
        change(
            lambda s: s["fields"].append(
                {"name": "coupon", "type": ["null", "string"], "default": None}
            )
        ),
        (True, True, True),
    ),
    (
        "add field without default",
        change(lambda s: s["fields"].append({"name": "currency", "type": "string"})),
        (False, True, False),
    ),
    (
        "add field with a string default",
        change(
            lambda s: s["fields"].append({"name": "currency", "type": "string", "default": "EUR"})
        ),
        (True, True, True),
    ),
    (
        "remove field that has a default",
        change(lambda s: s["fields"].remove(_field(s, "note"))),
        (True, True, True),
    ),
    (
        "remove field without default",
        change(lambda s: s["fields"].remove(_field(s, "qty"))),
        (True, False, False),
    ),
    ("int to long", change(lambda s: _field(s, "qty").update(type="long")), (True, False, False)),
    (
        "int to double",
        change(lambda s: _field(s, "qty").update(type="double")),
        (True, False, False),
    ),
    (
        "int to string",
        change(lambda s: _field(s, "qty").update(type="string")),
        (False, False, False),
    ),
    (
        "nested float to double",
        change(lambda s: _field(_field(s, "item")["type"], "weight").update(type="double")),
        (True, False, False),
    ),
    ("string to bytes", change(lambda s: _field(s, "id").update(type="bytes")), (True, True, True)),
    (
        "enum symbol added",
        change(lambda s: _enum(s)["symbols"].append("CANCELLED")),
        (True, False, False),
    ),
    (
        "enum symbol removed",
        change(lambda s: _enum(s)["symbols"].remove("SHIPPED")),
        (False, True, False),
    ),
    (
        "enum symbol removed, new enum has a default",
        change(lambda s: (_enum(s)["symbols"].remove("SHIPPED"), _enum(s).update(default="NEW"))),
        (True, True, True),
    ),
    (
        "rename field without alias",
        change(lambda s: _field(s, "qty").update(name="quantity")),
        (False, False, False),
    ),
    (
        "rename field with alias",
        change(lambda s: _field(s, "qty").update(name="quantity", aliases=["qty"])),
        (True, False, False),
    ),
    (
        "field made nullable",
        change(lambda s: _field(s, "id").update(type=["null", "string"])),
        (True, False, False),
    ),
    (
        "nullable field made required",
        change(
            lambda s: (_field(s, "note").update(type="string"), _field(s, "note").pop("default"))
        ),
        (False, True, False),
    ),
    (
        "union branch added",
        change(lambda s: _field(s, "note").update(type=["null", "string", "int"])),
        (True, False, False),
    ),
    ("record renamed", change(lambda s: s.update(name="Purchase")), (False, False, False)),
    (
        "record renamed with alias of old full name",
        change(lambda s: s.update(name="Purchase", aliases=["lab.test.Order"])),
        (True, False, False),
    ),
    (
        "namespace changed only",
        change(lambda s: s.update(namespace="lab.other")),
        (True, True, True),
    ),
    (
        "decimal scale changed (logical types are not checked)",
        change(lambda s: _field(s, "price")["type"].update(scale=3)),
        (True, True, True),
    ),
    (
        "array items int instead of string",
        change(lambda s: _field(s, "tags")["type"].update(items="int")),
        (False, False, False),
    ),
    (
        "nested record gains a field without default",
        change(
            lambda s: _field(s, "item")["type"]["fields"].append(
                {"name": "color", "type": "string"}
            )
        ),
        (False, True, False),
    ),
    (
        "nested record type renamed",
        change(lambda s: _field(s, "item")["type"].update(name="Line")),
        (False, False, False),
    ),
]
LEVELS = ("BACKWARD", "FORWARD", "FULL")


def test_the_matrix_is_big_enough():
    assert len(CASES) >= 15
    assert {e for *_, exp in CASES for e in exp} == {True, False}


@pytest.mark.parametrize(("name", "v2", "expected"), CASES, ids=[c[0] for c in CASES])
def test_labkit_agrees_with_the_real_registry(registry, unique_subject, name, v2, expected):
    for level, want in zip(LEVELS, expected, strict=True):
        subject = unique_subject(f"matrix-{level.lower()}")
        registry.set_compatibility(level, subject)
        registry.register(subject, BASE)
        theirs = registry.test_compatibility(subject, v2)
        ours = check_compatibility(v2, [BASE], level)
        assert ours.compatible == theirs, f"{name} at {level}: labkit {ours}, registry {theirs}"
        assert theirs == want, f"{name} at {level}: registry says {theirs}"
        if not ours.compatible:
            assert ours.reasons and all(isinstance(r, str) and r for r in ours.reasons)


# Three versions: v3 is fine against the latest but not against v1.
TRANSITIVE = [
    (  # BACKWARD vs BACKWARD_TRANSITIVE: a field gets its default back, then loses it
        {"type": "record", "name": "T", "fields": [{"name": "a", "type": "int"}]},
        {
            "type": "record",
            "name": "T",
            "fields": [
                {"name": "a", "type": "int"},
                {"name": "b", "type": "string", "default": ""},
            ],
        },
        {
            "type": "record",
            "name": "T",
            "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": "string"}],
        },
        {
            "BACKWARD": True,
            "BACKWARD_TRANSITIVE": False,
            "FORWARD": True,
            "FORWARD_TRANSITIVE": True,
            "FULL": True,
            "FULL_TRANSITIVE": False,
        },
    ),
    (  # FORWARD vs FORWARD_TRANSITIVE: a required field gets a default, then is removed
        {
            "type": "record",
            "name": "T",
            "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": "int"}],
        },
        {
            "type": "record",
            "name": "T",
            "fields": [{"name": "a", "type": "int"}, {"name": "b", "type": "int", "default": 0}],
        },
        {"type": "record", "name": "T", "fields": [{"name": "a", "type": "int"}]},
        {
            "BACKWARD": True,
            "BACKWARD_TRANSITIVE": True,
            "FORWARD": True,
            "FORWARD_TRANSITIVE": False,
            "FULL": True,
            "FULL_TRANSITIVE": False,
        },
    ),
]


@pytest.mark.parametrize(("v1", "v2", "v3", "expected"), TRANSITIVE, ids=["backward", "forward"])
def test_transitive_levels_agree_with_the_real_registry(
    registry, unique_subject, v1, v2, v3, expected
):
    for level, want in expected.items():
        subject = unique_subject(f"transitive-{level.lower()}")
        registry.set_compatibility(level, subject)
        registry.register(subject, v1)
        registry.register(subject, v2)
        ours = check_compatibility(v3, [v1, v2], level).compatible
        theirs = registry.test_compatibility(subject, v3)
        try:
            registry.register(subject, v3)
            registered = True
        except IncompatibleSchemaError:
            registered = False
        assert ours == theirs == registered == want, (level, ours, theirs, registered)


def test_reasons_say_what_broke_in_words():
    added = CASES[1][1]
    backward = check_compatibility(added, [BASE], "BACKWARD")
    assert backward.reasons == [
        "field 'currency' was added without a default: records written with the old schema "
        "have no value for it (give the field a default)"
    ]
    removed = CASES[4][1]
    forward = check_compatibility(removed, [BASE], "FORWARD")
    assert "field 'qty' was removed" in forward.reasons[0]
    changed = check_compatibility(CASES[7][1], [BASE], "BACKWARD")
    assert "field 'qty' changed type from int to string" in changed.reasons[0]
    assert "int→long→float→double" in changed.reasons[0]
    enum = check_compatibility(CASES[11][1], [BASE], "BACKWARD")
    assert "enum 'Status' lost symbol(s) 'SHIPPED'" in enum.reasons[0]
    enum_fwd = check_compatibility(CASES[10][1], [BASE], "FORWARD")
    assert "enum 'Status' gained symbol(s) 'CANCELLED'" in enum_fwd.reasons[0]
    renamed = check_compatibility(CASES[18][1], [BASE], "BACKWARD")
    assert renamed.reasons[0].startswith("type Order was renamed to Purchase")
    assert "aliases" in renamed.reasons[0]
    nested = check_compatibility(CASES[23][1], [BASE], "BACKWARD")
    assert "field 'item.color' was added without a default" in nested.reasons[0]
    nullable = check_compatibility(CASES[15][1], [BASE], "FORWARD")
    assert "new records may hold null" in nullable.reasons[0]


def test_logical_type_changes_are_warnings_not_verdicts():
    scale = CASES[21][1]
    result = check_compatibility(scale, [BASE], "FULL")
    assert result.compatible
    assert result.warnings == [
        "price: decimal(12,2) became decimal(12,3): the bytes are read as they are, so values "
        "would change"
    ]


def test_promotions_follow_the_avro_spec():
    allowed = {
        ("long", "int"),
        ("float", "int"),
        ("float", "long"),
        ("double", "int"),
        ("double", "long"),
        ("double", "float"),
        ("bytes", "string"),
        ("string", "bytes"),
    }
    primitives = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]
    for reader in primitives:
        for writer in primitives:
            ok = not can_read(reader, writer)
            assert ok == (reader == writer or (reader, writer) in allowed), (reader, writer)


def test_compare_gives_all_three_levels():
    verdicts = compare(BASE, CASES[5][1])  # int -> long
    assert {k: bool(v) for k, v in verdicts.items()} == {
        "BACKWARD": True,
        "FORWARD": False,
        "FULL": False,
    }
    assert str(verdicts["FULL"]).startswith("FULL: incompatible")


def test_recursive_types_terminate():
    node = {
        "type": "record",
        "name": "Node",
        "fields": [
            {"name": "value", "type": "int"},
            {"name": "next", "type": ["null", "Node"], "default": None},
        ],
    }
    wider = copy.deepcopy(node)
    wider["fields"][0]["type"] = "long"
    assert check_compatibility(wider, [node], "BACKWARD").compatible
    assert not check_compatibility(wider, [node], "FORWARD").compatible


def test_unknown_level_is_rejected():
    with pytest.raises(ValueError, match="BACKWARD_TRANSITIVE"):
        check_compatibility(BASE, [BASE], "SIDEWAYS")
