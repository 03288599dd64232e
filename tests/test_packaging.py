"""The project's packaging files agree with each other."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    extras = project["optional-dependencies"]
    for name in ("java", "docker", "notebooks", "dev"):
        reqs += [r for r in extras[name] if not r.startswith("labkit[")]
    return set(reqs)


def test_environment_yml_lists_what_pyproject_installs():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    listed = {p for p in pip if not p.startswith("-e")}
    assert listed == _requirements()
    assert "-e .[dev]" in pip


def test_environment_yml_brings_java_17_and_maven_for_the_local_backend():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    names = [d for d in env["dependencies"] if isinstance(d, str)]
    assert "openjdk=17" in names and "maven" in names
    python = next(d for d in names if d.startswith("python="))
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert tuple(map(int, python.split("=")[1].split("."))) >= tuple(
        map(int, re.findall(r"\d+", required))
    )


def test_the_broker_pom_pins_the_kafka_version_labkit_runs():
    from labkit.cluster.jars import KAFKA_VERSION

    pom = (ROOT / "labkit" / "cluster" / "kafka-pom.xml").read_text()
    assert f"<kafka.version>{KAFKA_VERSION}</kafka.version>" in pom
    assert KAFKA_VERSION == "4.3.1"
