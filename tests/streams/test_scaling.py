"""Scaling out: instances with one application id share the partitions, and state follows them.

One instance runs as a process (throttled, so it is still busy when killed); a second joins in this
process, takes part of the partitions and restores their stores from the changelog topics. Then
the first is killed with SIGKILL mid-transaction. Once its session times out, the survivor takes
all the partitions, restores the dead instance's stores from their changelogs (read_committed:
nothing of the aborted transaction) and finishes the input. Under exactly-once the totals equal the
oracle exactly, in the output topic and in the stores, and no order is counted twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from labkit.streams import read_table
from labkit.streams.crash import committed, example_command
from labkit.streams.examples.customer_totals import COUNTS_STORE, TOTALS_STORE, build
from tests.streams.crash import oracle

ORDERS = 30_000


def wait_for(condition, timeout: float, what: str, proc: subprocess.Popen | None = None):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the first instance exited: {proc.stderr.read().decode()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(0.1)


@pytest.mark.timeout(240)
def test_two_instances_share_the_work_and_one_killed_mid_run_loses_nothing(
    lab, orders_topic, topic_factory, unique, tmp_path, make_app
):
    source, orders = orders_topic(ORDERS, partitions=3, seed=41)
    output = topic_factory("customer-totals", partitions=3)
    app_id = unique("scale")
    totals, counts = oracle(orders)
    cmd = example_command(
        lab,
        app_id,
        source,
        output,
        "exactly_once",
        state_dir=tmp_path / "b",
        max_rate=1500.0,
        instance="b",
        until_idle=60.0,
    )
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    second = make_app(  # reset at the end (internal topics, group), whatever happens
        app_id,
        guarantee="exactly_once",
        instance="a",
        state_dir=tmp_path / "a",
        consumer_config={"session.timeout.ms": 6000},
    )
    build(second, source, output)
    try:
        wait_for(lambda: committed(lab, app_id, source) >= 3_000, 60, "progress", first)
        second.start()
        # the rebalance splits the tasks; the second instance restores its stores' partitions
        wait_for(
            lambda: second.store(TOTALS_STORE).partitions and second.metrics.input_records > 0,
            60,
            "the second instance's share",
            first,
        )
        assert 0 < len(second.store(TOTALS_STORE).partitions) < 3
        joined_restored = second.metrics.restored
        assert joined_restored > 0  # state moved through the changelog
        time.sleep(1.0)
        done_at_kill = committed(lab, app_id, source)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert done_at_kill < ORDERS, "the first instance finished before it was killed"
        wait_for(
            lambda: second.store(TOTALS_STORE).to_dict() == totals,
            150,
            "the survivor's totals equal to the oracle",
        )
        assert len(second.store(TOTALS_STORE).partitions) == 3
        assert second.metrics.restored > joined_restored  # the dead one's stores, too
        assert second.store(COUNTS_STORE).to_dict() == counts  # no order counted twice
    finally:
        if first.poll() is None:
            first.kill()
        second.stop()
    assert second.error is None
    assert read_table(lab, output, timeout=60) == totals
    assert len(lab.groups.describe(app_id).members) == 0
