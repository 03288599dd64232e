"""The command line every peer job of ``benchmarks/streams.py`` takes (each script runs in its
own virtual environment, so this module imports nothing beyond the standard library)."""

from __future__ import annotations

import argparse


def job_parser(description: str, guarantee: str) -> argparse.ArgumentParser:
    """The arguments the benchmark passes to every job: where, what, and how often to commit."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("-b", "--bootstrap-servers", required=True)
    parser.add_argument("-t", "--topic", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--app-id", required=True)
    parser.add_argument("--guarantee", default=guarantee)
    parser.add_argument("--commit-interval", type=float, default=0.1)
    parser.add_argument("--state-dir", required=True)
    return parser
