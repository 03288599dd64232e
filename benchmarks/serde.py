"""Serde benchmark: labkit's Avro produce path against raw fastavro + confluent-kafka, and JSON.

Measures, in one run against the running lab (``labkit up --registry``), round by round:

* **labkit avro** - ``lab.produce(topic, orders, key="orderId", serde="avro:OrderCreated")``:
  producer and serde creation, labkit's validation of every record (every field's type and range,
  decimals converted exactly; errors name the field path), the Confluent wire format,
  ``Producer.send`` with delivery reports counted per partition, flush.
* **raw avro** - the baseline: what a person writes by hand with the same libraries. The schema
  labkit registered is fetched by id from the registry and parsed with ``fastavro.parse_schema``;
  each order's ``amount`` and item ``price`` floats become ``Decimal`` (as the schema's
  ``decimal(12,2)`` requires; through ``repr`` so ``19.99`` is exactly ``Decimal("19.99")``),
  ``fastavro.schemaless_writer`` writes the body into a ``BytesIO`` after the 5-byte header
  (magic byte 0 + the schema id), and a plain ``confluent_kafka.Producer`` sends it keyed by
  ``orderId`` with a delivery callback that counts acks and failures. No validation: that is what
  labkit adds. Both paths write the same bytes: every order is encoded both ways and compared
  before any timing, and after the last round both Avro topics are read back whole and compared
  key by key.
* **labkit json** / **raw json** - ``lab.produce(..., serde="json")`` against
  ``json.dumps(order, separators=(",", ":")).encode()`` with the same plain Producer.

Every variant gets the same input (``--records`` orders from ``labkit.data.orders``, built before
any timing), a fresh topic with 3 partitions, and the same producer settings (``PRODUCER_CONFIG``:
acks=all, idempotence on, linger.ms=5, batch.size=1 MB, batch.num.messages=10000, no
compression, murmur2_random partitioner). A run is timed from creating the producer to ``flush()``
returning with every delivery report in; each variant then checks that all records were
acknowledged. Each topic's subject ``<topic>-value`` is registered before the timing (the registry
path with the schema registered once: labkit's lookup inside the timing is answered from the
registry client's cache); the cost of one cold registration is printed on its own.

The variants alternate round by round (a, b, c, d, then b, a, d, c, ...) so a slow moment of the
machine hits both sides of a ratio; the figures are medians. Besides records/s (wall clock) each
run's CPU time (this process, librdkafka's threads included) is shown per record: on a shared
machine it moves less than the wall clock. Goal: labkit avro records/s >= 0.9x raw avro
records/s (medians), printed as MET / NOT MET on the last line.

Keep ``--records`` large. A fresh idempotent producer sometimes waits ~0.5 s for its producer id
(a librdkafka start-up race: its first PID request can find the bootstrap connection already
retired and then waits for a 500 ms timer), whoever drives it; with 10,000 records that wait is
most of a run, with 100,000 the producer keeps queueing meanwhile and it is lost in the noise.

    python benchmarks/serde.py                      # 5 rounds of 100,000 orders
    python benchmarks/serde.py --runs 9             # more rounds on a noisy machine
    python benchmarks/serde.py --profile            # also cProfile one labkit avro run
"""

from __future__ import annotations

import argparse
import cProfile
import decimal
import gc
import io
import json
import os
import platform
import pstats
import statistics
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import confluent_kafka
import fastavro
from confluent_kafka.schema_registry import SchemaRegistryClient

import labkit
import labkit.data
from labkit.schemas import AvroSerde, default_registry, load_schemas

GOAL = 0.9  # labkit avro / raw avro, records/s, medians
SCHEMA = "OrderCreated"
PARTITIONS = 3
PRODUCER_CONFIG: dict[str, Any] = {
    "acks": "all",
    "enable.idempotence": True,
    "linger.ms": 5,
    "batch.size": 1_000_000,
    "batch.num.messages": 10_000,
    "compression.type": "none",
    "partitioner": "murmur2_random",
}
VARIANTS = ("labkit avro", "raw avro", "labkit json", "raw json")

Orders = list[dict[str, Any]]


# -- the raw baseline -------------------------------------------------------------------------
def raw_avro_encoder(parsed: Any, schema_id: int) -> Callable[[dict[str, Any]], bytes]:
    """Order -> wire-format bytes with fastavro alone, decimals converted as the schema requires."""
    header = struct.pack(">bI", 0, schema_id)
    to_decimal = decimal.Decimal
    writer = fastavro.schemaless_writer

    def encode(order: dict[str, Any]) -> bytes:
        record = dict(order)
        record["amount"] = to_decimal(repr(order["amount"]))
        record["items"] = [
            {**item, "price": to_decimal(repr(item["price"]))} for item in order["items"]
        ]
        out = io.BytesIO()
        out.write(header)
        writer(out, parsed, record)
        return out.getvalue()

    return encode


def raw_json_encode(order: dict[str, Any]) -> bytes:
    return json.dumps(order, separators=(",", ":")).encode("utf-8")


def raw_produce(
    bootstrap: str, topic: str, orders: Orders, encode: Callable[[dict[str, Any]], bytes]
) -> None:
    """A plain confluent-kafka Producer: produce every order keyed by orderId, flush, check."""
    acked = 0
    failures: list[Any] = []

    def on_delivery(err: Any, msg: Any) -> None:
        nonlocal acked
        if err is not None:
            failures.append(err)
        else:
            acked += 1

    producer = confluent_kafka.Producer({"bootstrap.servers": bootstrap, **PRODUCER_CONFIG})
    for order in orders:
        value = encode(order)
        key = order["orderId"].encode("utf-8")
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures or acked != len(orders):
        raise RuntimeError(
            f"raw producer on {topic}: {acked} acked, {len(failures)} failed, {remaining} queued"
        )


def labkit_produce(lab: Any, topic: str, orders: Orders, serde: str) -> None:
    result = lab.produce(topic, orders, key="orderId", serde=serde, **PRODUCER_CONFIG)
    if result.count != len(orders) or sum(result.partitions.values()) != len(orders):
        raise RuntimeError(f"labkit produce on {topic}: {result}")


# -- one run ----------------------------------------------------------------------------------
class Bench:
    def __init__(self, lab: Any, orders: Orders, raw_encode: Callable[[dict[str, Any]], bytes]):
        self.lab = lab
        self.orders = orders
        self.raw_encode = raw_encode
        self.schema = load_schemas()[SCHEMA]
        self.registry = default_registry()
        self.tag = uuid.uuid4().hex[:6]
        self.topics: list[str] = []
        self.last: dict[str, str] = {}

    def fresh_topic(self, variant: str, run: int) -> str:
        topic = f"bench-serde-{self.tag}-{variant.replace(' ', '-')}-{run}"
        self.lab.topics.fresh(topic, partitions=PARTITIONS)
        self.topics.append(topic)
        self.last[variant] = topic
        if variant.endswith("avro"):  # registered once, outside the timing
            self.registry.register(f"{topic}-value", self.schema)
        return topic

    def run(self, variant: str, run: int) -> tuple[float, float]:
        """Wall and CPU seconds (this process, librdkafka's threads included) for one variant on
        a fresh topic, from creating the producer to the last delivery report."""
        topic = self.fresh_topic(variant, run)
        bootstrap = self.lab.bootstrap_servers
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        if variant == "labkit avro":
            labkit_produce(self.lab, topic, self.orders, f"avro:{SCHEMA}")
        elif variant == "raw avro":
            raw_produce(bootstrap, topic, self.orders, self.raw_encode)
        elif variant == "labkit json":
            labkit_produce(self.lab, topic, self.orders, "json")
        else:
            raw_produce(bootstrap, topic, self.orders, raw_json_encode)
        return time.perf_counter() - start, time.process_time() - cpu

    def cleanup(self, client: SchemaRegistryClient) -> None:
        if self.topics:
            self.lab.topics.delete(self.topics)
        for topic in self.topics:
            if "avro" in topic:
                forget(client, f"{topic}-value")


def forget(client: SchemaRegistryClient, subject: str) -> None:
    """Delete a subject for good (soft, then permanent), so runs leave the registry as it was."""
    client.delete_subject(subject)
    client.delete_subject(subject, permanent=True)


# -- checks and sizes -------------------------------------------------------------------------
def check_identical(
    orders: Orders, raw_encode: Callable[[dict[str, Any]], bytes], subject: str
) -> dict:
    """Encode every order both ways (labkit's serde, the raw baseline); they must be equal."""
    serde = AvroSerde(SCHEMA, subject=subject)  # registered already: the same schema id
    labkit_json = labkit.serdes.resolve("json")
    avro_sizes, json_sizes = [], []
    for order in orders:
        ours, theirs = serde.serialize(order, "bench-check"), raw_encode(order)
        if ours != theirs:
            raise SystemExit(
                f"labkit and raw Avro bytes differ for {order['orderId']}:\n {ours!r}\n {theirs!r}"
            )
        as_json = labkit_json.serialize(order, "bench-check")
        if as_json != raw_json_encode(order):
            raise SystemExit(f"labkit and raw JSON bytes differ for {order['orderId']}")
        avro_sizes.append(len(ours))
        json_sizes.append(len(as_json))
    return {
        "avro": statistics.mean(avro_sizes),
        "json": statistics.mean(json_sizes),
        "avro_total": sum(avro_sizes),
        "json_total": sum(json_sizes),
    }


def read_back(lab: Any, topic: str, want: int) -> dict[bytes, bytes]:
    """Every record of ``topic`` (``want`` of them), value by key."""
    consumer = confluent_kafka.Consumer(
        {
            "bootstrap.servers": lab.bootstrap_servers,
            "group.id": f"bench-serde-check-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(found) < want and time.monotonic() < deadline:
            for msg in consumer.consume(1000, timeout=1.0):
                if msg.error() is None:
                    found[msg.key()] = msg.value()
    finally:
        consumer.close()
    return found


def check_on_broker(lab: Any, bench: Bench) -> int:
    """Both Avro topics of the last round, read back whole: the same value for every key."""
    want = len(bench.orders)
    ours = read_back(lab, bench.last["labkit avro"], want)
    theirs = read_back(lab, bench.last["raw avro"], want)
    if len(ours) != want or len(theirs) != want:
        raise SystemExit(f"read back {len(ours)} and {len(theirs)} records, not {want} each")
    differ = [k for k in ours if ours[k] != theirs.get(k)]
    if differ:
        raise SystemExit(f"{len(differ)} records differ on the broker, first key {differ[0]!r}")
    return want


# -- report -----------------------------------------------------------------------------------
def machine() -> list[str]:
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"machine:     {os.cpu_count()} cores, {mem_kib / 2**20:.1f} GiB, "
        f"{platform.system()} {platform.release()}, load average {load}",
        f"python:      {platform.python_version()} ({platform.python_implementation()})",
        f"libraries:   confluent-kafka {confluent_kafka.__version__} "
        f"(librdkafka {confluent_kafka.libversion()[0]}), fastavro {fastavro.__version__}, "
        f"labkit {getattr(labkit, '__version__', '?')} ({_labkit_commit()})",
    ]


def _labkit_commit() -> str:
    """The commit of the labkit checkout being measured, and whether its files have changes."""
    root = Path(labkit.__file__).resolve().parents[1]
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "labkit"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return f"commit {commit}" + (", labkit/ has uncommitted changes" if dirty else "")


def profile_labkit(lab: Any, bench: Bench, top: int = 25) -> None:
    topic = bench.fresh_topic("labkit avro", 999)
    profiler = cProfile.Profile()
    profiler.enable()
    labkit_produce(lab, topic, bench.orders, f"avro:{SCHEMA}")
    profiler.disable()
    print(f"\ncProfile of one labkit avro run ({len(bench.orders):,} records), by own time:")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (each variant once per round)")
    parser.add_argument("--records", type=int, default=100_000, help="orders per run")
    parser.add_argument("--profile", action="store_true", help="cProfile one labkit avro run")
    args = parser.parse_args(argv)

    lab = labkit.lab(registry=True)
    print(f"serde benchmark, {datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(*machine(), sep="\n")
    print(
        f"lab:         {lab.backend}, {len(lab.info.brokers)} broker(s) at "
        f"{lab.bootstrap_servers}, registry {lab.schema_registry_url}"
    )
    print(f"producer:    {PRODUCER_CONFIG}")
    print(f"input:       {args.records:,} labkit.data.orders(seed=42), {PARTITIONS} partitions")
    if args.records < 50_000:
        print(
            "NOTE:        under 50,000 records a producer's start-up (up to 0.5 s) weighs heavily"
        )
    print()

    orders = labkit.data.orders(args.records)
    schema = load_schemas()[SCHEMA]
    registry = default_registry()
    client = SchemaRegistryClient({"url": lab.schema_registry_url})
    cold_subject = f"bench-serde-cold-{uuid.uuid4().hex[:6]}-value"
    start = time.perf_counter()
    schema_id = registry.register(cold_subject, schema)
    cold_ms = (time.perf_counter() - start) * 1000
    parsed = fastavro.parse_schema(json.loads(client.get_schema(schema_id).schema_str))
    raw_encode = raw_avro_encoder(parsed, schema_id)

    bench = Bench(lab, orders, raw_encode)
    wall: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    try:
        sizes = check_identical(orders, raw_encode, cold_subject)
        print(
            f"bytes:       labkit and raw encodings identical for all {len(orders):,} orders "
            f"(schema id {schema_id}); one cold registration took {cold_ms:.0f} ms"
        )
        for variant in VARIANTS:  # warm-up: connections, imports, caches; not counted
            bench.run(variant, 0)
        for run in range(1, args.runs + 1):
            order = VARIANTS if run % 2 else ("raw avro", "labkit avro", "raw json", "labkit json")
            for variant in order:
                seconds, cpu_seconds = bench.run(variant, run)
                wall[variant].append(seconds)
                cpu[variant].append(cpu_seconds)
            line = "  ".join(f"{v} {args.records / wall[v][-1]:>7,.0f}/s" for v in VARIANTS)
            pair = wall["raw avro"][-1] / wall["labkit avro"][-1]
            print(f"round {run}: {line}  (labkit/raw avro {pair:.2f}x)")
        same = check_on_broker(lab, bench)
        print(f"broker:      all {same:,} records of both last Avro topics read back: identical")
        if args.profile:
            profile_labkit(lab, bench)
    finally:
        bench.cleanup(client)
        forget(client, cold_subject)

    n = args.records
    rate = {v: n / statistics.median(t) for v, t in wall.items()}
    cpu_us = {v: statistics.median(t) / n * 1e6 for v, t in cpu.items()}
    print(f"\nmedians of {args.runs} runs, {n:,} records each:")
    print(
        f"{'variant':<12} {'records/s':>10} {'wall s':>7} {'CPU us/record':>14} {'bytes/record':>13}"
    )
    for v in VARIANTS:
        size = sizes["avro"] if v.endswith("avro") else sizes["json"]
        print(
            f"{v:<12} {rate[v]:>10,.0f} {statistics.median(wall[v]):>7.3f} "
            f"{cpu_us[v]:>14.1f} {size:>13.1f}"
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    pairs = zip(wall["raw avro"], wall["labkit avro"], strict=True)
    paired = statistics.median([raw / ours for raw, ours in pairs])
    print(
        f"\nAvro values are {sizes['avro'] / sizes['json']:.2f}x the size of JSON "
        f"({sizes['avro']:.1f} vs {sizes['json']:.1f} bytes/record, mean, header included)\n"
        f"load average at the end: {load}\n"
        f"labkit json / raw json:  {rate['labkit json'] / rate['raw json']:.2f}x (records/s)\n"
        f"labkit avro / raw json:  {rate['labkit avro'] / rate['raw json']:.2f}x (records/s)\n"
        f"labkit avro / raw avro:  {cpu_us['raw avro'] / cpu_us['labkit avro']:.2f}x by CPU time, "
        f"{paired:.2f}x median of the rounds' ratios"
    )
    ratio = rate["labkit avro"] / rate["raw avro"]
    verdict = "MET" if ratio >= GOAL else "NOT MET"
    print(f"labkit avro / raw avro:  {ratio:.2f}x (records/s, medians)")
    print(f"goal labkit avro >= {GOAL}x raw fastavro + confluent-kafka: {verdict} ({ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
