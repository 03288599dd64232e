"""Crash safety: the app is killed with SIGKILL at 5 seeded random points while it processes.

Under exactly-once the totals after the restarts equal the oracle exactly - in the output topic
(read_committed), in the stores' SQLite files, and in stores rebuilt from the changelogs alone.
Under at-least-once nothing is lost, and the experiment reports how many orders it counted twice.
"""

from __future__ import annotations

import pytest

from tests.streams.crash import oracle, run_experiment

ORDERS = 40_000  # at 4,000 orders/s (throttled) no run gets through them before its kill


@pytest.fixture
def experiment(lab, orders_topic, topic_factory, unique, tmp_path):
    def run(guarantee: str, **kwargs):
        source, orders = orders_topic(ORDERS, partitions=3, seed=3)
        output = topic_factory("customer-totals", partitions=3)
        app_id = unique("crash")
        try:
            report = run_experiment(
                lab, app_id, source, output, ORDERS, guarantee, tmp_path / "state", **kwargs
            )
        finally:
            from labkit.streams import StreamApp
            from labkit.streams.examples.customer_totals import build

            build(StreamApp(app_id, lab, state_dir=tmp_path / "reset"), source, None).reset()
        return report, orders

    return run


@pytest.mark.timeout(300)
def test_exactly_once_totals_are_exact_after_five_sigkills(experiment):
    report, orders = experiment("exactly_once")
    totals, counts = oracle(orders)
    assert len(report.kills) == 5
    assert report.kills[-1] < ORDERS, "the last kill came after all input was processed"
    assert report.output == totals  # the output topic, read_committed, latest per customer
    assert report.sqlite_totals == totals  # the stores' own files, read with SQL
    assert report.restored_totals == totals  # a fresh restore of the changelog
    assert report.restored_counts == counts
    assert report.duplicates == 0


@pytest.mark.timeout(300)
def test_at_least_once_loses_nothing_and_reports_its_duplicates(experiment, capsys):
    # Commits every 0.5 s, like the exactly-once run's input pace, so kills fall between commits.
    report, orders = experiment("at_least_once", commit_interval=0.5)
    totals, counts = oracle(orders)
    assert len(report.kills) == 5 and report.kills[-1] < ORDERS
    # nothing lost: every customer has at least all its orders, the output agrees with the store
    assert set(report.restored_counts) == set(counts)
    assert all(report.restored_counts[c] >= n for c, n in counts.items())
    assert all(report.restored_totals[c] >= t for c, t in totals.items())
    assert report.output == report.restored_totals == report.sqlite_totals
    extra_cents = sum(report.restored_totals.values()) - sum(totals.values())
    assert (report.duplicates == 0) == (extra_cents == 0)
    off = sum(1 for c in counts if report.restored_counts[c] != counts[c])
    with capsys.disabled():
        print(
            f"\n  at_least_once after 5 SIGKILLs: {report.duplicates} duplicate counts of "
            f"{ORDERS} orders ({off} of {len(counts)} customers off, "
            f"{extra_cents / 100:.2f} EUR too much); exactly_once: 0"
        )
