"""labkit.data: deterministic sample events. Unit tests: no broker needed."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
from collections import Counter
from itertools import pairwise
from pathlib import Path

import pytest

import labkit.data as data
from labkit.data import (
    DataGenError,
    cancellations,
    customers,
    events,
    order_amount_cents,
    orders,
    payments,
    products,
    shipments,
    to_dataframe,
    write_sample_files,
)

SAMPLE_DIR = Path(__file__).resolve().parents[2] / "data" / "sample"


def test_same_seed_gives_same_records():
    assert customers(50, seed=7) == customers(50, seed=7)
    assert orders(300, seed=7) == orders(300, seed=7)
    assert payments(orders(300, seed=7), seed=7) == payments(orders(300, seed=7), seed=7)
    assert events(100, seed=7) == events(100, seed=7)


def test_different_seed_gives_different_records():
    assert customers(50, seed=1) != customers(50, seed=2)
    assert orders(100, seed=1) != orders(100, seed=2)
    created = orders(100, seed=1)
    assert payments(created, seed=1) != payments(created, seed=2)


def test_counts_and_ids():
    shop = customers(12)
    created = orders(250, customers=12)
    assert [c["customerId"] for c in shop] == [f"C{i:04d}" for i in range(1, 13)]
    assert [o["orderId"] for o in created] == [f"O{i:06d}" for i in range(1, 251)]
    assert {o["customerId"] for o in created} <= {c["customerId"] for c in shop}
    assert len(orders(0)) == 0
    assert len(products(30)) == 30


def test_customer_fields():
    shop = customers(50)
    assert len({c["email"] for c in shop}) == 50
    assert {c["tier"] for c in shop} == {"bronze", "silver", "gold"}
    assert all(len(c["country"]) == 2 and c["country"].isupper() for c in shop)
    assert all(c["updatedAt"] < data.BASE_TIME_MS for c in shop)


def test_orders_are_skewed_towards_a_few_customers():
    per_customer = Counter(o["customerId"] for o in orders(1000))
    top_five = sum(count for _, count in per_customer.most_common(5))
    assert top_five > 400  # uniform over 50 customers would give about 100


def test_items_and_amount_exact_in_cents():
    for order in orders(1000, seed=3):
        assert 1 <= len(order["items"]) <= 4
        assert len({item["productId"] for item in order["items"]}) == len(order["items"])
        for item in order["items"]:
            assert item["productId"].startswith("P-")
            assert 1 <= item["quantity"] <= 5
            assert round(item["price"], 2) == item["price"]
        cents = sum(item["quantity"] * round(item["price"] * 100) for item in order["items"])
        assert round(order["amount"] * 100) == cents == order_amount_cents(order)
        assert order["amount"] == cents / 100
        assert (order["currency"], order["status"]) == ("EUR", "CREATED")


def test_created_at_starts_at_base_and_is_monotone_with_bounded_gaps():
    times = [o["createdAt"] for o in orders(1000)]
    assert times[0] == data.BASE_TIME_MS == 1_767_225_600_000
    gaps = [b - a for a, b in pairwise(times)]
    assert all(200 <= gap <= 3000 for gap in gaps)
    per_minute = Counter(t // 60_000 for t in times)
    full_minutes = sorted(per_minute)[1:-1]
    assert len(full_minutes) >= 10  # spans minutes
    assert all(per_minute[m] >= 3 for m in full_minutes)  # each one-minute window holds several


def test_every_payment_references_an_existing_order_once():
    created = orders(1000)
    by_id = {o["orderId"]: o for o in created}
    paid = payments(created)
    assert 900 < len(paid) < 1000
    assert len({p["orderId"] for p in paid}) == len(paid)
    assert len({p["paymentId"] for p in paid}) == len(paid)
    for payment in paid:
        order = by_id[payment["orderId"]]
        assert payment["customerId"] == order["customerId"]
        assert payment["amount"] == order["amount"]
        assert payment["method"] in {"card", "paypal", "bank_transfer"}
        assert payment["processedAt"] > order["createdAt"]


def test_shipments_and_cancellations_cover_each_order_once():
    created = orders(500)
    paid = payments(created)
    shipped = shipments(paid)
    cancelled = cancellations(created, paid)
    assert [s["orderId"] for s in shipped] == [p["orderId"] for p in paid]
    assert {c["orderId"] for c in cancelled} | {p["orderId"] for p in paid} == {
        o["orderId"] for o in created
    }
    assert len(cancelled) + len(paid) == len(created)
    processed = {p["orderId"]: p["processedAt"] for p in paid}
    assert all(s["shippedAt"] > processed[s["orderId"]] for s in shipped)


def test_events_are_in_time_order_and_complete():
    timeline = events(300)
    assert [e["timestamp"] for e in timeline] == sorted(e["timestamp"] for e in timeline)
    kinds = Counter(e["type"] for e in timeline)
    assert kinds["OrderCreated"] == 300
    assert kinds["PaymentProcessed"] == kinds["OrderShipped"]
    assert kinds["PaymentProcessed"] + kinds["OrderCancelled"] == 300


def test_to_dataframe_keeps_items_as_lists():
    frame = to_dataframe(orders(5))
    assert frame.shape == (5, 7)
    assert all(isinstance(items, list) for items in frame["items"])


@pytest.mark.parametrize(
    "call",
    [
        lambda: customers(-1),
        lambda: orders(10, seed="42"),
        lambda: orders(10, customers=0),
        lambda: orders(10, customers=[]),
        lambda: products(0),
    ],
)
def test_bad_arguments_raise_a_labkit_error(call):
    with pytest.raises(DataGenError):
        call()


def test_committed_sample_files_match_the_generator(tmp_path):
    written = write_sample_files(tmp_path)
    assert [p.name for p in written] == ["customers.jsonl", "orders.jsonl", "payments.jsonl"]
    for path in written:
        committed = SAMPLE_DIR / path.name
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed} is stale: regenerate with `python -m labkit.data data/sample`"
        )


def test_doctests_pass():
    modules = [data] + [
        importlib.import_module(info.name)
        for info in pkgutil.iter_modules(data.__path__, prefix="labkit.data.")
    ]
    attempted = 0
    for module in modules:
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, f"doctest failures in {module.__name__}"
        attempted += result.attempted
    assert attempted >= 25
