"""A real schema registry on this machine: Apicurio Registry run as a local JVM process.

The server comes from Maven Central (``io.apicurio:apicurio-registry-app:<version>:tar.gz:all``),
resolved once with ``mvn dependency:copy`` into ``~/.cache/labkit/registry/<version>`` and unpacked
there; ``$LABKIT_REGISTRY_HOME`` may name an unpacked distribution instead. It stores schemas in
memory (they are gone when it stops) and serves the Confluent-compatible API under
``/apis/ccompat/v7``, which confluent-kafka's ``SchemaRegistryClient`` speaks.

Version 3.0.9 is the default because it runs on Java 17; the 3.1.5+ and 3.3.x builds on Maven
Central are compiled for Java 21 (``version=`` takes them where Java 21 is installed).

>>> with RegistryServer() as server:                     # doctest: +SKIP
...     print(server.url)
http://127.0.0.1:40123/apis/ccompat/v7

Run one in the foreground: ``python -m labkit.cluster.registry [--port 8081]``.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
import weakref
from pathlib import Path

from labkit.cluster.exceptions import RegistryServerError
from labkit.cluster.jars import cache_root
from labkit.cluster.ports import pick_port
from labkit.cluster.processes import die_with_parent

DEFAULT_VERSION = "3.0.9"
ARTIFACT = "io.apicurio:apicurio-registry-app:{version}:tar.gz:all"
HOME_ENV = "LABKIT_REGISTRY_HOME"
CCOMPAT_PATH = "/apis/ccompat/v7"

_RUNNING: weakref.WeakSet[RegistryServer] = weakref.WeakSet()


def cache_dir() -> Path:
    """Where resolved registry distributions live: ``$XDG_CACHE_HOME/labkit/registry``.

    >>> cache_dir().parts[-2:]
    ('labkit', 'registry')
    """
    return cache_root() / "registry"


def ensure_distribution(version: str = DEFAULT_VERSION, *, mvn: str = "mvn") -> Path:
    """Return the directory of an unpacked Apicurio Registry, resolving it with Maven if needed.

    >>> ensure_distribution().name                          # doctest: +SKIP
    'dist'
    """
    home = os.environ.get(HOME_ENV)
    if home:
        path = Path(home)
        if _find_jar(path) is None:
            raise RegistryServerError(f"${HOME_ENV}={home} holds no Apicurio Registry runner jar")
        return path
    root = cache_dir() / version
    dist = root / "dist"
    if _find_jar(dist) is not None:
        return dist
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one resolver at a time (parallel test workers)
        if _find_jar(dist) is None:
            _resolve(version, root, dist, mvn)
    return dist


def _resolve(version: str, root: Path, dist: Path, mvn: str) -> None:
    archive = root / f"apicurio-registry-app-{version}-all.tar.gz"
    if not archive.is_file():
        _maven_copy(version, root, mvn)
    partial = root / "dist.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        if hasattr(tarfile, "data_filter"):
            tar.extractall(partial, filter="data")
        else:  # Python < 3.10.12: members are checked by hand
            for member in tar.getmembers():
                if member.name.startswith(("/", "..")) or ".." in Path(member.name).parts:
                    raise RegistryServerError(f"{archive} has an unsafe member {member.name!r}")
            tar.extractall(partial)  # noqa: S202 - members checked above
    if _find_jar(partial) is None:
        raise RegistryServerError(f"{archive} holds no runner jar; delete {root} and retry")
    shutil.rmtree(dist, ignore_errors=True)
    partial.rename(dist)


def _maven_copy(version: str, root: Path, mvn: str) -> None:
    if shutil.which(mvn) is None:
        raise RegistryServerError(
            f"Maven ({mvn!r}) is not on PATH, and it is needed once to fetch Apicurio Registry "
            f"{version}; install Maven, or unpack the distribution and set ${HOME_ENV}"
        )
    root.mkdir(parents=True, exist_ok=True)
    cmd = [
        mvn,
        "-q",
        "-B",
        "dependency:copy",
        f"-Dartifact={ARTIFACT.format(version=version)}",
        f"-DoutputDirectory={root}",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-8:])
        raise RegistryServerError(
            f"could not resolve {ARTIFACT.format(version=version)} from Maven Central "
            f"(exit {done.returncode}):\n{tail}"
        )


def _find_jar(dist: Path) -> Path | None:
    """3.1.5+ ship ``quarkus-run.jar``; earlier 3.x a ``*-runner.jar`` beside ``lib/``."""
    if (dist / "quarkus-run.jar").is_file():
        return dist / "quarkus-run.jar"
    runners = sorted(dist.glob("*-runner.jar")) if dist.is_dir() else []
    return runners[0] if runners else None


class RegistryServer:
    """Apicurio Registry as a child JVM on 127.0.0.1, for tests, notebooks and scripts.

    ``port=0`` picks a free port. The JVM's output goes to ``<workdir>/registry.log``. The child is
    killed when this process dies, even by SIGKILL (``PR_SET_PDEATHSIG`` on Linux), so it never
    outlives its owner. It gets that signal when the *thread* that started it ends, so start it from
    a thread that lives as long as it should.

    >>> with RegistryServer(heap_mb=256) as server:          # doctest: +SKIP
    ...     ConfluentRegistry(server.url).subjects()
    []
    """

    def __init__(
        self,
        java: str = "java",
        port: int = 0,
        workdir: Path | str | None = None,
        heap_mb: int = 256,
        *,
        version: str = DEFAULT_VERSION,
        startup_timeout: float = 90.0,
        compatibility: str | None = "BACKWARD",
    ) -> None:
        self.java = java
        self.port = port or pick_port()
        self._own_workdir = workdir is None
        self.workdir = (
            Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="labkit-registry-"))
        )
        self.heap_mb = heap_mb
        self.version = version
        self.startup_timeout = startup_timeout
        # Confluent's registry defaults to BACKWARD; Apicurio's ccompat API to NONE. The lab
        # teaches the Confluent default, so the global level is set to it at start.
        self.compatibility = compatibility
        self.log_path = self.workdir / "registry.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"RegistryServer({self.url!r}, {state})"

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>``: Apicurio's own APIs live under it."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The Confluent-compatible API base, what ``SchemaRegistryClient({"url": ...})`` takes."""
        return self.base_url + CCOMPAT_PATH

    @property
    def running(self) -> bool:
        """Whether the JVM is alive."""
        return self.process is not None and self.process.poll() is None

    def command(self, dist: Path) -> list[str]:
        """The java command line that starts the server from ``dist``."""
        jar = _find_jar(dist)
        if jar is None:
            raise RegistryServerError(f"{dist} holds no Apicurio Registry runner jar")
        return [
            self.java,
            f"-Xmx{self.heap_mb}m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xss512k",
            f"-Dquarkus.http.port={self.port}",
            "-Dquarkus.http.host=127.0.0.1",
            "-Djava.io.tmpdir=" + str(self.workdir),
            "-jar",
            str(jar),
        ]

    def start(self) -> RegistryServer:
        """Start the JVM and wait until ``/apis/ccompat/v7/subjects`` answers.

        Raises :class:`RegistryServerError` (naming the log file, with its last lines) as soon as
        the JVM exits, or after ``startup_timeout`` seconds without an answer.
        """
        if self.running:
            return self
        dist = ensure_distribution(self.version)
        cmd = self.command(dist)
        self.workdir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        with open(self.log_path, "wb") as log:
            try:
                self.process = subprocess.Popen(
                    cmd,
                    cwd=self.workdir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,  # noqa: PLW1509 - only prctl, nothing that locks
                    start_new_session=True,  # a Ctrl-C in a notebook does not reach the JVM
                )
            except FileNotFoundError as exc:
                raise RegistryServerError(
                    f"java not found ({self.java!r}): the schema registry needs a Java 17+ "
                    "runtime; install one (e.g. apt-get install openjdk-17-jre-headless) or "
                    "pass java="
                ) from exc
        _RUNNING.add(self)
        self._wait_ready(started)
        self.startup_seconds = time.monotonic() - started
        return self

    def _wait_ready(self, started: float) -> None:
        probe = self.url + "/subjects"
        while True:
            code = self.process.poll() if self.process else None
            if code is not None:
                raise RegistryServerError(self._failure(f"the JVM exited with code {code}"))
            try:
                with urllib.request.urlopen(probe, timeout=1.0) as answer:
                    if answer.status == 200:
                        self._set_global_compatibility()
                        return
            except (urllib.error.URLError, OSError):
                pass  # not listening yet
            if time.monotonic() - started > self.startup_timeout:
                self.stop()
                raise RegistryServerError(
                    self._failure(f"no answer at {probe} within {self.startup_timeout:.0f} s")
                )
            time.sleep(0.2)

    def _set_global_compatibility(self) -> None:
        if not self.compatibility:
            return
        body = json.dumps({"compatibility": self.compatibility}).encode()
        put = urllib.request.Request(
            self.url + "/config",
            body,
            method="PUT",
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        with urllib.request.urlopen(put, timeout=10) as answer:
            if answer.status != 200:
                raise RegistryServerError(
                    f"setting the global compatibility answered {answer.status}"
                )

    def _failure(self, what: str) -> str:
        tail = self.log_tail()
        hint = ""
        if "UnsupportedClassVersionError" in tail:
            hint = (
                f"\nApicurio Registry {self.version} needs a newer Java than {self.java!r}; "
                f"use version={DEFAULT_VERSION!r} (Java 17) or a Java 21 runtime."
            )
        elif "Address already in use" in tail:
            hint = f"\nPort {self.port} is taken; pass port=0 for a free one."
        return (
            f"Apicurio Registry {self.version} did not start: {what}. Log: {self.log_path}"
            f"{hint}\n--- last lines of the log ---\n{tail}"
        )

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the JVM (SIGTERM, then SIGKILL after ``timeout`` seconds). Safe to call twice."""
        process, self.process = self.process, None
        _RUNNING.discard(self)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.stop(timeout=2.0)


@atexit.register
def _stop_all() -> None:
    for server in list(_RUNNING):
        server.stop(timeout=5.0)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """``python -m labkit.cluster.registry``: run a registry until Ctrl-C."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-p", "--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--heap-mb", type=int, default=256, help="JVM heap in MiB (default 256)")
    parser.add_argument("--version", default=DEFAULT_VERSION, help="Apicurio Registry version")
    parser.add_argument("--java", default="java", help="java executable")
    parser.add_argument("--workdir", type=Path, default=None, help="where registry.log goes")
    args = parser.parse_args(argv)
    server = RegistryServer(args.java, args.port, args.workdir, args.heap_mb, version=args.version)
    try:
        server.start()
    except RegistryServerError as exc:
        print(exc, file=sys.stderr)
        return 1
    print(server.url, flush=True)
    pid = server.process.pid if server.process else None
    print(
        f"# Apicurio Registry {server.version} (JVM pid {pid}) up in "
        f"{server.startup_seconds:.1f} s; log: {server.log_path}; Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        while server.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
