"""Is a new schema version compatible with the old ones? Avro's schema-resolution rules, in words.

A reader schema can read data written with a writer schema when (Avro specification, "Schema
Resolution", as Apache Avro's Java ``SchemaCompatibility`` applies it, which is what schema
registries run):

* named types (records, enums, fixed) match by unqualified name, or the reader lists the writer's
  full name among its aliases;
* every reader field either exists in the writer (by name or one of the reader field's aliases) with
  a readable type, or has a default;
* the writer's enum symbols all exist in the reader, unless the reader's enum has a default;
* a type may change only by promotion: int→long→float→double (int and long also straight to
  float/double) and string↔bytes;
* every branch of a writer union must be readable; a non-union writer must fit some reader branch.

Logical types are not part of these rules (a registry accepts a change of a decimal's scale), so
such changes come back as *warnings*: the data would be read, but wrongly.

The levels: ``BACKWARD`` — the new schema reads data written with the latest one (upgrade
consumers first); ``FORWARD`` — the latest schema reads data written with the new one (upgrade
producers first); ``FULL`` — both; ``*_TRANSITIVE`` — against every earlier version, not only the
latest.

>>> old = {"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"}]}
>>> new = {"type": "record", "name": "A", "fields": [{"name": "a", "type": "int"},
...                                                  {"name": "b", "type": "string"}]}
>>> import textwrap
>>> result = check_compatibility(new, [old], "BACKWARD")
>>> result.compatible
False
>>> print(textwrap.fill(result.reasons[0], 90))
field 'b' was added without a default: records written with the old schema have no value
for it (give the field a default)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from labkit.schemas.parse import AvroSchema, parse_schema

CompatibilityLevel = Literal[
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
]
LEVELS: tuple[str, ...] = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)

_PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")
# reader type -> writer types it can read besides its own (Avro spec, "Schema Resolution")
_PROMOTIONS = {
    "long": ("int",),
    "float": ("int", "long"),
    "double": ("int", "long", "float"),
    "bytes": ("string",),
    "string": ("bytes",),
}

SchemaLike = AvroSchema | Mapping[str, Any] | Sequence[Any] | str


@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's data; ``kind`` uses Avro's Java names."""

    kind: Literal[
        "READER_FIELD_MISSING_DEFAULT_VALUE",
        "MISSING_ENUM_SYMBOLS",
        "TYPE_MISMATCH",
        "NAME_MISMATCH",
        "FIXED_SIZE_MISMATCH",
        "MISSING_UNION_BRANCH",
    ]
    path: str
    reader: Any
    writer: Any
    detail: str = ""
    writer_union: Any = None  # the writer union ``writer`` is a branch of, if it is one


@dataclass(frozen=True)
class CompatibilityResult:
    """The verdict for one level; truthy when compatible. ``reasons`` say in words why not."""

    compatible: bool
    level: str
    reasons: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.compatible

    def __str__(self) -> str:
        if self.compatible:
            head = f"{self.level}: compatible"
        else:
            head = f"{self.level}: incompatible\n" + "\n".join(f"  - {r}" for r in self.reasons)
        return head + "".join(f"\n  ! {w}" for w in self.warnings)


def can_read(reader: SchemaLike, writer: SchemaLike) -> list[Incompatibility]:
    """Why data written with ``writer`` cannot be read with ``reader`` (empty list: it can).

    >>> can_read("long", "int"), [i.kind for i in can_read("int", "long")]
    ([], ['TYPE_MISMATCH'])
    """
    checker = _Checker(_as_schema(reader).schema, _as_schema(writer).schema)
    checker.check(checker.reader_root, checker.writer_root, "")
    return checker.problems


def logical_type_warnings(reader: SchemaLike, writer: SchemaLike) -> list[str]:
    """Changes of logical types (decimal precision/scale, timestamp unit) between two schemas.

    >>> dec = lambda s: {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": s}
    >>> logical_type_warnings(dec(3), dec(2))[0][:45]
    'value: decimal(12,2) became decimal(12,3): th'
    """
    checker = _Checker(_as_schema(reader).schema, _as_schema(writer).schema)
    checker.check(checker.reader_root, checker.writer_root, "")
    return checker.warnings


def check_compatibility(
    new: SchemaLike, previous: Sequence[SchemaLike], level: CompatibilityLevel | str = "BACKWARD"
) -> CompatibilityResult:
    """Check ``new`` against the ``previous`` versions (oldest first) at a compatibility level.

    >>> v1 = {"type": "enum", "name": "S", "symbols": ["A", "B"]}
    >>> v2 = {"type": "enum", "name": "S", "symbols": ["A"]}
    >>> check_compatibility(v2, [v1], "FORWARD").compatible
    True
    >>> import textwrap
    >>> print(textwrap.fill(check_compatibility(v2, [v1], "BACKWARD").reasons[0], 90))
    enum 'S' lost symbol(s) 'B': records written with the old schema may hold them and the new
    enum has no default to read them as
    """
    level = str(level).upper()
    if level not in LEVELS:
        raise ValueError(f"unknown compatibility level {level!r}; use one of {', '.join(LEVELS)}")
    new_schema = _as_schema(new)
    olds = [_as_schema(p) for p in previous]
    if level == "NONE" or not olds:
        return CompatibilityResult(True, level)
    against = olds if level.endswith("_TRANSITIVE") else olds[-1:]
    base = level.removesuffix("_TRANSITIVE")
    reasons: list[str] = []
    warnings: list[str] = []
    for index, old in enumerate(against):
        version = (index + 1) if level.endswith("_TRANSITIVE") else len(olds)
        label = f"version {version}" if len(olds) > 1 else ""
        directions = []
        if base in ("BACKWARD", "FULL"):
            directions.append(("backward", new_schema, old))
        if base in ("FORWARD", "FULL"):
            directions.append(("forward", old, new_schema))
        for direction, reader, writer in directions:
            checker = _Checker(reader.schema, writer.schema)
            checker.check(checker.reader_root, checker.writer_root, "")
            for problem in checker.problems:
                text = describe(problem, direction, label)
                if text not in reasons:
                    reasons.append(text)
        # warnings read old -> new whatever the level
        warnings += [w for w in logical_type_warnings(new_schema, old) if w not in warnings]
    return CompatibilityResult(not reasons, level, reasons, warnings)


def compare(old: SchemaLike, new: SchemaLike) -> dict[str, CompatibilityResult]:
    """Verdicts for BACKWARD, FORWARD and FULL of changing ``old`` into ``new``.

    >>> a = {"type": "record", "name": "A", "fields": [{"name": "n", "type": "int"}]}
    >>> b = {"type": "record", "name": "A", "fields": [{"name": "n", "type": "long"}]}
    >>> {level: r.compatible for level, r in compare(a, b).items()}
    {'BACKWARD': True, 'FORWARD': False, 'FULL': False}
    """
    return {lvl: check_compatibility(new, [old], lvl) for lvl in ("BACKWARD", "FORWARD", "FULL")}


def describe(problem: Incompatibility, direction: str = "backward", version: str = "") -> str:
    """Say in words what an :class:`Incompatibility` means for a schema change.

    ``direction`` is ``"backward"`` when the reader is the new schema and the writer an old one,
    ``"forward"`` when the reader is old and the writer new.

    >>> old = {"type": "record", "name": "A", "fields": [{"name": "n", "type": "int"}]}
    >>> new = {"type": "record", "name": "A", "fields": []}
    >>> describe(can_read(old, new)[0], "forward")[:39]
    "field 'n' was removed, but the old sche"
    """
    old_label = f"the old schema ({version})" if version else "the old schema"
    backward = direction == "backward"
    new_t, old_t = (
        (problem.reader, problem.writer) if backward else (problem.writer, problem.reader)
    )
    where = f"field '{problem.path}'" if problem.path else "the schema"
    if problem.kind == "READER_FIELD_MISSING_DEFAULT_VALUE":
        if backward:
            return (
                f"{where} was added without a default: records written with {old_label} have no "
                "value for it (give the field a default)"
            )
        return (
            f"{where} was removed, but {old_label} has no default for it: consumers still on the "
            "old schema cannot read new records (keep the field, or remove only fields that "
            "have a default)"
        )
    if problem.kind == "MISSING_ENUM_SYMBOLS":
        name = f"enum '{_short(problem.reader)}'"
        if backward:
            return (
                f"{name} lost symbol(s) {problem.detail}: records written with {old_label} may "
                "hold them and the new enum has no default to read them as"
            )
        return (
            f"{name} gained symbol(s) {problem.detail}: consumers on {old_label} cannot read them "
            "(give the old enum a default before adding symbols)"
        )
    if problem.kind == "NAME_MISMATCH":
        prefix = f"{where}: type" if problem.path else "type"
        return (
            f"{prefix} {_short(old_t)} was renamed to {_short(new_t)}: Avro matches named "
            "types by name (keep the name, or list the old full name in the new type's aliases)"
        )
    if problem.kind == "FIXED_SIZE_MISMATCH":
        return f"{where}: fixed type {_short(problem.reader)} changed size ({problem.detail})"
    side = "old" if backward else "new"
    written, read = _type_name(problem.writer), _type_name(problem.reader)
    if problem.kind == "MISSING_UNION_BRANCH":
        return (
            f"{where}: {side} records may hold {written}, and none of the reader's union "
            f"branches {read} can read it"
        )
    promotions = (
        " (Avro only promotes int→long→float→double and string↔bytes)"
        if written in _PRIMITIVES and read in _PRIMITIVES
        else ""
    )
    if problem.writer_union is not None:
        union = _type_name(problem.writer_union)
        reader_side = "the new" if backward else "the old"
        return (
            f"{where}: {side} records may hold {written} (the {side} type is {union}), which "
            f"{reader_side} type {read} cannot read"
        )
    return (
        f"{where} changed type from {_type_name(old_t)} to {_type_name(new_t)}: {side} records "
        f"hold {written}, which cannot be read as {read}{promotions}"
    )


class _Checker:
    """Walks a reader and a writer schema side by side as Avro's Java SchemaCompatibility does."""

    def __init__(self, reader: Any, writer: Any) -> None:
        self.reader_names = _named_types(reader)
        self.writer_names = _named_types(writer)
        self.reader_root, self.writer_root = reader, writer
        self.problems: list[Incompatibility] = []
        self.warnings: list[str] = []
        self._active: set[tuple[int, int]] = set()  # pairs being checked further up the stack
        self._done: set[tuple[int, int]] = set()  # pairs checked already (problems recorded once)
        self._unions: list[tuple[str, list[Any]]] = []  # writer unions being walked, by path

    def compatible(self, reader: Any, writer: Any, path: str) -> bool:
        sub = _Checker.__new__(_Checker)
        sub.reader_names, sub.writer_names = self.reader_names, self.writer_names
        sub.problems, sub.warnings, sub._unions = [], [], list(self._unions)
        sub._active, sub._done = set(self._active), set()
        sub.check(reader, writer, path)
        return not sub.problems

    def fail(self, kind: Any, path: str, reader: Any, writer: Any, detail: str = "") -> None:
        union = self._unions[-1][1] if self._unions and self._unions[-1][0] == path else None
        self.problems.append(Incompatibility(kind, path, reader, writer, detail, union))

    def _branches(self, reader: Any, union: list[Any], path: str) -> None:
        self._unions.append((path, union))
        try:
            for branch in union:
                self.check(reader, branch, path)
        finally:
            self._unions.pop()

    def check(self, reader: Any, writer: Any, path: str) -> None:
        reader = _resolve(reader, self.reader_names)
        writer = _resolve(writer, self.writer_names)
        key = (id(reader), id(writer))
        if key in self._active or key in self._done:  # recursion: compatible while in progress
            return
        self._active.add(key)
        try:
            self._check(reader, writer, path)
        finally:
            self._active.discard(key)
            self._done.add(key)

    def _check(self, reader: Any, writer: Any, path: str) -> None:
        r_type, w_type = _kind(reader), _kind(writer)
        if r_type == w_type:
            self._same_kind(r_type, reader, writer, path)
        elif w_type == "union":
            self._branches(reader, writer, path)
        elif w_type in _PROMOTIONS.get(r_type, ()):
            pass
        elif r_type == "union":
            if not any(self.compatible(branch, writer, path) for branch in reader):
                self.fail("MISSING_UNION_BRANCH", path, reader, writer)
        else:
            self.fail("TYPE_MISMATCH", path, reader, writer)

    def _same_kind(self, kind: str, reader: Any, writer: Any, path: str) -> None:
        if kind in _PRIMITIVES:
            self._logical(reader, writer, path)
        elif kind == "array":
            self.check(reader["items"], writer["items"], f"{path}[]")
        elif kind == "map":
            self.check(reader["values"], writer["values"], f"{path}{{}}")
        elif kind == "union":
            self._branches(reader, writer, path)
        else:
            if not _names_match(reader, writer):
                self.fail("NAME_MISMATCH", path, reader, writer)
            if kind == "fixed":
                if reader["size"] != writer["size"]:
                    detail = f"{writer['size']} bytes written, {reader['size']} expected"
                    self.fail("FIXED_SIZE_MISMATCH", path, reader, writer, detail)
                self._logical(reader, writer, path)
            elif kind == "enum":
                missing = [s for s in writer["symbols"] if s not in reader["symbols"]]
                default = reader.get("default")
                if missing and not (default is not None and default in reader["symbols"]):
                    detail = ", ".join(repr(s) for s in missing)
                    self.fail("MISSING_ENUM_SYMBOLS", path, reader, writer, detail)
            else:
                self._record(reader, writer, path)

    def _record(self, reader: Any, writer: Any, path: str) -> None:
        by_name = {f["name"]: f for f in writer["fields"]}
        for r_field in reader["fields"]:
            here = f"{path}.{r_field['name']}" if path else r_field["name"]
            w_field = by_name.get(r_field["name"])
            for alias in r_field.get("aliases", ()):
                if w_field is None:
                    w_field = by_name.get(alias)
            if w_field is not None:
                self.check(r_field["type"], w_field["type"], here)
            elif "default" not in r_field:
                self.fail("READER_FIELD_MISSING_DEFAULT_VALUE", here, reader, writer)

    def _logical(self, reader: Any, writer: Any, path: str) -> None:
        r_logical, w_logical = _logical_text(reader), _logical_text(writer)
        if r_logical != w_logical and (r_logical or w_logical):
            self.warnings.append(
                f"{path or 'value'}: {w_logical or _kind(writer)} became "
                f"{r_logical or _kind(reader)}: the bytes are read as they are, so values would "
                "change"
            )


def _as_schema(schema: SchemaLike) -> AvroSchema:
    if isinstance(schema, AvroSchema):
        return schema
    return parse_schema(schema)  # type: ignore[arg-type]


def _named_types(schema: Any, table: dict[str, Any] | None = None) -> dict[str, Any]:
    table = {} if table is None else table
    if isinstance(schema, list):
        for branch in schema:
            _named_types(branch, table)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed") and "name" in schema:
            table.setdefault(_fullname(schema), schema)
        for f in schema.get("fields", ()):
            _named_types(f["type"], table)
        for key in ("items", "values"):
            if key in schema:
                _named_types(schema[key], table)
        if isinstance(kind, (dict, list)):
            _named_types(kind, table)
    return table


def _resolve(schema: Any, names: Mapping[str, Any]) -> Any:
    while True:
        if isinstance(schema, str) and schema in names:
            return names[schema]
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            schema = schema["type"]
            continue
        if isinstance(schema, dict) and schema.get("type") in names:
            schema = schema["type"]
            continue
        return schema


def _kind(schema: Any) -> str:
    if isinstance(schema, list):
        return "union"
    if isinstance(schema, dict):
        kind = schema.get("type")
        return "record" if kind == "error" else str(kind)
    return str(schema)


def _fullname(schema: Mapping[str, Any]) -> str:
    name = schema["name"]
    namespace = schema.get("namespace")
    return f"{namespace}.{name}" if namespace and "." not in name else name


def _short(schema: Any) -> str:
    return _fullname(schema).rsplit(".", 1)[-1] if isinstance(schema, dict) else str(schema)


def _names_match(reader: Mapping[str, Any], writer: Mapping[str, Any]) -> bool:
    if _short(reader) == _short(writer):
        return True
    full = _fullname(reader)
    namespace = full.rsplit(".", 1)[0] if "." in full else ""
    aliases = {
        a if "." in a or not namespace else f"{namespace}.{a}" for a in reader.get("aliases", ())
    }
    return _fullname(writer) in aliases


def _type_name(schema: Any) -> str:
    if isinstance(schema, list):
        return "[" + ", ".join(_type_name(b) for b in schema) + "]"
    if isinstance(schema, dict):
        kind = _kind(schema)
        if kind in ("record", "enum", "fixed"):
            return f"{kind} {_short(schema)}"
        if kind == "array":
            return f"array<{_type_name(schema['items'])}>"
        if kind == "map":
            return f"map<{_type_name(schema['values'])}>"
        return _logical_text(schema) or kind
    return str(schema)


def _logical_text(schema: Any) -> str:
    if not isinstance(schema, dict) or "logicalType" not in schema:
        return ""
    logical = schema["logicalType"]
    if logical == "decimal":
        return f"decimal({schema.get('precision')},{schema.get('scale', 0)})"
    return str(logical)
