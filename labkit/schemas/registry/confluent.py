"""A registry speaking the Confluent REST API, through confluent-kafka's SchemaRegistryClient."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from labkit.schemas.compatibility import check_compatibility
from labkit.schemas.exceptions import (
    IncompatibleSchemaError,
    RegistryError,
    RegistryUnavailableError,
    SchemaError,
    SchemaNotFoundError,
    SchemaParseError,
    UnknownSchemaError,
)
from labkit.schemas.parse import AvroSchema, parse_schema
from labkit.schemas.registry.base import (
    RegisteredSchema,
    SchemaInput,
    SchemaRegistry,
    _as_schema,
    _check_level,
)


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

    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        if not permanent:
            return self._call(f"delete {subject!r}", self.client.delete_subject, subject)
        # A permanent delete must follow a soft one; either step finds nothing when an earlier
        # run got that far, which is fine here.
        versions: list[int] = []
        for hard in (False, True):
            try:
                versions = (
                    self._call(f"delete {subject!r}", self.client.delete_subject, subject, hard)
                    or versions
                )
            except SchemaNotFoundError:
                pass
        return versions

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
            f"{what}. Start one (python -m labkit.cluster.registry, or `labkit up --registry`) or fix the URL"
        )
    return RegistryError(f"schema registry at {url} could not {what}: {type(exc).__name__}: {exc}")
