"""The local backend: Apache Kafka brokers as JVM processes from the official jars (KRaft).

One node runs as a combined broker+controller formatted ``--standalone``; three nodes form a
three-controller quorum with static voters. Every JVM is started with ``PR_SET_PDEATHSIG`` so it
dies with the process that started it (the lab supervisor): no orphan brokers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.base import BrokerAction, ClusterBackend
from labkit.cluster.exceptions import ClusterError, StartupError
from labkit.cluster.jars import KAFKA_VERSION, classpath, kafka_libs
from labkit.cluster.java import find_java
from labkit.cluster.ports import pick_port
from labkit.cluster.processes import die_with_parent
from labkit.cluster.state import BrokerInfo, LabInfo

log = logging.getLogger("labkit.cluster")

HOST = "127.0.0.1"
READY_LINE = "Kafka Server started"
PREFERRED_BROKER_PORT = 9092
PORT_ATTEMPTS = 3

_LOG4J2 = """\
Configuration:
  Appenders:
    File:
      name: FILE
      fileName: "{log_file}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Logger:
      - name: kafka
        level: INFO
      - name: org.apache.kafka
        level: INFO
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
"""


LAB_RETENTION_MS = "-1"  # records are kept until the lab is stopped; a topic may set its own


def broker_properties(
    node_id: int, port: int, controller_port: int, data_dir: Path, voters: str | None, brokers: int
) -> dict[str, str]:
    """The server.properties of one combined broker+controller node."""
    rf = "3" if brokers >= 3 else "1"
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "default.replication.factor": rf,
        "offsets.topic.replication.factor": rf,
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": "2" if brokers >= 3 else "1",
        "transaction.state.log.num.partitions": "10",
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": "2" if brokers >= 3 else "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        # Keep every record until `labkit down`: the sample events carry their event times
        # (2026-01-01 on), and Kafka's default 7-day time retention, checked every 5 minutes,
        # would empty any topic produced with them in the middle of a lesson or a test.
        "log.retention.ms": LAB_RETENTION_MS,
    }
    if voters:
        props["controller.quorum.voters"] = voters
    else:
        props["controller.quorum.bootstrap.servers"] = f"{HOST}:{controller_port}"
    return props


@dataclass
class LocalNode:
    node_id: int
    port: int
    controller_port: int
    dir: Path
    proc: subprocess.Popen | None = None
    status: str = "stopped"

    @property
    def config(self) -> Path:
        return self.dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.dir / "server.log"

    @property
    def data_dir(self) -> Path:
        return self.dir / "data"

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def info(self) -> BrokerInfo:
        return BrokerInfo(
            self.node_id,
            HOST,
            self.port,
            self.controller_port,
            self.proc.pid if self.running() else None,  # type: ignore[union-attr]
            self.status,
            str(self.log_file),
        )


class LocalCluster(ClusterBackend):
    """Kafka ``brokers`` nodes (1 or 3) as local JVMs under ``home``.

    >>> with LocalCluster(brokers=1, home=Path("/tmp/lab")) as cluster:  # doctest: +SKIP
    ...     print(cluster.info().bootstrap_servers)
    """

    name = "local"

    def __init__(
        self,
        brokers: int = 1,
        home: Path | None = None,
        heap_mb: int = 512,
        kafka_version: str = KAFKA_VERSION,
        preferred_port: int | None = PREFERRED_BROKER_PORT,
        startup_timeout: float = 90.0,
        java: str | None = None,
    ) -> None:
        if brokers not in (1, 3):
            raise ClusterError(
                f"brokers={brokers}: the local backend runs 1 node or 3 nodes "
                "(a three-controller quorum)"
            )
        self.brokers = brokers
        self.home = Path(home) if home else Path.cwd() / ".labkit"
        self.heap_mb = heap_mb
        self.kafka_version = kafka_version
        self.preferred_port = preferred_port
        self.startup_timeout = startup_timeout
        self.nodes: list[LocalNode] = []
        self.started_at = time.time()
        self._java: str | None = java
        self._cp: str | None = None

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LabInfo:
        self._java = self._java or find_java().executable
        self._cp = classpath(kafka_libs(self.kafka_version))
        preferred = self.preferred_port
        if os.environ.get("LABKIT_PORT"):  # 0: any free port
            preferred = int(os.environ["LABKIT_PORT"]) or None
        for attempt in range(1, PORT_ATTEMPTS + 1):
            run = self.home / "run"
            shutil.rmtree(run, ignore_errors=True)  # every lab starts from empty storage
            self._layout(run, preferred)
            self._format_all()
            for node in self.nodes:
                self._spawn(node)
            try:
                self._wait_ready(self.nodes, time.monotonic() + self.startup_timeout)
                break
            except StartupError as exc:
                # A port that was free when chosen can be taken before the JVM binds it (another
                # lab starting at the same moment): pick other ports and try again.
                self.stop()
                if "Address already in use" not in str(exc) or attempt == PORT_ATTEMPTS:
                    raise
                log.warning("a chosen port was taken before the broker bound it; retrying")
                preferred = None
        self.started_at = time.time()
        return self.info()

    def stop(self) -> None:
        for node in self.nodes:
            if node.running():
                with contextlib.suppress(ProcessLookupError):
                    if node.status == "paused":
                        os.kill(node.proc.pid, signal.SIGCONT)  # type: ignore[union-attr]
                    node.proc.terminate()  # type: ignore[union-attr]
        deadline = time.monotonic() + 15
        for node in self.nodes:
            if node.proc is None:
                continue
            try:
                node.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("node %d did not stop within 15 s; killing it", node.node_id)
                node.proc.kill()
                node.proc.wait()
            node.status = "stopped"

    def info(self) -> LabInfo:
        return LabInfo(
            backend=self.name,
            bootstrap_servers=",".join(f"{HOST}:{n.port}" for n in self.nodes),
            brokers=[n.info() for n in self.nodes],
            started_at=self.started_at,
            home=str(self.home),
            logs_dir=str(self.home / "run"),
            kafka_version=self.kafka_version,
        )

    def refresh(self) -> bool:
        """Notice nodes that exited on their own; True when something changed."""
        changed = False
        for node in self.nodes:
            if node.status in ("running", "paused") and not node.running():
                node.status = "exited"
                changed = True
        return changed

    # -- fault controls ------------------------------------------------------------------------
    def broker(self, action: BrokerAction, node_id: int) -> BrokerInfo:
        node = self._node(node_id)
        if action == "start":
            if node.running():
                raise ClusterError(f"broker {node_id} is already running ({node.status})")
            self._spawn(node)
            self._wait_ready([node], time.monotonic() + self.startup_timeout)
            return node.info()
        if not node.running():
            raise ClusterError(
                f"broker {node_id} is not running ({node.status}); "
                f"`labkit broker start {node_id}` starts it"
            )
        pid = node.proc.pid  # type: ignore[union-attr]
        if action == "stop":
            if node.status == "paused":
                os.kill(pid, signal.SIGCONT)
            node.proc.terminate()  # type: ignore[union-attr]
            try:
                node.proc.wait(30)  # type: ignore[union-attr]
            except subprocess.TimeoutExpired:
                node.proc.kill()  # type: ignore[union-attr]
                node.proc.wait()  # type: ignore[union-attr]
            node.status = "stopped"
        elif action == "kill":
            node.proc.kill()  # type: ignore[union-attr]
            node.proc.wait()  # type: ignore[union-attr]
            node.status = "killed"
        elif action == "pause":
            os.kill(pid, signal.SIGSTOP)
            node.status = "paused"
        elif action == "resume":
            os.kill(pid, signal.SIGCONT)
            node.status = "running"
        else:
            raise ClusterError(
                f"unknown broker action {action!r}: stop, kill, pause, resume, start"
            )
        return node.info()

    # -- internals -----------------------------------------------------------------------------
    def _node(self, node_id: int) -> LocalNode:
        for node in self.nodes:
            if node.node_id == node_id:
                return node
        ids = ", ".join(str(n.node_id) for n in self.nodes)
        raise ClusterError(f"no broker {node_id} in this lab; its brokers are {ids}")

    def _layout(self, run: Path, preferred_port: int | None) -> None:
        taken: set[int] = set()
        self.nodes = []
        for i in range(1, self.brokers + 1):
            preferred = preferred_port + i - 1 if preferred_port else None
            port = pick_port(preferred, HOST, taken)
            taken.add(port)
            controller_port = pick_port(None, HOST, taken)
            taken.add(controller_port)
            self.nodes.append(LocalNode(i, port, controller_port, run / f"node-{i}"))
        voters = None
        if self.brokers > 1:
            voters = ",".join(f"{n.node_id}@{HOST}:{n.controller_port}" for n in self.nodes)
        for node in self.nodes:
            node.data_dir.mkdir(parents=True)
            props = broker_properties(
                node.node_id, node.port, node.controller_port, node.data_dir, voters, self.brokers
            )
            node.config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
            (node.dir / "log4j2.yaml").write_text(_LOG4J2.format(log_file=node.log_file))

    def _jvm(self, node: LocalNode, main: str, *args: str, heap_mb: int) -> list[str]:
        return [
            self._java or "java",
            f"-Xms{min(heap_mb, 256)}m",
            f"-Xmx{heap_mb}m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={node.dir / 'log4j2.yaml'}",
            f"-Dkafka.logs.dir={node.dir}",
            "-cp",
            self._cp or "",
            main,
            *args,
        ]

    def _format_all(self) -> None:
        cluster_id = _cluster_id()
        procs = []
        for node in self.nodes:
            args = ["format", "-t", cluster_id, "-c", str(node.config), "--ignore-formatted"]
            if self.brokers == 1:
                args.append("--standalone")
            cmd = self._jvm(node, "kafka.tools.StorageTool", *args, heap_mb=128)
            procs.append(
                (
                    node,
                    subprocess.Popen(
                        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
                    ),
                )
            )
        for node, proc in procs:
            out, _ = proc.communicate(timeout=120)
            if proc.returncode != 0:
                raise StartupError(
                    f"formatting the storage of node {node.node_id} failed "
                    f"(exit {proc.returncode}):\n{out[-2000:]}"
                )

    def _spawn(self, node: LocalNode) -> None:
        node.dir.mkdir(parents=True, exist_ok=True)
        out = open(node.dir / "stdout.log", "ab")  # noqa: SIM115 - handed to the child
        node.ready_offset = node.log_file.stat().st_size if node.log_file.exists() else 0  # type: ignore[attr-defined]
        cmd = self._jvm(node, "kafka.Kafka", str(node.config), heap_mb=self.heap_mb)
        node.proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,  # a Ctrl-C aimed at the supervisor is not the broker's
        )
        out.close()
        node.status = "running"

    def _wait_ready(self, nodes: list[LocalNode], deadline: float) -> None:
        pending = list(nodes)
        while pending:
            for node in list(pending):
                if not node.running():
                    node.status = "exited"
                    raise StartupError(
                        f"broker {node.node_id} exited during startup (exit "
                        f"{node.proc.returncode if node.proc else '?'}); its log is "  # type: ignore[union-attr]
                        f"{node.log_file}:\n{_tail(node.log_file)}{_tail(node.dir / 'stdout.log')}"
                    )
                if _log_has(node.log_file, READY_LINE, node.ready_offset):  # type: ignore[attr-defined]
                    pending.remove(node)
            if not pending:
                return
            if time.monotonic() > deadline:
                names = ", ".join(str(n.node_id) for n in pending)
                raise StartupError(
                    f"broker(s) {names} not ready after {self.startup_timeout:.0f} s; "
                    f"see {pending[0].log_file}:\n{_tail(pending[0].log_file)}"
                )
            time.sleep(0.05)


def _cluster_id() -> str:
    # Kafka's cluster ids are 16 random bytes in URL-safe base64 without padding (as random-uuid
    # prints them); making one here saves a JVM start.
    import base64

    while True:  # as Kafka's Uuid.randomUuid: an id starting with "-" would read as an option
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _log_has(path: Path, text: str, offset: int = 0) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return text.encode() in fh.read()
    except FileNotFoundError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
    except FileNotFoundError:
        return ""
