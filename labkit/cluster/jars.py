"""The Apache Kafka broker's classpath: from an unpacked release (KAFKA_HOME) or from Maven Central.

Maven resolution runs once per Kafka version into a cache outside the repository
(``$LABKIT_CACHE`` or ``~/.cache/labkit``); later starts reuse it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from importlib import resources
from pathlib import Path

from labkit.cluster.exceptions import JarResolutionError

KAFKA_VERSION = "4.3.1"
_COMPLETE = ".complete"


def cache_root() -> Path:
    """Where labkit keeps downloaded jars (never inside the repository)."""
    env = os.environ.get("LABKIT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "labkit"


def kafka_libs(version: str = KAFKA_VERSION, kafka_home: str | None = None) -> Path:
    """A directory holding every jar the broker needs.

    Uses ``$KAFKA_HOME/libs`` when ``kafka_home`` (or the KAFKA_HOME variable) names an unpacked
    Apache Kafka release; otherwise resolves ``org.apache.kafka:kafka_2.13:<version>`` and its
    logging runtime with ``mvn`` into the cache.

    >>> (kafka_libs() / "kafka_2.13-4.3.1.jar").exists()  # doctest: +SKIP
    True
    """
    kafka_home = kafka_home if kafka_home is not None else os.environ.get("KAFKA_HOME")
    if kafka_home:
        libs = Path(kafka_home) / "libs"
        if not any(libs.glob("kafka_2.13-*.jar")):
            raise JarResolutionError(
                f"KAFKA_HOME={kafka_home} is not an unpacked Apache Kafka release: no "
                f"{libs}/kafka_2.13-*.jar. Unset KAFKA_HOME to resolve the jars from Maven Central."
            )
        return libs
    libs = cache_root() / f"kafka-{version}" / "libs"
    if (libs / _COMPLETE).exists():
        return libs
    _resolve_with_maven(version, libs)
    return libs


def _resolve_with_maven(version: str, libs: Path) -> None:
    mvn = shutil.which("mvn")
    if not mvn:
        raise JarResolutionError(
            "Resolving the Kafka jars needs Maven (`mvn`), which is not on PATH. Install it "
            "(Debian/Ubuntu: `sudo apt-get install maven`; macOS: `brew install maven`) and run "
            "`labkit up` again, or set KAFKA_HOME to an unpacked Apache Kafka release."
        )
    if libs.exists():
        shutil.rmtree(libs)  # a half-finished earlier attempt
    libs.mkdir(parents=True)
    pom = resources.files("labkit.cluster") / "kafka-pom.xml"
    with resources.as_file(pom) as pom_path:
        cmd = [
            mvn,
            "-B",
            "-q",
            "-f",
            str(pom_path),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-Dkafka.version={version}",
            f"-DoutputDirectory={libs}",
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired as exc:
            raise JarResolutionError(
                f"Maven did not finish resolving Kafka {version} within 15 minutes. Check that "
                "Maven Central is reachable and run `labkit up` again."
            ) from exc
    if done.returncode != 0 or not (libs / f"kafka_2.13-{version}.jar").exists():
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        shutil.rmtree(libs, ignore_errors=True)
        raise JarResolutionError(
            f"Maven could not resolve org.apache.kafka:kafka_2.13:{version} (exit "
            f"{done.returncode}). Command: {' '.join(cmd)}\n{tail}\nFix the cause above (network "
            "access to Maven Central, a proxy in ~/.m2/settings.xml, a mistyped version) and run "
            "`labkit up` again; or set KAFKA_HOME to an unpacked Apache Kafka release."
        )
    (libs / _COMPLETE).write_text(version)


def classpath(libs: Path) -> str:
    """The ``-cp`` argument for the jars in ``libs``."""
    return str(libs / "*")
