"""Crash experiments: kill a stream app with SIGKILL mid-stream, at seeded moments, then recover.

The app is the example ``python -m labkit.streams.examples.customer_totals``, run as a process of
its own over a topic of orders and held to ``max_rate`` orders a second so that it is caught
mid-stream. Each run is killed (no clean shutdown, no last commit) once its consumer group has
committed progress beyond the previous run's, after a further delay drawn from
``random.Random(seed)``: the same seed gives the same delays. After the last kill the app runs
once more, unthrottled, until idle. What is then on the output topic and in the stores is for the
caller to audit (:func:`~labkit.streams.read_table`, :func:`~labkit.streams.store_sql`).

>>> from labkit.streams import crash                                         # doctest: +SKIP
>>> run = crash.crash_and_recover(lab, "totals-crash", "orders", "totals-out",
...                               "exactly_once", kills=3, seed=7)           # doctest: +SKIP
>>> [f"{k.delay:.2f}" for k in run.kills], run.final["stopped_by"]           # doctest: +SKIP
(['0.32', '0.15', '0.65'], 'idle')
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException

from labkit.streams.config import Guarantee

EXAMPLE = "labkit.streams.examples.customer_totals"


@dataclass(frozen=True)
class Kill:
    """One SIGKILL: the run it ended (1, 2, ...), how long after that run's first commit it came
    (seeded), and the input offsets the group had committed by then (timing-dependent)."""

    run: int
    delay: float
    committed: int


@dataclass
class CrashRun:
    """What :func:`crash_and_recover` did: the kills, and the recovering run's closing line
    (``input_records``, ``records``, ``commits``, ``stopped_by``, ``restored``)."""

    app_id: str
    guarantee: str
    kills: list[Kill] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


def committed(lab: Any, group: str, topic: str) -> int:
    """The offsets ``group`` has committed on ``topic``, summed over its partitions (0 before
    the group's first commit): how many of the topic's records it has processed for good.

    >>> committed(lab, "customer-totals", "orders")                         # doctest: +SKIP
    5500
    """
    request = [ConsumerGroupTopicPartitions(group)]
    try:
        result = lab.groups.admin.list_consumer_group_offsets(request)[group].result()
    except KafkaException:
        return 0
    return sum(tp.offset for tp in result.topic_partitions if tp.topic == topic and tp.offset > 0)


def example_command(
    lab: Any,
    app_id: str,
    source: str,
    output: str,
    guarantee: Guarantee,
    *,
    state_dir: Path | str | None = None,
    instance: str = "0",
    max_rate: float | None = None,
    commit_interval: float | None = None,
    until_idle: float = 3.0,
    session_timeout_ms: int = 6000,
) -> list[str]:
    """The command line that runs the customer-totals example as a process of its own.
    ``session_timeout_ms``: how long the group waits for a killed member before its partitions
    move on (6 s, the broker's minimum, keeps the restarts quick).

    >>> example_command(lab, "totals", "orders", "totals-out", "exactly_once")[1:3]  # doctest: +SKIP
    ['-m', 'labkit.streams.examples.customer_totals']
    """
    cmd = [sys.executable, "-m", EXAMPLE, "-b", lab.bootstrap_servers, "-t", source]
    cmd += ["--output", output, "--app-id", app_id, "--guarantee", guarantee]
    cmd += ["--instance", instance, "--until-idle", str(until_idle)]
    cmd += ["--session-timeout-ms", str(session_timeout_ms)]
    if state_dir is not None:
        cmd += ["--state-dir", str(state_dir)]
    if max_rate:
        cmd += ["--max-rate", str(max_rate)]
    if commit_interval is not None:
        cmd += ["--commit-interval", str(commit_interval)]
    return cmd


def crash_and_recover(
    lab: Any,
    app_id: str,
    source: str,
    output: str,
    guarantee: Guarantee,
    *,
    kills: int = 3,
    seed: int = 7,
    max_rate: float = 1000.0,
    commit_interval: float | None = None,
    state_dir: Path | str | None = None,
    until_idle: float = 3.0,
    progress_timeout: float = 60.0,
    final_timeout: float = 240.0,
    on_kill: Callable[[Kill], None] | None = None,
) -> CrashRun:
    """Run the customer-totals example over ``source`` and SIGKILL it ``kills`` times
    mid-stream, then let it run to the end; return what happened. Each run is killed
    ``random.Random(seed).uniform(0, 1)`` seconds after its group first committed progress of
    its own; ``on_kill(kill)`` is called after each kill. Raises ``AssertionError`` (with the
    app's stderr) when a run makes no progress within ``progress_timeout`` or finishes before
    its kill (give it more input or a lower ``max_rate``). The app is not reset first: reset
    it (``customer_totals.build(StreamApp(app_id, lab), source).reset()``) to start over.
    """
    rng = random.Random(seed)
    report = CrashRun(app_id, guarantee)
    options: dict[str, Any] = {
        "state_dir": state_dir,
        "commit_interval": commit_interval,
        "until_idle": until_idle,
    }
    throttled = example_command(
        lab, app_id, source, output, guarantee, max_rate=max_rate, **options
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    last = committed(lab, app_id, source)
    for run in range(1, kills + 1):
        delay = rng.uniform(0.0, 1.0)
        with tempfile.TemporaryFile() as stderr:
            proc = subprocess.Popen(throttled, stdout=subprocess.DEVNULL, stderr=stderr, env=env)
            try:
                _wait_for_progress(lab, app_id, source, last, proc, stderr, run, progress_timeout)
                time.sleep(delay)
                if proc.poll() is not None:
                    raise AssertionError(
                        f"run {run} of {app_id} finished before its kill; give it more input or "
                        f"a lower max_rate ({_tail(stderr)})"
                    )
                proc.send_signal(signal.SIGKILL)  # no clean shutdown, no last commit
                proc.wait(10)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(10)
        last = committed(lab, app_id, source)
        kill = Kill(run, delay, last)
        report.kills.append(kill)
        if on_kill is not None:
            on_kill(kill)
    recover = example_command(lab, app_id, source, output, guarantee, **options)
    final = subprocess.run(
        recover, capture_output=True, text=True, env=env, timeout=final_timeout, check=False
    )
    if final.returncode != 0:
        raise AssertionError(f"the recovering run of {app_id} failed:\n{final.stderr}")
    report.final = json.loads(final.stdout.strip().splitlines()[-1])
    report.seconds = time.monotonic() - started
    return report


def _wait_for_progress(
    lab: Any,
    app_id: str,
    source: str,
    last: int,
    proc: subprocess.Popen,
    stderr: Any,
    run: int,
    timeout: float,
) -> None:
    """Until the group has committed beyond ``last``: this run's own progress."""
    deadline = time.monotonic() + timeout
    while committed(lab, app_id, source) <= last:
        if proc.poll() is not None:
            raise AssertionError(f"run {run} of {app_id} ended before its kill: {_tail(stderr)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run} of {app_id} made no progress in {timeout:.0f} s")
        time.sleep(0.05)


def _tail(stderr: Any, limit: int = 4000) -> str:
    stderr.seek(0)
    text = stderr.read().decode("utf-8", "replace")
    return text[-limit:] or "no output on stderr"
