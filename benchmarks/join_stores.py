"""Stream-stream join benchmark: the window stores behind a join, in memory against SQLite.

A windowed join looks up the other side's store for every record (the key's records within the
window), so how a store answers a range read of one key decides the join's speed. Measured in one
run against the running lab: orders joined with their payments (``labkit.data``) within 60 s,
keyed by orderId on 3 partitions, event time from the data, a grace covering the whole input (so
that no record is late whatever order the partitions are read in, and the result is exact), with
the app's SQLite stores (the default, and the baseline) and with in-memory stores, alternating
round by round. Rate = input records / ``RunResult.busy_seconds``. Every run's output is checked
against a pandas merge filtered on the time difference before its figure counts.

    python benchmarks/join_stores.py                      # 3 rounds of 50,000 orders
    python benchmarks/join_stores.py --orders 100000 --runs 1
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from datetime import UTC, datetime

import pandas as pd

import labkit
from labkit.streams import JoinWindows, StreamApp, read_table

WINDOW_MS = 60_000


def expected_pairs(orders: list[dict], payments: list[dict]) -> dict[str, str]:
    frame = pd.DataFrame(orders).merge(pd.DataFrame(payments), on="orderId")
    near = frame[(frame["processedAt"] - frame["createdAt"]).abs() <= WINDOW_MS]
    return dict(zip(near["orderId"], near["method"], strict=True))


def run_join(lab, store_type: str, orders_topic: str, payments_topic: str, grace_ms: int) -> tuple:
    tag = uuid.uuid4().hex[:6]
    output = f"bench-join-{tag}-out"
    lab.topics.fresh(output, partitions=3)
    app = StreamApp(f"bench-join-{tag}", lab, store_type=store_type, state_dir=tempfile.mkdtemp())
    (
        app.stream(orders_topic)
        .join(
            app.stream(payments_topic),
            lambda order, payment: payment["method"],
            windows=JoinWindows.of(WINDOW_MS, grace=grace_ms),
        )
        .to(output)
    )
    try:
        result = app.run(until_idle=1.0)
        return result, read_table(lab, output, timeout=60), app.metrics.late
    finally:
        app.close()
        app.reset()
        lab.topics.delete([output], missing_ok=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=3, help="rounds (each store type once)")
    args = parser.parse_args()
    lab = labkit.lab()
    orders = labkit.data.orders(args.orders, seed=23)
    payments = labkit.data.payments(orders, seed=23)
    times = [o["createdAt"] for o in orders] + [p["processedAt"] for p in payments]
    grace_ms = max(times) - min(times) + WINDOW_MS  # covers any read order of the backfill
    expected = expected_pairs(orders, payments)
    tag = uuid.uuid4().hex[:6]
    orders_topic, payments_topic = f"bench-join-{tag}-orders", f"bench-join-{tag}-payments"
    for topic in (orders_topic, payments_topic):
        lab.topics.fresh(topic, partitions=3)
    lab.produce(orders_topic, orders, key="orderId", timestamp="createdAt")
    lab.produce(payments_topic, payments, key="orderId", timestamp="processedAt")
    n = len(orders) + len(payments)
    print(
        f"stream-stream join: window stores in memory vs SQLite, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    print(
        f"  input: {len(orders):,} orders + {len(payments):,} payments, 3 partitions; "
        f"{len(expected):,} pairs within {WINDOW_MS // 1000} s"
    )
    rates: dict[str, list[float]] = {"sqlite": [], "memory": []}
    try:
        for round_ in range(args.runs):
            order = ["sqlite", "memory"] if round_ % 2 == 0 else ["memory", "sqlite"]
            for store_type in order:
                result, table, late = run_join(
                    lab, store_type, orders_topic, payments_topic, grace_ms
                )
                if table != expected or late:
                    raise AssertionError(
                        f"{store_type}: {len(table)} pairs, {late} late; expected {len(expected)}"
                    )
                rate = n / result.busy_seconds
                rates[store_type].append(rate)
                print(
                    f"  round {round_ + 1}: {store_type:<6} {rate:10,.0f} records/s "
                    f"({result.busy_seconds:.2f} s, exact)"
                )
    finally:
        lab.topics.delete([orders_topic, payments_topic], missing_ok=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(
        f"\nmedians: sqlite {med['sqlite']:,.0f} records/s, memory {med['memory']:,.0f} records/s"
    )
    print(f"memory / sqlite: {med['memory'] / med['sqlite']:.2f}x (records/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
