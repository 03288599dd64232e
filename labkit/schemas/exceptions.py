"""Errors raised by :mod:`labkit.schemas`.

Everything derives from :class:`SchemaError` (a :class:`labkit.exceptions.LabkitError`). Errors
raised while turning a value into bytes or back also derive from
:class:`labkit.serdes.SerdeError`, so code that handles any serde's failure (``except SerdeError``)
handles Avro's too. Errors about one record carry what a dead-letter queue needs: the raw bytes,
the topic and, where known, the schema id.
"""

from __future__ import annotations

from pathlib import Path

from labkit.cluster.exceptions import RegistryServerError  # noqa: F401 - re-exported
from labkit.exceptions import LabkitError
from labkit.serdes import SerdeError


class SchemaError(LabkitError):
    """Base class of every error in :mod:`labkit.schemas`."""


class SchemaParseError(SchemaError):
    """An Avro schema (an ``.avsc`` file or a dict) is not valid; ``path`` names the file."""

    def __init__(self, message: str, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else None
        super().__init__(f"{self.path}: {message}" if self.path else message)


class SchemaNotFoundError(SchemaError):
    """No schema of the asked name is known (in the schema directory or the registry)."""


class RecordSerdeError(SchemaError, SerdeError):
    """One record could not be serialized or deserialized.

    ``data`` holds the raw bytes (when deserializing), ``topic`` the topic and ``schema_id`` the id
    from the record's header when it could be read, so a handler can route the record to a
    dead-letter topic with its context.
    """

    def __init__(
        self,
        message: str,
        *,
        data: bytes | None = None,
        topic: str | None = None,
        schema_id: int | None = None,
    ) -> None:
        super().__init__(message)
        self.data = data
        self.topic = topic
        self.schema_id = schema_id


class RecordValidationError(RecordSerdeError):
    """A value does not fit its schema; ``field_path`` names the place (``items[2].quantity``)."""

    def __init__(self, message: str, *, field_path: str, topic: str | None = None) -> None:
        super().__init__(message, topic=topic)
        self.field_path = field_path


class WireFormatError(RecordSerdeError):
    """Bytes lack the Confluent wire-format header (magic byte 0 + 4-byte schema id)."""


class UnknownSchemaError(RecordSerdeError):
    """A record names a schema id that the registry does not know.

    Carries ``schema_id`` and the raw ``data``; a consumer that passes ``on_error=`` to the serde
    gets this error there (the hook for a dead-letter queue) instead of it being raised.
    """


class DecodeError(RecordSerdeError):
    """The body of a record could not be read with its writer schema and the reader schema."""


class RegistryError(SchemaError):
    """The schema registry answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class RegistryUnavailableError(RegistryError):
    """Nothing answers at the schema registry's URL (not started, wrong port, network down)."""


class IncompatibleSchemaError(RegistryError):
    """A new schema version breaks the subject's compatibility level; ``reasons`` say why."""

    def __init__(self, message: str, *, reasons: list[str] | None = None) -> None:
        super().__init__(message, status=409)
        self.reasons = list(reasons or [])
