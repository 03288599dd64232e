"""The real Kafka Streams running the guide's "running totals per customer": labkit.streams' reference.

The Java program lives in the repository at ``jvm/kstreams-reference`` (``lab.kstreams.CustomerTotals``):
orders (JSON values) -> ``groupBy`` customerId (a repartition topic) -> ``aggregate`` -> output
topic. :func:`build` compiles it once with ``mvn`` into the labkit cache (outside the repository,
keyed by a hash of its sources, so an edit rebuilds); :func:`run_customer_totals` runs it as a
bounded subprocess and returns its one-line JSON summary; :func:`read_totals` reads the result.

Totals are integer cents: each amount counts as ``Math.round(amount * 100)`` (halves round up, see
:func:`amount_cents`), because a float sum depends on the order of its terms and the repartition
interleaves the input partitions in no fixed order. The output value is the decimal string of the
customer's total cents (``"37196"``), keyed by customerId.

>>> import labkit
>>> from labkit.streams.reference import run_customer_totals, read_totals
>>> lab = labkit.lab()  # doctest: +SKIP
>>> summary = run_customer_totals(lab.bootstrap_servers, "orders", "customer-totals",
...                               "totals-reference", expected_records=1_000)  # doctest: +SKIP
>>> summary["recordsProcessed"], read_totals(lab, "customer-totals")["C0007"]  # doctest: +SKIP
(1000, 1234567)

Also a script: ``python -m labkit.streams.reference build`` prints the jar's path;
``python -m labkit.streams.reference run -b HOST:PORT -t orders ...`` prints the summary.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from labkit.cluster.jars import cache_root
from labkit.cluster.java import find_java
from labkit.exceptions import LabkitError

if TYPE_CHECKING:
    from labkit.facade import Lab

Guarantee = Literal["at_least_once", "exactly_once", "exactly_once_v2"]
Store = Literal["rocksdb", "memory"]

MAIN_CLASS = "lab.kstreams.CustomerTotals"
JAR_NAME = "kstreams-reference.jar"
STORE_NAME = "customer-totals-store"
REPARTITION_NAME = "customer-totals-by-customer"
_COMPLETE = ".complete"
_BUILD_TIMEOUT_S = 900.0
# Beyond the program's own deadline: JVM start, the topic check, and a close of up to 30 s.
_EXIT_GRACE_S = 60.0


class KStreamsReferenceError(LabkitError):
    """The Kafka Streams reference could not be built or did not run to completion."""


class ReferenceBuildError(KStreamsReferenceError):
    """``mvn``/``javac`` are missing, or building ``jvm/kstreams-reference`` failed."""


class ReferenceRunError(KStreamsReferenceError):
    """The reference program failed, timed out, or printed no summary."""

    def __init__(self, message: str, summary: dict[str, Any] | None = None, log_file=None):
        super().__init__(message)
        self.summary = summary
        self.log_file = log_file


def amount_cents(amount: float) -> int:
    """An amount in integer cents exactly as the reference counts it: Java's ``Math.round(a * 100)``.

    >>> amount_cents(371.96), amount_cents(0.125), amount_cents(-0.125)
    (37196, 13, -12)
    """
    scaled = amount * 100
    whole = math.floor(scaled)
    # scaled - whole is exact, so a tie is seen as a tie (floor(scaled + 0.5) can round up wrongly)
    return whole + 1 if scaled - whole >= 0.5 else whole


def internal_topics(application_id: str) -> list[str]:
    """The topics Kafka Streams creates for one run: the repartition and the store's changelog."""
    return [
        f"{application_id}-{REPARTITION_NAME}-repartition",
        f"{application_id}-{STORE_NAME}-changelog",
    ]


def project_dir() -> Path:
    """The Maven project: ``$LABKIT_KSTREAMS_REFERENCE_DIR`` or ``jvm/kstreams-reference`` in the repo."""
    env = os.environ.get("LABKIT_KSTREAMS_REFERENCE_DIR")
    project = (
        Path(env) if env else Path(__file__).resolve().parents[2] / "jvm" / "kstreams-reference"
    )
    if not (project / "pom.xml").is_file():
        raise ReferenceBuildError(
            f"no Kafka Streams reference project at {project} (no pom.xml). It ships with the labkit "
            "repository, not the installed package: run from a clone (`pip install -e .`) or set "
            "LABKIT_KSTREAMS_REFERENCE_DIR to the clone's jvm/kstreams-reference."
        )
    return project


def _fingerprint(project: Path) -> str:
    digest = hashlib.sha256()
    files = [project / "pom.xml", *sorted(p for p in (project / "src").rglob("*") if p.is_file())]
    for path in files:
        digest.update(path.relative_to(project).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _has_javac() -> bool:
    java_home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("javac")) or bool(
        java_home and (Path(java_home) / "bin" / "javac").exists()
    )


def build(force: bool = False) -> Path:
    """Build the reference with ``mvn`` (once per source version) and return its runnable jar.

    The jar and its ``lib/`` go to ``<labkit cache>/kstreams-reference/<source hash>/``; a
    build is staged beside it and renamed into place, so an interrupted build leaves nothing used.

    >>> build().name  # doctest: +SKIP
    'kstreams-reference.jar'
    """
    project = project_dir()
    out = cache_root() / "kstreams-reference" / _fingerprint(project)
    jar = out / JAR_NAME
    if not force and (out / _COMPLETE).exists() and jar.exists():
        return jar
    mvn = shutil.which("mvn")
    if not mvn:
        raise ReferenceBuildError(
            "building the Kafka Streams reference needs Maven (`mvn`), which is not on PATH. Install "
            "it (Debian/Ubuntu: `sudo apt-get install maven`; macOS: `brew install maven`; conda: "
            "environment.yml has it), then call labkit.streams.reference.build() again."
        )
    if not _has_javac():
        raise ReferenceBuildError(
            "building the Kafka Streams reference needs a Java 17+ JDK (`javac`), and only a runtime "
            "was found. Install one (Debian/Ubuntu: `sudo apt-get install openjdk-17-jdk-headless`; "
            "macOS: `brew install openjdk@17`) or point JAVA_HOME at one, then call build() again."
        )
    staging = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(project / "pom.xml"),
        "package",
        f"-Dkstreams.build.dir={staging}",
    ]
    retry = (
        "Fix the cause above (network access to Maven Central, a proxy in ~/.m2/settings.xml, a "
        "compile error in jvm/kstreams-reference) and call labkit.streams.reference.build() again, "
        f"or run the command by hand: cd {project} && mvn package"
    )
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=_BUILD_TIMEOUT_S, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise ReferenceBuildError(
            f"`mvn package` of the Kafka Streams reference did not finish within "
            f"{_BUILD_TIMEOUT_S:.0f} s. {retry}"
        ) from exc
    if done.returncode != 0 or not (staging / JAR_NAME).exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        shutil.rmtree(staging, ignore_errors=True)
        raise ReferenceBuildError(
            f"building the Kafka Streams reference failed (mvn exit {done.returncode}). Command: "
            f"{' '.join(cmd)}\n{tail}\n{retry}"
        )
    (staging / _COMPLETE).write_text(MAIN_CLASS)
    if out.exists():
        shutil.rmtree(out, ignore_errors=True)
    try:
        staging.rename(out)
    except OSError:  # another process finished the same build first: use theirs
        shutil.rmtree(staging, ignore_errors=True)
    _prune_stale_builds(out)
    return jar


def _prune_stale_builds(current: Path) -> None:
    """Remove finished builds of other source versions (each holds ~90 MB of jars)."""
    for other in current.parent.iterdir():
        if other != current and (other / _COMPLETE).exists():
            shutil.rmtree(other, ignore_errors=True)


def run_customer_totals(
    bootstrap_servers: str,
    input_topic: str,
    output_topic: str,
    application_id: str,
    guarantee: Guarantee = "exactly_once",
    commit_interval_ms: int = 100,
    timeout: float = 300.0,
    *,
    expected_records: int | None = None,
    idle_ms: int | None = None,
    state_dir: str | Path | None = None,
    store: Store = "rocksdb",
    threads: int = 1,
    heap_mb: int = 256,
    config: Mapping[str, Any] | None = None,
    log_file: str | Path | None = None,
    check: bool = True,
) -> dict[str, Any]:
    """Run the reference until it has aggregated ``expected_records`` (or was idle ``idle_ms``).

    Both topics must exist. The JVM gets ``-Xmx{heap_mb}m``, gives up after ``timeout`` seconds
    (and is ended if it has not exited a minute later); its log goes to ``log_file`` (default
    ``<labkit cache>/kstreams-reference/logs/<application_id>.log``). Without ``state_dir``
    the state lives in a temporary directory removed afterwards. Returns the program's summary:
    ``recordsProcessed``, ``elapsedMs`` (start to closed), ``processingMs`` (first record read to
    last aggregated), ``recordsPerSec`` (over processingMs), ``storeKeys``, ``storeTotalCents``,
    ``stoppedBy``, ``ok``, ``error``, plus ``logFile``. Raises :class:`ReferenceRunError` when
    the run did not succeed (unless ``check=False``).

    >>> run_customer_totals("127.0.0.1:9092", "orders", "totals", "ref-1",
    ...                     expected_records=20_000)["recordsProcessed"]  # doctest: +SKIP
    20000
    """
    if guarantee not in ("at_least_once", "exactly_once", "exactly_once_v2"):
        raise ValueError(f"guarantee must be at_least_once or exactly_once, not {guarantee!r}")
    if expected_records is None and idle_ms is None:
        idle_ms = 5_000
    jar = build()
    java = find_java().executable
    log_path = Path(
        log_file or cache_root() / "kstreams-reference" / "logs" / f"{application_id}.log"
    )
    log_path.parent.mkdir(parents=True, exist_ok=True)
    cmd = [
        java,
        f"-Xmx{heap_mb}m",
        "-jar",
        str(jar),
        "--bootstrap-servers",
        bootstrap_servers,
        "--application-id",
        application_id,
        "--input-topic",
        input_topic,
        "--output-topic",
        output_topic,
        "--processing-guarantee",
        guarantee,
        "--commit-interval-ms",
        str(commit_interval_ms),
        "--store",
        store,
        "--threads",
        str(threads),
        "--max-runtime-ms",
        str(round(timeout * 1000)),
    ]
    if expected_records is not None:
        cmd += ["--expected-records", str(expected_records)]
    if idle_ms is not None:
        cmd += ["--idle-ms", str(idle_ms)]
    for key, value in (config or {}).items():
        cmd += ["--config", f"{key}={value}"]
    with contextlib.ExitStack() as stack:
        if state_dir is None:
            # not the OS temp dir, which Kafka Streams warns may be cleared under it
            scratch = cache_root() / "kstreams-reference" / "state"
            scratch.mkdir(parents=True, exist_ok=True)
            state_dir = stack.enter_context(
                tempfile.TemporaryDirectory(prefix=f"{application_id}-", dir=scratch)
            )
        cmd += ["--state-dir", str(state_dir)]
        log = stack.enter_context(log_path.open("w"))
        stdout, returncode = _run_bounded(cmd, log, timeout + _EXIT_GRACE_S, log_path)
    summary = _summary_from(stdout)
    if summary is None:
        raise ReferenceRunError(
            f"the Kafka Streams reference exited {returncode} without a summary; its log, "
            f"{log_path}, ends with:\n{_tail(log_path)}",
            log_file=log_path,
        )
    summary["logFile"] = str(log_path)
    if check and not summary.get("ok"):
        raise ReferenceRunError(
            f"the Kafka Streams reference failed: {summary.get('error')} (exit {returncode}). "
            f"Log: {log_path}, ending with:\n{_tail(log_path)}",
            summary,
            log_path,
        )
    return summary


def _run_bounded(cmd: list[str], log, limit: float, log_path: Path) -> tuple[str, int]:
    """Run ``cmd`` for at most ``limit`` seconds; on timeout or interrupt, end it (TERM, then KILL)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, text=True
    )
    try:
        stdout, _ = proc.communicate(timeout=limit)
        return stdout, proc.returncode
    except subprocess.TimeoutExpired as exc:
        stdout = _end(proc)
        raise ReferenceRunError(
            f"the Kafka Streams reference did not exit within {limit:.0f} s and was stopped; "
            f"log: {log_path}, ending with:\n{_tail(log_path)}",
            _summary_from(stdout),
            log_path,
        ) from exc
    except BaseException:
        _end(proc)
        raise


def _end(proc: subprocess.Popen) -> str:
    """Stop the program and return what it printed: on TERM its shutdown hook closes the app
    (leaving the group) and prints the summary; KILL only if that takes over 40 s."""
    proc.terminate()
    try:
        stdout, _ = proc.communicate(timeout=40)
    except subprocess.TimeoutExpired:
        proc.kill()
        stdout, _ = proc.communicate()
    return stdout or ""


def _summary_from(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def _tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def read_totals(lab: Lab, output_topic: str, timeout: float = 30.0) -> dict[str, int]:
    """The latest total (in cents) per customer on ``output_topic``, read committed.

    >>> read_totals(lab, "customer-totals")["C0007"]  # doctest: +SKIP
    1234567
    """
    records = lab.read(
        output_topic,
        timeout=timeout,
        serde="string",
        key_serde="string",
        as_dataframe=False,
        **{"isolation.level": "read_committed"},
    )
    totals: dict[str, int] = {}
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        totals[record.key] = int(record.value)
    return totals


def delete_application(lab: Lab, application_id: str) -> None:
    """Delete what a run left on the cluster: its internal topics and its consumer group."""
    lab.topics.delete(internal_topics(application_id), missing_ok=True)
    lab.groups.delete(application_id, missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    """``build`` prints the jar's path; ``run`` runs the reference and prints its summary."""
    parser = argparse.ArgumentParser(prog="python -m labkit.streams.reference", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build").add_argument("--force", action="store_true")
    run = sub.add_parser("run")
    run.add_argument("-b", "--bootstrap-servers", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS"))
    run.add_argument("-t", "--topic", "--input-topic", dest="input_topic", default="orders")
    run.add_argument("--output-topic", default="customer-totals")
    run.add_argument("--application-id", default="customer-totals-reference")
    run.add_argument("--guarantee", default="exactly_once")
    run.add_argument("--commit-interval-ms", type=int, default=100)
    run.add_argument("--expected-records", type=int)
    run.add_argument("--idle-ms", type=int)
    run.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.command == "build":
        print(build(force=args.force))
        return 0
    servers = args.bootstrap_servers
    if not servers:
        import labkit

        servers = labkit.lab().bootstrap_servers
    summary = run_customer_totals(
        servers,
        args.input_topic,
        args.output_topic,
        args.application_id,
        args.guarantee,
        args.commit_interval_ms,
        args.timeout,
        expected_records=args.expected_records,
        idle_ms=args.idle_ms,
        check=False,
    )
    print(json.dumps(summary))
    return 0 if summary.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
