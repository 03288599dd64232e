"""The sample product catalog: the ids and unit prices that order items draw from."""

from __future__ import annotations

from typing import Any

from labkit.data._rng import check_count, rng, sample
from labkit.data.exceptions import DataGenError

_ADJECTIVES = ("Classic", "Compact", "Deluxe", "Eco", "Mini", "Pro", "Smart", "Travel")
_NOUNS = (
    "Backpack", "Blender", "Desk Lamp", "Headphones", "Kettle", "Keyboard", "Mug", "Notebook",
    "Speaker", "Umbrella", "Water Bottle", "Webcam",
)  # fmt: skip
_NAMES = [f"{adjective} {noun}" for adjective in _ADJECTIVES for noun in _NOUNS]


def products(n: int = 30, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` products ``P-001``, ``P-002``, ... with distinct names and a unit price in EUR.

    Prices end in .99 and lean towards the cheap end (1.99 to 150.99).

    >>> products(2)  # doctest: +NORMALIZE_WHITESPACE
    [{'productId': 'P-001', 'name': 'Travel Notebook', 'price': 24.99},
     {'productId': 'P-002', 'name': 'Deluxe Blender', 'price': 149.99}]
    """
    check_count("n", n, minimum=1)
    if n > 999:
        raise DataGenError(f"at most 999 products fit the P-xxx ids, got n={n}")
    r = rng(seed, "products")
    names = sample(r, _NAMES, len(_NAMES))
    result = []
    for i in range(n):
        name = names[i % len(names)]
        if i >= len(names):
            name = f"{name} {i // len(names) + 1}"
        skew = r.random()
        euros = 2 + int(skew * skew * 149)
        result.append(
            {"productId": f"P-{i + 1:03d}", "name": name, "price": (euros * 100 - 1) / 100}
        )
    return result
