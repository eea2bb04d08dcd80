"""The private library hooks the gateway relies on still exist: an upgrade that removes one fails here, by name.

``ingest.amqp.connection.CoalescingConnection`` overrides pika's ``_adapter_emit_data``
to write one loop iteration's frames with one ``send()``; ``runtime.logs``
clears ``logging._srcfile`` so that no log call looks up its caller's source
line. Either would otherwise stop working silently and cost only speed.
``runtime.connections.GuardedHttpProtocol`` extends uvicorn's httptools
protocol: it swaps ``self.app`` before ``on_headers_complete`` picks it up, and
overrides ``_unsupported_upgrade_warning``, which uvicorn calls when it does not
upgrade a connection.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
from collections.abc import Iterator

import pytest
from pika.adapters.asyncio_connection import AsyncioConnection
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ingest.amqp.connection import CoalescingConnection
from runtime.connections import GuardedHttpProtocol
from runtime.logs import configure_logging


def test_pika_still_sends_every_outgoing_frame_through_adapter_emit_data() -> None:
    inherited = [cls for cls in AsyncioConnection.__mro__ if "_adapter_emit_data" in vars(cls)]

    assert inherited, "pika no longer has _adapter_emit_data: CoalescingConnection overrides nothing"
    assert list(inspect.signature(inherited[0]._adapter_emit_data).parameters) == ["self", "data"]
    assert CoalescingConnection._adapter_emit_data is not inherited[0]._adapter_emit_data


class Keep(logging.Handler):
    """Keeps the records it is handed."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        """Keep ``record``."""
        self.records.append(record)


@pytest.fixture
def _restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level, srcfile = root.handlers[:], root.level, logging._srcfile
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging._srcfile = srcfile


@pytest.mark.usefixtures("_restore_logging")
def test_clearing_logging_srcfile_still_skips_the_caller_lookup() -> None:
    assert hasattr(logging, "_srcfile"), "logging no longer has _srcfile: configure_logging's switch does nothing"
    keep = Keep()
    configure_logging("INFO", stream=io.StringIO())
    logging.getLogger().addHandler(keep)

    logging.getLogger("spartakus.test").info("report sent")

    [record] = keep.records
    assert (record.pathname, record.lineno, record.funcName) == ("(unknown file)", 0, "(unknown function)")
    assert json.loads(logging.getLogger().handlers[0].format(record))["message"] == "report sent"


def test_uvicorn_still_calls_the_protocol_hooks_the_connection_guard_extends() -> None:
    for hook in ("data_received", "on_headers_complete", "on_message_complete", "on_response_complete"):
        assert hook in vars(HttpToolsProtocol), f"uvicorn's protocol no longer defines {hook}"
        assert vars(GuardedHttpProtocol)[hook] is not vars(HttpToolsProtocol)[hook]
    assert "self._unsupported_upgrade_warning()" in inspect.getsource(HttpToolsProtocol.data_received)
    assert "app = self.app" in inspect.getsource(HttpToolsProtocol.on_headers_complete)
    assert "_unsupported_upgrade_warning" in vars(GuardedHttpProtocol)
