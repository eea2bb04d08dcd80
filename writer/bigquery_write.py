"""The BigQuery sink through the Storage Write API: the only module of the writer that imports its gRPC client.

Rows are appended to the table's ``_default`` stream, which commits each
append as soon as it is answered: an ack follows only an answer without an
error. One AppendRows call (``AppendConnection``) stays open for the life of
the process and carries every append, one at a time; when it breaks (the
service closed it, an outage, a change of the table's schema) it is dropped
and the next append opens another. Rows are serialized by
``writer.proto_rows`` from message classes built once at start.

The table itself (dataset, table, dedup view, newer NULLABLE columns) is
managed through the REST client in ``writer.bigquery_sink``, which this sink
uses for that and never for inserting rows. ``part``/``parts`` and the dedup
view are the same as with insertAll: the default stream is at-least-once, and
a redelivered report's rows are removed by the view.

Each append stays under BigQuery's 10 MB request limit, counted on the
serialized rows. An append refused as too large anyway is split in halves; a
single row refused so is rejected. ``row_errors`` name the rows the service
refused (the whole append then fails): they are rejected with their reason
and the others appended again.
"""

from __future__ import annotations

import enum
import logging
import queue
import re
import threading
from collections.abc import Iterator, Sequence
from typing import Any, Final, cast

import grpc
from google.api_core import exceptions as google_errors
from google.auth.exceptions import GoogleAuthError
from google.cloud.bigquery_storage_v1 import BigQueryWriteClient, types
from google.cloud.bigquery_storage_v1.services.big_query_write.transports import BigQueryWriteGrpcTransport

from writer.bigquery_sink import BigQuerySink, RequestTooLargeError, TableMissingError
from writer.errors import PermanentSinkError, SinkConfigError, TransientSinkError
from writer.proto_rows import RowEncoder, RowEncodingError
from writer.rows import Row
from writer.sink import WriteResult

log = logging.getLogger(__name__)

APPEND_BUDGET_BYTES: Final = 4 * 2**20
"""Bytes of rows one append carries at most (a lone larger row goes alone): well under the 10 MB limit, because each
append is copied a few times on its way into gRPC, and a smaller one keeps a large report's peak memory down while a
batch of 500 small reports still fits one append."""
ANSWER_TIMEOUT: Final = 120.0
"""Seconds to wait for the answer to one append before the connection is given up as broken."""
_MAX_RESENDS: Final = 3
_ROW_OVERHEAD: Final = 6
"""Bytes a serialized row adds to a request besides itself: its field tag and length (a 10 MB row needs 4)."""
_UNLIMITED: Final = -1
_CHANNEL_OPTIONS: Final = (
    ("grpc.max_send_message_length", _UNLIMITED),
    ("grpc.max_receive_message_length", _UNLIMITED),
)
_TOO_LARGE: Final = re.compile(r"too large|larger than max|size cap|exceeds the limit|payload size", re.IGNORECASE)
_SCHEMA: Final = re.compile(r"schema|proto field|unknown field|extra field", re.IGNORECASE)
_PERMANENT_CODES: Final = frozenset(
    {grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.OUT_OF_RANGE}
)
_CODES: Final = {code.value[0]: code for code in grpc.StatusCode}


class SchemaChangedError(TransientSinkError):
    """The service holds another schema of the table than the rows': the table is brought up to date, the
    connection reopened, and the append tried again (never dead-lettered)."""


def classify(code: grpc.StatusCode | None, message: str) -> Exception:
    """The writer's error for a gRPC status of an append or of the connection."""
    text = f"BigQuery Storage Write API: {code.name if code else 'error'}: {message}"
    if code in {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.INVALID_ARGUMENT} and _TOO_LARGE.search(message):
        return RequestTooLargeError(text)
    if code is grpc.StatusCode.NOT_FOUND:
        return TableMissingError(text)
    if code is grpc.StatusCode.INVALID_ARGUMENT and _SCHEMA.search(message):
        return SchemaChangedError(text)
    if code in _PERMANENT_CODES:
        return PermanentSinkError(text)
    # Unavailable, throttled (RESOURCE_EXHAUSTED), aborted, timed out, access denied: the rows wait and are retried.
    return TransientSinkError(text)


def translate(error: BaseException) -> Exception:
    """The writer's error for an exception that ended an AppendRows call."""
    if isinstance(error, google_errors.GoogleAPICallError):
        return classify(error.grpc_status_code, error.message or str(error))
    if isinstance(error, grpc.RpcError | OSError | GoogleAuthError):
        return TransientSinkError(f"BigQuery Storage Write API unreachable: {error}")
    return TransientSinkError(f"BigQuery Storage Write API: {error!r}")


def write_client(endpoint: str | None) -> BigQueryWriteClient:
    """The Storage Write API client: Google's endpoint with the default credentials, or a plaintext ``host:port``
    (an emulator) without any.

    Raises:
        SinkConfigError: no credentials can be found.
    """
    try:
        if endpoint:
            channel = grpc.insecure_channel(endpoint, options=_CHANNEL_OPTIONS)
            return BigQueryWriteClient(transport=BigQueryWriteGrpcTransport(channel=channel))  # type: ignore[no-untyped-call]
        return BigQueryWriteClient()  # type: ignore[no-untyped-call]
    except (GoogleAuthError, google_errors.GoogleAPIError) as e:
        raise SinkConfigError(f"cannot create a BigQuery Storage Write API client: {e}") from e


class ConnectionState(enum.Enum):
    """Where an ``AppendConnection`` stands: only an open one takes appends."""

    OPEN = "open"
    BROKEN = "broken"
    """The call ended or did not answer in time; the sink opens another."""
    CLOSED = "closed"


_END: Final = object()


class AppendConnection:
    """One AppendRows call on a stream: requests go in through a queue, answers come back through another.

    The call is started by a reader thread of its own, after the first request is queued: the client waits for
    the first answer as it starts the call, and that wait must not hold the thread that appends.
    """

    def __init__(self, client: BigQueryWriteClient, stream: str, writer_schema: Any) -> None:
        """``writer_schema`` is the rows' ``DescriptorProto``, sent with the first request."""
        self.state = ConnectionState.OPEN
        self._client = client
        self._stream = stream
        self._schema: Any = writer_schema
        self._schema_taken = False
        """Whether the service answered an append that carried the schema without an error; until then every
        append carries it (one refused as too large, for one, may have been dropped unread)."""
        self._outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._inbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._call: Any = None
        self._lock = threading.Lock()
        self._reader: threading.Thread | None = None
        self.used = False
        """Whether an append was sent on this connection."""

    def _read(self) -> None:
        try:
            requests: Iterator[Any] = iter(self._outbox.get, _END)
            call: Any = self._client.append_rows(
                requests=requests,
                retry=None,
                timeout=None,  # the call lives as long as the process; each append has its own wait
                metadata=(("x-goog-request-params", f"write_stream={self._stream}"),),
            )
            with self._lock:
                self._call = call
                if self.state is not ConnectionState.OPEN:
                    call.cancel()
            for response in call:
                self._inbox.put(response)
            self._inbox.put(TransientSinkError("BigQuery closed the AppendRows stream"))
        except Exception as e:  # noqa: BLE001  # handed to the appending thread, which translates it
            self._inbox.put(e)

    def append(self, rows: Sequence[bytes], timeout: float = ANSWER_TIMEOUT) -> Any:
        """Append serialized rows; returns the service's answer (which may carry an error or row errors).

        Raises:
            TransientSinkError, PermanentSinkError: the call broke (the connection is then ``BROKEN``).
        """
        if self.state is not ConnectionState.OPEN:
            raise TransientSinkError(f"the AppendRows connection is {self.state.value}")
        request = types.AppendRowsRequest.pb()(write_stream=self._stream)
        if not self._schema_taken:
            request.proto_rows.writer_schema.proto_descriptor.CopyFrom(self._schema)
        request.proto_rows.rows.serialized_rows.extend(rows)
        self._outbox.put(types.AppendRowsRequest.wrap(request))
        del request
        self.used = True
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name="spartakus-append-rows", daemon=True)
            self._reader.start()
        try:
            answer = self._inbox.get(timeout=timeout)
        except queue.Empty:
            self.close(ConnectionState.BROKEN)
            raise TransientSinkError(f"BigQuery did not answer an append within {timeout:.0f} s") from None
        if isinstance(answer, BaseException):
            self.close(ConnectionState.BROKEN)
            raise translate(answer) from answer
        response = cast("types.AppendRowsResponse", answer)  # the reader puts answers or errors
        self._schema_taken = self._schema_taken or not response.error.code
        return response

    def close(self, state: ConnectionState = ConnectionState.CLOSED) -> None:
        """End the call (idempotent)."""
        with self._lock:
            if self.state is not ConnectionState.OPEN:
                return
            self.state = state
            self._outbox.put(_END)
            if self._call is not None:
                self._call.cancel()


def row_errors(answer: Any) -> dict[int, str]:
    """Index in the append -> the service's reason, for each row it refused."""
    return {int(e.index): f"BigQuery rejected the row: {e.message or e.code.name}" for e in answer.row_errors}


class BigQueryWriteSink:
    """Appends rows to ``project.dataset.table`` through the Storage Write API's default stream."""

    name = "bigquery"

    def __init__(
        self,
        table: str,
        *,
        emulator_host: str | None = None,
        write_endpoint: str | None = None,
        tables: BigQuerySink | None = None,
        client: BigQueryWriteClient | None = None,
        request_budget: int = APPEND_BUDGET_BYTES,
    ) -> None:
        """``table`` is ``project.dataset.table``. ``emulator_host`` (``BIGQUERY_EMULATOR_HOST``) is for the REST
        calls that manage the table; ``write_endpoint`` (``host:port``, plaintext) for the appends.
        ``request_budget`` bounds the bytes of each append."""
        project, dataset, table_name = table.split(".")
        self.table_id = table
        self.stream = f"projects/{project}/datasets/{dataset}/tables/{table_name}/streams/_default"
        self._tables = tables or BigQuerySink(table, emulator_host=emulator_host)
        self._client = client or write_client(write_endpoint)
        self._encoder = RowEncoder()
        # The first append of a connection also carries the descriptor; every append the stream's name.
        self._budget = request_budget - self._encoder.descriptor_bytes - len(self.stream) - 64
        self._connection: AppendConnection | None = None
        self._ready = False

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Append ``rows`` in requests under the size limit; report the rows refused for good as rejected."""
        if not self._ready:
            self._tables.ensure_table()
            self._ready = True
        rejected: dict[int, str] = {}
        for items, refused in self._requests(rows):
            for index, reason in refused.items():
                rejected.setdefault(index, reason)
            for index, reason in self._send(items).items():
                rejected.setdefault(index, reason)
        return WriteResult(rejected=rejected)

    def _requests(self, rows: Sequence[Row]) -> Iterator[tuple[list[tuple[int, bytes]], dict[int, str]]]:
        """``(row index, serialized row)`` items grouped into appends within the budget, one append at a time (so
        one append's bytes are alive at once), with the rows that could not be serialized."""
        items: list[tuple[int, bytes]] = []
        refused: dict[int, str] = {}
        size = 0
        for index, row in enumerate(rows):
            for payload in row.payloads:
                try:
                    data = self._encoder.encode(payload)
                except RowEncodingError as e:
                    refused.setdefault(index, str(e))
                    continue
                if items and size + len(data) + _ROW_OVERHEAD > self._budget:
                    yield items, refused
                    items, refused, size = [], {}, 0
                items.append((index, data))
                size += len(data) + _ROW_OVERHEAD
        if items or refused:
            yield items, refused

    def _send(self, items: list[tuple[int, bytes]]) -> dict[int, str]:
        """Append ``items``; returns rejected row index -> reason."""
        rejected: dict[int, str] = {}
        pending = items
        for _ in range(_MAX_RESENDS):
            if not pending:
                return rejected
            try:
                refused = self._append([data for _, data in pending])
            except PermanentSinkError as e:  # too large, or invalid as a whole: halves until the row stands alone
                if len(pending) == 1:
                    rejected.setdefault(pending[0][0], str(e))
                    return rejected
                middle = len(pending) // 2
                for part in (pending[:middle], pending[middle:]):
                    for index, reason in self._send(part).items():
                        rejected.setdefault(index, reason)
                return rejected
            if not refused:
                return rejected
            # The append failed as a whole: the rows it did not name go again.
            for position, reason in refused.items():
                rejected.setdefault(pending[position][0], reason)
            pending = [item for position, item in enumerate(pending) if position not in refused]
        raise TransientSinkError(f"BigQuery kept refusing appends of {len(pending)} rows")

    def _append(self, rows: list[bytes]) -> dict[int, str]:
        """One append; returns the rows the service refused (none when it stored them all)."""
        answer = self._answer(rows)
        if refused := row_errors(answer):
            return refused
        if answer.error.code:
            error = classify(_CODES.get(answer.error.code), answer.error.message)
            if isinstance(error, SchemaChangedError | TableMissingError):
                self._reset()
            raise error
        if answer.updated_schema.fields:
            # The service saw the table change: a new connection writes with the schema the table has now.
            self._drop_connection()
        return {}

    def _answer(self, rows: list[bytes]) -> Any:
        """The service's answer to one append. A connection that had carried appends and broke (the service
        closed it, the table changed under it) is replaced at once, once; a new one that fails at once means the
        service is unreachable, for the retry policy to wait out."""
        for attempt in range(2):
            connection = self._connection_for_append()
            used = connection.used
            try:
                return connection.append(rows)
            except TableMissingError:
                if attempt:
                    raise
                self._tables.ensure_table()
            except SchemaChangedError:
                self._reset()
                raise
            except TransientSinkError:
                if attempt or not used:
                    raise
                log.info("the append stream broke; reopening it", extra={"table": self.table_id})
        raise AssertionError("unreachable")  # pragma: no cover

    def _connection_for_append(self) -> AppendConnection:
        if self._connection is None or self._connection.state is not ConnectionState.OPEN:
            self._connection = AppendConnection(self._client, self.stream, self._encoder.descriptor)
        return self._connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _reset(self) -> None:
        """After a change of the table: bring it up to date and reopen the connection before the next append."""
        self._drop_connection()
        self._ready = False
        log.warning("the table changed under the append stream; reopening it", extra={"table": self.table_id})

    def close(self) -> None:
        """End the AppendRows call and close both clients."""
        self._drop_connection()
        self._client.transport.close()  # type: ignore[no-untyped-call]
        self._tables.close()
