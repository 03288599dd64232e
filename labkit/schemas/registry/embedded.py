"""An in-process schema registry: subjects, versions, compatibility levels, content-derived ids."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from labkit.schemas.compatibility import check_compatibility
from labkit.schemas.exceptions import (
    IncompatibleSchemaError,
    RegistryError,
    SchemaNotFoundError,
    UnknownSchemaError,
)
from labkit.schemas.parse import AvroSchema
from labkit.schemas.registry.base import (
    RegisteredSchema,
    SchemaInput,
    SchemaRegistry,
    _as_schema,
    _check_level,
)


class EmbeddedRegistry(SchemaRegistry):
    """An in-process registry: subjects, versions, compatibility levels, content-derived ids.

    ``known`` schemas (default: none; :func:`default_registry` passes the schema directory) can be
    found by id without being registered in this process.

    >>> registry = EmbeddedRegistry(compatibility="FULL")
    >>> registry.get_compatibility("orders-value")
    'FULL'
    """

    def __init__(
        self, known: Iterable[AvroSchema] = (), *, compatibility: str = "BACKWARD"
    ) -> None:
        self._lock = threading.RLock()
        self._by_id: dict[int, AvroSchema] = {}
        self._known: dict[int, AvroSchema] = {}
        self._subjects: dict[str, list[int]] = {}
        self._levels: dict[str, str] = {}
        self._global = _check_level(compatibility)
        for schema in known:
            self._known.setdefault(schema_id_for(schema), schema)

    def __repr__(self) -> str:
        return f"EmbeddedRegistry({len(self._subjects)} subjects)"

    def register(self, subject: str, schema: SchemaInput) -> int:
        schema = _as_schema(schema)
        with self._lock:
            try:
                return self.lookup(subject, schema).schema_id
            except SchemaNotFoundError:
                pass
            result = check_compatibility(
                schema, self._history(subject), self.get_compatibility(subject)
            )
            if not result.compatible:
                raise IncompatibleSchemaError(
                    f"schema {schema.fullname} is incompatible with subject {subject!r} at level "
                    f"{result.level}: " + "; ".join(result.reasons),
                    reasons=result.reasons,
                )
            schema_id = schema_id_for(schema)
            existing = self._by_id.get(schema_id)
            if existing is not None and existing.fingerprint != schema.fingerprint:
                raise RegistryError(f"schema id {schema_id} collides with {existing.fullname}")
            self._by_id[schema_id] = schema
            self._subjects.setdefault(subject, []).append(schema_id)
            return schema_id

    def lookup(self, subject: str, schema: SchemaInput) -> RegisteredSchema:
        schema = _as_schema(schema)
        with self._lock:
            for version, schema_id in enumerate(self._subjects.get(subject, []), start=1):
                if self._by_id[schema_id].fingerprint == schema.fingerprint:
                    return RegisteredSchema(subject, version, schema_id, self._by_id[schema_id])
        raise SchemaNotFoundError(f"schema {schema.fullname} is not registered under {subject!r}")

    def get_schema(self, schema_id: int) -> AvroSchema:
        with self._lock:
            schema = self._by_id.get(schema_id) or self._known.get(schema_id)
        if schema is None:
            raise UnknownSchemaError(
                f"schema id {schema_id} is unknown to this process's embedded registry: it knows "
                "the schemas registered in this process and those in the schema directory. Use a "
                "real registry (labkit.schemas.RegistryServer) to share evolving schemas between "
                "processes",
                schema_id=schema_id,
            )
        return schema

    def get_version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        with self._lock:
            ids = self._subjects.get(subject)
            if not ids:
                raise SchemaNotFoundError(f"subject {subject!r} has no versions")
            number = len(ids) if version in ("latest", -1) else int(version)
            if not 1 <= number <= len(ids):
                raise SchemaNotFoundError(f"subject {subject!r} has no version {version}")
            schema_id = ids[number - 1]
            return RegisteredSchema(subject, number, schema_id, self._by_id[schema_id])

    def versions(self, subject: str) -> list[int]:
        with self._lock:
            if subject not in self._subjects:
                raise SchemaNotFoundError(f"subject {subject!r} has no versions")
            return list(range(1, len(self._subjects[subject]) + 1))

    def subjects(self) -> list[str]:
        with self._lock:
            return sorted(self._subjects)

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        # nothing is kept of a deleted subject here: every delete is permanent
        versions = self.versions(subject)
        with self._lock:
            del self._subjects[subject]
            self._levels.pop(subject, None)
        return versions

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        level = _check_level(level)
        with self._lock:
            if subject is None:
                self._global = level
            else:
                self._levels[subject] = level

    def get_compatibility(self, subject: str | None = None) -> str:
        with self._lock:
            return self._levels.get(subject, self._global) if subject else self._global

    def test_compatibility(self, subject: str, schema: SchemaInput) -> bool:
        level = self.get_compatibility(subject)
        return check_compatibility(_as_schema(schema), self._history(subject), level).compatible


def schema_id_for(schema: AvroSchema) -> int:
    """The embedded registry's id for a schema: 31 bits of its fingerprint, never 0.

    >>> from labkit.schemas import parse_schema
    >>> schema_id_for(parse_schema("string")) == schema_id_for(parse_schema('"string"'))
    True
    """
    return (int(schema.fingerprint[:8], 16) & 0x7FFFFFFF) or 1
