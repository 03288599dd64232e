"""The Lab: one handle on the running cluster for notebooks, scripts, the CLI and tests.

>>> import labkit
>>> lab = labkit.lab()                                  # doctest: +SKIP
>>> lab.topics.fresh("orders", partitions=3)            # doctest: +SKIP
>>> lab.produce("orders", labkit.data.orders(n=100), key="orderId")  # doctest: +SKIP
>>> lab.read("orders", max_messages=5)                  # doctest: +SKIP
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labkit.clients import (
    Consumer,
    Groups,
    Producer,
    ProduceResult,
    Record,
    Topics,
    check_reachable,
    produce_all,
    read,
)
from labkit.cluster import (
    BrokerInfo,
    BrokerUnreachableError,
    ClusterError,
    LabInfo,
    ensure_lab,
    read_state,
    request,
    stop_supervisor,
)
from labkit.cluster.external import security_config
from labkit.cluster.ports import is_listening
from labkit.cluster.registry import ensure_distribution
from labkit.serdes import Serde

if TYPE_CHECKING:
    import pandas as pd


class Lab:
    """A running Kafka cluster and the helpers to use it."""

    def __init__(
        self,
        info: LabInfo,
        home: Path | None = None,
        client_settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.info = info
        self.home = home
        self.client_settings = dict(client_settings or {})

    @classmethod
    def connect(
        cls,
        backend: str | None = None,
        brokers: int | None = None,
        registry: bool = False,
        start: bool = True,
        home: Path | None = None,
    ) -> Lab:
        """Attach to the running lab (or start one) and check that a broker answers."""
        if registry and not os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            ensure_distribution()  # resolve the registry here, where errors reach the caller
        info = ensure_lab(
            backend=backend, brokers=brokers, registry=registry, start=start, home=home
        )
        settings = security_config() if info.backend == "external" else {}
        lab = cls(info, home, settings)
        lab._check_alive()
        if registry:
            lab._ensure_registry()
        schemas = sys.modules.get("labkit.schemas")
        if schemas is not None and lab.schema_registry_url:
            # "avro:<Name>" serdes find the lab's registry by themselves when first used; one
            # chosen before this lab had a registry is dropped so the next use finds it.
            schemas.set_default_registry(None)
        return lab

    def _ensure_registry(self) -> None:
        if self.info.schema_registry_url:
            return
        if self.info.backend == "external":
            url = os.environ.get("SCHEMA_REGISTRY_URL")
            if not url:
                raise ClusterError(
                    "an external cluster's schema registry is named by "
                    "SCHEMA_REGISTRY_URL, which is not set"
                )
            self.info.schema_registry_url = url
            return
        request("registry", self.home, timeout=180)
        self.refresh()

    def _check_alive(self) -> None:
        if self.info.backend == "external":
            check_reachable(self.config())
            return
        running = [b for b in self.info.brokers if b.status == "running"]
        if not any(is_listening(b.host, b.port) for b in running):
            raise BrokerUnreachableError(
                f"the {self.info.backend} lab's brokers ({self.bootstrap_servers}) do not answer; "
                "`labkit status` shows them, `labkit down` then `labkit up` restarts the lab"
            )

    # -- what the lab is -----------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self.info.backend

    @property
    def bootstrap_servers(self) -> str:
        return self.info.bootstrap_servers

    @property
    def schema_registry_url(self) -> str | None:
        return self.info.schema_registry_url

    def refresh(self) -> LabInfo:
        """Re-read the lab's state (broker status changes after fault controls)."""
        if self.info.backend != "external":
            fresh = read_state(self.home)
            if fresh is not None:
                self.info = fresh
        return self.info

    @property
    def brokers(self) -> list[BrokerInfo]:
        return self.refresh().brokers

    def config(self, **overrides: Any) -> dict[str, Any]:
        """Settings for a raw confluent-kafka client: bootstrap servers and security."""
        return {"bootstrap.servers": self.bootstrap_servers, **self.client_settings, **overrides}

    def status(self) -> dict[str, Any]:
        """Backend, bootstrap servers, brokers, topics and uptime, as ``labkit status --json``."""
        info = self.refresh()
        try:
            topics: list[str] | None = self.topics.list()
        except BrokerUnreachableError:
            topics = None
        return {
            "backend": info.backend,
            "bootstrap_servers": info.bootstrap_servers,
            "brokers": [
                {
                    "node_id": b.node_id,
                    "address": b.address,
                    "status": b.status,
                    "pid": b.pid,
                    "log_file": b.log_file,
                }
                for b in info.brokers
            ],
            "topics": topics,
            "uptime_s": round(time.time() - info.started_at, 1)
            if info.backend != "external"
            else None,
            "kafka_version": info.kafka_version,
            "schema_registry_url": info.schema_registry_url,
            "logs_dir": info.logs_dir,
            "supervisor_pid": info.supervisor_pid,
        }

    # -- clients -------------------------------------------------------------------------------
    @cached_property
    def topics(self) -> Topics:
        """Topic admin: ``create``, ``fresh``, ``delete``, ``describe``, ``list``."""
        return Topics(self.bootstrap_servers, self.client_settings)

    @cached_property
    def groups(self) -> Groups:
        """Consumer groups: ``list``, ``describe`` (members, offsets, lag), ``delete``."""
        return Groups(self.bootstrap_servers, self.client_settings)

    def producer(
        self,
        serde: str | Serde | None = "json",
        key_serde: str | Serde | None = "string",
        **config: Any,
    ) -> Producer:
        """A :class:`labkit.clients.Producer` on this lab (use it in a ``with`` block)."""
        return Producer(
            self.bootstrap_servers, serde, key_serde, {**self.client_settings, **config}
        )

    def consumer(
        self,
        group_id: str | None = None,
        topics: Iterable[str] | None = None,
        serde: str | Serde | None = "json",
        key_serde: str | Serde | None = "string",
        from_beginning: bool = True,
        **config: Any,
    ) -> Consumer:
        """A :class:`labkit.clients.Consumer` on this lab (use it in a ``with`` block)."""
        return Consumer(
            self.bootstrap_servers,
            group_id,
            topics,
            serde,
            key_serde,
            from_beginning,
            {**self.client_settings, **config},
        )

    def produce(
        self,
        topic: str,
        records: Iterable[Any],
        key: str | Callable[[Any], Any] | None = None,
        serde: str | Serde | None = "json",
        key_serde: str | Serde | None = "string",
        headers: Mapping[str, Any] | Callable[[Any], Mapping[str, Any]] | None = None,
        timestamp: str | Callable[[Any], int] | None = None,
        **config: Any,
    ) -> ProduceResult:
        """Produce every record (key: a field name or a function), wait for all acks."""
        with self.producer(serde, key_serde, **config) as producer:
            return produce_all(
                producer, topic, records, key=key, headers=headers, timestamp=timestamp
            )

    def read(
        self,
        topic: str,
        max_messages: int | None = None,
        timeout: float = 10.0,
        from_beginning: bool = True,
        group_id: str | None = None,
        commit: bool = True,
        until_end: bool = True,
        serde: str | Serde | None = "json",
        key_serde: str | Serde | None = "string",
        as_dataframe: bool = True,
        **config: Any,
    ) -> pd.DataFrame | list[Record]:
        """A bounded read of ``topic`` as a DataFrame (or records); see :func:`labkit.clients.read`."""
        return read(
            self.bootstrap_servers,
            topic,
            max_messages=max_messages,
            timeout=timeout,
            from_beginning=from_beginning,
            group_id=group_id,
            commit=commit,
            until_end=until_end,
            serde=serde,
            key_serde=key_serde,
            as_dataframe=as_dataframe,
            config={**self.client_settings, **config},
        )

    # -- fault controls (local backend) --------------------------------------------------------
    def broker(self, action: str, node_id: int) -> BrokerInfo:
        """``stop``, ``kill``, ``pause``, ``resume`` or ``start`` broker ``node_id``."""
        if self.info.backend == "external":
            from labkit.cluster import BackendUnavailableError

            raise BackendUnavailableError("fault controls need a lab labkit runs (local backend)")
        reply = request("broker", self.home, action=action, node=node_id)
        self.refresh()
        return BrokerInfo(**reply["broker"])

    def stop_broker(self, node_id: int) -> BrokerInfo:
        return self.broker("stop", node_id)

    def kill_broker(self, node_id: int) -> BrokerInfo:
        return self.broker("kill", node_id)

    def pause_broker(self, node_id: int) -> BrokerInfo:
        return self.broker("pause", node_id)

    def resume_broker(self, node_id: int) -> BrokerInfo:
        return self.broker("resume", node_id)

    def start_broker(self, node_id: int) -> BrokerInfo:
        return self.broker("start", node_id)

    def down(self) -> bool:
        """Stop the lab (all its brokers); False when it was not running."""
        return stop_supervisor(self.home) is not None

    def __repr__(self) -> str:
        return (
            f"<Lab {self.backend}: {len(self.info.brokers)} broker(s) at {self.bootstrap_servers}>"
        )
