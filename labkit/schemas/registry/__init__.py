"""One schema-registry interface (:class:`SchemaRegistry`), two backends.

* :class:`ConfluentRegistry` — any registry speaking the Confluent REST API (Confluent Schema
  Registry, Apicurio's ``/apis/ccompat/v7``, Karapace), through confluent-kafka's
  ``SchemaRegistryClient``. Used when a URL is given.
* :class:`EmbeddedRegistry` — an in-process catalog with the same methods, for when no registry
  runs. Its ids are derived from the schema's content (31 bits of a SHA-256), so every process gives
  the same schema the same id and a consumer in another process can read what a producer wrote,
  provided it knows the schema (the default one knows every schema in ``data/schemas``).

:func:`connect` picks one; :func:`default_registry` is what ``"avro:<Name>"`` serdes use:
``$SCHEMA_REGISTRY_URL`` if set, else one embedded registry per process.

>>> registry = connect()                      # no URL: embedded
>>> v1 = {"type": "record", "name": "A", "fields": [{"name": "n", "type": "int"}]}
>>> schema_id = registry.register("a-value", v1)
>>> registry.get_schema(schema_id).fullname
'A'
"""

from __future__ import annotations

import os
import threading
from typing import Any

from labkit.schemas.exceptions import SchemaNotFoundError
from labkit.schemas.parse import load_schemas
from labkit.schemas.registry.base import RegisteredSchema, SchemaInput, SchemaRegistry
from labkit.schemas.registry.confluent import ConfluentRegistry
from labkit.schemas.registry.embedded import EmbeddedRegistry, schema_id_for

REGISTRY_URL_ENV = "SCHEMA_REGISTRY_URL"


def connect(url: str | None = None, **conf: Any) -> SchemaRegistry:
    """A :class:`ConfluentRegistry` for ``url``, or a fresh :class:`EmbeddedRegistry` without one.

    >>> connect()
    EmbeddedRegistry(0 subjects)
    """
    if url:
        return ConfluentRegistry(url, conf)
    return EmbeddedRegistry()


_default: SchemaRegistry | None = None
_default_lock = threading.Lock()


def default_registry() -> SchemaRegistry:
    """The registry ``"avro:<Name>"`` serdes use: the one given to :func:`set_default_registry`,
    else ``$SCHEMA_REGISTRY_URL``, else the running lab's registry (``labkit up --registry``),
    else an embedded one that knows the schema directory.

    >>> set_default_registry(EmbeddedRegistry()); type(default_registry()).__name__
    'EmbeddedRegistry'
    >>> set_default_registry(None)
    """
    global _default
    with _default_lock:
        if _default is None:
            url = os.environ.get(REGISTRY_URL_ENV) or _lab_registry_url()
            if url:
                _default = ConfluentRegistry(url)
            else:
                try:
                    known = list(load_schemas().values())
                except SchemaNotFoundError:
                    known = []
                _default = EmbeddedRegistry(known)
        return _default


def _lab_registry_url() -> str | None:
    from labkit.cluster.state import read_state

    info = read_state()
    return info.schema_registry_url if info is not None else None


def set_default_registry(registry: SchemaRegistry | str | None) -> None:
    """Make ``registry`` (or a URL) the process default; ``None`` resets to the automatic choice.

    >>> set_default_registry(EmbeddedRegistry()); set_default_registry(None)
    """
    global _default
    with _default_lock:
        _default = connect(registry) if isinstance(registry, str) else registry


__all__ = [
    "REGISTRY_URL_ENV",
    "ConfluentRegistry",
    "EmbeddedRegistry",
    "RegisteredSchema",
    "SchemaInput",
    "SchemaRegistry",
    "connect",
    "default_registry",
    "schema_id_for",
    "set_default_registry",
]
