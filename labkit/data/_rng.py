"""Seeded randomness that gives the same numbers on every run and every Python version.

Python only promises that ``Random.random()`` repeats for a given integer seed; ``randint``,
``choice``, ``sample`` and friends may change their algorithms between releases. So every helper
here is built on ``random()`` alone, and each generator gets its own stream, derived from the seed
and a stream name, so adding draws to one generator never shifts the output of another.
"""

from __future__ import annotations

import hashlib
import random
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from typing import TypeVar

from labkit.data.exceptions import DataGenError

T = TypeVar("T")

#: 2026-01-01T00:00:00Z in epoch milliseconds: where sample event time starts.
BASE_TIME_MS = 1_767_225_600_000


def rng(seed: int, stream: str) -> random.Random:
    """A generator for one named stream of draws under ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise DataGenError(f"seed must be an int, got {type(seed).__name__}: {seed!r}")
    digest = hashlib.sha256(f"labkit.data/{stream}/{seed}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def check_count(name: str, value: int, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise DataGenError(f"{name} must be an int >= {minimum}, got {value!r}")
    return value


def between(r: random.Random, low: int, high: int) -> int:
    """An int in ``[low, high]``, both ends included."""
    return low + int(r.random() * (high - low + 1))


def pick(r: random.Random, options: Sequence[T]) -> T:
    return options[int(r.random() * len(options))]


def weighted(r: random.Random, options: Sequence[T], weights: Sequence[float]) -> T:
    cumulative = list(accumulate(weights))
    return options[bisect_right(cumulative, r.random() * cumulative[-1])]


def sample(r: random.Random, options: Sequence[T], k: int) -> list[T]:
    """``k`` distinct options (a partial Fisher-Yates shuffle)."""
    pool = list(options)
    for i in range(k):
        j = between(r, i, len(pool) - 1)
        pool[i], pool[j] = pool[j], pool[i]
    return pool[:k]
