"""The interface every schema-registry backend implements, and what they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from labkit.schemas.compatibility import LEVELS, CompatibilityResult, check_compatibility
from labkit.schemas.exceptions import SchemaNotFoundError
from labkit.schemas.parse import AvroSchema, parse_schema

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
    def delete_subject(self, subject: str, permanent: bool = False) -> list[int]:
        """Delete a subject; returns the versions it had. ``permanent`` also removes what a
        Confluent-style registry keeps of a (soft-)deleted subject, so the name starts afresh."""

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

        >>> from labkit.schemas.registry import EmbeddedRegistry
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


def _as_schema(schema: SchemaInput) -> AvroSchema:
    return schema if isinstance(schema, AvroSchema) else parse_schema(schema)


def _check_level(level: str) -> str:
    level = str(level).upper()
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; use one of {', '.join(LEVELS)}")
    return level
