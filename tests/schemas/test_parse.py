"""Loading .avsc files: named types shared across files, and errors that name the file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from labkit.schemas import (
    SchemaNotFoundError,
    SchemaParseError,
    default_schema_dir,
    load_schema_file,
    load_schemas,
    parse_schema,
)

from .samples import SAMPLES

EVENTS = ["OrderCreated", "PaymentProcessed", "OrderShipped", "OrderCancelled", "CustomerUpdated"]


def _fields(node, out):
    if isinstance(node, list):
        for branch in node:
            _fields(branch, out)
    elif isinstance(node, dict):
        for f in node.get("fields", ()):
            out.append(f)
            _fields(f["type"], out)
        for key in ("items", "values"):
            if key in node:
                _fields(node[key], out)
    return out


def test_every_schema_file_loads_with_a_doc_on_every_field(catalog):
    names = {s.name for s in catalog.values()}
    assert {"OrderItem", *EVENTS} <= names
    assert set(SAMPLES) <= names
    for path in sorted(default_schema_dir().glob("*.avsc")):
        raw = json.loads(path.read_text())
        assert raw.get("doc"), f"{path.name}: the type has no doc"
        for f in _fields(raw, []):
            assert f.get("doc"), f"{path.name}: field {f['name']!r} has no doc"


def test_order_item_is_defined_once_and_shared_by_name(catalog):
    raw = json.loads((default_schema_dir() / "OrderCreated.avsc").read_text())
    items = next(f for f in raw["fields"] if f["name"] == "items")
    assert items["type"]["items"] == "lab.orders.OrderItem"  # a reference, not a copy
    created = catalog["OrderCreated"]
    assert created.json.count('"name":"lab.orders.OrderItem"') == 1  # inlined once, self-contained
    assert catalog["OrderItem"].path.name == "OrderItem.avsc"
    assert catalog["lab.orders.OrderItem"] is catalog["OrderItem"]


def test_money_is_decimal_12_2_and_times_are_timestamp_millis(catalog):
    created = catalog["OrderCreated"].schema
    by_name = {f["name"]: f["type"] for f in created["fields"]}
    assert by_name["amount"] == {
        "type": "bytes",
        "logicalType": "decimal",
        "precision": 12,
        "scale": 2,
    }
    assert by_name["createdAt"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_files_load_whatever_their_order(tmp_path):
    # "A.avsc" needs a type from "Z.avsc", which sorts after it.
    (tmp_path / "A.avsc").write_text(
        json.dumps({"type": "record", "name": "x.A", "fields": [{"name": "z", "type": "x.Z"}]})
    )
    (tmp_path / "Z.avsc").write_text(
        json.dumps({"type": "record", "name": "x.Z", "fields": [{"name": "n", "type": "int"}]})
    )
    catalog = load_schemas(tmp_path)
    assert catalog["A"].schema["fields"][0]["type"]["name"] == "x.Z"


def test_a_user_directory_replaces_the_default(tmp_path):
    shutil.copy(default_schema_dir() / "OrderItem.avsc", tmp_path)
    catalog = load_schemas(tmp_path)
    assert list(catalog) == ["lab.orders.OrderItem"]
    with pytest.raises(SchemaNotFoundError, match="OrderCreated"):
        catalog["OrderCreated"]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"type": "record", "name": "B", "fields": [', "not valid JSON"),
        ('{"type": "record", "name": "B", "fields": [{"name": "n", "type": "strnig"}]}', "strnig"),
        ('{"type": "record", "name": "B", "fields": [{"name": "n"}]}', "invalid Avro schema"),
        ('{"type": "enum", "name": "B", "symbols": ["A", "A"]}', "invalid Avro schema"),
    ],
    ids=["bad-json", "unknown-type", "field-without-type", "duplicate-symbol"],
)
def test_an_invalid_avsc_names_the_file_and_the_problem(tmp_path, text, problem):
    shutil.copy(default_schema_dir() / "OrderItem.avsc", tmp_path)
    (tmp_path / "Broken.avsc").write_text(text)
    with pytest.raises(SchemaParseError, match=problem) as info:
        load_schemas(tmp_path)
    assert info.value.path == tmp_path / "Broken.avsc"
    assert "Broken.avsc" in str(info.value)


def test_a_type_defined_twice_names_both_files(tmp_path):
    shutil.copy(default_schema_dir() / "OrderItem.avsc", tmp_path / "A.avsc")
    shutil.copy(default_schema_dir() / "OrderItem.avsc", tmp_path / "B.avsc")
    with pytest.raises(SchemaParseError) as info:
        load_schemas(tmp_path)
    assert "B.avsc" in str(info.value) and "A.avsc" in str(info.value)


def test_edits_to_a_file_are_seen_on_the_next_load(tmp_path):
    path = tmp_path / "A.avsc"
    path.write_text('{"type": "record", "name": "A", "fields": []}')
    assert load_schemas(tmp_path)["A"].schema["fields"] == []
    path.write_text('{"type": "record", "name": "A", "fields": [{"name": "n", "type": "long"}]}')
    assert load_schemas(tmp_path)["A"].schema["fields"][0]["type"] == "long"


def test_single_files_and_dicts_parse_against_a_catalog(catalog):
    item = load_schema_file(default_schema_dir() / "OrderItem.avsc")
    assert item == catalog["OrderItem"]
    lines = parse_schema({"type": "array", "items": "lab.orders.OrderItem"}, named=catalog)
    assert lines.schema["items"]["name"] == "lab.orders.OrderItem"
    with pytest.raises(SchemaParseError, match="lab.orders.OrderItem"):
        parse_schema({"type": "array", "items": "lab.orders.OrderItem"})


def test_a_missing_directory_says_so(tmp_path):
    with pytest.raises(SchemaNotFoundError, match="does not exist"):
        load_schemas(tmp_path / "nope")


def test_the_schema_dir_can_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("LABKIT_SCHEMA_DIR", str(tmp_path))
    assert default_schema_dir() == Path(tmp_path)
