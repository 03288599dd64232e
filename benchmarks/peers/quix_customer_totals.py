"""The guide's running totals per customer on Quix Streams, for benchmarks/streams.py.

Runs in its own virtual environment (Quix Streams pins confluent-kafka below labkit's), created by
``benchmarks/streams.py`` under ``~/.cache/labkit/peers/quix``; it imports nothing from labkit.
The job is the one labkit.streams and the Kafka Streams reference run:

    orders (key orderId, JSON) -> group_by customerId (a repartition topic)
        -> running total of the amounts in integer cents, in a state store with a changelog
        -> output topic (key customerId, value the total as a JSON number)

It stops once it has aggregated ``--expected`` orders (or after ``--idle`` seconds without a
record), commits, and prints one JSON line: the records aggregated, the wall-clock epoch seconds
of the first order read and of the last aggregated, and when ``Application.run`` returned.

    python quix_customer_totals.py -b 127.0.0.1:9092 -t orders --output totals \\
        --app-id quix-1 --guarantee exactly-once --commit-interval 0.1 --expected 200000
"""

from __future__ import annotations

import json
import logging
import time

from _args import job_parser  # beside this script
from quixstreams import Application


def cents(amount: float) -> int:
    return round(amount * 100)


def main() -> int:
    parser = job_parser(__doc__.split("\n\n")[0], guarantee="exactly-once")
    parser.add_argument("--expected", type=int, default=0, help="stop after this many orders")
    parser.add_argument("--idle", type=float, default=0.0, help="stop after this long idle (s)")
    args = parser.parse_args()
    logging.getLogger("quixstreams").setLevel(logging.WARNING)

    app = Application(
        broker_address=args.bootstrap_servers,
        consumer_group=args.app_id,
        processing_guarantee=args.guarantee,
        commit_interval=args.commit_interval,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    orders = app.topic(args.topic, key_deserializer="str", value_deserializer="json")
    output = app.topic(args.output, key_serializer="str", value_serializer="json")
    progress = {"read": 0, "aggregated": 0, "first": None, "last": None}

    def seen(order: dict) -> None:
        if progress["first"] is None:
            progress["first"] = time.time()
        progress["read"] += 1

    def add(order: dict, state) -> int:  # noqa: ANN001 - Quix's State
        total = state.get("total", 0) + cents(order["amount"])
        state.set("total", total)
        progress["aggregated"] += 1
        progress["last"] = time.time()
        if args.expected and progress["aggregated"] >= args.expected:
            app.stop()  # the loop ends after this record; Quix commits its checkpoint
        return total

    sdf = app.dataframe(orders)
    sdf = sdf.update(seen)
    sdf = sdf.group_by(
        "customerId",
        name="customer-totals-by-customer",
        key_serializer="str",
        key_deserializer="str",
    )
    sdf = sdf.apply(add, stateful=True)
    sdf.to_topic(output)
    app.run(timeout=args.idle)
    done = time.time()
    print(
        json.dumps(
            {
                "records": progress["aggregated"],
                "read": progress["read"],
                "first_epoch": progress["first"],
                "last_epoch": progress["last"],
                "done_epoch": done,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
