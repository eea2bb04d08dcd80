"""The gateway's one confirm-mode channel to RabbitMQ: its states, readiness, and reconnection across the brokers.

A background task keeps the channel open: it connects to the first address
of ``--amqp-url`` that answers, declares the topology, and when the
connection is lost it tries again (``ingest.retry``) from the next address.
Where the channel stands is one ``ingest.amqp.state.State``, changed only by
``Channel._on`` from the ``Event``s that pika's callbacks, the reconnect loop
and the confirm sweep report.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
from typing import Any, Final

import pika.spec

from ingest.amqp.connection import OPEN_TIMEOUT, PendingCalls, close_quietly, settle, start_connection
from ingest.amqp.state import Event, State, next_state
from ingest.confirms import ConfirmTracker
from ingest.metrics import IngestMetrics
from ingest.ports import BrokerBlockedError, BrokerUnavailableError, PublishError
from ingest.retry import reconnect_attempts
from runtime.brokers import BrokerAddresses, describe_url
from schema.topology import topology_for

NACKING_CHANNEL_GRACE: Final = 1.0
"""Seconds a channel lives before nacks on it make the publisher replace it (bounds reconnects per second)."""
MAX_SWEEP_INTERVAL: Final = 0.1
"""Seconds between checks for confirms overdue; a timeout fires at most this late."""

log = logging.getLogger(__name__)


_FINAL: Final = (State.CLOSING, State.CLOSED)
_OVERDUE: Final = State.OVERDUE
"""Read once per confirm: a module global costs a tenth of the lookup of ``State.OVERDUE``."""


class Channel:
    """The channel publishes go out on, kept open in the background; see the module docstring.

    Args:
        amqp_url: broker URL, or one per cluster node separated by commas (``runtime.brokers``).
        queue: report queue; its topology comes from ``schema.topology``.
        confirm_timeout: seconds a publish waits for its confirm.
        connection_name: shown by ``rabbitmqctl list_connections``; the process id is appended.
        metrics: where reconnects, the node in use and in-flight publishes are counted.
    """

    def __init__(
        self, *, amqp_url: str, queue: str, confirm_timeout: float, connection_name: str, metrics: IngestMetrics
    ) -> None:
        self.state = State.CONNECTING
        self.current: Any = None
        """The open pika channel in ``READY``, ``OVERDUE`` and ``BLOCKED`` (unless blocked while connecting)."""
        self.tracker = ConfirmTracker(queue)
        """The confirms awaited on ``current``; every channel has its own."""
        self.topology = topology_for(queue)
        self.confirm_timeout = confirm_timeout
        self._brokers = BrokerAddresses.parse(amqp_url)
        self._connection_name = f"{connection_name} pid={os.getpid()}"
        self._metrics = metrics
        self._connection: Any = None
        self._opening: Any = None
        self._opened_at = 0.0
        self._calls = PendingCalls()
        self._lost = asyncio.Event()
        self._opened = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        self._sweep_every = min(MAX_SWEEP_INTERVAL, confirm_timeout / 10)
        self._probe: asyncio.Task[None] | None = None
        self._redeclaring: asyncio.Task[None] | None = None
        metrics.track_in_flight(lambda: len(self.tracker))
        metrics.declare_nodes(describe_url(url) for url in self._brokers.urls)

    @property
    def ready(self) -> bool:
        """Whether a publish could be confirmed now (see ``State``)."""
        return self.state is State.READY and self.current.is_open

    @property
    def alive(self) -> bool:
        """Whether the connection manager runs (it is what recovers from a broker outage)."""
        return self._task is not None and not self._task.done()

    def refusal(self) -> PublishError:
        """Why a publish is refused in this state (``BLOCKED``, ``CONNECTING``, ``CLOSING``, ``CLOSED``)."""
        if self.state is State.BLOCKED and self.current is not None:
            return BrokerBlockedError("the broker blocked publishing (resource alarm)")
        return BrokerUnavailableError("no open channel to the broker")

    async def start(self, wait: float) -> None:
        """Start connecting in the background; wait up to ``wait`` seconds for the first connection."""
        self._task = asyncio.create_task(self._maintain(), name="amqp-publisher")
        self._task.add_done_callback(_log_crash)
        self._sweep()
        try:
            async with asyncio.timeout(wait):
                await self._opened.wait()
        except TimeoutError:
            log.warning("broker not reachable yet; serving 503 until it is", extra={"queue": self.topology.queue})

    def close(self) -> None:
        """Refuse publishes from now on; ``disconnect`` ends the rest."""
        self._on(Event.CLOSE)

    async def disconnect(self) -> None:
        """Stop reconnecting and close the connection, waiting for the broker's answer up to ``OPEN_TIMEOUT``."""
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])  # not ``alive`` once closed
        connection = self._connection
        if connection is not None and connection.is_open:
            # Not ``_lost``: that is set once the channel closes, before the connection is closed.
            closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            connection.add_on_close_callback(lambda _connection, _reason: settle(closed))
            connection.close()
            try:
                async with asyncio.timeout(OPEN_TIMEOUT):
                    await closed
            except TimeoutError:
                log.warning("broker did not acknowledge the connection close")
        self._on(Event.CLOSED)

    # --- the one place the state changes ---------------------------------------

    def _on(self, event: Event) -> None:
        before = self.state
        after = next_state(before, event, has_channel=self.current is not None)
        if after is not before:
            self.state = after
            log.debug(
                "broker channel state", extra={"state": after.value, "was": before.value, "on": event.name.lower()}
            )

    # --- readiness: confirms overdue --------------------------------------------

    def _sweep(self) -> None:
        loop = asyncio.get_running_loop()
        if self.tracker.expire(loop.time()) and self.state is State.READY:
            self._on(Event.LATE)
            log.warning("a confirm is overdue; not ready until the broker answers", extra=self._where())
            self._probe = loop.create_task(self._ask_until_answered(self.current))
            self._probe.add_done_callback(_log_crash)
        self._sweeper = loop.call_later(self._sweep_every, self._sweep)

    async def _ask_until_answered(self, channel: Any) -> None:
        """Ask the broker something on ``channel`` until it answers, and then count the gateway ready again."""
        while self.state is State.OVERDUE and channel is self.current:
            try:
                async with asyncio.timeout(self.confirm_timeout):
                    await self._calls.answers(channel, self.topology.main.name)
            except TimeoutError:
                continue
            except PublishError:
                return  # the channel is gone; reconnecting resets readiness
            self._answered("the broker answers again; ready")
            return

    def _answered(self, message: str) -> None:
        if self.state is State.OVERDUE:
            self._on(Event.ANSWERED)
            log.info(message, extra=self._where())

    def _where(self) -> dict[str, object]:
        return {"queue": self.topology.queue, "confirm_timeout_s": self.confirm_timeout}

    def _on_confirm(self, tracker: ConfirmTracker, frame: Any) -> None:
        method = frame.method
        acked = isinstance(method, pika.spec.Basic.Ack)
        tracker.confirm(method.delivery_tag, multiple=method.multiple, acked=acked)
        if self.state is _OVERDUE:
            self._answered("confirms arrive again; ready")
        if not acked and tracker is self.tracker:
            self._retire_nacking_channel()

    # --- connection lifecycle -------------------------------------------------

    async def _maintain(self) -> None:
        connected_before = False
        while self.state not in _FINAL:
            async for attempt in reconnect_attempts():
                with attempt:
                    await self._open_any()
            if connected_before:
                self._metrics.reconnects.inc()
            connected_before = True
            node = describe_url(self._brokers.current)
            self._metrics.connected_to(node)
            log.info("broker connection ready", extra={"queue": self.topology.queue, "node": node})
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
        tracker = ConfirmTracker(self.topology.queue)
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                channel = await self._open_channel(url, tracker)
                await self._calls.call(
                    lambda done: channel.confirm_delivery(functools.partial(self._on_confirm, tracker), callback=done)
                )
                for spec in (self.topology.dead, self.topology.main):
                    await self._calls.declare(channel, spec)
        except TimeoutError as e:
            self._discard_connection()
            raise BrokerUnavailableError(f"broker did not answer within {OPEN_TIMEOUT}s") from e
        except PublishError:
            self._discard_connection()
            raise
        self.tracker = tracker
        self.current = channel
        self._opened_at = asyncio.get_running_loop().time()
        self._on(Event.OPENED)

    async def _open_channel(self, url: str, tracker: ConfirmTracker) -> Any:
        self._connection, opened = start_connection(url, name=self._connection_name, on_closed=self._on_closed)
        connection = await opened
        connection.add_on_connection_blocked_callback(self._on_blocked)
        connection.add_on_connection_unblocked_callback(self._on_unblocked)
        channel = await self._calls.call(lambda done: connection.channel(on_open_callback=done))
        self._opening = channel
        channel.add_on_close_callback(self._on_channel_closed)
        channel.add_on_return_callback(functools.partial(self._on_return, tracker))
        return channel

    def _discard_connection(self) -> None:
        self.current = self._opening = None
        self._on(Event.LOST)
        connection, self._connection = self._connection, None
        close_quietly(connection)

    # --- pika callbacks (run on the event loop) ---------------------------------

    def _on_closed(self, connection: Any, reason: BaseException) -> None:
        if connection is self._connection:
            self._channel_lost(f"connection closed: {reason}")

    def _on_channel_closed(self, channel: Any, reason: BaseException) -> None:
        if channel is self._opening:
            self._channel_lost(f"channel closed: {reason}")

    def _channel_lost(self, why: str) -> None:
        if self.state not in _FINAL and not self._lost.is_set():
            log.warning("broker connection lost", extra={"reason": why})
        self.current = self._opening = None
        self._on(Event.LOST)
        error = BrokerUnavailableError(why)
        self._calls.fail_all(error)
        self.tracker.fail_all(error)
        self._lost.set()

    def _retire_nacking_channel(self) -> None:
        """Replace a channel the broker nacks publishes on, at most once per ``NACKING_CHANNEL_GRACE``.

        No length limit is set, so a healthy queue refuses nothing. RabbitMQ 3.10 nacked every publish on a
        channel opened while a quorum queue elected a new leader, as long as the channel lived; a new one worked.
        """
        connection = self._connection
        if connection is None or connection.is_closing or connection.is_closed:
            return  # being replaced already
        if asyncio.get_running_loop().time() - self._opened_at < NACKING_CHANNEL_GRACE:
            return
        log.warning("the broker nacks publishes; reconnecting with a new channel")
        close_quietly(connection, reply_text="publishes nacked; reconnecting")

    def _on_return(self, tracker: ConfirmTracker, channel: Any, method: Any, properties: Any, _body: bytes) -> None:
        tracker.returned(properties.message_id)
        if (self._redeclaring is not None and not self._redeclaring.done()) or channel is not self.current:
            return
        # The queue is gone (deleted by hand?); declaring it again lets the next reports through.
        log.warning("broker returned a report; declaring the queues again", extra={"reason": method.reply_text})
        self._redeclaring = asyncio.get_running_loop().create_task(self._redeclare(channel))
        self._redeclaring.add_done_callback(_log_crash)

    async def _redeclare(self, channel: Any) -> None:
        try:
            async with asyncio.timeout(OPEN_TIMEOUT):
                for spec in (self.topology.dead, self.topology.main):
                    await self._calls.declare(channel, spec)
        except (TimeoutError, PublishError):
            log.warning("declaring the queues again failed", exc_info=True)

    def _on_blocked(self, _connection: Any, frame: Any) -> None:
        self._on(Event.BLOCKED)
        reason = getattr(frame.method, "reason", "")
        log.warning("broker blocked the connection", extra={"reason": reason})
        self.tracker.fail_all(BrokerBlockedError(f"the broker blocked publishing: {reason}"))

    def _on_unblocked(self, _connection: Any, _frame: Any) -> None:
        self._on(Event.UNBLOCKED)
        log.info("broker unblocked the connection")


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("broker connection manager stopped", exc_info=task.exception())
