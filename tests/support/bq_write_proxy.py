"""A gRPC proxy in front of the emulator's Storage Write API that answers some appends as BigQuery does.

The emulator never sends ``row_errors``: it refuses a whole append or none.
BigQuery answers an append with a row it cannot store with the request's
error and ``row_errors`` naming the bad rows, and stores none of the rows.
The proxy does the same for rows that contain ``marker`` (bytes a test puts
in a column), and passes every other append through unchanged. It counts
connections and appends, so a test can see a stream reused or reopened.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
from google.cloud.bigquery_storage_v1 import types
from google.rpc import status_pb2  # type: ignore[import-untyped]

from tests.support.services import free_port

APPEND_ROWS: Final = "/google.cloud.bigquery.storage.v1.BigQueryWrite/AppendRows"
ROW_ERROR_MESSAGE: Final = "Field value of clusterID cannot be refused-row"
_END: Final = object()


@dataclass
class WriteProxy:
    """The proxy's state: where it forwards, which rows it refuses, and what it saw."""

    upstream: str
    marker: bytes
    port: int = 0
    connections: int = 0
    appends: int = 0
    refused_rows: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def endpoint(self) -> str:
        """``host:port`` for ``SPARTAKUS_BIGQUERY_WRITE_ENDPOINT``."""
        return f"127.0.0.1:{self.port}"

    def refusal(self, request: Any) -> bytes | None:
        """BigQuery's answer to an append with marked rows, or None to pass it on."""
        rows = request.proto_rows.rows.serialized_rows
        bad = [index for index, row in enumerate(rows) if self.marker in row]
        if not bad:
            return None
        with self.lock:
            self.refused_rows += len(bad)
        code = types.RowError.RowErrorCode.FIELDS_ERROR
        answer = types.AppendRowsResponse(
            write_stream=request.write_stream,
            error=status_pb2.Status(code=grpc.StatusCode.INVALID_ARGUMENT.value[0], message="Errors found in rows"),
            row_errors=[types.RowError(index=i, code=code, message=ROW_ERROR_MESSAGE) for i in bad],
        )
        return bytes(types.AppendRowsResponse.serialize(answer))


def _handler(proxy: WriteProxy, channel: grpc.Channel) -> grpc.GenericRpcHandler:
    upstream_call = channel.stream_stream(APPEND_ROWS)

    def append_rows(requests: Iterator[bytes], _context: grpc.ServicerContext) -> Iterator[bytes]:
        with proxy.lock:
            proxy.connections += 1
        outbox: queue.SimpleQueue[object] = queue.SimpleQueue()
        answers: Iterator[bytes] | None = None
        schema: Any = None
        try:
            for raw in requests:
                request = types.AppendRowsRequest.deserialize(raw)
                with proxy.lock:
                    proxy.appends += 1
                if "writer_schema" in request.proto_rows:
                    schema = request.proto_rows.writer_schema
                if (refusal := proxy.refusal(request)) is not None:
                    yield refusal
                    continue
                passed = raw
                if answers is None:
                    # The first append passed on opens the upstream call, and must carry the writer's schema even
                    # when the proxy answered the one that did.
                    request.proto_rows.writer_schema = schema
                    passed = types.AppendRowsRequest.serialize(request)
                    answers = iter(upstream_call(iter(outbox.get, _END)))
                outbox.put(passed)
                yield next(answers)
        finally:
            outbox.put(_END)

    return grpc.method_handlers_generic_handler(
        "google.cloud.bigquery.storage.v1.BigQueryWrite",
        {"AppendRows": grpc.stream_stream_rpc_method_handler(append_rows)},
    )


@contextmanager
def write_proxy(upstream: str, marker: bytes) -> Iterator[WriteProxy]:
    """Run a ``WriteProxy`` for ``upstream`` (``host:port``, plaintext gRPC) on a free local port."""
    proxy = WriteProxy(upstream, marker)
    channel = grpc.insecure_channel(upstream, options=[("grpc.max_send_message_length", -1)])
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.max_receive_message_length", -1), ("grpc.max_send_message_length", -1)],
    )
    server.add_generic_rpc_handlers([_handler(proxy, channel)])
    proxy.port = server.add_insecure_port(f"127.0.0.1:{free_port()}")
    server.start()
    try:
        yield proxy
    finally:
        server.stop(grace=None)
        channel.close()
