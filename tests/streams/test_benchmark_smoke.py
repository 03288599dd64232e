"""A smoke run of benchmarks/streams.py: labkit alone, a few thousand orders, throughput only.

The benchmark itself is not a test (a timing is not a test); this only checks that its machinery
- the job in its own process, the observers, the oracle check, the goal lines - still works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "streams.py"


@pytest.mark.timeout(120)
def test_the_streams_benchmark_runs_labkit_and_states_its_goals(lab):
    done = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--no-quix",
            "--no-jvm",
            "--orders",
            "3000",
            "--rounds",
            "1",
            "--parts",
            "throughput",
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert "labkit         exactly_once" in out and "labkit         at_least_once" in out
    assert "labkit exactly-once >= 0.85x at-least-once:" in out.splitlines()[-1]
