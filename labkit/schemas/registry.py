"""One schema-registry interface, two backends.

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

import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from labkit.schemas.compatibility import LEVELS, CompatibilityResult, check_compatibility
from labkit.schemas.exceptions import (
    IncompatibleSchemaError,
    RegistryError,
    RegistryUnavailableError,
    SchemaError,
    SchemaNotFoundError,
    SchemaParseError,
    UnknownSchemaError,
)
from labkit.schemas.parse import AvroSchema, load_schemas, parse_schema

REGISTRY_URL_ENV = "SCHEMA_REGISTRY_URL"

SchemaInput = AvroSchema | Mapping[str, Any] | str


@dataclass(frozen=True)
class RegisteredSchema:
    """A schema as a registry holds it under a subject."""

    subject: str
    version: int
    schema_id: int
    schema: AvroSchema


class SchemaRegistry(ABC):
    """What labkit needs from a schema registry. Use as a context manager to close it."""

    url: str | None = None

    @abstractmethod
    def register(self, subject: str, schema: SchemaInput) -> int:
        """Register ``schema`` under ``subject`` (a no-op if it is there) and return its id.

        Raises :class:`IncompatibleSchemaError` when the subject's compatibility level forbids it.
        """

    @abstractmethod
    def lookup(self, subject: str, schema: SchemaInput) -> RegisteredSchema:
        """The registered version of ``schema`` under ``subject``; SchemaNotFoundError if none."""

    @abstractmethod
    def get_schema(self, schema_id: int) -> AvroSchema:
        """The schema with id ``schema_id``; :class:`UnknownSchemaError` if there is none."""

    @abstractmethod
    def get_version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        """One version (or ``"latest"``) of a subject."""

    @abstractmethod
    def versions(self, subject: str) -> list[int]:
        """The version numbers of a subject, oldest first."""

    @abstractmethod
    def subjects(self) -> list[str]:
        """All subjects, sorted."""

    @abstractmethod
    def delete_subject(self, subject: str) -> list[int]:
        """Delete a subject; returns the versions it had."""

    @abstractmethod
    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        """Set the compatibility level of ``subject`` (or the global default)."""

    @abstractmethod
    def get_compatibility(self, subject: str | None = None) -> str:
        """The level in force for ``subject`` (its own, else the global one)."""

    @abstractmethod
    def test_compatibility(self, subject: str, schema: SchemaInput) -> bool:
        """Whether ``schema`` could be registered under ``subject`` now (the registry's verdict)."""

    def latest(self, subject: str) -> RegisteredSchema:
        """The latest version of a subject."""
        return self.get_version(subject, "latest")

    def check_compatibility(self, subject: str, schema: SchemaInput) -> CompatibilityResult:
        """The registry's verdict on ``schema`` for ``subject``, with labkit's reasons in words.

        >>> registry = EmbeddedRegistry()
        >>> v1 = {"type": "enum", "name": "S", "symbols": ["A", "B"]}
        >>> _ = registry.register("s-value", v1)
        >>> registry.check_compatibility("s-value", {"type": "enum", "name": "S",
        ...                                          "symbols": ["A"]}).compatible
        False
        """
        schema = _as_schema(schema)
        level = self.get_compatibility(subject)
        previous = self._history(subject)
        verdict = self.test_compatibility(subject, schema)
        local = check_compatibility(schema, previous, level)
        reasons, warnings = local.reasons, list(local.warnings)
        if not verdict and not reasons:
            reasons = [
                f"the registry ({self.url}) rejects it at level {level}; labkit's own "
                "check finds no reason"
            ]
        if verdict and reasons:
            warnings += [
                f"the registry accepts it, but labkit's check objects: {r}" for r in reasons
            ]
        return CompatibilityResult(verdict, level, [] if verdict else reasons, warnings)

    def _history(self, subject: str) -> list[AvroSchema]:
        try:
            return [self.get_version(subject, v).schema for v in self.versions(subject)]
        except SchemaNotFoundError:
            return []

    def close(self) -> None:  # noqa: B027 - optional hook; the embedded registry holds nothing
        """Release connections (nothing to do for the embedded registry)."""

    def __enter__(self) -> SchemaRegistry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


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

    def delete_subject(self, subject: str) -> list[int]:
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


class ConfluentRegistry(SchemaRegistry):
    """A registry speaking the Confluent REST API, through confluent-kafka's SchemaRegistryClient.

    ``url`` is the API base (for Apicurio: ``http://host:port/apis/ccompat/v7``). ``conf`` adds or
    overrides SchemaRegistryClient settings; by default a request gives up after about 5 s and one
    retry, so a registry that is down is reported within seconds.

    >>> ConfluentRegistry("http://127.0.0.1:9").subjects()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    labkit.schemas.exceptions.RegistryUnavailableError: no schema registry answers at ...
    """

    def __init__(self, url: str, conf: Mapping[str, Any] | None = None) -> None:
        try:
            from confluent_kafka.schema_registry import SchemaRegistryClient
        except ImportError as exc:
            raise SchemaError(
                f"confluent-kafka's schema registry client cannot be imported ({exc}); install it "
                "with: pip install 'confluent-kafka[avro]'"
            ) from exc
        self.url = url.rstrip("/")
        settings: dict[str, Any] = {
            "url": self.url,
            "timeout": 5,
            "max.retries": 1,
            "retries.wait.ms": 100,
            "retries.max.wait.ms": 500,
        }
        settings.update(conf or {})
        self.client = SchemaRegistryClient(settings)

    def __repr__(self) -> str:
        return f"ConfluentRegistry({self.url!r})"

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _translate(exc, what, self.url) from exc

    def register(self, subject: str, schema: SchemaInput) -> int:
        schema = _as_schema(schema)
        try:
            return self._call(
                f"register {schema.fullname} under {subject!r}",
                self.client.register_schema,
                subject,
                _wire_schema(schema),
            )
        except IncompatibleSchemaError as exc:
            level = self._level_or_unknown(subject)
            local = check_compatibility(schema, self._history(subject), level)
            raise IncompatibleSchemaError(
                f"{exc} — labkit's reading at level {level}: "
                + ("; ".join(local.reasons) or "no reason found"),
                reasons=local.reasons,
            ) from exc

    def lookup(self, subject: str, schema: SchemaInput) -> RegisteredSchema:
        schema = _as_schema(schema)
        found = self._call(
            f"look up {schema.fullname} under {subject!r}",
            self.client.lookup_schema,
            subject,
            _wire_schema(schema),
        )
        return RegisteredSchema(subject, found.version, found.schema_id, schema)

    def get_schema(self, schema_id: int) -> AvroSchema:
        found = self._call(f"fetch schema id {schema_id}", self.client.get_schema, schema_id)
        return _parse_registered(found.schema_str, f"schema id {schema_id}")

    def get_version(self, subject: str, version: int | str = "latest") -> RegisteredSchema:
        if version in ("latest", -1):
            found = self._call(
                f"fetch the latest version of {subject!r}", self.client.get_latest_version, subject
            )
        else:
            found = self._call(
                f"fetch version {version} of {subject!r}",
                self.client.get_version,
                subject,
                int(version),
            )
        schema = _parse_registered(found.schema.schema_str, f"{subject} version {found.version}")
        return RegisteredSchema(subject, found.version, found.schema_id, schema)

    def versions(self, subject: str) -> list[int]:
        return sorted(
            self._call(f"list versions of {subject!r}", self.client.get_versions, subject)
        )

    def subjects(self) -> list[str]:
        return sorted(self._call("list subjects", self.client.get_subjects))

    def delete_subject(self, subject: str) -> list[int]:
        return self._call(f"delete {subject!r}", self.client.delete_subject, subject)

    def set_compatibility(self, level: str, subject: str | None = None) -> None:
        self._call(
            f"set compatibility of {subject or 'the registry'}",
            self.client.set_compatibility,
            subject,
            _check_level(level),
        )

    def get_compatibility(self, subject: str | None = None) -> str:
        if subject is not None:
            try:
                return self._call(
                    f"read compatibility of {subject!r}", self.client.get_compatibility, subject
                )
            except SchemaNotFoundError:
                pass  # no level of its own: the global one applies
            except RegistryError as exc:
                if exc.status != 404:
                    raise
        return self._call("read the global compatibility", self.client.get_compatibility)

    def test_compatibility(self, subject: str, schema: SchemaInput) -> bool:
        # Transitive levels are tested against every version, the others against the latest:
        # Apicurio's ccompat "all versions" endpoint checks all versions whatever the level.
        schema = _as_schema(schema)
        transitive = self._level_or_unknown(subject).endswith("_TRANSITIVE")
        test = (
            self.client.test_compatibility_all_versions
            if transitive
            else self.client.test_compatibility
        )
        try:
            return bool(
                self._call(
                    f"test {schema.fullname} against {subject!r}",
                    test,
                    subject,
                    _wire_schema(schema),
                )
            )
        except SchemaNotFoundError:
            return True  # nothing registered yet: anything goes

    def close(self) -> None:
        close = getattr(self.client, "close", None)
        if close is not None:
            close()

    def _level_or_unknown(self, subject: str) -> str:
        try:
            return self.get_compatibility(subject)
        except RegistryError:
            return "BACKWARD"


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
    """The registry ``"avro:<Name>"`` serdes use: ``$SCHEMA_REGISTRY_URL``, else an embedded one
    that knows the schema directory.

    >>> set_default_registry(None); type(default_registry()).__name__
    'EmbeddedRegistry'
    """
    global _default
    with _default_lock:
        if _default is None:
            url = os.environ.get(REGISTRY_URL_ENV)
            if url:
                _default = ConfluentRegistry(url)
            else:
                try:
                    known = list(load_schemas().values())
                except SchemaNotFoundError:
                    known = []
                _default = EmbeddedRegistry(known)
        return _default


def set_default_registry(registry: SchemaRegistry | str | None) -> None:
    """Make ``registry`` (or a URL) the process default; ``None`` resets to the automatic choice.

    >>> set_default_registry(EmbeddedRegistry()); set_default_registry(None)
    """
    global _default
    with _default_lock:
        _default = connect(registry) if isinstance(registry, str) else registry


def schema_id_for(schema: AvroSchema) -> int:
    """The embedded registry's id for a schema: 31 bits of its fingerprint, never 0.

    >>> schema_id_for(parse_schema("string")) == schema_id_for(parse_schema('"string"'))
    True
    """
    return (int(schema.fingerprint[:8], 16) & 0x7FFFFFFF) or 1


def _as_schema(schema: SchemaInput) -> AvroSchema:
    return schema if isinstance(schema, AvroSchema) else parse_schema(schema)


def _check_level(level: str) -> str:
    level = str(level).upper()
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; use one of {', '.join(LEVELS)}")
    return level


def _wire_schema(schema: AvroSchema) -> Any:
    from confluent_kafka.schema_registry import Schema

    return Schema(schema.json, "AVRO")


def _parse_registered(text: str, what: str) -> AvroSchema:
    try:
        return parse_schema(json.loads(text))
    except (ValueError, SchemaParseError) as exc:
        raise RegistryError(
            f"the registry's {what} is not a schema labkit can read: {exc}"
        ) from exc


def _translate(exc: Exception, what: str, url: str | None) -> Exception:
    """Map confluent-kafka / HTTP errors to labkit's, with the fix in the message."""
    if isinstance(exc, SchemaError):
        return exc
    status = getattr(exc, "http_status_code", None)
    code = getattr(exc, "error_code", None)
    if status is not None:
        message = getattr(exc, "error_message", str(exc))
        text = f"schema registry at {url} could not {what}: {message} (HTTP {status}, code {code})"
        if code in (40403,) or (
            status == 404
            and "schema" in str(message).lower()
            and "subject" not in str(message).lower()
        ):
            return UnknownSchemaError(text)
        if status == 404:
            return SchemaNotFoundError(text)
        if status == 409:
            return IncompatibleSchemaError(text)
        if status == 422:
            return SchemaParseError(text)
        return RegistryError(text, status=status, code=code)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"TransportError", "ConnectError", "TimeoutException", "NetworkError"} or isinstance(
        exc, OSError
    ):
        return RegistryUnavailableError(
            f"no schema registry answers at {url} ({type(exc).__name__}: {exc}) while trying to "
            f"{what}. Start one (python -m labkit.schemas.registry_server) or fix the URL"
        )
    return RegistryError(f"schema registry at {url} could not {what}: {type(exc).__name__}: {exc}")
