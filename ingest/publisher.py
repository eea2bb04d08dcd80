"""Durable, confirmed publishing to RabbitMQ: the only module of the gateway that imports an AMQP client.

It runs pika's asyncio adapter on the server's event loop, with one change:
pika writes every frame with a ``send()`` of its own, three per publish, and
on this project's machine those system calls were the largest cost of
publishing. ``CoalescingConnection`` gathers the frames emitted during one
event-loop iteration into a single write. Measured with 256 publishes in
flight, that doubled pika's rate, which was already above aio-pika's (see
``bench/ingest_bench.py`` and the closing notes of the gateway's issue).

Many publishes are in flight at once on one channel in confirm mode; each
waits for the broker's ack of *its own* delivery tag. Anything short of an
ack (nack, return, lost channel, blocked connection, timeout) becomes a
``PublishError``, so the HTTP side never answers success for a report the
broker has not taken responsibility for.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Final

import pika
import pika.exceptions
from pika.adapters.asyncio_connection import AsyncioConnection

from ingest.confirms import ConfirmTracker
from ingest.metrics import IngestMetrics
from ingest.ports import BrokerBlockedError, BrokerUnavailableError, Envelope, PublishError
from ingest.retry import reconnect_attempts
from runtime.brokers import BrokerAddresses, describe_url
from runtime.settings import redact_in, split_amqp_urls
from schema.report import SCHEMA_VERSION
from schema.topology import (
    CONTENT_TYPE,
    PERSISTENT,
    RECEIVED_AT_HEADER,
    SCHEMA_VERSION_HEADER,
    QueueSpec,
    topology_for,
)

OPEN_TIMEOUT: Final = 10.0
"""Seconds for connecting, opening the channel and declaring the queues."""
APP_ID: Final = "spartakus-ingest"
NACKING_CHANNEL_GRACE: Final = 1.0
"""Seconds a channel lives before nacks on it make the publisher replace it (bounds reconnects per second)."""
MAX_SWEEP_INTERVAL: Final = 0.1
"""Seconds between checks for confirms overdue; a timeout fires at most this late."""

log = logging.getLogger(__name__)

_AMQP_ERRORS: Final = (pika.exceptions.AMQPError, OSError)


def check_url(urls: str) -> None:
    """Refuse, at start-up, an AMQP URL that pika cannot use (a bad query option, say), in a list too.

    Raises:
        ValueError: why, with the password masked.
    """
    for url in split_amqp_urls(urls):
        try:
            pika.URLParameters(url)
        except (ValueError, TypeError, KeyError, SyntaxError) as e:
            raise ValueError(redact_in(f"pika cannot use it: {e}", url)) from e


class AmqpPublisher:
    """The ``Publisher`` port on RabbitMQ, with automatic reconnection.

    Args:
        amqp_url: broker URL, e.g. ``amqp://guest:guest@localhost:5672/``, or one per cluster node
            separated by commas (``runtime.brokers`` says in which order they are tried).
        queue: report queue; its topology comes from ``schema.topology``.
        confirm_timeout: seconds a publish waits for its confirm.
        connection_name: shown by ``rabbitmqctl list_connections``; the process id is appended.
        metrics: where confirms, reconnects and in-flight publishes are counted.
    """

    def __init__(
        self, *, amqp_url: str, queue: str, confirm_timeout: float, connection_name: str, metrics: IngestMetrics
    ) -> None:
        self._brokers = BrokerAddresses.parse(amqp_url)
        self._topology = topology_for(queue)
        self._confirm_timeout = confirm_timeout
        self._connection_name = f"{connection_name} pid={os.getpid()}"
        self._metrics = metrics
        self._connection: Any = None
        self._opening_channel: Any = None
        self._channel: Any = None
        self._tracker = ConfirmTracker(queue)
        self._blocked = False
        self._closing = False
        # Set when a confirm failed to arrive in time; cleared by the next confirm or a broker answer.
        self._overdue = False
        self._probe_task: asyncio.Task[None] | None = None
        self._redeclaring = False
        self._retiring = False
        self._opened_at = 0.0
        self._redeclare_task: asyncio.Task[None] | None = None
        self._waiters: set[asyncio.Future[Any]] = set()
        self._lost = asyncio.Event()
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_every = min(MAX_SWEEP_INTERVAL, confirm_timeout / 10)
        metrics.track_in_flight(lambda: len(self._tracker))
        metrics.declare_nodes(describe_url(url) for url in self._brokers.urls)

    @property
    def ready(self) -> bool:
        """Whether a publish could be confirmed now.

        The channel is open, the connection is not blocked, the gateway is not
        closing, and no confirm is overdue: a frozen broker keeps the channel
        open but answers nothing, so readiness also follows the confirms.
        """
        channel = self._channel
        return channel is not None and channel.is_open and not (self._blocked or self._closing or self._overdue)

    @property
    def alive(self) -> bool:
        """Whether the connection manager runs (it is what recovers from a broker outage)."""
        return self._task is not None and not self._task.done()

    async def start(self, wait: float = 5.0) -> None:
        """Start connecting in the background; wait up to ``wait`` seconds for the first connection."""
        self._task = asyncio.create_task(self._maintain(), name="amqp-publisher")
        self._task.add_done_callback(_log_crash)
        self._sweep()
        try:
            async with asyncio.timeout(wait):
                await self._opened.wait()
        except TimeoutError:
            log.warning("broker not reachable yet; serving 503 until it is", extra={"queue": self._topology.queue})

    async def publish(self, envelope: Envelope) -> None:
        """Publish ``envelope`` persistently and wait for the broker's confirm of this very message.

        Raises:
            PublishError: not confirmed (broker down, blocked, nack, unroutable, or timeout).
        """
        channel, tracker = self._channel, self._tracker
        if channel is None or self._closing:
            raise BrokerUnavailableError("no open channel to the broker")
        if self._blocked:
            raise BrokerBlockedError("the broker blocked publishing (resource alarm)")
        try:
            channel.basic_publish("", self._topology.queue, envelope.body, _properties(envelope), mandatory=True)
        except _AMQP_ERRORS as e:
            raise BrokerUnavailableError(f"publish failed: {e!r}") from e
        # Track only after the frame went out: the broker numbers what it was sent.
        loop = asyncio.get_running_loop()
        tag, confirmed = tracker.track(envelope.message_id, deadline=loop.time() + self._confirm_timeout)
        started = time.perf_counter()
        try:
            await confirmed
        finally:
            tracker.forget(tag)
        self._metrics.confirm_seconds.observe(time.perf_counter() - started)
        self._metrics.published.inc()

    async def close(self, timeout: float) -> None:
        """Refuse new publishes, wait up to ``timeout`` seconds for pending confirms, then disconnect."""
        self._closing = True
        try:
            async with asyncio.timeout(timeout):
                await self._tracker.empty.wait()
        except TimeoutError:
            log.warning("closing with publishes still unconfirmed", extra={"in_flight": len(self._tracker)})
        self._tracker.fail_all(BrokerUnavailableError("the gateway is shutting down"))
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._task is not None:
            self._task.cancel()
        connection = self._connection
        if connection is not None and connection.is_open:
            self._lost.clear()
            connection.close()
            try:
                async with asyncio.timeout(OPEN_TIMEOUT):
                    await self._lost.wait()
            except TimeoutError:
                log.warning("broker did not acknowledge the connection close")

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        if self._tracker.expire(loop.time()) and not self._overdue and self._channel is not None:
            self._overdue = True
            log.warning("a confirm is overdue; not ready until the broker answers", extra=self._where())
            self._probe_task = loop.create_task(self._probe(self._channel))
            self._probe_task.add_done_callback(_log_crash)
        self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    async def _probe(self, channel: Any) -> None:
        """Ask the broker something on ``channel`` until it answers, and then count the gateway ready again."""
        spec = self._topology.main
        while self._overdue and channel is self._channel and not self._closing:
            try:
                async with asyncio.timeout(self._confirm_timeout):
                    await self._call(lambda done: channel.queue_declare(spec.name, passive=True, callback=done))
            except TimeoutError:
                continue
            except (*_AMQP_ERRORS, PublishError):
                return  # the channel is gone; reconnecting resets readiness
            if self._overdue:
                self._overdue = False
                log.info("the broker answers again; ready", extra=self._where())

    def _where(self) -> dict[str, object]:
        return {"queue": self._topology.queue, "confirm_timeout_s": self._confirm_timeout}

    def _on_confirm(self, tracker: ConfirmTracker, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tracker.confirm(method.delivery_tag, multiple=method.multiple, acked=acked)
        if self._overdue:
            self._overdue = False
            log.info("confirms arrive again; ready", extra=self._where())
        if not acked and tracker is self._tracker:
            self._retire_nacking_channel()

    # --- connection lifecycle -------------------------------------------------

    async def _maintain(self) -> None:
        connected_before = False
        while not self._closing:
            async for attempt in reconnect_attempts():
                with attempt:
                    await self._open_any()
            if connected_before:
                self._metrics.reconnects.inc()
            connected_before = True
            node = describe_url(self._brokers.current)
            self._metrics.connected_to(node)
            log.info("broker connection ready", extra={"queue": self._topology.queue, "node": node})
            self._opened.set()
            await self._lost.wait()
            self._metrics.connected_to(None)
            self._brokers.lost()
            self._discard_connection()

    async def _open_any(self) -> None:
        """One round over the broker addresses: the current one first, then each other one in turn."""
        failures = []
        for url in self._brokers.round():
            try:
                await self._open(url)
            except BrokerUnavailableError as e:
                failures.append(f"{describe_url(url)}: {e}")
                continue
            self._brokers.connected(url)
            return
        raise BrokerUnavailableError("; ".join(failures))

    async def _open(self, url: str) -> None:
        self._lost.clear()
        tracker = ConfirmTracker(self._topology.queue)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                connection = await self._open_connection(url)
                channel = await self._open_channel(connection, tracker)
                await self._call(
                    lambda done: channel.confirm_delivery(functools.partial(self._on_confirm, tracker), callback=done)
                )
                for spec in (self._topology.dead, self._topology.main):
                    await self._declare(channel, spec)
        except TimeoutError as e:
            self._discard_connection()
            raise BrokerUnavailableError(f"broker did not answer within {OPEN_TIMEOUT}s") from e
        except (*_AMQP_ERRORS, PublishError) as e:
            self._discard_connection()
            raise BrokerUnavailableError(str(e) or repr(e)) from e
        self._tracker = tracker
        self._channel = channel
        self._overdue = False
        self._opened_at = asyncio.get_running_loop().time()
        self._retiring = False

    async def _open_connection(self, url: str) -> Any:
        params = pika.URLParameters(url)
        params.client_properties = {"connection_name": self._connection_name, "product": APP_ID}
        params.connection_attempts = 1
        params.socket_timeout = OPEN_TIMEOUT
        loop = asyncio.get_running_loop()
        opened: asyncio.Future[Any] = loop.create_future()
        self._connection = CoalescingConnection(
            params,
            on_open_callback=lambda conn: _settle(opened, conn),
            on_open_error_callback=lambda _conn, error: _settle(opened, error=_as_exception(error)),
            on_close_callback=self._on_connection_closed,
            custom_ioloop=loop,
        )
        connection = await opened
        connection.add_on_connection_blocked_callback(self._on_blocked)
        connection.add_on_connection_unblocked_callback(self._on_unblocked)
        return connection

    async def _open_channel(self, connection: Any, tracker: ConfirmTracker) -> Any:
        channel = await self._call(lambda done: connection.channel(on_open_callback=done))
        self._opening_channel = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(functools.partial(self._on_return, tracker))
        return channel

    async def _declare(self, channel: Any, spec: QueueSpec) -> None:
        await self._call(
            lambda done: channel.queue_declare(
                spec.name, durable=spec.durable, arguments=dict(spec.arguments), callback=done
            )
        )

    async def _call(self, start: Callable[[Callable[[Any], None]], None]) -> Any:
        """Run a callback-style pika operation; a closing channel or connection fails it at once."""
        waiter: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            start(lambda result: _settle(waiter, result))
            return await waiter
        finally:
            self._waiters.discard(waiter)

    def _discard_connection(self) -> None:
        self._channel = self._opening_channel = None
        self._blocked = False
        connection, self._connection = self._connection, None
        if connection is not None and not (connection.is_closed or connection.is_closing):
            try:
                connection.close()
            except _AMQP_ERRORS:
                log.debug("closing a broken connection failed", exc_info=True)

    # --- pika callbacks (run on the event loop) ---------------------------------

    def _on_connection_closed(self, connection: Any, reason: BaseException) -> None:
        if connection is self._connection:
            self._channel_lost(f"connection closed: {reason}")

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is self._opening_channel:
            self._channel_lost(f"channel closed: {reason}")

    def _channel_lost(self, why: str) -> None:
        if not self._closing and not self._lost.is_set():
            log.warning("broker connection lost", extra={"reason": why})
        self._channel = self._opening_channel = None
        error = BrokerUnavailableError(why)
        for waiter in list(self._waiters):
            _settle(waiter, error=error)
        self._tracker.fail_all(error)
        self._lost.set()

    def _retire_nacking_channel(self) -> None:
        """Replace a channel the broker nacks publishes on, at most once per ``NACKING_CHANNEL_GRACE``.

        No length limit is set, so a healthy queue refuses nothing. RabbitMQ 3.10 nacked every publish on a
        channel opened while a quorum queue elected a new leader, as long as the channel lived; a new one worked.
        """
        loop = asyncio.get_running_loop()
        connection = self._connection
        if self._retiring or connection is None or loop.time() - self._opened_at < NACKING_CHANNEL_GRACE:
            return
        self._retiring = True
        log.warning("the broker nacks publishes; reconnecting with a new channel")
        with contextlib.suppress(*_AMQP_ERRORS):
            connection.close(reply_text="publishes nacked; reconnecting")

    def _on_return(self, tracker: ConfirmTracker, channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        tracker.returned(properties.message_id)
        if self._redeclaring or channel is not self._channel:
            return
        # The queue is gone (deleted by hand?); declaring it again lets the next reports through.
        log.warning("broker returned a report; declaring the queues again", extra={"reason": method.reply_text})
        self._redeclaring = True
        self._redeclare_task = asyncio.get_running_loop().create_task(self._redeclare(channel))
        self._redeclare_task.add_done_callback(_log_crash)

    async def _redeclare(self, channel: Any) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                for spec in (self._topology.dead, self._topology.main):
                    await self._declare(channel, spec)
        except (TimeoutError, *_AMQP_ERRORS, PublishError):
            log.warning("declaring the queues again failed", exc_info=True)
        finally:
            self._redeclaring = False

    def _on_blocked(self, _connection: Any, frame: Any) -> None:
        self._blocked = True
        reason = getattr(frame.method, "reason", "")
        log.warning("broker blocked the connection", extra={"reason": reason})
        self._tracker.fail_all(BrokerBlockedError(f"the broker blocked publishing: {reason}"))

    def _on_unblocked(self, _connection: Any, _frame: Any) -> None:
        self._blocked = False
        log.info("broker unblocked the connection")


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


def _properties(envelope: Envelope) -> Any:
    return pika.BasicProperties(
        content_type=CONTENT_TYPE,
        content_encoding=envelope.content_encoding,
        delivery_mode=PERSISTENT,
        message_id=envelope.message_id,
        timestamp=envelope.timestamp,
        app_id=APP_ID,
        headers={RECEIVED_AT_HEADER: envelope.received_at, SCHEMA_VERSION_HEADER: SCHEMA_VERSION},
    )


def _settle(future: asyncio.Future[Any], result: Any = None, *, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _as_exception(error: BaseException | str) -> BaseException:
    return error if isinstance(error, BaseException) else BrokerUnavailableError(str(error))


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("broker connection manager stopped", exc_info=task.exception())
