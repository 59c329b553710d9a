"""Record tuples -> Arrow tables with the store's column names and types.

:func:`rows_to_arrow` turns a list of records of one type into an Arrow table whose columns
are the table's columns (``ts`` ms and ``recv_ns`` ns become ``TIMESTAMP`` microseconds);
:func:`arrow_schema` is the schema it produces. See ``docs/storage.md``.
"""

from __future__ import annotations

import typing
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from flowdesk.storage.schema import TABLE_OF

US = pa.timestamp("us")
#: record fields holding epoch milliseconds (stored as TIMESTAMP)
MS_FIELDS = frozenset({"ts", "next_funding_ts", "open_ts", "close_ts"})
#: record fields holding epoch nanoseconds -> the column they are stored in
NS_FIELDS = {"recv_ns": "recv_ts"}
#: columns narrower than the record's ``int`` (table, column) -> Arrow type
_NARROW_INTS = {("book_snapshots", "level"): pa.int32()}
_PY_TO_ARROW: dict[type, pa.DataType] = {
    str: pa.string(),
    int: pa.int64(),
    float: pa.float64(),
    bool: pa.bool_(),
}


@dataclass(frozen=True)
class _Column:
    field: str
    name: str
    kind: str  # "ms", "ns" or "plain"
    arrow: pa.DataType


@cache
def _columns(record_type: type) -> tuple[_Column, ...]:
    """The stored columns of ``record_type``, in table order, derived from its type hints."""
    table = TABLE_OF[record_type]
    hints = typing.get_type_hints(record_type)
    out = []
    for name in record_type._fields:  # type: ignore[attr-defined]
        if name in MS_FIELDS:
            out.append(_Column(name, name, "ms", US))
        elif name in NS_FIELDS:
            out.append(_Column(name, NS_FIELDS[name], "ns", US))
        else:
            base = _non_optional(hints[name])
            arrow = _NARROW_INTS.get((table, name), _PY_TO_ARROW[base])
            out.append(_Column(name, name, "plain", arrow))
    return tuple(out)


def _non_optional(hint: Any) -> type:
    """``int`` for ``int | None``; the hint itself otherwise."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def arrow_schema(record_type: type) -> pa.Schema:
    """The Arrow schema :func:`rows_to_arrow` produces for ``record_type``."""
    return pa.schema([pa.field(c.name, c.arrow) for c in _columns(record_type)])


@cache
def _row_type(record_type: type) -> pa.StructType:
    """The records as Arrow reads them: times still as int64 epoch ms/ns."""
    return pa.struct(
        [pa.field(c.field, pa.int64() if c.kind != "plain" else c.arrow) for c in _columns(record_type)]
    )


def rows_to_arrow(record_type: type, rows: Sequence[tuple]) -> pa.Table:
    """Records (or plain tuples in field order) of one type -> an Arrow table for its table.

    Epoch-ms fields become ``timestamp[us]``, ``recv_ns`` becomes ``recv_ts`` (``timestamp[us]``,
    truncated to the microsecond). ``None`` gives a null; DuckDB rejects it in NOT NULL columns.
    Raises ``KeyError`` for a type with no table, and ``pyarrow.ArrowInvalid`` /
    ``ArrowTypeError`` for a row of the wrong length or a value of the wrong type.
    """
    columns = _columns(record_type)
    schema = arrow_schema(record_type)
    if not rows:
        return schema.empty_table()
    # pyarrow converts the tuples to a struct array in one C++ pass: about twice as fast as
    # transposing with zip(*rows) and converting column by column
    fields = pa.array(rows, type=_row_type(record_type)).flatten()
    arrays = [_convert(col, arr) for col, arr in zip(columns, fields, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def warm_arrow() -> None:
    """Run pyarrow's one-time setup for converting Python objects now.

    The first ``pa.array`` call of a process imports pandas (about 0.2 s here). Called on the
    first batch, that import holds the GIL on the writer thread and stalls the event loop while
    frames queue up, so :meth:`BatchWriter.start` pays it before any data arrives."""
    pa.array([0])


def _convert(col: _Column, values: pa.Array) -> pa.Array:
    """Epoch ms/ns int64 -> timestamp[us]; other columns are already typed."""
    if col.kind == "ms":
        return values.view(pa.timestamp("ms")).cast(US)
    if col.kind == "ns":
        return pc.cast(values.view(pa.timestamp("ns")), options=pc.CastOptions(US, allow_time_truncate=True))
    return values
