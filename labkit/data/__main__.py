"""``python -m labkit.data DIRECTORY``: write the sample JSON-lines files into DIRECTORY."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from labkit.data.export import write_sample_files


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and write the files, printing each path.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     main([tmp, "--orders", "5"])  # doctest: +ELLIPSIS
    wrote ...customers.jsonl
    wrote ...orders.jsonl
    wrote ...payments.jsonl
    """
    parser = argparse.ArgumentParser(
        prog="python -m labkit.data", description="Write deterministic sample order-domain events."
    )
    parser.add_argument("directory", help="where to write customers/orders/payments.jsonl")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=50, help="number of customers")
    parser.add_argument("--orders", type=int, default=200, help="number of orders")
    args = parser.parse_args(argv)
    for path in write_sample_files(args.directory, args.seed, args.customers, args.orders):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
