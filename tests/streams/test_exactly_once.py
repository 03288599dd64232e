"""Exactly-once: abortable errors abort and rewind, a fenced producer is replaced, and the commit
interval sets how often a busy app commits. Totals stay exact (integer cents, see conftest.py).
"""

from __future__ import annotations

import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

import labkit
from labkit.streams import producer as producer_module
from labkit.streams import read_table
from labkit.streams.examples.customer_totals import RateLimit
from tests.streams.conftest import cents_app
from tests.streams.oracle import oracle_totals_cents


class FlakyProducer:
    """confluent-kafka's Producer, except that chosen calls fail with an abortable error, as a
    broker can make them fail (a partition leader moving mid-transaction, a timeout)."""

    def __init__(self, real: Producer, method: str, fail_on: set[int]) -> None:
        self._real = real
        self._method = method
        self._fail_on = fail_on
        self.calls = 0

    def __getattr__(self, name: str):
        attr = getattr(self._real, name)
        if name != self._method:
            return attr

        def call(*args, **kwargs):
            self.calls += 1
            if self.calls in self._fail_on:
                raise KafkaException(
                    KafkaError(
                        KafkaError._STATE, "injected abortable error", txn_requires_abort=True
                    )
                )
            return attr(*args, **kwargs)

        return call


def wait_for(condition, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout:.0f} s")
        time.sleep(0.1)


@pytest.mark.parametrize(("method", "fail_on"), [("commit_transaction", {2}), ("produce", {3000})])
def test_an_abortable_error_aborts_and_rewinds_and_totals_stay_exact(
    lab, orders_topic, topic_factory, make_app, monkeypatch, method, fail_on
):
    source, orders = orders_topic(6_000, seed=21)
    output = topic_factory("totals", partitions=3)
    real_init = producer_module.StreamsProducer.__init__
    flaky: list[FlakyProducer] = []

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        if not flaky:  # only the first producer of the run
            flaky.append(FlakyProducer(self._producer, method, fail_on))
            self._producer = flaky[0]

    monkeypatch.setattr(producer_module.StreamsProducer, "__init__", init)
    app = make_app(guarantee="exactly_once")
    cents_app(app, source, output)
    result = app.run(until_idle=2.0, timeout=120)

    assert flaky[0].calls >= max(fail_on)  # the error was injected
    assert result.aborts == 1
    assert result.records > 2 * len(orders)  # the aborted work was processed again
    expected = oracle_totals_cents(orders)
    assert app.store("totals").to_dict() == expected
    assert read_table(lab, output) == expected


@pytest.mark.timeout(180)
def test_a_fenced_producer_is_replaced_and_totals_stay_exact(lab, topic_factory, make_app):
    source = topic_factory("orders", partitions=3)
    output = topic_factory("totals", partitions=3)
    first, second = (
        labkit.data.orders(4_000, seed=2)[:2_000],
        labkit.data.orders(4_000, seed=2)[2_000:],
    )
    lab.produce(source, first, key="orderId")
    app = make_app(guarantee="exactly_once")
    cents_app(app, source, output)
    app.start()
    try:
        wait_for(
            lambda: app.store("totals").to_dict() == oracle_totals_cents(first),
            what="the first 2,000 orders",
        )
        # A newer producer with the app's transactional.id fences the app's producer...
        zombie_killer = Producer(
            {
                "bootstrap.servers": lab.bootstrap_servers,
                "transactional.id": app.config.transactional_id,
            }
        )
        zombie_killer.init_transactions(30)
        # ...so its next transaction fails; it must build a new producer and redo that work.
        lab.produce(source, second, key="orderId")
        wait_for(
            lambda: app.store("totals").to_dict() == oracle_totals_cents(first + second),
            what="all 4,000 orders",
        )
    finally:
        app.stop()
    assert app.metrics.fenced == 1
    assert app.state == "STOPPED"
    assert read_table(lab, output) == oracle_totals_cents(first + second)


def test_the_commit_interval_sets_how_often_a_busy_app_commits(lab, orders_topic, make_app):
    source, orders = orders_topic(1_500, seed=4)
    commits = {}
    for interval in (0.05, 30.0):
        app = make_app(guarantee="exactly_once", commit_interval=interval)
        app.stream(source).peek(RateLimit(1_000)).group_by(lambda k, o: o["customerId"]).count(
            store="orders"
        )
        result = app.run(until_idle=1.0, timeout=60)
        assert sum(app.store("orders").to_dict().values()) == len(orders)
        commits[interval] = result.commits
    # 1.5 s of steady input: a commit every 50 ms (checked every 64 records, so fewer), or
    # (30 s) only when the input runs dry
    assert commits[0.05] >= 6, commits
    assert commits[30.0] <= 3, commits


@pytest.mark.timeout(180)
def test_two_live_instances_with_one_instance_id_get_a_clear_error(
    lab, orders_topic, make_app, unique, tmp_path
):
    source, _ = orders_topic(20_000, seed=6)
    app_id = unique("twins")
    twins = []
    for name in ("a", "b"):
        app = make_app(app_id, guarantee="exactly_once", state_dir=tmp_path / name)  # instance "0"
        app.stream(source).peek(RateLimit(2_000)).group_by(lambda k, o: o["customerId"]).count(
            store="n"
        )
        twins.append(app.start())
    try:
        wait_for(lambda: any(t.state == "ERROR" for t in twins), timeout=120, what="an error")
    finally:
        errors = []
        for app in twins:
            try:
                app.stop()
            except Exception as exc:
                errors.append(exc)
    assert errors, "neither instance reported the clash"
    message = str(errors[0])
    assert type(errors[0]).__name__ == "ProducerFencedError"
    assert f"transactional.id '{app_id}-0'" in message and "instance=" in message
