"""Running totals per customer: the guide's Kafka Streams example, in Python.

Reads ``OrderCreated`` events (as ``lab.produce("orders", labkit.data.orders(...), key="orderId")``
writes them), groups them by ``customerId`` through a repartition topic, and keeps two tables:

* ``customer-totals-store``: the total spent per customer, in integer **cents**, written to the
  output topic on every commit. Cents, because amounts are 2-decimal floats and float addition is
  not associative: the repartition topic interleaves records of several input partitions in no
  fixed order, so a float sum could differ in the last bit from run to run; integer cents cannot.
* ``customer-order-counts``: how many orders each customer placed (the same grouped stream, one
  repartition topic), which shows duplicates under at-least-once.

    python -m labkit.streams.examples.customer_totals -t orders --output customer-totals \\
        --guarantee exactly_once --until-idle 5

Prints one JSON line when it is processing and one with the run's result at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from labkit.streams import StreamApp

TOTALS_STORE = "customer-totals-store"
COUNTS_STORE = "customer-order-counts"
GROUPING = "customer-totals-by-customer"


def amount_cents(order: dict[str, Any]) -> int:
    """An order's amount in cents: exact for a 2-decimal float and for a Decimal (Avro). For
    such amounts ``amount * 100`` lies within a rounding error of a whole number, so this agrees
    with the Java reference's ``Math.round(amount * 100)``.

    >>> amount_cents({"amount": 0.1 + 0.2}), amount_cents({"amount": 371.96})
    (30, 37196)
    """
    return round(order["amount"] * 100)


class RateLimit:
    """A ``peek`` action that holds a stream to ``per_second`` records (to watch it work, or to
    kill it half-way in a test)."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second
        self.next = time.monotonic()

    def __call__(self, key: Any, value: Any) -> None:
        now = time.monotonic()
        if self.next > now:
            time.sleep(self.next - now)
        self.next = max(self.next, now - 1.0) + self.interval


def build(
    app: StreamApp,
    source: str = "orders",
    output: str | None = "customer-totals",
    value: Any = None,
    max_rate: float | None = None,
) -> StreamApp:
    """Add the customer-totals topology to ``app``; ``value`` is the input's serde,
    ``max_rate`` caps the orders read per second."""
    orders = app.stream(source, value=value)
    if max_rate:
        orders = orders.peek(RateLimit(max_rate))
    # Named as the Kafka Streams reference names its grouping (Grouped.as), so both topologies
    # describe the same repartition topic: <app-id>-customer-totals-by-customer-repartition.
    by_customer = orders.group_by(lambda order_id, order: order["customerId"], name=GROUPING)
    totals = by_customer.aggregate(
        lambda: 0, lambda customer, order, cents: cents + amount_cents(order), store=TOTALS_STORE
    )
    if output:
        totals.to(output)
    by_customer.count(store=COUNTS_STORE)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-b", "--bootstrap-servers", help="default: the running lab's")
    parser.add_argument("-t", "--topic", default="orders", help="input topic (default: orders)")
    parser.add_argument("--output", default="customer-totals", help="output topic")
    parser.add_argument("--app-id", default="customer-totals")
    parser.add_argument(
        "--guarantee", default="exactly_once", choices=["at_least_once", "exactly_once"]
    )
    parser.add_argument("--store-type", default="sqlite", choices=["sqlite", "memory"])
    parser.add_argument("--value-serde", default="json", help="e.g. json or avro:OrderCreated")
    parser.add_argument("--state-dir")
    parser.add_argument("--instance", default="0")
    parser.add_argument("--commit-interval", type=float)
    parser.add_argument("--until-idle", type=float, default=5.0)
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--session-timeout-ms", type=int)
    parser.add_argument("--max-rate", type=float, help="orders per second at most")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    if args.bootstrap_servers:
        from labkit.cluster import LabInfo
        from labkit.facade import Lab

        lab: Any = Lab(LabInfo(backend="external", bootstrap_servers=args.bootstrap_servers))
    else:
        import labkit

        lab = labkit.lab(start=False)
    consumer_config = {}
    if args.session_timeout_ms:
        consumer_config["session.timeout.ms"] = args.session_timeout_ms
    app = StreamApp(
        args.app_id,
        lab,
        guarantee=args.guarantee,
        commit_interval=args.commit_interval,
        instance=args.instance,
        state_dir=args.state_dir,
        store_type=args.store_type,
        consumer_config=consumer_config,
    )
    build(app, args.topic, args.output, args.value_serde, args.max_rate)
    print(json.dumps({"event": "starting", "app_id": args.app_id}), flush=True)
    result = app.run(until_idle=args.until_idle, timeout=args.timeout)
    print(
        json.dumps(
            {
                "event": "done",
                "input_records": result.input_records,
                "records": result.records,
                "commits": result.commits,
                "stopped_by": result.stopped_by,
                "restored": app.metrics.restored,
            }
        ),
        flush=True,
    )
    app.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
