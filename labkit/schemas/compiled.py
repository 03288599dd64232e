"""A fast path for the validation walker of :mod:`labkit.schemas.serde`, compiled once per schema.

The walker (``serde._Walker``) is the definition of what a value may be and what it becomes; it
names the field of the first problem. Walking the schema for every record costs more than fastavro
takes to write it, so each schema is also turned, once, into the source of one plain Python
function (records inline, arrays and maps as loops, a function of its own only for a record that
contains itself) that checks the common shapes with exact type tests (``type(v) is str``, a
``float`` for a decimal) and converts them the same way: the same ``Decimal(repr(x))``, the same
quantize and rounding, the same integer ranges, the same projection of record keys. A second
function, for the writer, also turns each ``bytes`` decimal into its Avro bytes (see
:func:`compile_prepare`).

Whatever the fast path does not decide - a wrong value, a numpy scalar, a subclass, an uncommon
union - it hands to the walker, which does the whole value again and returns it or raises
its error with the field path. So the fast path may only ever give a value the walker would give;
it never produces an error of its own.

>>> from labkit.schemas.parse import load_schemas
>>> from labkit.schemas.serde import _Walker
>>> item = load_schemas()["OrderItem"]
>>> fast = compile_prepare(item.schema, _Walker(item).names, walk=None)
>>> fast({"productId": "P-1", "quantity": 2, "price": 9.99, "extra": 1})
{'productId': 'P-1', 'quantity': 2, 'price': Decimal('9.99')}
>>> wire = compile_prepare(item.schema, _Walker(item).names, walk=None, wire=True)
>>> wire({"productId": "P-1", "quantity": 2, "price": 9.99})["price"]  # 999, two's complement
b'\\x03\\xe7'
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Mapping
from typing import Any

#: Python types a logical type takes as they are (exact types; subclasses go to the walker).
_AS_IS: dict[str, tuple[type, ...]] = {
    "timestamp-millis": (dt.datetime,),
    "timestamp-micros": (dt.datetime,),
    "local-timestamp-millis": (dt.datetime,),
    "local-timestamp-micros": (dt.datetime,),
    "date": (dt.date, dt.datetime),
    "time-millis": (dt.time,),
    "time-micros": (dt.time,),
    "uuid": (uuid.UUID,),
}
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}
_CHECKS = {
    "null": "{v} is None",
    "boolean": "type({v}) is bool",
    "float": "type({v}) is float",
    "double": "type({v}) is float",
    "bytes": "type({v}) is bytes",
    "string": "type({v}) is str",
}


class Undecided(Exception):
    """Raised inside the compiled functions: the walker is to decide this value."""


def compile_prepare(
    schema: Any,
    names: Mapping[str, Any],
    walk: Callable[[Any, Any], Any] | None,
    *,
    wire: bool = False,
) -> Callable[[Any], Any]:
    """A function value -> prepared value for ``schema`` (JSON form, named types in ``names``).

    It raises :class:`Undecided` (or any exception) where the walker must decide. ``walk(node,
    value)`` is called for the parts compiled as a call back to the walker (unions other than
    ``[null, T]``).

    With ``wire=True`` the value is prepared for fastavro's writer rather than returned to a
    caller: a ``bytes`` decimal becomes its Avro encoding (the big-endian two's complement of the
    unscaled number, in the bytes fastavro's own ``prepare_bytes_decimal`` makes, which passes
    bytes through). fastavro gets there by ``Decimal.as_tuple()`` and a loop over the digits,
    about 1 us a decimal; from the quantized ``Decimal`` it is a scaleb, an int and to_bytes.
    """
    return _Generator(names, walk, wire).build(schema)


class _Generator:
    """Writes the source of one function per schema: every type inline (a loop for an array or a
    map, a dict display for a record), except a record inside itself, which gets a function."""

    def __init__(
        self, names: Mapping[str, Any], walk: Callable[[Any, Any], Any] | None, wire: bool
    ) -> None:
        self.names = names
        self.wire = wire
        self.functions: list[str] = []
        self.recursive: dict[str, str] = {}  # record full name -> its function
        self.open: list[str] = []  # records being written inline, outermost first
        self.count = 0
        self.namespace: dict[str, Any] = {
            "Undecided": Undecided,
            "_Decimal": decimal.Decimal,
            "_HALF_EVEN": decimal.ROUND_HALF_EVEN,
            "_repr": repr,
            "_walk": walk,
        }

    def build(self, schema: Any) -> Callable[[Any], Any]:
        entry = self.function(schema)
        exec("\n\n".join(self.functions), self.namespace)  # noqa: S102 - source written here
        return self.namespace[entry]

    # -- helpers ---------------------------------------------------------------------------------
    def const(self, value: Any) -> str:
        name = f"_c{len(self.namespace)}"
        self.namespace[name] = value
        return name

    def var(self) -> str:
        self.count += 1
        return f"v{self.count}"

    def resolve(self, node: Any) -> Any:
        """A reference or wrapper (``{"type": {...}}``) followed to the node the walker uses."""
        while True:
            if isinstance(node, str) and node in self.names:
                node = self.names[node]
            elif isinstance(node, dict) and (
                isinstance(node["type"], (dict, list)) or node["type"] in self.names
            ):
                node = node["type"]
            else:
                return node

    def function(self, node: Any, comment: str = "") -> str:
        """The name of a new function converting one value of ``node``."""
        name = f"_f{len(self.functions)}"
        self.functions.append("")  # the slot; functions made while writing this one come after
        body = self.emit(node, "v", "    ")
        self.functions[int(name[2:])] = "\n".join(
            [f"def {name}(v):{comment}", *body, "    return v"]
        )
        return name

    # -- one node, in the walker's order of cases ------------------------------------------------
    def emit(self, node: Any, v: str, pad: str) -> list[str]:
        """Lines that check ``v`` against ``node`` and leave the prepared value in ``v``."""
        node = self.resolve(node)
        if isinstance(node, str):
            return self.primitive(node, v, pad, ())
        if isinstance(node, list):
            return self.union(node, v, pad)
        kind, logical = node["type"], node.get("logicalType")
        if logical == "decimal" and kind in ("bytes", "fixed"):
            return self.decimal(node, v, pad)
        if kind in ("record", "error"):
            return self.record(node, v, pad)
        if kind == "enum":
            symbols = self.const(frozenset(node["symbols"]))
            return [
                f"{pad}if type({v}) is not str or {v} not in {symbols}:",
                f"{pad}    raise Undecided",
            ]
        if kind == "array":
            out, item = self.var(), self.var()
            return [
                f"{pad}if type({v}) is not list and type({v}) is not tuple:",
                f"{pad}    raise Undecided",
                f"{pad}{out} = []",
                f"{pad}for {item} in {v}:",
                *self.emit(node["items"], item, pad + "    "),
                f"{pad}    {out}.append({item})",
                f"{pad}{v} = {out}",
            ]
        if kind == "map":
            out, key, item = self.var(), self.var(), self.var()
            return [
                f"{pad}if type({v}) is not dict:",
                f"{pad}    raise Undecided",
                f"{pad}{out} = {{}}",
                f"{pad}for {key}, {item} in {v}.items():",
                f"{pad}    if type({key}) is not str:",
                f"{pad}        raise Undecided",
                *self.emit(node["values"], item, pad + "    "),
                f"{pad}    {out}[{key}] = {item}",
                f"{pad}{v} = {out}",
            ]
        if kind == "fixed":
            size = int(node["size"])
            return [
                f"{pad}if type({v}) is not bytes or len({v}) != {size}:",
                f"{pad}    raise Undecided",
            ]
        return self.primitive(kind, v, pad, _AS_IS.get(logical, ()))

    def record(self, node: Mapping[str, Any], v: str, pad: str) -> list[str]:
        full = node["name"]
        if full in self.open:  # a record inside itself: a function, called where it recurs
            if full not in self.recursive:
                self.recursive[full] = f"_f{len(self.functions)}"
                outer, self.open = self.open, []
                self.function(node, f"  # {full}")
                self.open = outer
            return [f"{pad}{v} = {self.recursive[full]}({v})"]
        self.open.append(full)
        lines = [f"{pad}if type({v}) is not dict:  # {full}", f"{pad}    raise Undecided"]
        fields = node["fields"]
        partial = any("default" in f for f in fields)
        out = self.var() if partial else ""
        if partial:
            lines.append(f"{pad}{out} = {{}}")
        entries = []
        for f in fields:
            key, fv = repr(f["name"]), self.var()
            if "default" in f:  # left out when missing: fastavro writes the default
                lines += [f"{pad}if {key} in {v}:", f"{pad}    {fv} = {v}[{key}]"]
                lines += self.emit(f["type"], fv, pad + "    ")
                lines.append(f"{pad}    {out}[{key}] = {fv}")
            else:  # missing: a KeyError, and the walker says which field
                lines.append(f"{pad}{fv} = {v}[{key}]")
                lines += self.emit(f["type"], fv, pad)
                if partial:
                    lines.append(f"{pad}{out}[{key}] = {fv}")
                entries.append(f"{key}: {fv}")
        lines.append(f"{pad}{v} = {out}" if partial else f"{pad}{v} = {{{', '.join(entries)}}}")
        self.open.pop()
        return lines

    def primitive(self, kind: str, v: str, pad: str, as_is: tuple[type, ...]) -> list[str]:
        if kind in _INT_RANGE:
            low, high = _INT_RANGE[kind]
            check = f"type({v}) is int and {low} <= {v} <= {high}"
        elif kind in _CHECKS:
            check = _CHECKS[kind].format(v=v)
        else:  # an unknown type: the walker reports it
            return [f"{pad}raise Undecided"]
        check = " or ".join([check, *(f"type({v}) is {self.const(t)}" for t in as_is)])
        lines = [f"{pad}if not ({check}):"]
        if kind in ("float", "double"):  # an int is written as a float
            lines = [
                f"{pad}if type({v}) is int:",
                f"{pad}    {v} = float({v})",
                f"{pad}elif not ({check}):",
            ]
        return [*lines, f"{pad}    raise Undecided"]

    def union(self, branches: list[Any], v: str, pad: str) -> list[str]:
        others = [b for b in branches if b != "null"]
        if len(branches) == 2 and len(others) == 1 and not isinstance(others[0], list):
            # [null, T] in either order: only the null branch takes None, T takes the rest.
            return [f"{pad}if {v} is not None:", *self.emit(others[0], v, pad + "    ")]
        return [f"{pad}{v} = _walk({self.const(branches)}, {v})"]

    def decimal(self, node: Mapping[str, Any], v: str, pad: str) -> list[str]:
        precision, scale = int(node["precision"]), int(node.get("scale", 0))
        quantum = self.const(decimal.Decimal(1).scaleb(-scale))

        def checked(pad: str) -> list[str]:
            # The walker's steps: finite, quantize half to even, at most `precision` digits -
            # after quantize the exponent is -scale, so the digit count is adjusted() + scale + 1.
            return [
                f"{pad}if not {v}.is_finite():",
                f"{pad}    raise Undecided",
                f"{pad}{v} = {v}.quantize({quantum}, _HALF_EVEN)",  # positional: half the cost
                f"{pad}if {v}.adjusted() >= {precision - scale}:",
                f"{pad}    raise Undecided",
            ]

        lines = [f"{pad}if type({v}) is float:"]
        if precision > scale:  # below half the limit a float fits whatever the rounding
            half = float(10 ** (precision - scale)) / 2
            lines += [
                f"{pad}    if {-half!r} < {v} < {half!r}:",
                f"{pad}        {v} = _Decimal(_repr({v})).quantize({quantum}, _HALF_EVEN)",
                f"{pad}    else:",
                f"{pad}        {v} = _Decimal(_repr({v}))",
                *checked(pad + "        "),
            ]
        else:
            lines += [f"{pad}    {v} = _Decimal(_repr({v}))", *checked(pad + "    ")]
        lines += [
            f"{pad}else:",
            f"{pad}    if type({v}) is int or type({v}) is str:",
            f"{pad}        {v} = _Decimal({v})",
            f"{pad}    elif type({v}) is not _Decimal:",
            f"{pad}        raise Undecided",
            *checked(pad + "    "),
        ]
        if self.wire and node["type"] == "bytes":
            # At most `precision` digits after quantize, and quantize fails beyond the context's
            # precision, so scaleb is exact. The length is fastavro's: magnitude bits + 8, // 8.
            n = self.var()
            lines += [
                f"{pad}{n} = int({v}.scaleb({scale}))",
                f"{pad}{v} = {n}.to_bytes(({n}.bit_length() + 8) // 8, 'big', signed=True)",
            ]
        return lines
