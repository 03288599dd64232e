"""Event schemas: Avro with fastavro, the Confluent wire format, a schema registry, compatibility.

Importing this package makes ``"avro:<Name>"`` a serde name everywhere labkit takes one:

>>> import labkit.serdes, labkit.schemas
>>> serde = labkit.serdes.resolve("avro:OrderCreated")
>>> serde.name
'avro:OrderCreated'

``<Name>`` is a simple or full name of a schema in ``data/schemas`` (or ``$LABKIT_SCHEMA_DIR``);
``"avro:*"`` reads any record with its writer's schema. Values go through
:func:`default_registry` (``$SCHEMA_REGISTRY_URL``, else an in-process registry). For another
directory, registry or an error handler, build an :class:`AvroSerde` yourself.
"""

from __future__ import annotations

from labkit.schemas.compatibility import (
    LEVELS,
    CompatibilityLevel,
    CompatibilityResult,
    Incompatibility,
    can_read,
    check_compatibility,
    compare,
)
from labkit.schemas.exceptions import (
    DecodeError,
    IncompatibleSchemaError,
    RecordSerdeError,
    RecordValidationError,
    RegistryError,
    RegistryServerError,
    RegistryUnavailableError,
    SchemaError,
    SchemaNotFoundError,
    SchemaParseError,
    UnknownSchemaError,
    WireFormatError,
)
from labkit.schemas.parse import (
    AvroSchema,
    SchemaCatalog,
    default_schema_dir,
    load_schema_file,
    load_schemas,
    parse_schema,
)
from labkit.schemas.registry import (
    ConfluentRegistry,
    EmbeddedRegistry,
    RegisteredSchema,
    SchemaRegistry,
    connect,
    default_registry,
    set_default_registry,
)
from labkit.schemas.serde import (
    AvroSerde,
    decode_body,
    encode,
    pack_header,
    unpack,
    validate,
    write_body,
)
from labkit.serdes import register_prefix


def avro_serde(name: str) -> AvroSerde:
    """The serde behind ``"avro:<name>"``: the named schema from the schema directory, or the
    writer's schema for ``"*"`` (read only).

    >>> avro_serde("lab.orders.OrderItem").name
    'avro:OrderItem'
    """
    name = name.strip()
    if name in ("", "*"):
        return AvroSerde(None)
    return AvroSerde(name)


register_prefix("avro", avro_serde)


def __getattr__(name: str) -> object:
    # The server lives with the other processes the lab runs (labkit.cluster.registry); it is
    # imported on first use, so `python -m labkit.cluster.registry` runs that module once.
    if name == "RegistryServer":
        from labkit.cluster.registry import RegistryServer

        return RegistryServer
    raise AttributeError(f"module 'labkit.schemas' has no attribute {name!r}")


__all__ = [
    "LEVELS",
    "AvroSchema",
    "AvroSerde",
    "CompatibilityLevel",
    "CompatibilityResult",
    "ConfluentRegistry",
    "DecodeError",
    "EmbeddedRegistry",
    "Incompatibility",
    "IncompatibleSchemaError",
    "RecordSerdeError",
    "RecordValidationError",
    "RegisteredSchema",
    "RegistryError",
    "RegistryServer",
    "RegistryServerError",
    "RegistryUnavailableError",
    "SchemaCatalog",
    "SchemaError",
    "SchemaNotFoundError",
    "SchemaParseError",
    "SchemaRegistry",
    "UnknownSchemaError",
    "WireFormatError",
    "avro_serde",
    "can_read",
    "check_compatibility",
    "compare",
    "connect",
    "decode_body",
    "default_registry",
    "default_schema_dir",
    "encode",
    "load_schema_file",
    "load_schemas",
    "pack_header",
    "parse_schema",
    "set_default_registry",
    "unpack",
    "validate",
    "write_body",
]
