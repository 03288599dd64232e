"""Fixtures for labkit.schemas: sample events for every schema, and one real schema registry
(Apicurio Registry as a local JVM) shared by the whole session."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator

import pytest

from labkit.schemas import ConfluentRegistry, RegistryServer, SchemaCatalog, load_schemas


@pytest.fixture(scope="session")
def catalog() -> SchemaCatalog:
    return load_schemas()


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """One real Apicurio Registry for the session (resolved from Maven Central on first use)."""
    server = RegistryServer(workdir=tmp_path_factory.mktemp("registry"), heap_mb=256)
    with server:
        yield server


@pytest.fixture
def registry(registry_server: RegistryServer) -> Iterator[ConfluentRegistry]:
    with ConfluentRegistry(registry_server.url) as client:
        yield client


_counter = itertools.count()


@pytest.fixture
def unique_subject() -> Callable[[str], str]:
    """Subject names that no other test uses."""
    run = uuid.uuid4().hex[:6]
    return lambda stem="t": f"{stem}-{run}-{next(_counter)}-value"
