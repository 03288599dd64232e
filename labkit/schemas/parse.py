"""Load Avro schemas: an ``.avsc`` file, or a directory of them whose named types refer to each
other.

A directory is read as one set: ``OrderCreated.avsc`` may use ``lab.orders.OrderItem`` defined in
``OrderItem.avsc``, whatever the file names and the order they are read in. Each named type
becomes an :class:`AvroSchema` whose ``schema`` is self-contained (every type it uses defined inline
once), which is what a schema registry stores and what a reader in another process needs.

>>> catalog = load_schemas()                       # the repo's data/schemas
>>> catalog["OrderCreated"].fullname
'lab.orders.OrderCreated'
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException, UnknownType, to_parsing_canonical_form

from labkit.schemas.exceptions import SchemaNotFoundError, SchemaParseError

SCHEMA_DIR_ENV = "LABKIT_SCHEMA_DIR"
_NAMED_KINDS = ("record", "error", "enum", "fixed")


@dataclass(frozen=True)
class AvroSchema:
    """One self-contained Avro schema: ``schema`` is plain JSON-able data, ``parsed`` fastavro's.

    >>> s = parse_schema({"type": "record", "name": "A", "namespace": "x",
    ...                   "fields": [{"name": "n", "type": "int"}]})
    >>> s.fullname, s.name, s.json
    ('x.A', 'A', '{"type":"record","name":"x.A","fields":[{"name":"n","type":"int"}]}')
    """

    schema: Any
    path: Path | None = field(default=None, compare=False)

    @cached_property
    def parsed(self) -> Any:
        """The schema as fastavro's readers and writers take it."""
        return fastavro.parse_schema(copy.deepcopy(self.schema), named_schemas={})

    @property
    def fullname(self) -> str:
        """``namespace.Name`` for a named type, the type itself (``"string"``) otherwise."""
        if isinstance(self.schema, dict):
            return str(self.schema.get("name") or self.schema.get("type"))
        return self.schema if isinstance(self.schema, str) else "union"

    @property
    def name(self) -> str:
        """The name without its namespace, e.g. ``OrderCreated``."""
        return self.fullname.rsplit(".", 1)[-1]

    @property
    def json(self) -> str:
        """Compact JSON text of the self-contained schema (what is sent to a registry)."""
        return json.dumps(self.schema, separators=(",", ":"))

    @cached_property
    def canonical_form(self) -> str:
        """Avro's Parsing Canonical Form: equal for schemas that read and write alike."""
        return to_parsing_canonical_form(self.parsed)

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 of :attr:`json`, hex. Unlike the canonical form it sees docs, defaults and
        logical types, so a change of a decimal's scale gives a new fingerprint."""
        return hashlib.sha256(self.json.encode("utf-8")).hexdigest()


class SchemaCatalog(Mapping[str, AvroSchema]):
    """Named Avro types by full name; ``catalog["OrderCreated"]`` also finds a unique simple name.

    >>> catalog = load_schemas()
    >>> catalog["lab.orders.OrderItem"] is catalog["OrderItem"]
    True
    """

    def __init__(
        self,
        schemas: Mapping[str, AvroSchema],
        named_schemas: Mapping[str, Any] | None = None,
        directory: Path | None = None,
    ) -> None:
        self._schemas = dict(schemas)
        self._named = dict(named_schemas or {})
        self.directory = directory

    def __getitem__(self, name: str) -> AvroSchema:
        return self.lookup(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self._schemas)

    def __len__(self) -> int:
        return len(self._schemas)

    def __contains__(self, name: object) -> bool:
        try:
            self.lookup(str(name))
        except SchemaNotFoundError:
            return False
        return True

    def lookup(self, name: str) -> AvroSchema:
        """The schema named ``name``: a full name, or a simple name that only one namespace uses."""
        if name in self._schemas:
            return self._schemas[name]
        matches = [s for full, s in self._schemas.items() if full.rsplit(".", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        where = f" in {self.directory}" if self.directory else ""
        if matches:
            raise SchemaNotFoundError(
                f"schema name {name!r} is ambiguous{where}: "
                f"{', '.join(sorted(s.fullname for s in matches))}; use the full name"
            )
        raise SchemaNotFoundError(
            f"no Avro schema named {name!r}{where}; known: {', '.join(sorted(self._schemas))}"
        )

    @property
    def named_schemas(self) -> dict[str, Any]:
        """fastavro's table of named types, to parse further schemas that refer to these."""
        return copy.deepcopy(self._named)


def default_schema_dir() -> Path:
    """The directory of ``.avsc`` files used when none is given.

    ``$LABKIT_SCHEMA_DIR`` if set, else ``data/schemas`` of the repo this package lives in, else the
    first ``data/schemas`` found walking up from the current directory.

    >>> default_schema_dir().name
    'schemas'
    """
    env = os.environ.get(SCHEMA_DIR_ENV)
    if env:
        return Path(env)
    candidates = [Path(__file__).resolve().parents[2] / "data" / "schemas"]
    cwd = Path.cwd().resolve()
    candidates += [p / "data" / "schemas" for p in (cwd, *cwd.parents)]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate
    raise SchemaNotFoundError(
        "no schema directory found: labkit looks in the repo's data/schemas and in data/schemas "
        f"above the current directory; set ${SCHEMA_DIR_ENV} or pass directory="
    )


def parse_schema(
    schema: Mapping[str, Any] | list[Any] | str,
    *,
    named: SchemaCatalog | Mapping[str, Any] | None = None,
    path: Path | str | None = None,
) -> AvroSchema:
    """Parse one schema (a dict, or its JSON text) into a self-contained :class:`AvroSchema`.

    ``named`` supplies named types it may refer to (a :class:`SchemaCatalog` or fastavro's table).

    >>> parse_schema('{"type": "array", "items": "lab.orders.OrderItem"}',
    ...              named=load_schemas()).schema["items"]["doc"][:22]
    'One line of an order: '
    """
    if isinstance(schema, str) and schema.lstrip()[:1] in ("{", "[", '"'):
        try:
            schema = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise SchemaParseError(_json_problem(exc), path) from exc
    table = named.named_schemas if isinstance(named, SchemaCatalog) else copy.deepcopy(named or {})
    try:
        parsed = fastavro.parse_schema(copy.deepcopy(schema), named_schemas=table)
    except UnknownType as exc:
        raise SchemaParseError(_unknown_type_problem(exc.name), path) from exc
    except _PARSE_ERRORS as exc:
        raise SchemaParseError(_problem(exc), path) from exc
    return AvroSchema(_self_contained(parsed, table), Path(path) if path else None)


def load_schema_file(path: Path | str, *, named: SchemaCatalog | None = None) -> AvroSchema:
    """Parse one ``.avsc`` file; its references are looked up in ``named``.

    >>> load_schema_file(default_schema_dir() / "OrderItem.avsc").fullname
    'lab.orders.OrderItem'
    """
    path = Path(path)
    return parse_schema(_read_json(path), named=named, path=path)


def load_schemas(directory: Path | str | None = None) -> SchemaCatalog:
    """Load every ``*.avsc`` in ``directory`` (default: :func:`default_schema_dir`) as one set.

    Files may refer to named types defined in other files, in any order. A file that is not JSON,
    not a valid schema, redefines a type or uses a type nobody defines raises
    :class:`SchemaParseError` naming the file. Results are cached until a file changes.

    >>> sorted(load_schemas())[:2]
    ['lab.customers.CustomerUpdated', 'lab.orders.CancellationReason']
    """
    root = Path(directory) if directory is not None else default_schema_dir()
    if not root.is_dir():
        raise SchemaNotFoundError(f"schema directory {root} does not exist")
    files = sorted(root.glob("*.avsc"))
    stamp = tuple((f.name, f.stat().st_mtime_ns, f.stat().st_size) for f in files)
    key = str(root.resolve())
    cached = _CACHE.get(key)
    if cached and cached[0] == stamp:
        return cached[1]
    catalog = _load(root, files)
    _CACHE[key] = (stamp, catalog)
    return catalog


_CACHE: dict[str, tuple[tuple[Any, ...], SchemaCatalog]] = {}
_KEY_ORDER = {
    k: i
    for i, k in enumerate(
        [
            "type",
            "name",
            "namespace",
            "doc",
            "aliases",
            "fields",
            "symbols",
            "items",
            "values",
            "size",
            "logicalType",
            "precision",
            "scale",
            "default",
        ]
    )
}
_FIELD_ORDER = {"name": 0, "type": 1, "doc": 2, "default": 3}
_PARSE_ERRORS = (SchemaParseException, ValueError, TypeError, KeyError, AttributeError)


def _load(root: Path, files: list[Path]) -> SchemaCatalog:
    pending = {f: _read_json(f) for f in files}
    table: dict[str, Any] = {}
    origin: dict[str, Path] = {}
    while pending:
        missing: dict[Path, str] = {}
        progressed = False
        for path, raw in list(pending.items()):
            trial = dict(table)
            try:
                parsed = fastavro.parse_schema(copy.deepcopy(raw), named_schemas=trial)
            except UnknownType as exc:
                missing[path] = exc.name
                continue
            except _PARSE_ERRORS as exc:
                raise SchemaParseError(_problem(exc), path) from exc
            for name in _defined_names(parsed):
                if name in origin:  # fastavro silently lets the later definition win
                    raise SchemaParseError(
                        f"defines {name!r}, which {origin[name].name} defines already; define a "
                        "named type in one file and refer to it by name elsewhere",
                        path,
                    )
                origin[name] = path
            table = trial
            del pending[path]
            progressed = True
        if not progressed:
            path, name = next(iter(missing.items()))
            raise SchemaParseError(_unknown_type_problem(name, root), path)
    schemas = {
        name: AvroSchema(_self_contained(definition, table), origin[name])
        for name, definition in table.items()
    }
    return SchemaCatalog(schemas, table, root)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SchemaParseError(_json_problem(exc), path) from exc
    except OSError as exc:
        raise SchemaParseError(f"cannot be read: {exc.strerror}", path) from exc


def _json_problem(exc: json.JSONDecodeError) -> str:
    return f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"


def _unknown_type_problem(name: str, root: Path | None = None) -> str:
    where = f"defined by any .avsc file in {root}" if root else "a named type given to the parser"
    return (
        f"unknown type {name!r}: it is neither an Avro primitive type (null, boolean, int, long, "
        f"float, double, bytes, string) nor {where}"
    )


def _problem(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing attribute {text}"
    return f"invalid Avro schema: {text}"


def _defined_names(node: Any, out: list[str] | None = None) -> list[str]:
    """Full names of the named types a parsed schema defines (not those it only refers to)."""
    out = [] if out is None else out
    if isinstance(node, list):
        for branch in node:
            _defined_names(branch, out)
    elif isinstance(node, dict):
        if node.get("type") in _NAMED_KINDS and "name" in node:
            out.append(node["name"])
        for f in node.get("fields", ()):
            _defined_names(f.get("type"), out)
        for key in ("items", "values", "type"):
            if isinstance(node.get(key), (dict, list)):
                _defined_names(node[key], out)
    return out


def _self_contained(node: Any, table: Mapping[str, Any], emitted: set[str] | None = None) -> Any:
    """Rewrite fastavro's parsed form as plain JSON in which each named type is defined once, at
    its first use, and referred to by full name afterwards (the form Avro parsers accept)."""
    emitted = set() if emitted is None else emitted
    if isinstance(node, str):
        if node in table and node not in emitted:
            return _self_contained(table[node], table, emitted)
        return node
    if isinstance(node, list):
        return [_self_contained(n, table, emitted) for n in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") in _NAMED_KINDS and "name" in node:
        emitted.add(node["name"])
    out: dict[str, Any] = {}
    for key, value in sorted(node.items(), key=lambda kv: _KEY_ORDER.get(kv[0], len(_KEY_ORDER))):
        if key.startswith("__"):
            continue
        if key == "fields":
            out[key] = [
                {
                    k: (_self_contained(v, table, emitted) if k == "type" else v)
                    for k, v in sorted(f.items(), key=lambda kv: _FIELD_ORDER.get(kv[0], 9))
                }
                for f in value
            ]
        elif key in ("type", "items", "values"):
            out[key] = _self_contained(value, table, emitted)
        else:
            out[key] = value
    return out
