"""The ``labkit`` command: start, stop and inspect the lab; topics, produce, consume, groups,
and broker fault controls.

    labkit up [--brokers 1|3] [--backend auto|local|docker] [--registry]
    labkit status [--json]
    labkit topics [list|create|delete|describe] ...
    labkit produce -t TOPIC [-f FILE] [--key-field F]
    labkit consume -t TOPIC [-n N] [--timeout S] [-g GROUP]      (tail: follow new records)
    labkit groups [GROUP]
    labkit broker stop|kill|pause|resume|start N
    labkit down
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

from labkit.exceptions import LabkitError


def _lab(args: argparse.Namespace, start: bool = False):
    import labkit

    if getattr(args, "bootstrap_servers", None):
        import os

        os.environ["KAFKA_BOOTSTRAP_SERVERS"] = args.bootstrap_servers
    return labkit.lab(start=start)


def cmd_up(args: argparse.Namespace) -> int:
    import labkit
    from labkit.cluster.state import read_state

    if read_state() is not None:
        print("A lab is already running:")
    else:
        print(
            f"Starting a {args.backend or 'auto'} lab with {args.brokers} broker(s)...", flush=True
        )
    t0 = time.monotonic()
    lab = labkit.lab(args.backend, args.brokers, registry=args.registry)
    _print_status(lab.status())
    print(f"Ready in {time.monotonic() - t0:.1f} s. Stop it with `labkit down`.")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from labkit.cluster import stop_supervisor

    info = stop_supervisor()
    if info is None:
        print("No lab is running; nothing to stop.")
    else:
        print(f"Stopped the {info.backend} lab ({info.bootstrap_servers}).")
    return 0


def _print_status(status: dict[str, Any]) -> None:
    print(f"backend:            {status['backend']}")
    print(f"bootstrap servers:  {status['bootstrap_servers']}")
    if status.get("uptime_s") is not None:
        print(f"uptime:             {status['uptime_s']:.0f} s")
    if status.get("schema_registry_url"):
        print(f"schema registry:    {status['schema_registry_url']}")
    for b in status["brokers"]:
        log = f"  log: {b['log_file']}" if b.get("log_file") else ""
        print(f"broker {b['node_id']}:           {b['address']}  {b['status']}{log}")
    topics = status.get("topics")
    print(
        f"topics:             {', '.join(topics) if topics else '(none)' if topics == [] else '?'}"
    )


def cmd_status(args: argparse.Namespace) -> int:
    from labkit.cluster import LabNotRunningError

    try:
        lab = _lab(args)
    except LabNotRunningError:
        if args.json:
            print(json.dumps({"running": False}))
        else:
            print("No lab is running. Start one with `labkit up`.")
        return 1
    status = lab.status()
    if args.json:
        print(json.dumps({"running": True, **status}, indent=2))
    else:
        _print_status(status)
    return 0


def cmd_topics(args: argparse.Namespace) -> int:
    lab = _lab(args)
    action = args.action or "list"
    if action == "list":
        for name in lab.topics.list(internal=args.internal):
            print(name)
    elif action == "create":
        config = dict(kv.split("=", 1) for kv in args.config or [])
        lab.topics.create(
            args.name, args.partitions, args.replication_factor, config, exist_ok=args.if_not_exists
        )
        print(f"created {args.name} ({args.partitions} partition(s))")
    elif action == "delete":
        lab.topics.delete(args.name, missing_ok=False)
        print(f"deleted {args.name}")
    elif action == "describe":
        print(lab.topics.describe(args.name))
    return 0


def cmd_produce(args: argparse.Namespace) -> int:
    lab = _lab(args)
    stream = open(args.file) if args.file and args.file != "-" else sys.stdin  # noqa: SIM115
    try:
        if args.serde == "json":
            records = (json.loads(line) for line in stream if line.strip())
        else:
            records = (line.rstrip("\n") for line in stream if line.strip())
        key = args.key_field if args.serde == "json" else None
        result = lab.produce(args.topic, records, key=key, serde=args.serde)
    finally:
        if stream is not sys.stdin:
            stream.close()
    print(
        f"produced {result.count} record(s) to {args.topic}: "
        + ", ".join(f"partition {p}: {n}" for p, n in result.partitions.items())
    )
    return 0


def cmd_consume(args: argparse.Namespace) -> int:
    lab = _lab(args)
    follow = args.command == "tail"
    if follow:
        deadline = time.monotonic() + args.timeout if args.timeout else None
        with lab.consumer(
            group_id=args.group,
            topics=[args.topic],
            serde=args.serde,
            from_beginning=args.from_beginning,
        ) as consumer:
            seen = 0
            while (args.max_messages is None or seen < args.max_messages) and (
                deadline is None or time.monotonic() < deadline
            ):
                record = consumer.poll(0.2)
                if record is not None:
                    _print_record(record)
                    seen += 1
        return 0
    records = lab.read(
        args.topic,
        max_messages=args.max_messages,
        timeout=args.timeout or 10.0,
        group_id=args.group,
        serde=args.serde,
        from_beginning=args.from_beginning,
        as_dataframe=False,
    )
    for record in records:
        _print_record(record)
    print(f"({len(records)} record(s))", file=sys.stderr)
    return 0


def _print_record(record) -> None:  # noqa: ANN001
    value = record.value if isinstance(record.value, str) else json.dumps(record.value, default=str)
    print(f"{record.partition}:{record.offset}\t{record.key}\t{value}", flush=True)


def cmd_groups(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if args.group:
        print(lab.groups.describe(args.group))
    else:
        for group in lab.groups.list():
            print(group)
    return 0


def cmd_broker(args: argparse.Namespace) -> int:
    lab = _lab(args)
    broker = lab.broker(args.action, args.node)
    print(f"broker {broker.node_id} ({broker.host}:{broker.port}): {broker.status}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labkit", description="The Event-Driven Microservices Lab."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what labkit does")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func, help: str) -> argparse.ArgumentParser:  # noqa: A002, ANN001
        p = sub.add_parser(name, help=help)
        p.set_defaults(func=func)
        if name not in ("up", "down"):
            p.add_argument("-b", "--bootstrap-servers", help="use this cluster (external backend)")
        return p

    p = add("up", cmd_up, "start the lab (or show the running one)")
    p.add_argument("--brokers", type=int, default=1, choices=[1, 3])
    p.add_argument("--backend", choices=["auto", "local", "docker"], default=None)
    p.add_argument("--registry", action="store_true", help="also start a schema registry")
    add("down", cmd_down, "stop the lab")
    p = add("status", cmd_status, "show backend, brokers, ports, topics and uptime")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = add("topics", cmd_topics, "list, create, delete or describe topics")
    p.add_argument("action", nargs="?", choices=["list", "create", "delete", "describe"])
    p.add_argument("name", nargs="?")
    p.add_argument("-p", "--partitions", type=int, default=1)
    p.add_argument("-r", "--replication-factor", type=int, default=None)
    p.add_argument("-c", "--config", action="append", metavar="KEY=VALUE")
    p.add_argument("--if-not-exists", action="store_true")
    p.add_argument("--internal", action="store_true", help="include __internal topics")
    p = add("produce", cmd_produce, "produce lines from a file or stdin (JSON by default)")
    p.add_argument("-t", "--topic", required=True)
    p.add_argument("-f", "--file", help="JSON-lines file (default: stdin)")
    p.add_argument("-k", "--key-field", help="use this field of each JSON record as the key")
    p.add_argument("--serde", choices=["json", "string"], default="json")
    for name, help_ in (("consume", "read records (bounded)"), ("tail", "follow new records")):
        p = add(name, cmd_consume, help_)
        p.add_argument("-t", "--topic", required=True)
        p.add_argument("-n", "--max-messages", type=int, default=None)
        p.add_argument("--timeout", type=float, default=None, help="seconds (tail: until Ctrl-C)")
        p.add_argument("-g", "--group", default=None, help="consumer group (committed offsets)")
        p.add_argument("--serde", choices=["json", "string", "bytes"], default="json")
        p.add_argument(
            "--from-beginning", action=argparse.BooleanOptionalAction, default=(name == "consume")
        )
    p = add("groups", cmd_groups, "list consumer groups or describe one")
    p.add_argument("group", nargs="?")
    p = add("broker", cmd_broker, "fault controls on the local backend")
    p.add_argument("action", choices=["stop", "kill", "pause", "resume", "start"])
    p.add_argument("node", type=int)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except LabkitError as exc:
        print(f"labkit: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
