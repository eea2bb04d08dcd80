"""The writer loop's stateful paths, driven by an in-memory broker twin (the real broker's tests stay as they are)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Sequence

import pytest

from runtime.retry import RetryPolicy
from tests.support.services import wait_until
from tests.support.writer_load import sample_report
from tests.writer.broker_twin import TwinBroker
from writer.errors import PermanentSinkError, SinkConfigError
from writer.rows import Row
from writer.service import QueueWriter
from writer.sink import WriteResult

QUICK = RetryPolicy(attempts=2, max_seconds=5, first_wait=0.01, max_wait=0.02)


class MemorySink:
    """Keeps what it is asked to write; ``refuse`` may raise for a request, ``gate`` may hold a write back."""

    name = "memory"

    def __init__(self, refuse: Callable[[Sequence[Row]], None] = lambda _rows: None) -> None:
        self.requests: list[list[str]] = []
        self.stored: list[str] = []
        self.refuse = refuse
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def write(self, rows: Sequence[Row]) -> WriteResult:
        """Record the request, wait at the gate if one is set, then store or refuse."""
        ids = [row.report_id for row in rows]
        self.requests.append(ids)
        self.entered.set()
        if self.gate is not None:
            assert self.gate.wait(30), "the test never opened the gate"
        self.refuse(rows)
        self.stored += ids
        return WriteResult()

    def close(self) -> None:
        """Nothing to release."""


def bodies(count: int) -> list[bytes]:
    return [json.dumps(sample_report(i, nodes=1)).encode() for i in range(count)]


Running = tuple[threading.Event, list[BaseException]]
StartWriter = Callable[[TwinBroker, MemorySink, int], Running]


@pytest.fixture
def run_writer() -> Iterator[StartWriter]:
    threads: list[tuple[threading.Thread, threading.Event]] = []

    def start(broker: TwinBroker, sink: MemorySink, batch_size: int) -> Running:
        writer = QueueWriter(
            amqp_url="amqp://twin/",
            queue_name="twin",
            sink=sink,
            batch_size=batch_size,
            batch_max_wait=0.05,
            write_policy=QUICK,
            connect_policy=QUICK,
            session_factory=broker.session,
        )
        stop, errors = threading.Event(), list[BaseException]()

        def run() -> None:
            try:
                writer.run(stop)
            except Exception as e:  # noqa: BLE001  # handed to the test
                errors.append(e)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        threads.append((thread, stop))
        return stop, errors

    yield start
    for thread, stop in threads:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "writer did not stop"


def held_at_the_gate(run_writer: StartWriter, count: int) -> tuple[TwinBroker, list[bytes], MemorySink, Running]:
    """A writer on ``count`` published reports, one batch, whose first write waits at the sink's gate."""
    broker = TwinBroker()
    messages = bodies(count)
    broker.publish(*messages)
    sink = MemorySink()
    sink.gate = threading.Event()
    running = run_writer(broker, sink, count)
    assert sink.entered.wait(10)
    return broker, messages, sink, running


def test_a_batch_refused_as_a_whole_is_split_until_the_bad_row_stands_alone(run_writer: StartWriter) -> None:
    broker, messages, sink, (stop, errors) = held_at_the_gate(run_writer, 8)
    assert sink.gate is not None
    bad = sink.requests[0][5]

    def refuse(rows: Sequence[Row]) -> None:
        if any(row.report_id == bad for row in rows):
            raise PermanentSinkError("the request holds an invalid row")

    sink.refuse = refuse
    sink.gate.set()
    wait_until(lambda: len(broker.acked()) == 7 and len(broker.dead) == 1, timeout=10, what="seven acks, one dead")
    stop.set()

    whole = sink.requests[0]
    assert [len(r) for r in sink.requests] == [8, 4, 4, 2, 1, 1, 2]
    assert sorted(sink.stored) == sorted(set(whole) - {bad})
    [(dead, reason)] = broker.dead
    assert dead.body == messages[whole.index(bad)]
    assert reason == "the request holds an invalid row"
    assert not errors


def test_an_unusable_sink_configuration_stops_the_writer_and_returns_the_batch(
    run_writer: StartWriter,
) -> None:
    broker = TwinBroker()
    broker.publish(*bodies(3))

    def unusable(_rows: Sequence[Row]) -> None:
        raise SinkConfigError("the table's schema cannot be changed")

    _stop, errors = run_writer(broker, MemorySink(unusable), 3)
    wait_until(lambda: bool(errors), timeout=10, what="the writer to fail")

    assert [type(e) for e in errors] == [SinkConfigError]
    assert str(errors[0]) == "the table's schema cannot be changed"
    assert broker.acked() == []
    assert broker.dead == []
    assert len(broker.ready) == 3, "the batch went back to the queue"
    assert broker.sessions[-1].unsettled == 0


def test_a_settlement_from_a_lost_session_is_dropped_and_the_redelivered_batch_is_written(
    run_writer: StartWriter,
) -> None:
    broker, messages, sink, (stop, errors) = held_at_the_gate(run_writer, 4)
    assert sink.gate is not None
    first = broker.sessions[0]
    first.lose()
    wait_until(lambda: len(broker.sessions) == 2 and broker.sessions[1].opened, timeout=10, what="a new session")
    second = broker.sessions[1]
    wait_until(lambda: second.unsettled == 4, timeout=10, what="the batch to be redelivered")

    # The first write ends only now: its settlement names tags 1-4, which the new session also uses.
    sink.entered.clear()
    sink.gate.set()
    wait_until(lambda: len(broker.acked()) == 4, timeout=10, what="the redelivered batch to be acked")
    stop.set()

    assert first.acked == []
    assert first.settle_calls == 0
    assert len(broker.sessions) == 2, "no settlement reached the new session with the old session's tags"
    assert len(sink.requests) == 2, "the redelivered batch is written again (report ids make that harmless)"
    assert sink.requests[0] == sink.requests[1]
    assert sorted(broker.acked()) == sorted(messages)
    assert not errors


def test_past_its_byte_budget_the_writer_decodes_no_more_and_pauses_deliveries_until_half_is_free() -> None:
    broker = TwinBroker(prefetch=10)
    messages = [json.dumps(sample_report(i, nodes=1, pad=20_000)).encode() for i in range(30)]
    broker.publish(*messages)
    sink = MemorySink()
    sink.gate = threading.Event()
    writer = QueueWriter(
        amqp_url="amqp://twin/",
        queue_name="twin",
        sink=sink,
        batch_size=5,
        batch_max_wait=0.05,
        write_policy=QUICK,
        connect_policy=QUICK,
        session_factory=broker.session,
        max_held_bytes=60_000,
    )
    stop = threading.Event()
    thread = threading.Thread(target=writer.run, args=(stop,), daemon=True)
    thread.start()
    try:
        assert sink.entered.wait(10)
        wait_until(
            lambda: writer.metrics.registry.get_sample_value("spartakus_writer_consuming_paused") == 1,
            timeout=10,
            what="deliveries paused",
        )
        assert broker.sessions[0].unsettled == 10, "the prefetch filled before the budget was known to be spent"
        assert len(broker.ready) == 20
        sink.gate.set()
        wait_until(lambda: len(broker.acked()) == 30, timeout=30, what="every report written")
    finally:
        stop.set()
        thread.join(30)
    # Two 20 KB reports (body and row) spend the 60 KB budget: no batch holds more, though five would fit by count.
    assert max(len(request) for request in sink.requests) <= 2
    assert sorted(broker.acked()) == sorted(messages)
    assert writer.metrics.registry.get_sample_value("spartakus_writer_consuming_paused") == 0
