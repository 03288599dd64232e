"""Startup benchmark: how long until a student can produce, with labkit and without it.

Measures, in one run, alternating the variants round by round:

* **bare** - what a person does by hand with the same jars, the same Java, the same JVM flags and
  heap as labkit's local backend: write a server.properties for one combined broker+controller on
  free ports, ``kafka.tools.StorageTool format --standalone``, ``java ... kafka.Kafka
  server.properties``, wait until the port accepts connections (50 ms polls), produce one record
  with a plain ``confluent_kafka.Producer`` (acks=all) and wait for its delivery report. Timed from
  the start of format to the ack. The baseline.
* **labkit up** - ``labkit up --backend local`` as a subprocess with a fresh ``LABKIT_HOME``, then
  the same produce. Timed from launching the command to the ack. Then ``labkit down``.
* **ensure_lab** - the same through the API in this process (``ensure_lab(backend="local",
  home=...)``): no CLI interpreter, and labkit's modules already imported.
* **warm attach** - with a lab running: ``python -c "import labkit; labkit.lab()"`` in a fresh
  interpreter (against ``python -c "import confluent_kafka"``), ``labkit.lab()`` repeated
  in-process, and ``labkit up`` when the lab already runs.

"Cold" means no lab running in that ``LABKIT_HOME`` and every JVM a fresh process; the Kafka jars
are resolved and Java found once before any timing, and the OS page cache holds the jars (every
variant reads the same ones). For each labkit start the time is split into phases from the files the
start leaves behind (``server.properties`` written, the broker JVM's first log line, "Kafka Server
started"), and the bare start gets the same split, so the table shows where the difference goes.
The fixed costs inside a labkit start (``java -version``, interpreters, imports) are timed alone.
A start that fails is reported as a failed start of its variant, not retried.

Goals: cold ``labkit up`` <= 1.2x the bare start (medians); warm attach < 1 s (fresh interpreter).

    python benchmarks/startup.py            # 5 rounds
    python benchmarks/startup.py --runs 9   # more rounds on a busy machine
    python benchmarks/startup.py --keep     # keep every lab's directory and logs
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import confluent_kafka

import labkit
from labkit.cluster import ensure_lab, read_state, stop_supervisor
from labkit.cluster.jars import KAFKA_VERSION, classpath, kafka_libs
from labkit.cluster.java import find_java
from labkit.cluster.local import _LOG4J2, HOST, broker_properties  # same log config: same work
from labkit.cluster.ports import is_listening, pick_port

log = logging.getLogger("benchmarks.startup")
TOPIC = "bench-startup"
COLD_GOAL = 1.2  # labkit up / bare, medians
WARM_GOAL_S = 1.0
FIRST_BROKER_LINE = "Registered `kafka:type=kafka.Log4jController` MBean"  # format logs it too
STARTED_LINE = "Kafka Server started"

Phases = dict[str, float]


# -- shared pieces ----------------------------------------------------------------------------
def first_ack(bootstrap: str, timeout: float = 120.0) -> None:
    """Wait for the broker's port, produce one record (acks=all), wait for its delivery report."""
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    deadline = time.monotonic() + timeout
    while not is_listening(host, int(port), timeout=0.2):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{bootstrap} did not accept connections within {timeout:.0f} s")
        time.sleep(0.05)
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "logger": log}
    )
    reports: list[confluent_kafka.KafkaError | None] = []
    producer.produce(TOPIC, b"first", on_delivery=lambda err, _msg: reports.append(err))
    if producer.flush(max(1.0, deadline - time.monotonic())) or not reports or reports[0]:
        raise RuntimeError(f"the first record to {bootstrap} was not acknowledged: {reports}")


def jvm(java: str, cp: str, workdir: Path, main: str, *args: str, heap_mb: int) -> list[str]:
    """The command line LocalCluster uses for ``main`` (checked against the real one below)."""
    return [
        java,
        f"-Xms{min(heap_mb, 256)}m",
        f"-Xmx{heap_mb}m",
        "-XX:+UseG1GC",
        "-XX:MaxGCPauseMillis=20",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={workdir / 'log4j2.yaml'}",
        f"-Dkafka.logs.dir={workdir}",
        "-cp",
        cp,
        main,
        *args,
    ]


def log_times(server_log: Path) -> tuple[float | None, float | None]:
    """Wall-clock times of the broker JVM's first log line and of "Kafka Server started"."""
    first = started = None
    with contextlib.suppress(FileNotFoundError):
        for line in server_log.read_text(errors="replace").splitlines():
            if FIRST_BROKER_LINE in line or STARTED_LINE in line:
                stamp = datetime.strptime(line[1:24], "%Y-%m-%d %H:%M:%S,%f").timestamp()
                if STARTED_LINE in line:
                    started = stamp
                    break
                first = stamp  # the last one before "started" is the broker's, not format's
    return first, started


def run_cmd(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> float:
    t0 = time.monotonic()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    elapsed = time.monotonic() - t0
    if done.returncode != 0:
        lines = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()]
        why = f"{lines[0]} ... {lines[-1]}" if len(lines) > 1 else "".join(lines)
        raise RuntimeError(f"`{' '.join(cmd[-3:])}` exited {done.returncode}: {why}")
    return elapsed


# -- the variants -----------------------------------------------------------------------------
class Bench:
    def __init__(self, root: Path, labkit_cmd: list[str]) -> None:
        self.root = root
        self.labkit_cmd = labkit_cmd
        self.java = find_java().executable
        self.libs = kafka_libs()  # resolved once, before any timing
        self.cp = classpath(self.libs)
        self.bare_cmdline: list[str] = []
        self.flags_checked = False

    def env(self, home: Path) -> dict[str, str]:
        return {**os.environ, "LABKIT_HOME": str(home)}

    def bare(self) -> Phases:
        work = Path(tempfile.mkdtemp(prefix="bare-", dir=self.root))
        data = work / "data"
        data.mkdir()
        port = pick_port(None, HOST)
        controller_port = pick_port(None, HOST, {port})
        config = work / "server.properties"
        props = broker_properties(1, port, controller_port, data, None, 1)
        config.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (work / "log4j2.yaml").write_text(_LOG4J2.format(log_file=work / "server.log"))
        cluster_id = "-"
        while cluster_id.startswith("-"):  # as Kafka's Uuid.randomUuid: "-x" reads as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")

        w0, t0 = time.time(), time.monotonic()
        fmt = subprocess.run(
            jvm(
                self.java,
                self.cp,
                work,
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(config),
                "--standalone",
                heap_mb=128,
            ),
            capture_output=True,
            text=True,
            timeout=120,
        )
        t_format = time.monotonic()
        if fmt.returncode != 0:
            raise RuntimeError(f"format failed:\n{fmt.stdout}{fmt.stderr}")
        self.bare_cmdline = jvm(self.java, self.cp, work, "kafka.Kafka", str(config), heap_mb=512)
        with open(work / "stdout.log", "wb") as out:
            proc = subprocess.Popen(
                self.bare_cmdline, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        try:
            first_ack(f"{HOST}:{port}")
            total = time.monotonic() - t0
        finally:
            proc.kill()
            proc.wait()
        first, started = log_times(work / "server.log")
        return {"total": total, "format": t_format - t0, **_split(w0, total, first, started)}

    def labkit_up(self) -> Phases:
        home = Path(tempfile.mkdtemp(prefix="lab-", dir=self.root))
        w0, t0 = time.time(), time.monotonic()
        try:
            run_cmd([*self.labkit_cmd, "up", "--backend", "local"], self.env(home))
            t_up = time.monotonic()
            info = read_state(home)
            if info is None:
                raise RuntimeError(f"`labkit up` returned but {home}/lab.json names no lab")
            first_ack(info.bootstrap_servers)
            total = time.monotonic() - t0
            self.check_same_flags(info.brokers[0].pid, home / "run" / "node-1")
        finally:
            run_cmd([*self.labkit_cmd, "down"], self.env(home))
        return {"total": total, **self.labkit_phases(home, w0, total, t_up - t0)}

    def ensure_lab(self) -> Phases:
        home = Path(tempfile.mkdtemp(prefix="api-", dir=self.root))
        w0, t0 = time.time(), time.monotonic()
        try:
            info = ensure_lab(backend="local", home=home)
            t_up = time.monotonic()
            first_ack(info.bootstrap_servers)
            total = time.monotonic() - t0
        finally:
            stop_supervisor(home)
        return {"total": total, **self.labkit_phases(home, w0, total, t_up - t0)}

    def labkit_phases(self, home: Path, w0: float, total: float, returned: float) -> Phases:
        node = home / "run" / "node-1"
        phases = _split(w0, total, *log_times(node / "server.log"), returned)
        with contextlib.suppress(FileNotFoundError):
            phases["before_format"] = (node / "server.properties").stat().st_mtime - w0
        return phases

    def check_same_flags(self, pid: int | None, node_dir: Path) -> None:
        """Compare labkit's broker command line with the bare one, paths aside (first run only)."""
        if self.flags_checked or not self.bare_cmdline or not pid:
            return
        self.flags_checked = True
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]
        bare_dir = str(Path(self.bare_cmdline[-1]).parent)
        theirs = [a.replace(str(node_dir), "<dir>") for a in raw]
        ours = [a.replace(bare_dir, "<dir>") for a in self.bare_cmdline]
        if theirs != ours:
            print(f"  WARNING: JVM command lines differ\n    labkit: {theirs}\n    bare:   {ours}")
        else:
            print("  broker JVM command line: identical to the bare one (paths aside)")


def _split(
    w0: float,
    total: float,
    first: float | None,
    started: float | None,
    returned: float | None = None,
) -> Phases:
    """Phases from the broker's log: start -> broker JVM's first line -> started -> ack."""
    phases: Phases = {}
    if first is not None and started is not None:
        phases["to_broker_jvm"] = first - w0
        phases["broker_boot"] = started - first
        phases["started_to_ack"] = total - (started - w0)
        if returned is not None:
            phases["started_to_returned"] = returned - (started - w0)
    return phases


# -- warm attach and fixed costs --------------------------------------------------------------
def timed_many(n: int, fns: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run each function n times, round-robin, collecting the seconds each returns."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(n):
        for name, fn in fns.items():
            out[name].append(fn())
    return out


def warm(bench: Bench, n: int) -> dict[str, list[float]]:
    home = Path(tempfile.mkdtemp(prefix="warm-", dir=bench.root))
    env = bench.env(home)
    for attempt in range(3):  # setup, not a measurement: a failed start is retried, and said
        try:
            run_cmd([*bench.labkit_cmd, "up", "--backend", "local"], env)
            break
        except RuntimeError as exc:
            print(f"  (starting the lab for warm attach failed, attempt {attempt + 1}: {exc})")
    else:
        raise RuntimeError("could not start a lab to measure warm attach")
    try:
        py = sys.executable
        results = timed_many(
            n,
            {
                "python -c 'import labkit; labkit.lab()'": lambda: run_cmd(
                    [py, "-c", "import labkit; labkit.lab()"], env
                ),
                "python -c 'import confluent_kafka'  (baseline)": lambda: run_cmd(
                    [py, "-c", "import confluent_kafka"], env
                ),
                "labkit up  (lab already running)": lambda: run_cmd([*bench.labkit_cmd, "up"], env),
            },
        )
        os.environ["LABKIT_HOME"] = str(home)
        t0 = time.monotonic()
        labkit.lab()
        results["labkit.lab() first call in this process"] = [time.monotonic() - t0]

        def again() -> float:
            t = time.monotonic()
            labkit.lab()
            return time.monotonic() - t

        results.update(timed_many(n, {"labkit.lab() again in this process": again}))
    finally:
        run_cmd([*bench.labkit_cmd, "down"], env)
    return results


def overheads(bench: Bench, n: int = 3) -> dict[str, list[float]]:
    """Fixed costs inside a cold labkit start, each measured alone."""
    py = sys.executable
    home = Path(tempfile.mkdtemp(prefix="none-", dir=bench.root))
    env = bench.env(home)
    return timed_many(
        n,
        {
            "java -version  (find_java; run twice per labkit start)": lambda: run_cmd(
                [bench.java, "-version"]
            ),
            "python -c pass": lambda: run_cmd([py, "-c", "pass"]),
            "labkit --help  (CLI interpreter + imports)": lambda: run_cmd(
                [*bench.labkit_cmd, "--help"], env
            ),
            "python -c 'import labkit.cluster.local' (supervisor)": lambda: run_cmd(
                [py, "-c", "import labkit.cluster.supervisor, labkit.cluster.local"], env
            ),
            "python -c 'import labkit.facade'  (pandas; labkit up imports it)": lambda: run_cmd(
                [py, "-c", "import labkit.facade"], env
            ),
        },
    )


# -- reporting --------------------------------------------------------------------------------
def med(values: list[float]) -> float:
    return statistics.median(values)


def fmt_s(value: float | None) -> str:
    return "     -" if value is None else f"{value:6.2f}"


def phase_median(runs: list[Phases | None], key: str) -> float | None:
    values = [r[key] for r in runs if r and key in r]
    return med(values) if values else None


def totals(runs: list[Phases | None]) -> list[float]:
    return [r["total"] for r in runs if r]


def report_cold(runs: dict[str, list[Phases | None]]) -> None:
    print("\ncold start to the first acknowledged produce (seconds)")
    bare = runs["bare kafka.Kafka"]
    bare_med = med(totals(bare))
    print(
        f"  {'':18} {'median':>6} {'min':>6} {'max':>6}  {'ratio of medians':>16}"
        f"  {'median of per-round ratios':>26}  failed starts"
    )
    for name, results in runs.items():
        ok = totals(results)
        if not ok:
            print(f"  {name:18} every start failed ({len(results)})")
            continue
        pairs = zip(results, bare, strict=True)
        paired = med([r["total"] / b["total"] for r, b in pairs if r and b] or [float("nan")])
        print(
            f"  {name:18} {med(ok):6.2f} {min(ok):6.2f} {max(ok):6.2f}  "
            f"{med(ok) / bare_med:15.3f}x  {paired:25.3f}x  {len(results) - len(ok)}"
        )


def report_phases(runs: dict[str, list[Phases | None]]) -> None:
    print("\nwhere the time goes (medians of each phase, seconds)")
    keys = [
        ("before_format", "start -> labkit wrote server.properties (before format)"),
        ("format", "start -> format done"),
        ("to_broker_jvm", "start -> broker JVM's first log line"),
        ("broker_boot", "broker JVM's first log line -> 'Kafka Server started'"),
        ("started_to_returned", "'Kafka Server started' -> labkit up / ensure_lab returned"),
        ("started_to_ack", "'Kafka Server started' -> first ack"),
        ("total", "start -> first ack"),
    ]
    print(f"  {'':58}" + "".join(f"{short:>8}" for short in ("bare", "up", "API")))
    for key, label in keys:
        print(f"  {label:58}" + "".join(f"  {fmt_s(phase_median(r, key))}" for r in runs.values()))


def machine() -> list[str]:
    mem_kib = 0
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    java = find_java()
    version = subprocess.run([java.executable, "-version"], capture_output=True, text=True)
    others = sum(1 for p in Path("/proc").glob("[0-9]*/cmdline") if b"kafka.Kafka" in _read(p))
    return [
        f"cores:   {os.cpu_count()} ({cpu})",
        f"memory:  {mem_kib / 2**20:.1f} GiB",
        f"os:      {platform.platform()}",
        f"java:    {version.stderr.splitlines()[0]} ({java.executable})",
        f"kafka:   {KAFKA_VERSION} (jars in {kafka_libs()})",
        f"python:  {platform.python_version()}; confluent-kafka {confluent_kafka.__version__}, "
        f"librdkafka {confluent_kafka.libversion()[0]}",
        f"load:    {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min); "
        f"{others} other kafka.Kafka JVM(s) running on this machine",
    ]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


# -- main -------------------------------------------------------------------------------------
def labkit_command() -> list[str]:
    beside = Path(sys.executable).parent / "labkit"  # the console script of this environment
    if beside.exists():
        return [str(beside)]
    return [sys.executable, "-m", "labkit"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds of bare/labkit (default 5)")
    parser.add_argument("--attach-runs", type=int, default=7, help="warm attach repeats")
    parser.add_argument("--keep", action="store_true", help="keep the labs' directories (logs)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    os.environ.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # never the external backend here
    os.environ.pop("LABKIT_BACKEND", None)
    root = Path(tempfile.mkdtemp(prefix="labkit-bench-"))
    os.environ["LABKIT_HOME"] = str(root / "unused")  # nothing here may touch the default lab

    print("labkit startup benchmark", datetime.now().strftime("%Y-%m-%d %H:%M"))
    for line in machine():
        print("  " + line)
    bench = Bench(root, labkit_command())
    print(f"  labkit:  {' '.join(bench.labkit_cmd)}")
    print("  cold = no lab running in a fresh LABKIT_HOME, jars resolved and cached beforehand")
    if os.getloadavg()[0] > (os.cpu_count() or 1) / 2:
        print(
            "  NOTE: other work is loading this machine; the alternation keeps the comparison "
            "fair, but every figure is slower and noisier than on an idle machine"
        )
    print()

    variants = {
        "bare kafka.Kafka": bench.bare,
        "labkit up (CLI)": bench.labkit_up,
        "ensure_lab (API)": bench.ensure_lab,
    }
    runs: dict[str, list[Phases | None]] = {name: [] for name in variants}
    try:
        for i in range(args.runs):
            row = []
            for name, fn in variants.items():
                try:
                    runs[name].append(fn())
                    row.append(f"{name} {runs[name][-1]['total']:.2f} s")  # type: ignore[index]
                except Exception as exc:  # a failed start is a result to report, not a crash
                    runs[name].append(None)
                    row.append(f"{name} FAILED ({str(exc)[:300]})")
            load = os.getloadavg()[0]
            print(
                f"round {i + 1}/{args.runs}: " + ", ".join(row) + f" (load {load:.1f})", flush=True
            )

        report_cold(runs)
        report_phases(runs)

        print("\nfixed costs, each alone (median of 3, seconds)")
        for name, values in overheads(bench).items():
            print(f"  {name:64} {med(values):6.3f}")

        print(f"\nwarm attach (lab running; median of {args.attach_runs}, milliseconds)")
        attach = warm(bench, args.attach_runs)
        for name, values in attach.items():
            print(f"  {name:48} median {med(values) * 1000:7.1f}  min {min(values) * 1000:7.1f}")
        print(f"  load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        up_ok, bare_ok = totals(runs["labkit up (CLI)"]), totals(runs["bare kafka.Kafka"])
        cold_ratio = med(up_ok) / med(bare_ok) if up_ok and bare_ok else float("inf")
        fresh = med(attach["python -c 'import labkit; labkit.lab()'"])
        again = med(attach["labkit.lab() again in this process"])
        print("\ngoals")
        print(
            f"  cold `labkit up` <= {COLD_GOAL}x bare: "
            f"{'MET' if cold_ratio <= COLD_GOAL else 'NOT MET'} ({cold_ratio:.3f}x of the bare start's median)"
        )
        print(
            f"  warm attach < {WARM_GOAL_S:.0f} s: "
            f"{'MET' if fresh < WARM_GOAL_S else 'NOT MET'} (fresh interpreter {fresh:.2f} s, "
            f"in-process {again * 1000:.1f} ms)"
        )
    finally:
        failed = any(r is None for results in runs.values() for r in results)
        if args.keep or failed:
            print(f"\nkept {root}" + (" (a start failed: its logs are there)" if failed else ""))
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
