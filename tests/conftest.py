"""Shared fixtures: one real Kafka lab for the whole session, unique topics and groups per test.

The lab comes from labkit's own resolver, so tests run on the same path as notebooks: a lab that
is already running is reused; otherwise one is started here (and stopped at the end). Notebooks
executed by nbval in the same run attach to it through the lab state file.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

import labkit
from labkit.cluster import ensure_lab, read_state, stop_supervisor

_started_here = False


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started_here
    if session.config.getoption("collectonly"):
        return
    if os.environ.get("LABKIT_TESTS_NO_BROKER"):
        return
    _started_here = read_state() is None and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    ensure_lab()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _started_here and not os.environ.get("LABKIT_KEEP_LAB"):
        stop_supervisor()


@pytest.fixture(scope="session")
def lab() -> labkit.Lab:
    """The session's real Kafka lab."""
    if os.environ.get("LABKIT_TESTS_NO_BROKER"):
        pytest.skip("LABKIT_TESTS_NO_BROKER is set: this test needs a broker")
    return labkit.lab()


def _slug(request: pytest.FixtureRequest) -> str:
    return re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name)[:40].strip("-").lower()


@pytest.fixture
def unique(request: pytest.FixtureRequest):
    """Make a name unique to this test: ``unique("orders")`` -> ``orders-test-x-1a2b3c4d``."""

    def make(prefix: str) -> str:
        return f"{prefix}-{_slug(request)}-{uuid.uuid4().hex[:8]}"

    return make


@pytest.fixture
def topic_factory(lab: labkit.Lab, unique):
    """Create fresh uniquely named topics; they are deleted after the test."""
    created: list[str] = []

    def make(prefix: str = "t", partitions: int = 1, **kwargs) -> str:
        name = unique(prefix)
        lab.topics.create(name, partitions=partitions, **kwargs)
        created.append(name)
        return name

    yield make
    if created:
        lab.topics.delete(created, missing_ok=True)
