"""The stream processor's JSON serde reads and writes what labkit's ``"json"`` serde does.

labkit.streams swaps the built-in ``"json"`` serde for a faster one (a reused encoder; orjson for
reading when installed, and for writing repartition topics). Exactness is the contract: the same
bytes on user-visible topics, the same values read back everywhere, the same errors.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal

import pytest

from labkit.serdes import SerdeError, resolve
from labkit.streams.serdes import INTERNAL_JSON, STREAMS_JSON, serde_for

PLAIN = resolve("json")
rng = random.Random(11)
VALUES = [
    {"orderId": "O1", "amount": 371.96, "items": [{"q": 2, "p": 1.99}], "note": None},
    {"name": "Zoë Ångström", "city": "Kraków", "emoji": "🙂", "ok": True},
    {
        "d": Decimal("12.30"),
        "t": dt.datetime(2026, 1, 1, 12, 30, tzinfo=dt.UTC),
        "day": dt.date(2026, 1, 2),
    },
    2**64 - 1,
    2**64,
    -(2**63) - 1,
    10**30,
    {"big": [2**70, -(2**70)]},
    float("nan"),
    {"x": float("inf"), "y": float("-inf")},
    -0.0,
    5e-324,
    1e308,
    {1: "int key"},
    (1, 2, 3),
    "\ud800",
    "",
    [],
    {},
    *[rng.uniform(-1e9, 1e9) for _ in range(2_000)],
    *[rng.random() * 10 ** rng.randint(-300, 300) for _ in range(2_000)],
    *[rng.randint(-(2**64), 2**64) for _ in range(2_000)],
]


@pytest.mark.parametrize("serde", [STREAMS_JSON, INTERNAL_JSON], ids=["streams", "internal"])
def test_every_value_reads_back_as_the_plain_json_serde_reads_it(serde):
    for value in VALUES:
        plain = PLAIN.serialize(value, "t")
        if serde is STREAMS_JSON:  # what users' topics get: the very same bytes
            assert serde.serialize(value, "t") == plain, value
        written = serde.serialize(value, "t")
        assert repr(STREAMS_JSON.deserialize(written, "t")) == repr(json.loads(plain)), value
        assert repr(STREAMS_JSON.deserialize(plain, "t")) == repr(json.loads(plain)), value


def test_odd_bytes_read_as_json_loads_reads_them_and_errors_stay_the_same():
    for raw in [
        b'\xef\xbb\xbf{"a":1}',
        '{"a":1}'.encode("utf-16"),
        b'{"a":NaN}',
        b"1e400",
        b'{"a":1,"a":2}',
        b"  7 ",
        b"123456789012345678901234567890",
    ]:
        assert repr(STREAMS_JSON.deserialize(raw, "t")) == repr(json.loads(raw)), raw
    for bad in [b"{nope", b"\xff\xfe\x00", b"[1,"]:
        with pytest.raises(SerdeError, match="is not JSON"):
            STREAMS_JSON.deserialize(bad, "t")
    for serde in (STREAMS_JSON, INTERNAL_JSON):
        with pytest.raises(SerdeError, match="cannot be written as JSON"):
            serde.serialize({"s": {1, 2}}, "t")


def test_the_app_uses_it_for_json_only():
    assert serde_for("json", None) is STREAMS_JSON
    assert serde_for(None, "json") is STREAMS_JSON
    assert serde_for("string", None) is resolve("string")
    assert serde_for("state-json", None).name == "state-json"
