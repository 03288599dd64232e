"""The lab supervisor: the long-lived process that owns a lab's cluster.

``labkit up`` (or the first ``labkit.lab()``) starts it detached, so the lab outlives the notebook
or script that asked for it. It starts the backend, publishes the lab's state file, answers control
requests on a Unix socket (fault controls, stop), notices brokers that exit on their own, and stops
everything on SIGTERM/SIGINT or a ``stop`` request. Broker JVMs die with it (PR_SET_PDEATHSIG).

Run by hand for debugging: ``python -m labkit.cluster.supervisor --home /tmp/lab --brokers 1``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

from labkit.cluster.base import BROKER_ACTIONS, ClusterBackend
from labkit.cluster.exceptions import ClusterError
from labkit.cluster.state import LabInfo, remove_state, write_state

log = logging.getLogger("labkit.supervisor")


def make_backend(
    name: str, brokers: int, home: Path, heap_mb: int, java: str | None = None
) -> ClusterBackend:
    if name == "local":
        from labkit.cluster.local import LocalCluster

        return LocalCluster(brokers=brokers, home=home, heap_mb=heap_mb, java=java)
    if name == "docker":
        from labkit.cluster.docker import DockerCluster

        return DockerCluster(brokers=brokers, home=home)
    raise ClusterError(f"the supervisor runs the local or docker backend, not {name!r}")


def pending_state(backend: str, home: Path, status: str, error: str | None = None) -> LabInfo:
    """The state of a lab that is not (yet) running: starting, or failed with ``error``."""
    return LabInfo(
        backend=backend,
        bootstrap_servers="-",
        status=status,
        supervisor_pid=os.getpid(),
        home=str(home),
        error=error,
    )


class Supervisor:
    def __init__(self, backend: ClusterBackend, home: Path, registry: bool = False) -> None:
        self.backend = backend
        self.home = home
        self.registry_wanted = registry
        self.registry = None
        self.socket_path = home / "control.sock"
        self.stopping = False
        self.started_at = time.time()

    def publish(self, **extra) -> LabInfo:
        info = self.backend.info()
        info.supervisor_pid = os.getpid()
        info.control_socket = str(self.socket_path)
        info.started_at = self.started_at
        if self.registry is not None:
            info.schema_registry_url = self.registry.url
        for key, value in extra.items():
            setattr(info, key, value)
        write_state(info, self.home)
        return info

    def run(self) -> int:
        write_state(pending_state(self.backend.name, self.home, "starting"), self.home)
        try:
            self.backend.start()
            if self.registry_wanted:
                self._start_registry()
        except Exception as exc:  # report any failure to whoever waits for the lab
            log.error("lab failed to start: %s", exc)
            with contextlib.suppress(Exception):
                self.backend.stop()
            error = f"{type(exc).__name__}: {exc}"
            write_state(pending_state(self.backend.name, self.home, "failed", error), self.home)
            return 1
        self.started_at = time.time()
        self.publish(status="running")
        log.info("lab running: %s", self.backend.info().bootstrap_servers)
        try:
            self._serve()
        finally:
            self._shutdown()
        return 0

    def _start_registry(self) -> None:
        from labkit.cluster.java import find_java
        from labkit.cluster.registry import RegistryServer

        self.registry = RegistryServer(java=find_java().executable, workdir=self.home / "registry")
        self.registry.start()

    def _serve(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(self.socket_path))
        server.listen(8)
        sel = selectors.DefaultSelector()
        sel.register(server, selectors.EVENT_READ)
        # Signals only set a flag; the loop (on the main thread, which started the JVMs and so
        # must outlive them) does the work.
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        with contextlib.suppress(AttributeError):
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
        while not self.stopping:
            for _key, _ in sel.select(timeout=0.5):
                conn, _ = server.accept()
                with conn:
                    self._handle(conn)
            refresh = getattr(self.backend, "refresh", None)
            if refresh and refresh():
                self.publish()
        sel.close()
        server.close()

    def _on_signal(self, signum, frame) -> None:  # noqa: ANN001
        self.stopping = True

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        data = b""
        with contextlib.suppress(TimeoutError):
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        try:
            request = json.loads(data or b"{}")
            reply = self._dispatch(request)
        except (ClusterError, ValueError, KeyError, TypeError) as exc:
            reply = {"ok": False, "error": str(exc)}
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps(reply).encode() + b"\n")

    def _dispatch(self, request: dict) -> dict:
        op = request.get("op")
        if op == "ping":
            return {"ok": True}
        if op == "stop":
            self.stopping = True
            return {"ok": True}
        if op == "registry":  # start the schema registry on demand
            if self.registry is None:
                self._start_registry()
                self.publish()
            return {"ok": True, "url": self.registry.url}
        if op == "broker":
            action, node = request["action"], int(request["node"])
            if action not in BROKER_ACTIONS:
                raise ValueError(f"unknown broker action {action!r}: {', '.join(BROKER_ACTIONS)}")
            broker = self.backend.broker(action, node)
            self.publish()
            return {"ok": True, "broker": broker.__dict__}
        raise ValueError(f"unknown request {op!r}")

    def _shutdown(self) -> None:
        log.info("stopping the lab")
        if self.registry is not None:
            with contextlib.suppress(Exception):
                self.registry.stop()
        with contextlib.suppress(Exception):
            self.backend.stop()
        remove_state(self.home)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m labkit.cluster.supervisor")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--backend", default="local", choices=["local", "docker"])
    parser.add_argument("--brokers", type=int, default=1)
    parser.add_argument("--heap-mb", type=int, default=512)
    parser.add_argument("--registry", action="store_true")
    parser.add_argument("--java", default=None, help="the Java executable (found if not given)")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    args.home.mkdir(parents=True, exist_ok=True)
    try:
        backend = make_backend(args.backend, args.brokers, args.home, args.heap_mb, args.java)
    except ClusterError as exc:
        write_state(
            pending_state(args.backend, args.home, "failed", str(exc)),
            args.home,
        )
        return 1
    return Supervisor(backend, args.home, registry=args.registry).run()


if __name__ == "__main__":
    sys.exit(main())
