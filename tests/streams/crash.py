"""The audit behind the crash-safety tests.

:func:`labkit.streams.crash.crash_and_recover` runs the example app as a subprocess over a topic
of orders and kills it with SIGKILL at seeded random points while it processes, then lets it run
until idle. Here the output topic (read_committed), the stores' SQLite files and a fresh restore
of the changelogs are compared with the oracle: totals and counts computed in plain Python.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labkit.streams import Guarantee, StreamApp, read_table, store_sql
from labkit.streams.crash import Kill, crash_and_recover
from labkit.streams.examples.customer_totals import COUNTS_STORE, TOTALS_STORE, amount_cents, build


@dataclass
class CrashReport:
    guarantee: str
    orders: int
    kills: list[int] = field(default_factory=list)  # input offsets committed when killed
    output: dict[str, int] = field(default_factory=dict)
    sqlite_totals: dict[str, int] = field(default_factory=dict)
    restored_totals: dict[str, int] = field(default_factory=dict)
    restored_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def duplicates(self) -> int:
        """Orders counted more than once (counts store total minus the number of orders)."""
        return sum(self.restored_counts.values()) - self.orders


def oracle(orders: list[dict[str, Any]]) -> tuple[dict[str, int], dict[str, int]]:
    """Totals (cents) and order counts per customer, in plain Python."""
    totals: Counter[str] = Counter()
    counts: Counter[str] = Counter()
    for order in orders:
        totals[order["customerId"]] += amount_cents(order)
        counts[order["customerId"]] += 1
    return dict(totals), dict(counts)


def sqlite_table(state: Path, app_id: str, store: str) -> dict[str, int]:
    """A store's contents read straight from its SQLite files (one per task), with SQL."""
    db = store_sql(app_id, store, state_dir=state)
    try:
        return dict(db.execute("SELECT key, json_extract(value, '$') FROM kv").fetchall())
    finally:
        db.close()


def run_experiment(
    lab: Any,
    app_id: str,
    source: str,
    output: str,
    orders: int,
    guarantee: Guarantee,
    state: Path,
    log=print,  # noqa: ANN001
    **options: Any,
) -> CrashReport:
    """:func:`crash_and_recover` (5 kills at up to 4,000 orders/s unless ``options`` say
    otherwise), then the audit."""
    report = CrashReport(guarantee, orders)
    started = time.monotonic()

    def logged(kill: Kill) -> None:
        log(
            f"{guarantee}: SIGKILL {kill.run} with {kill.committed}/{orders} input offsets committed"
        )

    options = {"kills": 5, "max_rate": 4000.0, **options}
    run = crash_and_recover(
        lab, app_id, source, output, guarantee, state_dir=state, on_kill=logged, **options
    )
    report.kills = [kill.committed for kill in run.kills]
    log(f"{guarantee}: final run {run.final}")
    report.output = read_table(lab, output, timeout=60)
    report.sqlite_totals = sqlite_table(state, app_id, TOTALS_STORE)
    # A fresh instance with in-memory stores rebuilds both tables from the changelogs alone.
    check = build(
        StreamApp(app_id, lab, guarantee=guarantee, store_type="memory", state_dir=state / "check"),
        source,
        output=None,
    )
    check.run(until_idle=1.0)
    report.restored_totals = check.store(TOTALS_STORE).to_dict()
    report.restored_counts = check.store(COUNTS_STORE).to_dict()
    check.close()
    report.seconds = time.monotonic() - started
    return report
