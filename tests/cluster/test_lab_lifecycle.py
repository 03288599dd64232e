"""A lab of its own (separate LABKIT_HOME): started by the CLI, attached from other processes,
fault controls, stopped cleanly, and no JVM left behind when its supervisor dies."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from confluent_kafka import Producer

from labkit.cluster.local import LocalCluster
from labkit.cluster.state import pid_alive, read_state


def cli(home: Path, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "LABKIT_HOME": str(home)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return subprocess.run(
        [sys.executable, "-m", "labkit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def in_lab(home: Path, code: str, timeout: float = 120) -> str:
    """Run Python code in a fresh process attached to the lab at ``home``; return its stdout."""
    env = {**os.environ, "LABKIT_HOME": str(home)}
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    done = subprocess.run(
        [sys.executable, "-c", "import labkit\nlab = labkit.lab(start=False)\n" + code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_dead(pids: list[int], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(pid_alive(p, "kafka.Kafka") for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_three_node_lab_survives_a_killed_broker_and_stops_clean(tmp_path):
    home = tmp_path / "lab3"
    up = cli(home, "up", "--brokers", "3", "--backend", "local")
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        status = json.loads(cli(home, "status", "--json").stdout)
        assert status["backend"] == "local"
        assert len(status["brokers"]) == 3
        assert {b["status"] for b in status["brokers"]} == {"running"}
        assert status["bootstrap_servers"].count(",") == 2
        for b in status["brokers"]:
            assert Path(b["log_file"]).exists()
        pids = [b["pid"] for b in status["brokers"]]

        out = in_lab(
            home,
            """
lab.topics.fresh("replicated", partitions=3, replication_factor=3, config={"min.insync.replicas": "2"})
print(lab.topics.describe("replicated").replication_factor)
print(lab.produce("replicated", [{"i": i} for i in range(300)], key=lambda r: str(r["i"])).count)
""",
        )
        assert out.split() == ["3", "300"]

        killed = cli(home, "broker", "kill", "2")
        assert killed.returncode == 0 and "killed" in killed.stdout
        assert wait_dead([pids[1]], timeout=5)

        out = in_lab(
            home,
            """
print(lab.produce("replicated", [{"i": i} for i in range(300, 600)], key=lambda r: str(r["i"])).count)
values = sorted(r["i"] for r in lab.read("replicated", timeout=30)["value"])
print(values == list(range(600)))
print(sorted(b.status for b in lab.brokers))
""",
        )
        assert out.split("\n")[:2] == ["300", "True"]
        assert "['killed', 'running', 'running']" in out

        for action in ("start", "pause", "resume", "stop", "start"):
            done = cli(home, "broker", action, "2")
            assert done.returncode == 0, done.stderr
        status = json.loads(cli(home, "status", "--json").stdout)
        assert [b["status"] for b in status["brokers"]] == ["running"] * 3
        pids = [b["pid"] for b in status["brokers"]]
    finally:
        down = cli(home, "down")
    assert down.returncode == 0 and "Stopped" in down.stdout
    assert wait_dead(pids, timeout=5)
    assert read_state(home) is None


@pytest.mark.slow
def test_no_orphan_brokers_when_the_supervisor_dies(tmp_path):
    home = tmp_path / "orphan"
    up = cli(home, "up", "--backend", "local")
    assert up.returncode == 0, up.stderr
    info = read_state(home)
    assert info is not None
    broker_pid = info.brokers[0].pid
    assert pid_alive(broker_pid, "kafka.Kafka")
    os.kill(info.supervisor_pid, signal.SIGKILL)
    assert wait_dead([broker_pid], timeout=10), "the broker JVM outlived its supervisor"
    assert read_state(home) is None  # stale state detected and cleaned
    done = cli(home, "down")
    assert "No lab is running" in done.stdout


@pytest.mark.slow
def test_busy_preferred_port_gives_a_working_broker_on_another(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        cluster = LocalCluster(
            brokers=1, home=tmp_path / "ports", preferred_port=taken, heap_mb=256
        )
        try:
            info = cluster.start()
            assert info.brokers[0].port != taken
            producer = Producer({"bootstrap.servers": info.bootstrap_servers})
            producer.produce("port-check", b"x")
            assert producer.flush(30) == 0
        finally:
            cluster.stop()
    assert not cluster.nodes[0].running()


def test_warm_attach_from_another_process_finds_the_session_lab(lab):
    # the session lab, found through the state file by a new process
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import labkit; lab = labkit.lab(start=False); print(lab.bootstrap_servers)",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == lab.bootstrap_servers


@pytest.mark.slow
def test_up_with_registry_publishes_its_url_and_down_stops_it(tmp_path):
    from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

    home = tmp_path / "reg"
    up = cli(home, "up", "--backend", "local", "--registry")
    assert up.returncode == 0, up.stderr + up.stdout
    try:
        status = json.loads(cli(home, "status", "--json").stdout)
        url = status["schema_registry_url"]
        assert url.startswith("http://127.0.0.1:") and url.endswith("/apis/ccompat/v7")
        client = SchemaRegistryClient({"url": url})
        schema = Schema('{"type": "record", "name": "Ping", "fields": []}', "AVRO")
        schema_id = client.register_schema("ping-value", schema)
        assert client.get_subjects() == ["ping-value"]
        assert (
            client.get_schema(schema_id).schema_str.replace(" ", "").startswith('{"type":"record"')
        )
    finally:
        cli(home, "down")
    with pytest.raises(Exception):  # noqa: B017 - any connection error: nothing listens any more
        SchemaRegistryClient({"url": url, "timeout": 2}).get_subjects()


@pytest.mark.slow
def test_a_port_taken_between_choice_and_bind_is_retried_elsewhere(tmp_path, monkeypatch):
    from labkit.cluster import local

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        real_pick = local.pick_port
        calls = []

        def pick_then_lose_the_race(preferred=None, host="127.0.0.1", avoid=None):
            calls.append(preferred)
            # the first broker port "was free" when chosen; someone else has it by bind time
            return taken if len(calls) == 1 else real_pick(preferred, host, avoid)

        monkeypatch.setattr(local, "pick_port", pick_then_lose_the_race)
        cluster = LocalCluster(brokers=1, home=tmp_path / "race", heap_mb=256)
        try:
            info = cluster.start()
            assert info.brokers[0].port != taken
            producer = Producer({"bootstrap.servers": info.bootstrap_servers})
            producer.produce("race-check", b"x")
            assert producer.flush(30) == 0
        finally:
            cluster.stop()
