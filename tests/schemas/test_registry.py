"""The registry facade: the embedded catalog, and a real registry (Apicurio) through
confluent-kafka's client, including confluent-kafka's own AvroSerializer/AvroDeserializer."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

from labkit.cluster.ports import pick_port as free_port
from labkit.schemas import (
    AvroSerde,
    ConfluentRegistry,
    EmbeddedRegistry,
    IncompatibleSchemaError,
    RegistryUnavailableError,
    SchemaNotFoundError,
    UnknownSchemaError,
    connect,
    unpack,
)

from .samples import SAMPLES

V1 = {"type": "record", "name": "lab.test.P", "fields": [{"name": "n", "type": "int"}]}
V2_DEFAULT = {
    "type": "record",
    "name": "lab.test.P",
    "fields": [{"name": "n", "type": "int"}, {"name": "s", "type": "string", "default": ""}],
}
V2_NO_DEFAULT = {
    "type": "record",
    "name": "lab.test.P",
    "fields": [{"name": "n", "type": "int"}, {"name": "s", "type": "string"}],
}


def test_embedded_ids_are_deterministic_across_instances(catalog):
    a, b = EmbeddedRegistry(), EmbeddedRegistry()
    id_a = a.register("orders-value", catalog["OrderCreated"])
    b.register("other-value", catalog["OrderItem"])
    assert b.register("orders-value", catalog["OrderCreated"]) == id_a
    assert a.register("orders-value", catalog["OrderCreated"]) == id_a  # idempotent
    assert a.versions("orders-value") == [1]


def test_embedded_registry_enforces_the_compatibility_level():
    registry = EmbeddedRegistry()  # BACKWARD, like Confluent's default
    registry.register("p-value", V1)
    with pytest.raises(IncompatibleSchemaError, match="added without a default") as info:
        registry.register("p-value", V2_NO_DEFAULT)
    assert info.value.reasons
    registry.register("p-value", V2_DEFAULT)
    assert registry.versions("p-value") == [1, 2]
    assert registry.latest("p-value").schema.schema == V2_DEFAULT
    registry.set_compatibility("NONE", "p-value")
    registry.register("p-value", V2_NO_DEFAULT)
    assert registry.get_version("p-value", 3).version == 3
    assert registry.delete_subject("p-value") == [1, 2, 3]
    with pytest.raises(SchemaNotFoundError):
        registry.latest("p-value")


def test_embedded_registry_knows_given_schemas_by_id(catalog):
    producer_side = EmbeddedRegistry()
    schema_id = producer_side.register("orders-value", catalog["OrderCreated"])
    consumer_side = EmbeddedRegistry(catalog.values())
    assert consumer_side.get_schema(schema_id) == catalog["OrderCreated"]
    with pytest.raises(UnknownSchemaError, match="RegistryServer"):
        EmbeddedRegistry().get_schema(schema_id)


def test_connect_picks_the_backend():
    assert isinstance(connect(), EmbeddedRegistry)
    assert isinstance(connect("http://127.0.0.1:1"), ConfluentRegistry)


def test_a_registry_that_is_down_is_reported_within_seconds():
    url = f"http://127.0.0.1:{free_port()}/apis/ccompat/v7"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError, match="no schema registry answers") as info:
        ConfluentRegistry(url).register("p-value", V1)
    assert time.monotonic() - started < 10
    assert url in str(info.value)
    serde = AvroSerde("OrderItem", registry=ConfluentRegistry(url))
    started = time.monotonic()
    with pytest.raises(RegistryUnavailableError):
        serde.serialize(SAMPLES["OrderItem"], "items")
    assert time.monotonic() - started < 10


def test_real_registry_register_fetch_and_versions(registry, unique_subject, catalog):
    subject = unique_subject("orders")
    schema_id = registry.register(subject, catalog["OrderCreated"])
    assert registry.register(subject, catalog["OrderCreated"]) == schema_id
    assert registry.get_schema(schema_id) == catalog["OrderCreated"]
    assert registry.latest(subject).schema_id == schema_id
    assert registry.lookup(subject, catalog["OrderCreated"]).version == 1
    assert subject in registry.subjects()
    with pytest.raises(UnknownSchemaError):
        registry.get_schema(987654)
    with pytest.raises(SchemaNotFoundError):
        registry.versions(unique_subject("never"))


def test_real_registry_compatibility_endpoints(registry, unique_subject):
    subject = unique_subject("p")
    registry.set_compatibility("BACKWARD", subject)
    assert registry.get_compatibility(subject) == "BACKWARD"
    registry.register(subject, V1)
    assert registry.test_compatibility(subject, V2_DEFAULT) is True
    assert registry.test_compatibility(subject, V2_NO_DEFAULT) is False
    verdict = registry.check_compatibility(subject, V2_NO_DEFAULT)
    assert not verdict and "'s' was added without a default" in verdict.reasons[0]
    with pytest.raises(IncompatibleSchemaError, match="added without a default"):
        registry.register(subject, V2_NO_DEFAULT)


def test_raw_rest_compatibility_endpoints_answer(registry_url, unique_subject):
    """The two Confluent endpoints the brief names, spoken to directly."""
    import urllib.request

    subject = unique_subject("raw")
    headers = {"Content-Type": "application/vnd.schemaregistry.v1+json"}

    def call(method, path, body):
        req = urllib.request.Request(
            registry_url + path, json.dumps(body).encode(), headers, method=method
        )
        with urllib.request.urlopen(req, timeout=5) as answer:
            return json.loads(answer.read())

    answer = call("PUT", f"/config/{subject}", {"compatibility": "FORWARD"})
    # Confluent answers {"compatibility": ...}; Apicurio 3.0 {"compatibilityLevel": ...}
    assert "FORWARD" in (answer.get("compatibility"), answer.get("compatibilityLevel"))
    call("POST", f"/subjects/{subject}/versions", {"schema": json.dumps(V1)})
    removed = {"type": "record", "name": "lab.test.P", "fields": []}
    path = f"/compatibility/subjects/{subject}/versions/latest"
    assert call("POST", path, {"schema": json.dumps(removed)}) == {"is_compatible": False}
    assert call("POST", path, {"schema": json.dumps(V2_NO_DEFAULT)}) == {"is_compatible": True}


def test_confluent_serializer_and_labkit_serde_read_each_other(registry_url, unique_subject):
    """confluent-kafka's AvroSerializer/AvroDeserializer against the real registry, and labkit's
    serde reading their bytes and they reading labkit's: the same wire format and ids."""
    topic = unique_subject("interop").removesuffix("-value")
    client = SchemaRegistryClient({"url": registry_url})
    labkit_registry = ConfluentRegistry(registry_url)
    ours = AvroSerde("OrderItem", registry=labkit_registry)
    schema_str = ours.schema.json
    ctx = SerializationContext(topic, MessageField.VALUE)
    serializer = AvroSerializer(client, schema_str)
    deserializer = AvroDeserializer(client)
    value = {"productId": "P-1", "quantity": 2, "price": Decimal("19.99")}

    theirs = serializer(value, ctx)
    assert deserializer(theirs, ctx) == value  # their round trip, no broker needed
    assert ours.deserialize(theirs, topic) == value  # we read theirs

    mine = ours.serialize({"productId": "P-1", "quantity": 2, "price": 19.99}, topic)
    assert deserializer(mine, ctx) == value  # they read ours
    assert unpack(mine)[0] == unpack(theirs)[0]  # same subject, same schema, same id
    assert client.get_latest_version(f"{topic}-value").version == 1


def test_every_sample_goes_through_the_real_registry(registry, unique_subject, catalog):
    for name, value in SAMPLES.items():
        topic = unique_subject(name.lower()).removesuffix("-value")
        serde = AvroSerde(name, registry=registry)
        data = serde.serialize(value, topic)
        assert registry.get_schema(unpack(data)[0]) == catalog[name]
        # a second serde with a cold cache reads it through the registry
        assert AvroSerde(name, registry=registry).deserialize(data, topic) == serde.deserialize(
            data, topic
        )


def test_unknown_id_from_the_real_registry_is_unknown_schema_error(registry):
    data = b"\x00\x00\x0f\x42\x40\x02"  # id 1_000_000
    with pytest.raises(UnknownSchemaError) as info:
        AvroSerde("OrderItem", registry=registry).deserialize(data, "t")
    assert info.value.schema_id == 1_000_000 and info.value.data == data


def test_serde_without_auto_register_needs_a_registered_schema(registry, unique_subject):
    topic = unique_subject("noauto").removesuffix("-value")
    serde = AvroSerde("OrderItem", registry=registry, auto_register=False)
    with pytest.raises(SchemaNotFoundError):
        serde.serialize(SAMPLES["OrderItem"], topic)
    registry.register(f"{topic}-value", serde.schema)
    assert serde.serialize(SAMPLES["OrderItem"], topic)[:1] == b"\x00"


def test_schema_strings_registered_by_others_are_read(registry, unique_subject):
    subject = unique_subject("plain")
    client = SchemaRegistryClient({"url": registry.url})
    schema_id = client.register_schema(subject, Schema(json.dumps(V1), "AVRO"))
    assert registry.get_schema(schema_id).fullname == "lab.test.P"


def test_a_permanent_delete_lets_a_subject_start_afresh(registry, unique_subject):
    subject = unique_subject("perm")
    registry.register(subject, V1)
    assert registry.delete_subject(subject, permanent=True) == [1]
    assert subject not in registry.subjects()
    registry.register(subject, V1)
    assert registry.versions(subject) == [1]
    registry.delete_subject(subject, permanent=True)
    assert registry.delete_subject(subject, permanent=True) == []  # nothing left: still fine
