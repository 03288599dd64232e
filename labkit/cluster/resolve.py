"""Which cluster to use, and attach-or-start: the one resolver that notebooks, scripts, the CLI
and the tests share.

Auto-selection: ``external`` when ``KAFKA_BOOTSTRAP_SERVERS`` is set, else the lab that is already
running, else ``docker`` when a Docker daemon answers, else ``local``. A ``backend=`` argument or
the ``LABKIT_BACKEND`` variable overrides it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from labkit.cluster.control import start_supervisor
from labkit.cluster.docker import docker_available
from labkit.cluster.exceptions import BackendUnavailableError, ClusterError, JavaNotFoundError
from labkit.cluster.external import external_info
from labkit.cluster.jars import kafka_libs
from labkit.cluster.java import find_java
from labkit.cluster.state import LabInfo, lab_home, lab_lock, read_state

log = logging.getLogger("labkit.cluster")

BACKENDS = ("local", "docker", "external")


def requested_backend(backend: str | None = None) -> str | None:
    """The backend asked for by argument or ``LABKIT_BACKEND`` (None means choose)."""
    chosen = backend or os.environ.get("LABKIT_BACKEND") or None
    if chosen in (None, "auto"):
        return None
    if chosen not in BACKENDS:
        raise ClusterError(
            f"unknown backend {chosen!r}: choose one of {', '.join(BACKENDS)} or auto"
        )
    return chosen


def choose_backend(backend: str | None = None) -> str:
    """Pick the backend to start: the override, else external, else docker, else local."""
    chosen = requested_backend(backend)
    if chosen:
        return chosen
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        return "external"
    ok, _ = docker_available()
    return "docker" if ok else "local"


def ensure_lab(
    backend: str | None = None,
    brokers: int | None = None,
    home: Path | None = None,
    start: bool = True,
    registry: bool = False,
    heap_mb: int = 512,
) -> LabInfo:
    """Attach to the running lab, or start one (when ``start``) and return its description.

    >>> info = ensure_lab()  # doctest: +SKIP
    >>> info.bootstrap_servers  # doctest: +SKIP
    '127.0.0.1:9092'
    """
    chosen = requested_backend(backend)
    if chosen == "external" or (chosen is None and os.environ.get("KAFKA_BOOTSTRAP_SERVERS")):
        return external_info()
    home = home or lab_home()
    info = read_state(home)  # fast path: no lock needed to attach
    if info is None or info.status != "running":
        with lab_lock(home):
            info = read_state(home)
            if info is None or info.status != "running":
                if not start:
                    from labkit.cluster.exceptions import LabNotRunningError

                    raise LabNotRunningError(
                        "no lab is running; start one with `labkit up` "
                        "(or `labkit.lab()` in Python)"
                    )
                info = _start(chosen, brokers or 1, home, registry, heap_mb)
    _check_matches(info, chosen, brokers)
    return info


def _start(chosen: str | None, brokers: int, home: Path, registry: bool, heap_mb: int) -> LabInfo:
    java = None
    if chosen is None:
        ok, reason = docker_available()
        if ok and brokers == 1:
            chosen = "docker"
        else:
            chosen = "local"
            try:
                java = find_java().executable
            except JavaNotFoundError as exc:
                raise BackendUnavailableError(f"Cannot start a lab: {reason}, and {exc}") from exc
    if chosen == "local":
        # Fail in seconds with what to install, before any process is spawned, and resolve the
        # jars here, where errors reach the user directly.
        java = java or find_java().executable
        kafka_libs()
    log.info("starting a %s lab with %d broker(s) (state in %s)", chosen, brokers, home)
    return start_supervisor(chosen, brokers, home, heap_mb=heap_mb, registry=registry, java=java)


def _check_matches(info: LabInfo, backend: str | None, brokers: int | None) -> None:
    problems = []
    if backend and info.backend != backend:
        problems.append(f"backend {info.backend} (asked: {backend})")
    if brokers and len(info.brokers) != brokers:
        problems.append(f"{len(info.brokers)} broker(s) (asked: {brokers})")
    if problems:
        raise ClusterError(
            "a lab is already running with "
            + ", ".join(problems)
            + "; stop it with `labkit down` first, or attach without those options"
        )
