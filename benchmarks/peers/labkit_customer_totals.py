"""The guide's running totals per customer on labkit.streams, as benchmarks/streams.py runs it.

The same job as ``quix_customer_totals.py`` and the Kafka Streams reference, in a process of its
own (so the benchmark's own consumers and producers never share its interpreter):

    orders (key orderId, JSON) -> group_by customerId (a repartition topic)
        -> aggregate: running total in integer cents (a store with a changelog)
        -> output topic (key customerId, value the total as a JSON number)

It runs until idle (``--until-idle``) or until SIGINT (it then commits and stops), and prints one
JSON line: records, busy seconds, commits, and the restore it did at start (records, seconds).

    python labkit_customer_totals.py -b 127.0.0.1:9092 -t orders --output totals \\
        --app-id labkit-1 --guarantee exactly_once --commit-interval 0.1 --state-dir /tmp/s
"""

from __future__ import annotations

import json
import logging
import time

from _args import job_parser  # beside this script

from labkit.cluster import LabInfo
from labkit.facade import Lab
from labkit.streams import StreamApp

STORE = "customer-totals-store"


def cents(order: dict) -> int:
    return round(order["amount"] * 100)


def main() -> int:
    parser = job_parser(__doc__.split("\n\n")[0], guarantee="exactly_once")
    parser.add_argument("--store-type", default="sqlite")
    parser.add_argument("--cache-max-keys", type=int, default=10_000)
    parser.add_argument("--until-idle", type=float, default=1.0)
    parser.add_argument("--timeout", type=float, default=900.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    lab = Lab(LabInfo(backend="external", bootstrap_servers=args.bootstrap_servers))
    app = StreamApp(
        args.app_id,
        lab,
        guarantee=args.guarantee,
        commit_interval=args.commit_interval,
        state_dir=args.state_dir,
        store_type=args.store_type,
        cache_max_keys=args.cache_max_keys,
    )
    (
        app.stream(args.topic)
        .group_by(lambda order_id, order: order["customerId"], name="customer-totals-by-customer")
        .aggregate(lambda: 0, lambda customer, order, total: total + cents(order), store=STORE)
        .to(args.output)
    )
    started = time.time()
    try:
        result = app.run(until_idle=args.until_idle, timeout=args.timeout)
        stopped_by = result.stopped_by
    except KeyboardInterrupt:  # SIGINT: it committed and left the group
        result = app.last_result
        stopped_by = "interrupt"
    app.close()
    m = app.metrics
    print(
        json.dumps(
            {
                "records": m.input_records,
                "busy_s": result.busy_seconds if result else None,
                "rate": result.rate if result else None,
                "commits": m.commits,
                "restored": m.restored,
                "restore_s": getattr(m, "restore_seconds", None),  # labkit before 2026-11-28: none
                "stopped_by": stopped_by,
                "started_epoch": started,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
