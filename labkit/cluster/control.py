"""Start, stop and talk to the lab supervisor from any process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from labkit.cluster.exceptions import ClusterError, LabNotRunningError, StartupError
from labkit.cluster.state import LabInfo, lab_home, pid_alive, read_state, remove_state, state_path


def start_supervisor(
    backend: str,
    brokers: int,
    home: Path | None = None,
    heap_mb: int = 512,
    registry: bool = False,
    timeout: float = 240.0,
    java: str | None = None,
) -> LabInfo:
    """Spawn a detached supervisor and wait until its lab runs (or say why it did not)."""
    home = home or lab_home()
    home.mkdir(parents=True, exist_ok=True)
    remove_state(home)
    log_path = home / "supervisor.log"
    cmd = [
        sys.executable,
        "-m",
        "labkit.cluster.supervisor",
        "--home",
        str(home),
        "--backend",
        backend,
        "--brokers",
        str(brokers),
        "--heap-mb",
        str(heap_mb),
    ]
    if registry:
        cmd.append("--registry")
    if java:
        cmd += ["--java", java]
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        info = _raw_state(home)
        if info is not None and info.supervisor_pid == proc.pid:
            if info.status == "running":
                return info
            if info.status == "failed":
                proc.wait(10)
                remove_state(home)
                raise StartupError(
                    f"the {backend} lab did not start: {info.error}\n(supervisor log: {log_path})"
                )
        if proc.poll() is not None:
            remove_state(home)
            raise StartupError(
                f"the lab supervisor exited with code {proc.returncode} before the "
                f"lab was up; see {log_path}:\n{_tail(log_path)}"
            )
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    raise StartupError(f"the lab did not come up within {timeout:.0f} s; see {log_path}")


def request(op: str, home: Path | None = None, timeout: float = 120.0, **fields) -> dict:
    """Send one request to the running lab's supervisor and return its reply."""
    info = read_state(home)
    if info is None or not info.control_socket:
        raise LabNotRunningError("no lab is running; start one with `labkit up`")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(info.control_socket)
            sock.sendall(json.dumps({"op": op, **fields}).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError as exc:
            raise ClusterError(
                f"the lab supervisor (pid {info.supervisor_pid}) did not answer on "
                f"{info.control_socket}: {exc}"
            ) from exc
    reply = json.loads(data or b'{"ok": false, "error": "empty reply"}')
    if not reply.get("ok"):
        error = reply.get("error", "request failed")
        if error.startswith("unknown request"):
            error += (
                " (the running lab was started by an older labkit; restart it with "
                "`labkit down` and `labkit up`)"
            )
        raise ClusterError(error)
    return reply


def stop_supervisor(home: Path | None = None, timeout: float = 30.0) -> LabInfo | None:
    """Stop the running lab; returns what was running, or None when nothing was."""
    home = home or lab_home()
    info = read_state(home)
    if info is None:
        return None
    if info.backend == "external":
        remove_state(home)
        return info
    try:
        request("stop", home, timeout=5)
    except ClusterError:
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(info.supervisor_pid, signal.SIGTERM)  # type: ignore[arg-type]
    deadline = time.monotonic() + timeout
    while pid_alive(info.supervisor_pid, "labkit") and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(info.supervisor_pid, "labkit"):
        os.kill(info.supervisor_pid, signal.SIGKILL)  # type: ignore[arg-type]
    remove_state(home)
    return info


def _raw_state(home: Path) -> LabInfo | None:
    try:
        return LabInfo.from_json(json.loads(state_path(home).read_text()))
    except (FileNotFoundError, ValueError, TypeError):
        return None


def _tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""
