"""The SIGKILL experiment behind the crash-safety tests (also runnable alone, for a report).

An app (``labkit.streams.examples.customer_totals``) runs as a subprocess over a topic of orders;
it is killed with SIGKILL at seeded random points while it processes - each time once its group
has committed progress beyond the previous run's - and started again; after the last kill it runs
until idle. Then the output topic (read_committed), the stores' SQLite files and a fresh restore
of the changelogs are compared with the oracle: totals and counts computed in plain Python.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException

from labkit.streams import StreamApp, read_table
from labkit.streams.examples.customer_totals import COUNTS_STORE, TOTALS_STORE, amount_cents, build


@dataclass
class CrashReport:
    guarantee: str
    orders: int
    kills: list[int] = field(default_factory=list)  # input offsets committed when killed
    output: dict[str, int] = field(default_factory=dict)
    sqlite_totals: dict[str, int] = field(default_factory=dict)
    restored_totals: dict[str, int] = field(default_factory=dict)
    restored_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Orders counted more than once (counts store total minus the number of orders)."""
        return sum(self.restored_counts.values()) - self.orders


def oracle(orders: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Totals (cents) and order counts per customer, in plain Python."""
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for order in orders:
        totals[order["customerId"]] += amount_cents(order)
        counts[order["customerId"]] += 1
    return dict(totals), dict(counts)


def _committed(lab: Any, group: str, topic: str) -> int:
    """The group's committed offsets on ``topic``, summed over partitions."""
    request = [ConsumerGroupTopicPartitions(group)]
    try:
        result = lab.groups.admin.list_consumer_group_offsets(request)[group].result()
    except KafkaException:
        return 0
    return sum(tp.offset for tp in result.topic_partitions if tp.topic == topic and tp.offset > 0)


def _command(
    lab: Any,
    app_id: str,
    source: str,
    output: str,
    guarantee: str,
    state: Path,
    max_rate: float | None = None,
    commit_interval: float | None = None,
    instance: str = "0",
    until_idle: float = 3.0,
) -> list[str]:
    rate = ["--max-rate", str(max_rate)] if max_rate else []
    if commit_interval is not None:
        rate += ["--commit-interval", str(commit_interval)]
    return [
        sys.executable,
        "-m",
        "labkit.streams.examples.customer_totals",
        *rate,
        "-b",
        lab.bootstrap_servers,
        "-t",
        source,
        "--output",
        output,
        "--app-id",
        app_id,
        "--guarantee",
        guarantee,
        "--state-dir",
        str(state),
        "--until-idle",
        str(until_idle),
        "--instance",
        instance,
        "--session-timeout-ms",
        "6000",
    ]


def sqlite_table(state: Path, app_id: str, store: str) -> dict[str, int]:
    """A store's contents read straight from its SQLite files (one per task), with SQL."""
    table: dict[str, int] = {}
    for path in sorted((state / app_id).glob(f"*/{store}.sqlite")):
        with sqlite3.connect(path) as conn:
            rows = conn.execute("SELECT key, json_extract(value, '$') FROM kv").fetchall()
        table.update(dict(rows))
    return table


def run_experiment(
    lab: Any,
    app_id: str,
    source: str,
    output: str,
    orders: int,
    guarantee: str,
    state: Path,
    kills: int = 5,
    seed: int = 7,
    max_rate: float = 4000.0,
    commit_interval: float | None = None,
    log=print,  # noqa: ANN001
) -> CrashReport:
    rng = random.Random(seed)
    report = CrashReport(guarantee, orders)
    cmd = _command(lab, app_id, source, output, guarantee, state, max_rate, commit_interval)
    started = time.monotonic()
    last = _committed(lab, app_id, source)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for round_ in range(kills):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:  # wait until this run has committed progress of its own
                now = _committed(lab, app_id, source)
                if now > last:
                    break
                if proc.poll() is not None:
                    raise AssertionError(
                        f"run {round_} ended before it was killed: {proc.stderr.read().decode()}"
                    )
                if time.monotonic() > deadline:
                    raise AssertionError(f"run {round_} made no progress in 60 s")
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 1.0))
            if proc.poll() is not None:
                raise AssertionError(
                    f"run {round_} finished before the kill; use more orders "
                    f"({proc.stdout.read().decode()})"
                )
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
        last = _committed(lab, app_id, source)
        report.kills.append(last)
        log(f"{guarantee}: SIGKILL {round_ + 1} with {last}/{orders} input offsets committed")
    final_cmd = _command(lab, app_id, source, output, guarantee, state, None, commit_interval)
    final = subprocess.run(final_cmd, capture_output=True, text=True, env=env, timeout=240)
    if final.returncode != 0:
        raise AssertionError(f"the final run failed:\n{final.stderr}")
    done = json.loads(final.stdout.strip().splitlines()[-1])
    log(f"{guarantee}: final run {done}")
    report.output = read_table(lab, output, timeout=60)
    report.sqlite_totals = sqlite_table(state, app_id, TOTALS_STORE)
    # A fresh instance with in-memory stores rebuilds both tables from the changelogs alone.
    check = build(
        StreamApp(app_id, lab, guarantee=guarantee, store_type="memory", state_dir=state / "check"),
        source,
        output=None,
    )
    check.run(until_idle=1.0)
    report.restored_totals = check.store(TOTALS_STORE).to_dict()
    report.restored_counts = check.store(COUNTS_STORE).to_dict()
    check.close()
    report.seconds = time.monotonic() - started
    return report
