"""State across runs, restarts and instances: checkpoints, changelog restores, rebalances."""

from __future__ import annotations

import time

import pytest

import labkit
from labkit.streams import read_table
from tests.streams.conftest import cents_app
from tests.streams.oracle import oracle_totals_cents


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(0.1)


@pytest.mark.parametrize("guarantee", ["exactly_once", "at_least_once"])
def test_a_clean_restart_resumes_from_the_checkpoint_and_an_in_memory_store_restores(
    lab, topic_factory, make_app, unique, tmp_path, guarantee
):
    source = topic_factory("orders", partitions=3)
    orders = labkit.data.orders(3_000, seed=8)
    lab.produce(source, orders[:2_000], key="orderId")
    app_id = unique("restart")
    first = make_app(app_id, guarantee=guarantee, store_type="sqlite")
    cents_app(first, source)
    first.run(until_idle=1.0, timeout=60)
    first.close()
    assert first.metrics.restored == 0  # nothing to restore the first time

    lab.produce(source, orders[2_000:], key="orderId")
    again = make_app(app_id, guarantee=guarantee, store_type="sqlite")  # a new process, say
    cents_app(again, source)
    result = again.run(until_idle=1.0, timeout=60)
    assert again.metrics.restored == 0  # the SQLite files were up to their checkpoints
    assert result.input_records == 1_000  # and the input resumed at the committed offsets
    assert again.store("totals").to_dict() == oracle_totals_cents(orders)
    again.close()

    memory = make_app(app_id, guarantee=guarantee, store_type="memory", state_dir=tmp_path / "m")
    cents_app(memory, source)
    result = memory.run(until_idle=1.0, timeout=60)
    assert result.input_records == 0
    assert memory.metrics.restored > 0  # rebuilt from the changelog topic alone
    assert memory.store("totals").to_dict() == oracle_totals_cents(orders)


def test_a_recreated_changelog_makes_a_local_store_start_over(
    lab, orders_topic, make_app, unique, tmp_path
):
    source, orders = orders_topic(1_000, seed=12)
    app_id = unique("stale")
    first = make_app(app_id, guarantee="exactly_once", cache_max_keys=0)
    cents_app(first, source)
    first.run(until_idle=1.0, timeout=60)
    first.close()
    # The cluster side is reset by hand (internal topics, group) but not the state directory,
    lab.topics.delete(first.topology.internal_topics())
    lab.groups.delete(app_id)
    # and an instance elsewhere processes everything again into the new changelog.
    elsewhere = make_app(
        app_id, guarantee="exactly_once", cache_max_keys=0, state_dir=tmp_path / "x"
    )
    cents_app(elsewhere, source)
    elsewhere.run(until_idle=1.0, timeout=60)
    elsewhere.close()
    again = make_app(app_id, guarantee="exactly_once")
    cents_app(again, source)
    again.run(until_idle=1.0, timeout=60)
    # The old SQLite checkpoints lie inside the new changelog's offsets, but they were taken on
    # the old topic (another topic id): the store starts over and restores the new changelog,
    # instead of adding its records to the old totals.
    assert again.metrics.restored > 0
    assert again.store("totals").to_dict() == oracle_totals_cents(orders)


@pytest.mark.timeout(180)
def test_a_second_instance_takes_over_partitions_with_their_state(
    lab, topic_factory, make_app, unique, tmp_path
):
    source = topic_factory("orders", partitions=3)
    output = topic_factory("totals", partitions=3)
    orders = labkit.data.orders(6_000, seed=13)
    lab.produce(source, orders[:3_000], key="orderId")
    app_id = unique("pair")
    a = make_app(app_id, guarantee="exactly_once", instance="a", state_dir=tmp_path / "a")
    b = make_app(
        app_id,
        guarantee="exactly_once",
        instance="b",
        state_dir=tmp_path / "b",
        store_type="memory",
    )
    for app in (a, b):
        cents_app(app, source, output)
    a.start()
    try:
        first = oracle_totals_cents(orders[:3_000])
        wait_for(lambda: a.store("totals").to_dict() == first, what="instance a's totals")
        b.start()
        # a rebalance gives b some of the tasks; b restores their stores from the changelogs
        wait_for(
            lambda: (
                b.store("totals").partitions
                and len(a.store("totals").partitions) + len(b.store("totals").partitions) == 3
            ),
            what="the rebalance",
        )
        assert b.metrics.restored > 0
        lab.produce(source, orders[3_000:], key="orderId")
        expected = oracle_totals_cents(orders)
        wait_for(
            lambda: {**a.store("totals").to_dict(), **b.store("totals").to_dict()} == expected,
            what="all totals across both instances",
        )
    finally:
        b.stop()
        a.stop()
    assert read_table(lab, output) == expected
    assert len(lab.groups.describe(app_id).members) == 0
