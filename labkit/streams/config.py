"""The settings of a stream application, with Kafka Streams' defaults where they suit a lab."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from labkit.streams.exceptions import TopologyError

Guarantee = Literal["at_least_once", "exactly_once"]
StoreType = Literal["memory", "sqlite"]

GUARANTEES: tuple[str, ...] = ("at_least_once", "exactly_once")
STORE_TYPES: tuple[str, ...] = ("memory", "sqlite")

#: Kafka Streams commits every 100 ms under exactly-once; under at-least-once it waits 30 s, which
#: would leave a learner watching an output topic for half a minute, so labkit takes Quix Streams'
#: 5 s there. An app also commits whenever its input runs dry.
DEFAULT_COMMIT_INTERVAL = {"exactly_once": 0.1, "at_least_once": 5.0}

_APP_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def default_state_dir() -> Path:
    """``$LABKIT_STREAMS_STATE_DIR``, else ``$LABKIT_HOME/streams`` when a lab home of its own
    is set (so that two labs never share an app's local state: its checkpoints are offsets in
    one cluster's changelogs), else ``~/.cache/labkit/streams``."""
    env = os.environ.get("LABKIT_STREAMS_STATE_DIR")
    if env:
        return Path(env).expanduser()
    home = os.environ.get("LABKIT_HOME")
    if home:
        return Path(home).expanduser() / "streams"
    return Path.home() / ".cache" / "labkit" / "streams"


@dataclass
class StreamConfig:
    """What a :class:`~labkit.streams.StreamApp` was configured with (after defaults)."""

    app_id: str
    guarantee: Guarantee = "at_least_once"
    commit_interval: float | None = None
    instance: str = "0"
    state_dir: Path = field(default_factory=default_state_dir)
    store_type: StoreType = "sqlite"
    cache_max_keys: int = 10_000
    key_serde: Any = "string"
    value_serde: Any = "json"
    consumer_config: dict[str, Any] = field(default_factory=dict)
    producer_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _APP_ID.match(self.app_id):
            raise TopologyError(
                f"application id {self.app_id!r} may hold only letters, digits, '.', '_' and '-' "
                "(it names the consumer group and the internal topics)"
            )
        if self.guarantee not in GUARANTEES:
            raise TopologyError(
                f"guarantee {self.guarantee!r} is not one of {', '.join(GUARANTEES)}"
            )
        if self.store_type not in STORE_TYPES:
            raise TopologyError(
                f"store_type {self.store_type!r} is not one of {', '.join(STORE_TYPES)}"
            )
        if self.commit_interval is None:
            self.commit_interval = DEFAULT_COMMIT_INTERVAL[self.guarantee]
        if self.commit_interval < 0:
            raise TopologyError("commit_interval is in seconds and cannot be negative")
        if self.cache_max_keys < 0:
            raise TopologyError("cache_max_keys cannot be negative (0 turns caching off)")
        self.state_dir = Path(self.state_dir).expanduser()

    @property
    def exactly_once(self) -> bool:
        return self.guarantee == "exactly_once"

    @property
    def transactional_id(self) -> str:
        """One transactional producer per instance, as Kafka Streams' EOS v2."""
        return f"{self.app_id}-{self.instance}"

    def app_state_dir(self) -> Path:
        return self.state_dir / self.app_id


def merge_config(base: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    from labkit.clients.config import kafka_properties

    return {**base, **kafka_properties(dict(overrides or {}))}
