"""Connecting to RabbitMQ with pika's asyncio adapter, and awaiting its callback-style calls.

The adapter runs on the server's event loop, with one change: pika writes
every frame with a ``send()`` of its own, three per publish, and on this
project's machine those system calls were the largest cost of publishing.
``CoalescingConnection`` gathers the frames emitted during one event-loop
iteration into a single write. Measured with 256 publishes in flight, that
doubled pika's rate, which was already above aio-pika's (see
``bench/ingest_bench.py`` and the closing notes of the gateway's issue).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any, Final

import pika
from pika.adapters.asyncio_connection import AsyncioConnection

from ingest.amqp.errors import CLIENT_ERRORS, translated, unavailable
from ingest.ports import BrokerUnavailableError
from runtime.brokers import check_urls
from schema.topology import QueueSpec

OPEN_TIMEOUT: Final = 10.0
"""Seconds for connecting, opening the channel and declaring the queues."""
APP_ID: Final = "spartakus-ingest"


def check_url(urls: str) -> None:
    """Refuse, at start-up, an AMQP URL that pika cannot use (a bad query option, say), in a list too.

    Raises:
        ValueError: why, with the password masked.
    """
    check_urls(urls, pika.URLParameters)


class CoalescingConnection(AsyncioConnection):  # type: ignore[misc]  # pika has no type information
    """pika's asyncio connection, writing all frames of one loop iteration with one ``send()``.

    ``_adapter_emit_data`` is the hook through which a pika adapter receives
    every outgoing frame, in order; deferring the write to the end of the
    current loop iteration keeps that order and lets many publishes share a
    system call. The hook is private to pika (hence the version cap in
    pyproject.toml); tests/foundation/test_private_apis.py fails if it goes.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._coalesce_buffer: list[bytes] = []
        self._coalesce_loop = asyncio.get_running_loop()
        super().__init__(*args, **kwargs)

    def _adapter_emit_data(self, data: bytes) -> None:
        if not self._coalesce_buffer:
            self._coalesce_loop.call_soon(self._write_outgoing)
        self._coalesce_buffer.append(data)

    def _write_outgoing(self) -> None:
        data = b"".join(self._coalesce_buffer)
        self._coalesce_buffer.clear()
        if not self.is_closed:
            super()._adapter_emit_data(data)


def start_connection(
    url: str, *, name: str, on_closed: Callable[[Any, BaseException], None]
) -> tuple[Any, asyncio.Future[Any]]:
    """Start connecting to ``url`` (one attempt); returns the connection at once and the future its opening settles.

    The future fails with ``BrokerUnavailableError``. ``on_closed(connection, reason)`` runs when the
    connection closes, whoever closed it.
    """
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[Any] = loop.create_future()
    with translated():
        params = pika.URLParameters(url)
        params.client_properties = {"connection_name": name, "product": APP_ID}
        params.connection_attempts = 1
        params.socket_timeout = OPEN_TIMEOUT
        connection = CoalescingConnection(
            params,
            on_open_callback=lambda conn: settle(opened, conn),
            on_open_error_callback=lambda _conn, error: settle(opened, error=unavailable(error)),
            on_close_callback=on_closed,
            custom_ioloop=loop,
        )
    return connection, opened


def close_quietly(connection: Any, reply_text: str | None = None) -> None:
    """Close ``connection`` unless it is closed or closing; a failure to do so is of no interest."""
    if connection is None or connection.is_closed or connection.is_closing:
        return
    with contextlib.suppress(*CLIENT_ERRORS):
        if reply_text is None:
            connection.close()
        else:
            connection.close(reply_text=reply_text)


class PendingCalls:
    """pika's callback-style calls under way, awaited; a lost channel or connection fails them all at once."""

    def __init__(self) -> None:
        self._waiters: set[asyncio.Future[Any]] = set()

    async def call(self, start: Callable[[Callable[[Any], None]], None]) -> Any:
        """Run ``start(done)`` and wait for pika to call ``done(result)``.

        Raises:
            BrokerUnavailableError: pika refused the call, or ``fail_all`` ended it.
        """
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            with translated():
                start(lambda result: settle(waiter, result))
            return await waiter
        finally:
            self._waiters.discard(waiter)

    def fail_all(self, error: BrokerUnavailableError) -> None:
        """End every call under way with ``error``."""
        for waiter in list(self._waiters):
            settle(waiter, error=error)

    async def declare(self, channel: Any, spec: QueueSpec) -> None:
        """Declare ``spec`` on ``channel`` as ``schema.topology`` gives it."""
        await self.call(
            lambda done: channel.queue_declare(
                spec.name, durable=spec.durable, arguments=dict(spec.arguments), callback=done
            )
        )

    async def answers(self, channel: Any, queue: str) -> None:
        """Ask the broker about ``queue`` on ``channel`` (a passive declare), and return once it answers."""
        await self.call(lambda done: channel.queue_declare(queue, passive=True, callback=done))


def settle(future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None) -> None:
    """Give ``future`` its result or ``error``, unless it has one already."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
