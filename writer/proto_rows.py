"""Table rows as protobuf for the Storage Write API: the only module of the writer that imports ``google.protobuf``.

The Storage Write API takes each row as a serialized protobuf message, and
once per connection the message's self-contained proto2 descriptor. Both come
from here. ``RowEncoder`` builds the descriptor once, at start, from the
committed table schema (``schema/reports.bigquery.json``): one field per
column, numbered in order, and a nested message per RECORD declared inside the
row message. The message class is then made once with
``message_factory.GetMessageClass``. Each row is the compact JSON payload that
``writer.rows`` renders, loaded with orjson and handed to the compiled class's
constructor, which builds the nested messages in C. The items of a REPEATED
RECORD column (``nodes``) are read one at a time and built a thousand at a
time into messages of their own, whose serializations are joined (protobuf
merges concatenated messages, appending repeated fields): a part of a
65,000-node report never exists as one tree of Python or protobuf objects.
No proto-plus object is made per row.

Types follow the Storage Write API's encodings: STRING -> string, INTEGER ->
int64, BOOLEAN -> bool, FLOAT -> double, TIMESTAMP -> int64 microseconds since
the epoch, RECORD -> message. REQUIRED columns are proto2 ``required``, as
Google's own schema converters make them, so a row without one is refused here
with the column's name instead of by the service.
"""

from __future__ import annotations

from collections.abc import MutableSequence, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import msgspec
import orjson
from google.protobuf import descriptor_pb2, descriptor_pool, message, message_factory

from schema.bigquery import FieldSchema, load_table_schema

ROW_MESSAGE: Final = "SpartakusReportRow"
"""The row message's name: the service only reads the descriptor, so the name is ours to choose."""
_FILE: Final = "spartakus_report_row.proto"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)

ITEMS_PER_PIECE: Final = 1_000
"""Items of a REPEATED RECORD column (nodes) built into a message at a time: bounds the protobuf objects alive."""
_TOP_LEVEL: Final = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ITEMS: Final = msgspec.json.Decoder(list[msgspec.Raw] | None)
_F = descriptor_pb2.FieldDescriptorProto
_SCALARS: Final = {
    "STRING": _F.TYPE_STRING,
    "INTEGER": _F.TYPE_INT64,
    "INT64": _F.TYPE_INT64,
    "BOOLEAN": _F.TYPE_BOOL,
    "BOOL": _F.TYPE_BOOL,
    "FLOAT": _F.TYPE_DOUBLE,
    "FLOAT64": _F.TYPE_DOUBLE,
    "TIMESTAMP": _F.TYPE_INT64,
}
_LABELS: Final = {"REQUIRED": _F.LABEL_REQUIRED, "REPEATED": _F.LABEL_REPEATED}


class RowEncodingError(ValueError):
    """A row's payload does not fit the table's message: that row cannot be written."""


def _record_type_name(column: str) -> str:
    # Column names are unique (case-insensitively) within a record, so the suffix keeps nested type names unique too.
    return f"{column}_record"


def _describe(message_proto: descriptor_pb2.DescriptorProto, columns: Sequence[FieldSchema], scope: str) -> None:
    """Fill ``message_proto`` with one field per column; RECORD columns get a nested message type."""
    for number, column in enumerate(columns, start=1):
        field = message_proto.field.add(name=column["name"], number=number)
        field.label = _LABELS.get(column.get("mode", "NULLABLE"), _F.LABEL_OPTIONAL)
        kind = column["type"].upper()
        if kind in {"RECORD", "STRUCT"}:
            nested = message_proto.nested_type.add(name=_record_type_name(column["name"]))
            _describe(nested, column["fields"], f"{scope}.{nested.name}")
            field.type = _F.TYPE_MESSAGE
            field.type_name = f"{scope}.{nested.name}"
        elif kind in _SCALARS:
            field.type = _SCALARS[kind]
        else:
            raise TypeError(f"column {column['name']!r}: no Storage Write API encoding for type {kind}")


def row_descriptor(columns: Sequence[FieldSchema]) -> descriptor_pb2.DescriptorProto:
    """The self-contained proto2 descriptor of a row of a table with ``columns`` (bq CLI JSON format)."""
    root = descriptor_pb2.DescriptorProto(name=ROW_MESSAGE)
    # No package: the service (and the emulator) loads the descriptor into a file of its own without one,
    # so fully qualified names must resolve there as here.
    _describe(root, columns, f".{ROW_MESSAGE}")
    return root


@dataclass(frozen=True, slots=True)
class _Timestamps:
    """Where TIMESTAMP values sit in a record: its own columns, and the records below that hold some."""

    columns: tuple[str, ...]
    records: tuple[tuple[str, bool, _Timestamps], ...]
    """(column, repeated, what is inside)."""

    @classmethod
    def of(cls, columns: Sequence[FieldSchema]) -> _Timestamps | None:
        own = tuple(c["name"] for c in columns if c["type"].upper() == "TIMESTAMP")
        records = []
        for column in columns:
            if column["type"].upper() in {"RECORD", "STRUCT"} and (inner := cls.of(column["fields"])) is not None:
                records.append((column["name"], column.get("mode") == "REPEATED", inner))
        return cls(own, tuple(records)) if own or records else None

    def convert(self, record: dict[str, Any]) -> None:
        """Replace each timestamp in ``record`` (ISO 8601 text, as the rows carry it) by epoch microseconds."""
        for name in self.columns:
            if (value := record.get(name)) is not None:
                record[name] = epoch_micros(value)
        for name, repeated, inner in self.records:
            if (value := record.get(name)) is None:
                continue
            for item in value if repeated else (value,):
                inner.convert(item)


_NONE: Final = _Timestamps((), ())


def epoch_micros(value: object) -> int:
    """A TIMESTAMP as the Storage Write API takes it: microseconds since the epoch.

    Raises:
        RowEncodingError: ``value`` is not ISO 8601 text or a number.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value * 1_000_000)  # BigQuery's JSON rows also take epoch seconds
    if not isinstance(value, str):
        raise RowEncodingError(f"not a timestamp: {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as e:
        raise RowEncodingError(f"not a timestamp: {value!r}") from e
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


class RowEncoder:
    """Serializes table rows for one table schema; built once, at start."""

    def __init__(self, columns: Sequence[FieldSchema] | None = None) -> None:
        """``columns`` is the table schema in the bq CLI's JSON format (the committed one by default)."""
        columns = list(columns if columns is not None else load_table_schema())
        self.descriptor = row_descriptor(columns)
        pool = descriptor_pool.DescriptorPool()
        pool.Add(descriptor_pb2.FileDescriptorProto(name=_FILE, syntax="proto2", message_type=[self.descriptor]))
        self._message = message_factory.GetMessageClass(pool.FindMessageTypeByName(ROW_MESSAGE))
        self._timestamps = _Timestamps.of(columns)
        inner = {name: timestamps for name, _repeated, timestamps in (self._timestamps or _NONE).records}
        self._lists = {
            c["name"]: inner.get(c["name"])
            for c in columns
            if c.get("mode") == "REPEATED" and c["type"].upper() in {"RECORD", "STRUCT"}
        }
        """REPEATED RECORD columns (``nodes``): their items are added one at a time, so that a part of a large
        report never exists as one tree of Python objects beside its message."""

    @property
    def descriptor_bytes(self) -> int:
        """Size of the descriptor, which the first request of each connection carries."""
        return int(self.descriptor.ByteSize())

    def encode(self, payload: bytes) -> bytes:
        """One row's compact JSON (wire names, as ``writer.rows`` renders it) as a serialized message.

        Raises:
            RowEncodingError: the row has a column the table lacks, a value of the wrong type, or misses a
                REQUIRED column.
        """
        try:
            record = _TOP_LEVEL.decode(payload)
            lists = [(name, record.pop(name), inner) for name, inner in self._lists.items() if name in record]
            values = {name: orjson.loads(memoryview(raw)) for name, raw in record.items()}
        except (msgspec.DecodeError, orjson.JSONDecodeError) as e:
            raise RowEncodingError(f"a row must be a JSON object: {e}") from e
        if self._timestamps is not None:
            self._timestamps.convert(values)
        try:
            pieces = [self._message(**values).SerializeToString()]
            for name, raw, inner in lists:
                items = _ITEMS.decode(raw) or []
                for start in range(0, len(items), ITEMS_PER_PIECE):
                    pieces.append(self._piece(name, items[start : start + ITEMS_PER_PIECE], inner))
        except (ValueError, TypeError, AttributeError, message.EncodeError, msgspec.DecodeError) as e:
            raise RowEncodingError(f"the row does not fit the table: {e}") from e
        # Serialized messages concatenated are one message, their repeated fields appended in order (protobuf's
        # merge): the row's message is built a slice of items at a time, so only a slice is ever in memory.
        return b"".join(pieces)

    def _piece(self, name: str, items: Sequence[msgspec.Raw], inner: _Timestamps | None) -> bytes:
        """A message holding only ``items`` of the REPEATED RECORD column ``name``, serialized.

        Raises:
            RowEncodingError: an item misses a REQUIRED field.
        """
        piece = self._message()
        container = getattr(piece, name)
        for item in items:
            value = orjson.loads(memoryview(item))
            if inner is not None:
                inner.convert(value)
            container.add(**value)
        # The piece lacks the row's own REQUIRED columns by design; the items' are checked here.
        if missing := [error for error in piece.FindInitializationErrors() if "." in error]:
            raise RowEncodingError(f"the row does not fit the table: missing {', '.join(missing[:3])}")
        return bytes(piece.SerializePartialToString())

    def decode(self, data: bytes) -> dict[str, Any]:
        """A serialized row back as a dict of the fields it sets (for tests and diagnostics)."""
        row = self._message.FromString(data)
        return _as_dict(row)


def _as_dict(row: message.Message) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for field, value in row.ListFields():
        # Repeated fields come as sequences (protobuf registers its containers as MutableSequence).
        items = list(value) if isinstance(value, MutableSequence) else None
        if field.message_type is None:
            result[field.name] = items if items is not None else value
        elif items is not None:
            result[field.name] = [_as_dict(item) for item in items]
        else:
            result[field.name] = _as_dict(value)
    return result
