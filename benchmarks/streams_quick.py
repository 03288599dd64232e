"""Quick stream-processing benchmark: labkit.streams records/s under both guarantees.

The topology is the guide's running totals per customer, exactly as the Kafka Streams reference
(``jvm/kstreams-reference``) runs it: orders (JSON) -> ``group_by`` customerId through a
repartition topic -> ``aggregate`` integer cents in a state store (changelog-backed) -> output
topic. Measured in one run, against the running lab, round by round:

* **raw consumer** - the baseline: a plain ``confluent_kafka.Consumer`` assigned to the input's
  partitions reads every order once, ``json.loads`` it and adds its cents to a dict. No
  repartition, no state store, no changelog, no output, no commits: what any Python consumer pays
  to see the input at all, so ``labkit / raw`` is the share of that ceiling labkit keeps.
* **labkit at_least_once** / **labkit exactly_once** - ``StreamApp(...).run(until_idle=1)`` with
  default settings (SQLite stores, the record cache, commit interval 5 s / 100 ms). Rate = input
  orders / ``RunResult.busy_seconds`` (first record processed to the commit of the last one).
* **Kafka Streams** (JVM, optional) - ``labkit.streams.reference.run_customer_totals`` with the
  same guarantee and commit interval; rate = its ``recordsPerSec`` (first record read to last
  aggregated), so JVM start-up is not counted. Skipped, with the reason, where the reference
  cannot be built (no ``javac``/``mvn``) or with ``--no-jvm``.

Every run checks its totals against the orders (integer cents) before its figure counts. The
variants alternate round by round and the figures are medians.

    python benchmarks/streams_quick.py                  # 3 rounds of 50,000 orders
    python benchmarks/streams_quick.py --orders 100000 --runs 5 --no-jvm
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

import labkit
from labkit.streams import StreamApp, read_table


def cents(order: dict[str, Any]) -> int:
    return round(order["amount"] * 100)


def oracle(orders: list[dict[str, Any]]) -> dict[str, int]:
    totals: Counter[str] = Counter()
    for order in orders:
        totals[order["customerId"]] += cents(order)
    return dict(totals)


def raw_consumer(lab: Any, topic: str, partitions: int, n: int, expected: dict[str, int]) -> float:
    """Records/s of a bare consumer that reads, decodes and sums every order."""
    consumer = Consumer(
        {
            "bootstrap.servers": lab.bootstrap_servers,
            "group.id": "streams-quick-raw",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    totals: Counter[str] = Counter()
    seen = at_end = 0
    first = None
    while at_end < partitions:
        for msg in consumer.consume(500, 1.0):
            if msg.error() is not None:
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    at_end += 1
                continue
            first = first or time.perf_counter()
            order = json.loads(msg.value())
            totals[order["customerId"]] += cents(order)
            seen += 1
    elapsed = time.perf_counter() - first
    consumer.close()
    assert seen == n and dict(totals) == expected, "the raw consumer's totals are wrong"
    return n / elapsed


def labkit_run(
    lab: Any, topic: str, guarantee: str, expected: dict[str, int], state: Path
) -> tuple[float, dict[str, Any]]:
    app_id = f"streams-quick-{guarantee.replace('_', '-')}-{uuid.uuid4().hex[:6]}"
    output = f"{app_id}-totals"
    app = StreamApp(app_id, lab, guarantee=guarantee, state_dir=state)
    (
        app.stream(topic)
        .group_by(lambda order_id, order: order["customerId"], name="customer-totals-by-customer")
        .aggregate(
            lambda: 0,
            lambda customer, order, total: total + cents(order),
            store="customer-totals-store",
        )
        .to(output)
    )
    try:
        result = app.run(until_idle=1.0, timeout=600)
        assert app.store("customer-totals-store").to_dict() == expected, "labkit totals wrong"
        assert read_table(lab, output, timeout=60) == expected, "labkit output wrong"
    finally:
        app.close()
        app.reset()
        lab.topics.delete(output, missing_ok=True)
    return result.rate, {"commits": result.commits, "busy_s": round(result.busy_seconds, 2)}


def jvm_run(lab: Any, topic: str, partitions: int, guarantee: str, n: int, expected) -> float:
    from labkit.streams import reference

    app_id = f"streams-quick-ref-{uuid.uuid4().hex[:6]}"
    output = f"{app_id}-totals"
    lab.topics.create(output, partitions=partitions)
    try:
        summary = reference.run_customer_totals(
            lab.bootstrap_servers,
            topic,
            output,
            app_id,
            guarantee=guarantee,
            commit_interval_ms=100 if guarantee == "exactly_once" else 5_000,
            expected_records=n,
            timeout=600,
        )
        assert reference.read_totals(lab, output) == expected, "the reference's totals are wrong"
    finally:
        reference.delete_application(lab, app_id)
        lab.topics.delete(output, missing_ok=True)
    return float(summary["recordsPerSec"])


def jvm_unavailable() -> str | None:
    try:
        from labkit.streams import reference

        reference.build()
    except Exception as exc:  # no javac/mvn, or the build failed: say so and go on
        return f"{type(exc).__name__}: {exc}"
    return None


def machine() -> str:
    cores = os.cpu_count()
    try:
        mem = next(
            int(line.split()[1]) / 1024**2
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem:.1f} GiB"
    except (OSError, StopIteration):
        memory = "?"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    import confluent_kafka

    ck = confluent_kafka.version()
    ck = ck[0] if isinstance(ck, tuple) else ck
    return (
        f"{cores} cores, {memory}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, confluent-kafka {ck} / "
        f"librdkafka {confluent_kafka.libversion()[0]}; 1-min load average {load:.1f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=50_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-jvm", action="store_true", help="leave out the Kafka Streams JVM")
    args = parser.parse_args()

    lab = labkit.lab()
    print(f"labkit.streams quick benchmark {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"  machine: {machine()}")
    print(f"  input:   {args.orders:,} orders (JSON), {args.partitions} partitions, {lab}")
    orders = labkit.data.orders(args.orders, seed=42)
    expected = oracle(orders)
    topic = f"streams-quick-orders-{uuid.uuid4().hex[:6]}"
    lab.topics.create(topic, partitions=args.partitions)
    lab.produce(topic, orders, key="orderId")
    why_no_jvm = "--no-jvm" if args.no_jvm else jvm_unavailable()
    if why_no_jvm:
        print(f"  Kafka Streams (JVM): skipped ({why_no_jvm})")

    variants: dict[str, Any] = {
        "raw consumer (baseline)": lambda: raw_consumer(
            lab, topic, args.partitions, args.orders, expected
        ),
        "labkit at_least_once": lambda: labkit_run(lab, topic, "at_least_once", expected, state),
        "labkit exactly_once": lambda: labkit_run(lab, topic, "exactly_once", expected, state),
    }
    if not why_no_jvm:
        for g in ("at_least_once", "exactly_once"):
            variants[f"Kafka Streams {g}"] = lambda g=g: jvm_run(
                lab, topic, args.partitions, g, args.orders, expected
            )
    rates: dict[str, list[float]] = {name: [] for name in variants}
    state = Path(tempfile.mkdtemp(prefix="streams-quick-"))
    try:
        names = list(variants)
        for run in range(args.runs):
            order = names if run % 2 == 0 else list(reversed(names))
            for name in order:
                out = variants[name]()
                rate, extra = out if isinstance(out, tuple) else (out, {})
                rates[name].append(rate)
                detail = f" {extra}" if extra else ""
                print(f"  round {run + 1}: {name:<28} {rate:>10,.0f} orders/s{detail}")
    finally:
        lab.topics.delete(topic, missing_ok=True)
        shutil.rmtree(state, ignore_errors=True)

    base = statistics.median(rates["raw consumer (baseline)"])
    jvm = {g: statistics.median(r) for g, r in rates.items() if g.startswith("Kafka Streams")}
    print("\n| variant | orders/s (median) | vs raw consumer | vs Kafka Streams, same guarantee |")
    print("|---|---:|---:|---:|")
    for name, values in rates.items():
        median = statistics.median(values)
        guarantee = name.split()[-1]
        peer = jvm.get(f"Kafka Streams {guarantee}")
        vs_jvm = f"{median / peer:.2f}x" if peer and name.startswith("labkit") else ""
        print(f"| {name} | {median:,.0f} | {median / base:.2f}x | {vs_jvm} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
