"""The lab's state file: how processes other than the one that started a lab find and trust it.

A running lab is described by ``<lab home>/lab.json``, written atomically by the lab's supervisor.
Readers never trust it blindly: a file that does not parse, lacks fields, or names a supervisor
that is no longer alive is *stale*; :func:`read_state` cleans it up (and any broker process it
still names) and reports that nothing is running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from labkit.cluster.jars import cache_root

log = logging.getLogger("labkit.cluster")

STATE_VERSION = 1


def lab_home() -> Path:
    """The directory of the lab's state, logs and data (``$LABKIT_HOME`` or ``~/.cache/labkit/lab``)."""
    env = os.environ.get("LABKIT_HOME")
    return Path(env) if env else cache_root() / "lab"


@dataclass
class BrokerInfo:
    node_id: int
    host: str
    port: int
    controller_port: int | None = None
    pid: int | None = None
    status: str = "running"  # running | stopped | paused | killed
    log_file: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass
class LabInfo:
    backend: str
    bootstrap_servers: str
    brokers: list[BrokerInfo] = field(default_factory=list)
    status: str = "running"  # starting | running | failed
    started_at: float = field(default_factory=time.time)
    supervisor_pid: int | None = None
    control_socket: str | None = None
    home: str | None = None
    logs_dir: str | None = None
    kafka_version: str | None = None
    schema_registry_url: str | None = None
    error: str | None = None
    version: int = STATE_VERSION

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> LabInfo:
        if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
            raise ValueError("unknown state version")
        brokers = [BrokerInfo(**b) for b in data.get("brokers", [])]
        fields = {k: v for k, v in data.items() if k != "brokers"}
        info = cls(**fields, brokers=brokers)
        if not info.backend or not info.bootstrap_servers:
            raise ValueError("backend or bootstrap_servers missing")
        return info


def state_path(home: Path | None = None) -> Path:
    return (home or lab_home()) / "lab.json"


def write_state(info: LabInfo, home: Path | None = None) -> None:
    """Write the state atomically (readers see the old or the new file, never half of one)."""
    path = state_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(info.to_json(), indent=2))
    os.replace(tmp, path)


def remove_state(home: Path | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        state_path(home).unlink()


def pid_alive(pid: int | None, must_contain: str | None = None) -> bool:
    """True when ``pid`` runs (and, on Linux, its command line contains ``must_contain``)."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if must_contain:
        cmdline = Path(f"/proc/{pid}/cmdline")
        if cmdline.exists():
            try:
                text = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                return False
            if must_contain not in text:
                return False  # the pid was reused by another program
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()
            if stat and stat[0] == "Z":
                return False
    return True


def read_state(home: Path | None = None) -> LabInfo | None:
    """The running lab's state, or None. Stale or corrupt state is cleaned, never trusted."""
    path = state_path(home)
    try:
        raw = path.read_text()
    except FileNotFoundError:
        return None
    try:
        info = LabInfo.from_json(json.loads(raw))
    except (ValueError, TypeError) as exc:
        log.warning(
            "Lab state %s is corrupt (%s); removed it. Start a lab with `labkit up`.", path, exc
        )
        _clean(home, None)
        return None
    if info.backend == "external":
        return info
    if not pid_alive(info.supervisor_pid, must_contain="labkit"):
        log.warning(
            "Lab state %s names a supervisor (pid %s) that is not running; cleaned it up.",
            path,
            info.supervisor_pid,
        )
        _clean(home, info)
        return None
    return info


def _clean(home: Path | None, info: LabInfo | None) -> None:
    """Remove a stale state file and stop any broker JVM that it still names."""
    if info:
        for broker in info.brokers:
            if pid_alive(broker.pid, must_contain="kafka.Kafka"):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(broker.pid, signal.SIGKILL)  # type: ignore[arg-type]
    remove_state(home)


@contextlib.contextmanager
def lab_lock(home: Path | None = None) -> Iterator[None]:
    """Serialise start/stop of the lab across processes."""
    home = home or lab_home()
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "lab.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
