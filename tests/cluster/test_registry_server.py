"""RegistryServer: clear errors when it cannot start, the foreground entry point, and a JVM that
never outlives the Python process that started it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from labkit.cluster.ports import pick_port as free_port
from labkit.cluster.registry import HOME_ENV, ensure_distribution
from labkit.schemas import ConfluentRegistry, RegistryServer, RegistryServerError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (killed, not yet reaped by its parent) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def _wait_gone(pid: int, seconds: float = 15.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.fixture(scope="module")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """A registry of this module's own, to test the server class itself."""
    with RegistryServer(workdir=tmp_path_factory.mktemp("registry"), heap_mb=256) as server:
        yield server


def test_the_session_server_answers_and_reports_where_it_logs(registry_server):
    assert registry_server.running
    assert registry_server.url.endswith("/apis/ccompat/v7")
    assert registry_server.log_path.is_file()
    assert registry_server.startup_seconds is not None
    assert ConfluentRegistry(registry_server.url).subjects() is not None


def test_a_missing_java_is_a_clear_error(tmp_path):
    ensure_distribution()  # resolved already by the session server; keeps this test about java
    server = RegistryServer(java=str(tmp_path / "no-java"), workdir=tmp_path)
    started = time.monotonic()
    with pytest.raises(RegistryServerError, match="java not found"):
        server.start()
    assert time.monotonic() - started < 5


def test_a_jvm_that_exits_is_reported_at_once_with_the_log(tmp_path, monkeypatch):
    dist = tmp_path / "dist"
    dist.mkdir()
    with zipfile.ZipFile(dist / "broken-runner.jar", "w") as jar:  # a jar without a main class
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    monkeypatch.setenv(HOME_ENV, str(dist))
    server = RegistryServer(workdir=tmp_path / "work")
    started = time.monotonic()
    with pytest.raises(RegistryServerError) as info:
        server.start()
    assert time.monotonic() - started < 10
    message = str(info.value)
    assert "the JVM exited with code" in message
    assert str(server.log_path) in message
    assert "no main manifest attribute" in message  # the log's last lines are included
    assert not server.running


def test_a_port_in_use_is_reported(tmp_path):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        server = RegistryServer(port=port, workdir=tmp_path, startup_timeout=60)
        with pytest.raises(RegistryServerError, match="did not start"):
            server.start()
    assert not server.running


def test_module_entry_point_prints_the_url_and_its_jvm_dies_with_it(tmp_path):
    """``python -m labkit.cluster.registry`` in the foreground; SIGKILL it (no chance to
    clean up) and its JVM goes too, through PR_SET_PDEATHSIG."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "labkit.cluster.registry",
            "--port",
            str(port),
            "--workdir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = proc.stdout.readline().strip()
        assert url == f"http://127.0.0.1:{port}/apis/ccompat/v7", proc.stderr.read()
        status = proc.stderr.readline()
        jvm_pid = int(status.split("JVM pid ")[1].split(")")[0])
        assert _alive(jvm_pid)
        assert ConfluentRegistry(url).subjects() == []
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        assert _wait_gone(jvm_pid), "the registry JVM outlived its parent"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stop_and_context_manager_end_the_jvm(tmp_path):
    with RegistryServer(workdir=tmp_path, heap_mb=256) as server:
        pid = server.process.pid
        assert ConfluentRegistry(server.url).subjects() == []
    assert not server.running
    assert _wait_gone(pid)
    server.stop()  # twice is fine


def test_the_global_compatibility_is_backward_as_in_confluents_registry(registry_server):
    assert ConfluentRegistry(registry_server.url).get_compatibility() == "BACKWARD"
