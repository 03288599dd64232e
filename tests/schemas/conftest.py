"""Fixtures for labkit.schemas: sample events for every schema, and one real schema registry
(Apicurio Registry as a local JVM) shared by the whole session."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest

import labkit
from labkit.schemas import ConfluentRegistry, SchemaCatalog, load_schemas


@pytest.fixture(scope="session")
def catalog() -> SchemaCatalog:
    return load_schemas()


@pytest.fixture(scope="session")
def registry_url(lab) -> str:
    """The lab's own schema registry (Apicurio, started on demand as `labkit up --registry` does)."""
    return labkit.lab(registry=True).schema_registry_url


@pytest.fixture
def registry(registry_url: str) -> Iterator[ConfluentRegistry]:
    with ConfluentRegistry(registry_url) as client:
        yield client


_counter = itertools.count()


@pytest.fixture
def unique_subject(registry_url: str) -> Iterator[Callable[[str], str]]:
    """Subject names that no other test uses; deleted for good from the lab's registry after the
    test, so repeated runs do not pile subjects up in it."""
    run = uuid.uuid4().hex[:6]
    made: list[str] = []

    def make(stem: str = "t") -> str:
        made.append(f"{stem}-{run}-{next(_counter)}-value")
        return made[-1]

    yield make
    with ConfluentRegistry(registry_url) as client:
        for subject in made:
            client.delete_subject(subject, permanent=True)
