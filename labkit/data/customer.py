"""Sample customers: the table side of the order domain (joins, read models, compaction)."""

from __future__ import annotations

from typing import Any

from labkit.data._rng import BASE_TIME_MS, between, check_count, pick, rng, weighted

COUNTRIES = ("DE", "FR", "NL", "BE", "AT", "ES", "IT", "PL", "SE", "IE")
TIERS = ("bronze", "silver", "gold")
_TIER_WEIGHTS = (6, 3, 1)
_FIRST_NAMES = (
    "Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hugo", "Ines", "Jonas",
    "Katja", "Luca", "Marie", "Noah", "Olivia", "Paul", "Sofia", "Tom", "Vera", "Yusuf",
)  # fmt: skip
_LAST_NAMES = (
    "Bauer", "Costa", "Dubois", "Eriksson", "Fischer", "Garcia", "Hansen", "Jansen", "Kowalski",
    "Lambert", "Moreau", "Novak", "Okafor", "Peeters", "Rossi", "Schmidt", "Weber", "Walsh",
)  # fmt: skip
_THIRTY_DAYS_S = 30 * 24 * 3600


def customer_id(number: int) -> str:
    """The id of the ``number``-th customer (counting from 1).

    >>> customer_id(7)
    'C0007'
    """
    return f"C{number:04d}"


def customers(n: int = 50, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` customers ``C0001``, ``C0002``, ... with seeded names, countries and tiers.

    ``updatedAt`` (epoch millis) falls in the 30 days before the first order, so every order
    finds its customer in a stream-table join.

    >>> customers(2)[0]  # doctest: +NORMALIZE_WHITESPACE
    {'customerId': 'C0001', 'name': 'Anna Hansen', 'email': 'anna.hansen.1@example.com',
     'country': 'NL', 'tier': 'bronze', 'updatedAt': 1765259131000}
    >>> customers(2) == customers(2)
    True
    """
    check_count("n", n)
    r = rng(seed, "customers")
    result = []
    for number in range(1, n + 1):
        first, last = pick(r, _FIRST_NAMES), pick(r, _LAST_NAMES)
        result.append(
            {
                "customerId": customer_id(number),
                "name": f"{first} {last}",
                "email": f"{first}.{last}.{number}@example.com".lower(),
                "country": pick(r, COUNTRIES),
                "tier": weighted(r, TIERS, _TIER_WEIGHTS),
                "updatedAt": BASE_TIME_MS - between(r, 1, _THIRTY_DAYS_S) * 1000,
            }
        )
    return result
