"""The processor graph a DSL program builds, its sub-topologies, and ``describe()``.

The graph mirrors Kafka Streams: source nodes read topics, processor nodes transform records,
sink nodes write topics. A ``group_by`` that changes the key ends a sub-topology at a sink to an
internal repartition topic and starts the next one at a source reading it; records with the same
new key then meet in the same partition, so one task holds all the state for a key. Node names
follow Kafka Streams (``KSTREAM-SOURCE-0000000000``) so the output of :meth:`Topology.describe`
can be laid beside the Java ``Topology.describe()``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labkit.streams.exceptions import TopologyError


@dataclass(eq=False)
class Node:
    """One node of the graph: ``role`` is source, processor or sink; ``op`` says what it does."""

    name: str
    index: int
    role: str
    op: str
    args: dict[str, Any] = field(default_factory=dict)
    parents: list[Node] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    stores: list[str] = field(default_factory=list)
    topic: str | None = None  # source or sink topic (internal ones by suffix, see Topology.topic)
    internal: bool = False  # reads or writes a repartition topic

    def __repr__(self) -> str:
        return f"<{self.role} {self.name}>"


@dataclass(eq=False)
class StoreSpec:
    """A store the topology declares (materialized by an aggregation or a table).

    ``source_topic``: the store of ``app.table(topic)`` uses that topic as its changelog (Kafka
    Streams' source-topic changelog), so nothing is written for it and it is never deleted as an
    internal topic. ``windows``: the store is a window store (keys are ``(key, window start)``).
    """

    name: str
    store_type: str | None  # None: the app's default
    key_serde: Any
    value_serde: Any
    node: Node
    source_topic: str | None = None
    windows: Any = None


@dataclass
class SubTopology:
    """A connected part of the graph; one task per partition of its source topics runs it."""

    id: int
    nodes: list[Node]

    @property
    def sources(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "source"]

    @property
    def sinks(self) -> list[Node]:
        return [n for n in self.nodes if n.role == "sink"]

    @property
    def store_names(self) -> list[str]:
        """Each store once, in the order the nodes name them (a join names its table's)."""
        return list(dict.fromkeys(s for n in self.nodes for s in n.stores))


class Topology:
    """The graph of one application; built through :class:`~labkit.streams.StreamApp`."""

    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.nodes: list[Node] = []
        self.stores: dict[str, StoreSpec] = {}
        self._counter = 0
        self._frozen = False

    # -- building --------------------------------------------------------------------------
    def next_index(self) -> int:
        index = self._counter
        self._counter += 1
        return index

    def add(
        self,
        role: str,
        op: str,
        prefix: str,
        parents: list[Node] | tuple[Node, ...] = (),
        name: str | None = None,
        index: int | None = None,
        **attrs: Any,
    ) -> Node:
        if self._frozen:
            raise TopologyError(
                "the topology cannot change once the app has run; build a new StreamApp"
            )
        index = self.next_index() if index is None else index
        node_name = name or f"{prefix}-{index:010d}"
        if any(n.name == node_name for n in self.nodes):
            raise TopologyError(f"two processors are named {node_name!r}; names must be unique")
        node = Node(node_name, index, role, op, **attrs)
        for parent in parents:
            parent.children.append(node)
            node.parents.append(parent)
        self.nodes.append(node)
        return node

    def add_store(self, spec: StoreSpec) -> None:
        if spec.name in self.stores:
            raise TopologyError(
                f"a store named {spec.name!r} already exists; give each aggregation its own store="
            )
        self.stores[spec.name] = spec

    def freeze(self) -> None:
        if not self.nodes:
            raise TopologyError(
                "the app has no topology: start one with app.stream('topic') before running it"
            )
        self._frozen = True

    # -- names -----------------------------------------------------------------------------
    def topic(self, node: Node) -> str:
        """The real topic of a source or sink (internal topics carry the application id)."""
        assert node.topic is not None
        return f"{self.app_id}-{node.topic}" if node.internal else node.topic

    def repartition(
        self, parent: Node, base: str, name: str | None, key_serde: Any, value_serde: Any
    ) -> Node:
        """End the sub-topology of ``parent`` at a sink to ``<app-id>-<base>-repartition`` and
        return the source that reads it (records whose key is None are dropped before)."""
        args = {"key_serde": key_serde, "value_serde": value_serde}
        sink_index, filter_index, source_index = (self.next_index() for _ in range(3))
        drop = self.add(
            "processor",
            "drop_null_key",
            "KSTREAM-FILTER",
            [parent],
            index=filter_index,
            name=f"{name}-repartition-filter" if name else None,
        )
        topic = f"{base}-repartition"
        self.add(
            "sink",
            "sink",
            "KSTREAM-SINK",
            [drop],
            index=sink_index,
            name=f"{name}-repartition-sink" if name else None,
            topic=topic,
            internal=True,
            args=args,
        )
        return self.add(
            "source",
            "source",
            "KSTREAM-SOURCE",
            [],
            index=source_index,
            name=f"{name}-repartition-source" if name else None,
            topic=topic,
            internal=True,
            args=args,
        )

    def changelog_topic(self, store: str) -> str:
        spec = self.stores.get(store)
        if spec is not None and spec.source_topic is not None:
            return spec.source_topic
        return f"{self.app_id}-{store}-changelog"

    def logged_stores(self) -> list[str]:
        """Stores with a changelog topic of their own (not a table's source topic)."""
        return [name for name, spec in self.stores.items() if spec.source_topic is None]

    def source_topics(self) -> list[str]:
        return [self.topic(n) for n in self.nodes if n.role == "source"]

    def external_source_topics(self) -> list[str]:
        return [self.topic(n) for n in self.nodes if n.role == "source" and not n.internal]

    def repartition_topics(self) -> list[str]:
        return [self.topic(n) for n in self.nodes if n.role == "source" and n.internal]

    def internal_topics(self) -> list[str]:
        return self.repartition_topics() + [self.changelog_topic(s) for s in self.logged_stores()]

    def sink_topics(self) -> list[str]:
        return [self.topic(n) for n in self.nodes if n.role == "sink" and not n.internal]

    # -- structure -------------------------------------------------------------------------
    def subtopologies(self) -> list[SubTopology]:
        """Connected components of the graph, numbered in the order they were built."""
        seen: dict[int, int] = {}
        groups: list[list[Node]] = []
        users: dict[str, list[Node]] = {}  # a store and the nodes that use it run in one task
        for node in self.nodes:
            for store in node.stores:
                users.setdefault(store, []).append(node)
        for start in sorted(self.nodes, key=lambda n: n.index):
            if id(start) in seen:
                continue
            group: list[Node] = []
            stack = [start]
            while stack:
                node = stack.pop()
                if id(node) in seen:
                    continue
                seen[id(node)] = len(groups)
                group.append(node)
                stack.extend(node.children)
                stack.extend(node.parents)
                for store in node.stores:
                    stack.extend(users[store])
            groups.append(sorted(group, key=lambda n: n.index))
        groups.sort(key=lambda g: g[0].index)
        return [SubTopology(i, g) for i, g in enumerate(groups)]

    def describe(self) -> TopologyDescription:
        return TopologyDescription(self)


def _walk(sub: SubTopology) -> list[Node]:
    """Nodes in reading order: each source, then depth-first along its children."""
    order: list[Node] = []
    seen: set[int] = set()

    def visit(node: Node) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        order.append(node)
        for child in node.children:
            visit(child)

    for source in sub.sources:
        visit(source)
    for node in sub.nodes:  # anything not reachable from a source (cannot happen via the DSL)
        visit(node)
    return order


class TopologyDescription:
    """What ``describe()`` returns: prints like Kafka Streams' ``Topology.describe()``.

    Topic names are the real ones: internal topics carry the application id, as on the broker.
    """

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.subtopologies = topology.subtopologies()

    def _lines(self) -> list[str]:
        t = self.topology
        lines = ["Topologies:"]
        for sub in self.subtopologies:
            lines.append(f"   Sub-topology: {sub.id}")
            for node in _walk(sub):
                if node.role == "source":
                    lines.append(f"    Source: {node.name} (topics: [{t.topic(node)}])")
                elif node.role == "sink":
                    lines.append(f"    Sink: {node.name} (topic: {t.topic(node)})")
                else:
                    lines.append(f"    Processor: {node.name} (stores: [{', '.join(node.stores)}])")
                if node.role != "sink":
                    nexts = ", ".join(c.name for c in node.children) or "none"
                    lines.append(f"      --> {nexts}")
                if node.parents:
                    lines.append(f"      <-- {', '.join(p.name for p in node.parents)}")
            lines.append("")
        internal = t.internal_topics()
        if internal:
            lines.append("Internal topics:")
            for topic in t.repartition_topics():
                lines.append(f"   {topic} (repartition)")
            for store in t.logged_stores():
                lines.append(f"   {t.changelog_topic(store)} (changelog of {store}, compacted)")
        return lines

    def __str__(self) -> str:
        return "\n".join(self._lines()).rstrip() + "\n"

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython shows the text as is
        printer.text(str(self))
