"""labkit.streams against Quix Streams and Kafka Streams, side by side, in one run.

Every job is the guide's running totals per customer - orders (JSON, keyed by orderId) ->
``group_by`` customerId through a repartition topic -> running total in integer cents in a state
store with a changelog -> output topic - on the same broker, the same input and the same commit
interval (default 100 ms, Kafka Streams' default under exactly-once):

* **labkit.streams** - ``benchmarks/peers/labkit_customer_totals.py``, in a process of its own
  (SQLite store, record cache on: the defaults).
* **Quix Streams** from PyPI - ``benchmarks/peers/quix_customer_totals.py`` in its own virtual
  environment, ``~/.cache/labkit/peers/quix``, which this script creates with pip (Quix Streams
  pins confluent-kafka below labkit's).
* **Kafka Streams** (Java) - the reference of ``labkit.streams.reference`` (RocksDB store).

Measured:

1. **Throughput** (records/s), both guarantees, rounds alternating between the jobs. Consumers
   in this process watch each job from outside, with one clock and one rule for all: the rate is
   the number of orders over the time from the job's first repartition record (it has read and
   re-keyed its first order) to the moment every customer's total in its output topic, read
   ``read_committed``, equals the oracle. A job whose totals never equal the oracle fails the
   run. Each job's own figure and the CPU time of its process are printed beside it.
2. **Restore** (records/s): labkit with the cache off (one changelog record per order), then a
   restart with an empty state directory: every changelog record is read back into the store.
3. **End-to-end latency** at a steady rate (default 1,000 orders/s, each for a new customer so
   that each output record answers exactly one order): from the produce call to the total being
   visible to the ``read_committed`` consumer; p50 and p99.

The last lines state each goal as met or not, with the ratio.

    python benchmarks/streams.py                        # 200k orders, 3 rounds: ~15 minutes
    python benchmarks/streams.py --rounds 1 --orders 50000 --latency-seconds 10   # a quick look
    python benchmarks/streams.py --no-quix --no-jvm     # labkit alone
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

import labkit
from labkit.cluster.jars import cache_root

HERE = Path(__file__).resolve().parent
PEERS = HERE / "peers"
QUIX_SPEC = "quixstreams==3.28.1"
GUARANTEES = ("at_least_once", "exactly_once")


# -- the peers' environments ------------------------------------------------------------------
def quix_python(log: Callable[[str], None] = print) -> Path:
    """The interpreter of the Quix Streams venv, created (and pip-installed) on first use."""
    venv = cache_root() / "peers" / "quix"
    python = venv / "bin" / "python"
    marker = venv / ".installed"
    if python.exists() and marker.exists() and marker.read_text() == QUIX_SPEC:
        return python
    log(f"  creating {venv} with {QUIX_SPEC} (pip, once) ...")
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", QUIX_SPEC],
        check=True,
    )
    marker.write_text(QUIX_SPEC)
    return python


def quix_version(python: Path) -> str:
    code = (
        "import quixstreams, confluent_kafka as c; v = c.version(); "
        "print(quixstreams.__version__, v[0] if isinstance(v, tuple) else v, c.libversion()[0])"
    )
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    q, ck, rd = out.stdout.split()
    return f"quixstreams {q}, confluent-kafka {ck} / librdkafka {rd}"


def orjson_note() -> str:
    """Whether labkit.streams reads JSON (and writes repartition topics) with orjson here."""
    from labkit.streams import serdes

    if getattr(serdes, "_FAST_LOADS", None) is None:
        off = os.environ.get("LABKIT_STREAMS_ORJSON") == "0"
        return f"orjson {'off (LABKIT_STREAMS_ORJSON=0)' if off else 'not installed'}: json only"
    import orjson

    return f"orjson {orjson.__version__} installed: used to read JSON and write repartition topics"


# -- watching an output topic -----------------------------------------------------------------
class Observer:
    """Reads an output topic ``read_committed`` from the start, in a thread: the latest total
    per key, when each key first appeared, when the first record and the complete table
    (every total equal to ``expected``) became visible."""

    def __init__(self, bootstrap: str, topic: str, partitions: int, expected: dict | None = None):
        self.expected = expected or {}
        self.table: dict[str, int] = {}
        self.first_seen: dict[str, float] = {}
        self.first_at: float | None = None
        self.complete_at: float | None = None
        self._matching = 0
        self._bootstrap = bootstrap
        self._stop = threading.Event()
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"bench-observer-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
                "fetch.wait.max.ms": 5,
            }
        )
        self._consumer.assign(
            [TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)]
        )
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Observer:
        self._thread.start()
        return self

    def watch_start(self, app_id: str) -> Observer:
        """Also note when the job writes its first repartition record (read_uncommitted): the
        moment it has read and re-keyed its first order, the same marker for every job."""
        self.started_at: float | None = None
        self._app_id = app_id
        threading.Thread(target=self._watch_repartition, daemon=True).start()
        return self

    def _watch_repartition(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self._bootstrap,
                "group.id": f"bench-start-{uuid.uuid4().hex[:6]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 5,
            }
        )
        try:
            topic = None
            while topic is None and not self._stop.is_set():
                names = consumer.list_topics(timeout=5).topics
                topic = next((t for t in names if self._app_id in t and "repartition" in t), None)
                if topic is None:
                    time.sleep(0.02)
            if topic is None:
                return
            parts = consumer.list_topics(topic, timeout=5).topics[topic].partitions
            consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
            while self.started_at is None and not self._stop.is_set():
                if any(m.error() is None for m in consumer.consume(10, 0.05)):
                    self.started_at = time.time()
        finally:
            consumer.close()

    def _run(self) -> None:
        expected, table = self.expected, self.table
        while not self._stop.is_set():
            msgs = self._consumer.consume(1000, 0.05)
            now = time.time()
            for msg in msgs:
                if msg.error() is not None:
                    continue
                key = msg.key().decode()
                value = int(msg.value())  # a JSON number or Kafka Streams' decimal string
                if self.first_at is None:
                    self.first_at = now
                if key not in self.first_seen:
                    self.first_seen[key] = now
                if expected:
                    want = expected.get(key)
                    self._matching += (value == want) - (table.get(key) == want)
                table[key] = value
            if expected and self.complete_at is None and self._matching == len(expected):
                self.complete_at = now

    def wait_complete(self, timeout: float, alive: Callable[[], bool]) -> bool:
        deadline = time.monotonic() + timeout
        while self.complete_at is None and time.monotonic() < deadline:
            if not alive() and self.complete_at is None:
                time.sleep(2.0)  # its last commit may still be on the way
                break
            time.sleep(0.05)
        return self.complete_at is not None

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._consumer.close()


# -- running one job --------------------------------------------------------------------------
class Job:
    """One run of a job in a subprocess (or, for Kafka Streams, a thread running the JVM)."""

    def __init__(self, name: str, guarantee: str, bench: Bench, app_id: str, output: str):
        self.name, self.guarantee, self.bench = name, guarantee, bench
        self.app_id, self.output = app_id, output
        self.summary: dict[str, Any] = {}
        self.proc: subprocess.Popen | None = None
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None
        self.state = Path(tempfile.mkdtemp(prefix=f"{app_id}-", dir=bench.scratch))

    def start(self, topic: str, *, expected: int | None, idle: float, **extra: Any) -> Job:
        b = self.bench
        ci = b.commit_interval
        if self.name == "Kafka Streams":
            self.thread = threading.Thread(
                target=self._jvm, args=(topic, expected, idle), daemon=True
            )
            self.thread.start()
            return self
        if self.name == "labkit":
            cmd = [
                sys.executable,
                str(PEERS / "labkit_customer_totals.py"),
                "--guarantee",
                self.guarantee,
                "--until-idle",
                str(idle),
            ]
            for key, value in extra.items():
                cmd += [f"--{key.replace('_', '-')}", str(value)]
        else:
            cmd = [
                str(b.quix),
                str(PEERS / "quix_customer_totals.py"),
                "--guarantee",
                self.guarantee.replace("_", "-"),
                "--idle",
                str(idle),
            ]
            if expected:
                cmd += ["--expected", str(expected)]
        cmd += [
            "-b",
            b.lab.bootstrap_servers,
            "-t",
            topic,
            "--output",
            self.output,
            "--app-id",
            self.app_id,
            "--commit-interval",
            str(ci),
            "--state-dir",
            str(self.state),
        ]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return self

    def _jvm(self, topic: str, expected: int | None, idle: float) -> None:
        from labkit.streams import reference

        try:
            self.summary = reference.run_customer_totals(
                self.bench.lab.bootstrap_servers,
                topic,
                self.output,
                self.app_id,
                guarantee=self.guarantee,
                commit_interval_ms=round(self.bench.commit_interval * 1000),
                expected_records=expected,
                idle_ms=None if expected else round(idle * 1000),
                timeout=900,
                state_dir=self.state,
            )
        except BaseException as exc:  # reported by finish()
            self.error = exc

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return self.thread is not None and self.thread.is_alive()

    def interrupt(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(2)  # SIGINT: each job commits and stops

    def finish(self, timeout: float = 120.0) -> dict[str, Any]:
        if self.proc is not None:
            try:
                out, err = self.proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                out, err = self.proc.communicate()
            lines = [x for x in out.strip().splitlines() if x.startswith("{")]
            if self.proc.returncode != 0 or not lines:
                tail = "\n".join(err.strip().splitlines()[-15:])
                raise RuntimeError(f"{self.name} exited {self.proc.returncode}:\n{tail}")
            self.summary = json.loads(lines[-1])
        elif self.thread is not None:
            self.thread.join(timeout)
            if self.error is not None:
                raise self.error
        return self.summary

    def cleanup(self) -> None:
        lab = self.bench.lab
        mine = [t for t in lab.topics.list() if self.app_id in t]
        lab.topics.delete(mine, missing_ok=True)
        for group in (self.app_id, f"{self.app_id}-restore"):
            try:
                lab.groups.delete(group, missing_ok=True)
            except Exception:  # a group that is still settling: harmless leftovers
                pass
        shutil.rmtree(self.state, ignore_errors=True)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.lab = labkit.lab()
        self.commit_interval = args.commit_interval
        self.partitions = args.partitions
        self.scratch = Path(tempfile.mkdtemp(prefix="streams-bench-"))
        self.quix: Path | None = None
        self.topics: list[str] = []

    def topic(self, prefix: str) -> str:
        name = f"bench-{prefix}-{uuid.uuid4().hex[:6]}"
        self.lab.topics.create(name, partitions=self.partitions)
        self.topics.append(name)
        return name

    def job(self, name: str, guarantee: str) -> Job:
        slug = {"labkit": "labkit", "Quix Streams": "quix", "Kafka Streams": "kstreams"}[name]
        app_id = f"bench-{slug}-{guarantee.split('_')[0]}-{uuid.uuid4().hex[:6]}"
        output = f"{app_id}-totals"
        self.lab.topics.create(output, partitions=self.partitions)
        return Job(name, guarantee, self, app_id, output)

    def close(self) -> None:
        self.lab.topics.delete(self.topics, missing_ok=True)
        shutil.rmtree(self.scratch, ignore_errors=True)


def cpu_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- 1. throughput ----------------------------------------------------------------------------
def throughput(bench: Bench, name: str, guarantee: str, topic: str, expected: dict, n: int):
    job = bench.job(name, guarantee)
    observer = Observer(bench.lab.bootstrap_servers, job.output, bench.partitions, expected)
    observer.start().watch_start(job.app_id)
    cpu = cpu_children()
    try:
        job.start(topic, expected=n, idle=1.0)
        ok = observer.wait_complete(900, job.alive)
        summary = job.finish()
        cpu = cpu_children() - cpu
        if not ok:
            wrong = sum(observer.table.get(k) != v for k, v in expected.items())
            raise AssertionError(f"{name} {guarantee}: {wrong} of {len(expected)} totals wrong")
        assert observer.started_at is not None and observer.complete_at is not None
        rate = n / (observer.complete_at - observer.started_at)
        own = own_rate(name, summary, n)
        return rate, own, cpu
    finally:
        observer.close()
        job.cleanup()


def own_rate(name: str, summary: dict, n: int) -> float | None:
    """The job's own figure: labkit's RunResult.rate, Quix's first read to last aggregated,
    Kafka Streams' recordsPerSec (first read to last aggregated)."""
    if name == "labkit":
        return summary.get("rate")
    if name == "Kafka Streams":
        return float(summary["recordsPerSec"])
    if summary.get("first_epoch") and summary.get("last_epoch"):
        return n / (summary["last_epoch"] - summary["first_epoch"])
    return None


# -- 2. restore -------------------------------------------------------------------------------
def restore(bench: Bench, topic: str, expected: dict, n: int, store_type: str) -> dict:
    """labkit with the cache off (a changelog record per order), then a restart on an empty
    state directory: the whole changelog is read back."""
    job = bench.job("labkit", "exactly_once")
    observer = Observer(bench.lab.bootstrap_servers, job.output, bench.partitions, expected).start()
    try:
        job.start(topic, expected=n, idle=1.0, cache_max_keys=0, store_type=store_type)
        if not observer.wait_complete(900, job.alive):
            raise AssertionError("the cache-off run's totals are wrong")
        job.finish()
        shutil.rmtree(job.state, ignore_errors=True)  # no checkpoint, no state: restore it all
        job.state.mkdir(parents=True)
        again = job.start(topic, expected=None, idle=0.5, store_type=store_type).finish()
        return {
            "records": again["restored"],
            "seconds": again["restore_s"],
            "rate": again["restored"] / again["restore_s"] if again["restore_s"] else 0.0,
        }
    finally:
        observer.close()
        job.cleanup()


# -- 3. latency -------------------------------------------------------------------------------
def latency(bench: Bench, name: str, guarantee: str, rate: float, seconds: float) -> dict:
    """Orders at a steady ``rate``, each for a new customer; latency = its total visible to a
    read_committed consumer minus the produce call."""
    topic = bench.topic("latency-orders")
    job = bench.job(name, guarantee)
    observer = Observer(bench.lab.bootstrap_servers, job.output, bench.partitions).start()
    producer = Producer(
        {
            "bootstrap.servers": bench.lab.bootstrap_servers,
            "linger.ms": 0,
            "partitioner": "murmur2_random",
            "acks": "all",
        }
    )
    sent: dict[str, float] = {}
    try:
        # labkit and Quix run until interrupted; Kafka Streams stops 3 s after its last record
        job.start(topic, expected=None, idle=3.0 if name == "Kafka Streams" else 30.0)

        def produce(count: int, prefix: str, record: bool) -> None:
            start = time.time()
            for i in range(count):
                due = start + i / rate
                pause = due - time.time()
                if pause > 0:
                    time.sleep(pause)
                customer = f"{prefix}{i:07d}"
                order = {"orderId": customer, "customerId": customer, "amount": 1.0}
                now = time.time()
                producer.produce(topic, json.dumps(order).encode(), customer.encode())
                if record:
                    sent[customer] = now
                producer.poll(0)
            producer.flush(10)

        # warm-up until the job answers (Kafka Streams' JVM and Quix take a few seconds)
        deadline = time.monotonic() + 120
        round_ = 0
        while not observer.first_seen and time.monotonic() < deadline:
            produce(int(rate), f"W{round_}-", False)
            round_ += 1
        if not observer.first_seen:
            raise AssertionError(f"{name} produced no result within 120 s")
        produce(int(rate * 2), "X", False)  # two more seconds to settle
        produce(int(rate * seconds), "L", True)
        deadline = time.monotonic() + 30
        while any(k not in observer.first_seen for k in sent) and time.monotonic() < deadline:
            time.sleep(0.1)
        lat = sorted(
            (observer.first_seen[k] - t) * 1000 for k, t in sent.items() if k in observer.first_seen
        )
        job.interrupt()
        job.finish()
        missing = len(sent) - len(lat)
        q = statistics.quantiles(lat, n=100, method="inclusive")
        return {"p50": q[49], "p99": q[98], "max": lat[-1], "n": len(lat), "missing": missing}
    finally:
        observer.close()
        job.cleanup()


# -- the run ----------------------------------------------------------------------------------
def machine(bench: Bench) -> list[str]:
    import confluent_kafka

    mem = next(
        int(line.split()[1]) / 1024**2
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    ck = confluent_kafka.version()
    lines = [
        f"  machine: {os.cpu_count()} cores, {mem:.1f} GiB, {platform.system()} "
        f"{platform.release()}; 1-min load {os.getloadavg()[0]:.1f}",
        f"  labkit:  Python {platform.python_version()}, confluent-kafka "
        f"{ck[0] if isinstance(ck, tuple) else ck} / librdkafka "
        f"{confluent_kafka.libversion()[0]}; {orjson_note()}",
        f"  broker:  {bench.lab}",
        f"  java:    {java[0] if java else '?'}",
    ]
    if bench.quix is not None:
        lines.append(f"  quix:    {quix_version(bench.quix)} (venv {bench.quix.parent.parent})")
    return lines


def measure_throughput(bench: Bench, jobs: list[str], topic: str, expected: dict, n: int):
    print("\n1. throughput (records/s; rounds alternate)")
    rates: dict[tuple[str, str], list[tuple[float, float | None, float]]] = {}
    variants = [(j, g) for g in GUARANTEES for j in jobs]
    for r in range(bench.args.rounds):
        for name, g in variants if r % 2 == 0 else list(reversed(variants)):
            rate, own, cpu = throughput(bench, name, g, topic, dict(expected), n)
            rates.setdefault((name, g), []).append((rate, own, cpu))
            own_s = f"{own:>9,.0f}" if own else "        -"
            print(
                f"  round {r + 1}: {name:<14} {g:<14} {rate:>9,.0f}/s  (own figure "
                f"{own_s}/s, cpu {cpu:5.1f} s)",
                flush=True,
            )
    med = {k: statistics.median(x[0] for x in v) for k, v in rates.items()}
    print(
        f"\n  {'job':<14} {'guarantee':<14} {'records/s':>10} {'own':>10} {'cpu s':>6} "
        f"{'cpu us/record':>13}   (medians)"
    )
    for (name, g), values in rates.items():
        owns = [x[1] for x in values if x[1]]
        cpu = statistics.median(x[2] for x in values)
        print(
            f"  {name:<14} {g:<14} {med[(name, g)]:>10,.0f} "
            f"{statistics.median(owns) if owns else 0:>10,.0f} {cpu:>6.1f} "
            f"{cpu / n * 1e6:>13.1f}"
        )
    return med


def measure_restore(bench: Bench, topic: str, expected: dict, n: int) -> dict[str, dict]:
    print("\n2. restore from the changelog after a restart without a checkpoint (labkit)")
    restores = {}
    for store_type in ("sqlite", "memory"):
        res = restore(bench, topic, dict(expected), n, store_type)
        restores[store_type] = res
        print(
            f"  {store_type:<7} store: {res['records']:,} records in {res['seconds']:.2f} s"
            f" = {res['rate']:,.0f} records/s",
            flush=True,
        )
    return restores


def measure_latency(bench: Bench, jobs: list[str]) -> dict[tuple[str, str], dict]:
    args = bench.args
    print(
        f"\n3. end-to-end latency at {args.latency_rate:,.0f} orders/s for "
        f"{args.latency_seconds:.0f} s (produce -> total visible read_committed)"
    )
    lats = {}
    for name in jobs:
        for g in GUARANTEES if name == "labkit" else ("exactly_once",):
            res = latency(bench, name, g, args.latency_rate, args.latency_seconds)
            lats[(name, g)] = res
            print(
                f"  {name:<14} {g:<14} p50 {res['p50']:6.0f} ms  p99 {res['p99']:6.0f} ms  "
                f"max {res['max']:6.0f} ms  ({res['n']:,} orders, {res['missing']} missing)",
                flush=True,
            )
    return lats


def report_goals(med: dict, restores: dict, lats: dict, ci_ms: int) -> None:
    print("\ngoals")

    def goal(text: str, met: bool, detail: str) -> None:
        print(f"  {text}: {'MET' if met else 'NOT MET'} ({detail})")

    eos = med.get(("labkit", "exactly_once"))
    for peer, factor in (("Quix Streams", 2.0), ("Kafka Streams", 0.5)):
        other = med.get((peer, "exactly_once"))
        if eos and other:
            goal(
                f"labkit >= {factor:g}x {peer}, exactly-once",
                eos >= factor * other,
                f"{eos / other:.2f}x: {eos:,.0f} vs {other:,.0f} records/s",
            )
    alos = med.get(("labkit", "at_least_once"))
    if eos and alos:
        goal(
            "labkit exactly-once >= 0.85x at-least-once",
            eos >= 0.85 * alos,
            f"{eos / alos:.2f}x: {eos:,.0f} vs {alos:,.0f} records/s",
        )
    if "sqlite" in restores:
        r = restores["sqlite"]["rate"]
        goal(
            "restore >= 200k records/s (SQLite store)",
            r >= 200_000,
            f"{r / 200_000:.2f}x: {r:,.0f} records/s",
        )
    if ("labkit", "exactly_once") in lats:
        p99 = lats[("labkit", "exactly_once")]["p99"]
        limit = ci_ms + 50
        goal(
            f"p99 latency <= commit interval + 50 ms ({limit} ms), exactly-once",
            p99 <= limit,
            f"{p99 / limit:.2f}x: p99 {p99:.0f} ms",
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--commit-interval", type=float, default=0.1, help="seconds, every job")
    parser.add_argument("--latency-rate", type=float, default=1_000.0, help="orders/s")
    parser.add_argument("--latency-seconds", type=float, default=20.0)
    parser.add_argument("--no-quix", action="store_true")
    parser.add_argument("--no-jvm", action="store_true")
    parser.add_argument(
        "--parts", default="throughput,restore,latency", help="what to measure, comma-separated"
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    bench = Bench(args)
    print(
        f"labkit.streams vs Quix Streams vs Kafka Streams, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    jobs = ["labkit"]
    if not args.no_quix:
        bench.quix = quix_python()
        jobs.append("Quix Streams")
    if not args.no_jvm:
        from labkit.streams import reference

        reference.build()
        jobs.append("Kafka Streams")
    for line in machine(bench):
        print(line)
    ci_ms = round(args.commit_interval * 1000)
    print(
        f"  input:   {args.orders:,} orders (JSON, keyed by orderId), {args.partitions} "
        f"partitions; commit interval {ci_ms} ms for every job"
    )
    med: dict = {}
    restores: dict = {}
    lats: dict = {}
    try:
        if parts & {"throughput", "restore"}:
            orders = labkit.data.orders(args.orders, seed=42)
            expected: Counter[str] = Counter()
            for order in orders:
                expected[order["customerId"]] += round(order["amount"] * 100)
            topic = bench.topic("orders")
            bench.lab.produce(topic, orders, key="orderId")
            del orders
            if "throughput" in parts:
                med = measure_throughput(bench, jobs, topic, expected, args.orders)
            if "restore" in parts:
                restores = measure_restore(bench, topic, expected, args.orders)
        if "latency" in parts:
            lats = measure_latency(bench, jobs)
        report_goals(med, restores, lats, ci_ms)
    finally:
        bench.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
