"""Admission by memory budget: 503 before the bytes are held, 413 for what no budget can hold (unit tests)."""

from __future__ import annotations

import asyncio
import gzip
import json
import threading

import pytest

from ingest.app import IngestApp
from ingest.body import BodyLimits
from ingest.budget import SMALL_REQUEST, MemoryBudget, OverBudgetError
from ingest.errors import RequestError
from ingest.memory import HeapTrimmer
from ingest.metrics import IngestMetrics
from schema.message import decode_body
from tests.ingest.asgi import call
from tests.ingest.gateway import go_volunteer_report
from tests.ingest.hostile import gzip_bomb
from tests.ingest.large import largest_cluster_report
from tests.ingest.twin import MemoryPublisher

MIB = 1024 * 1024
JSON = [("content-type", "application/json")]
SMALL = json.dumps(go_volunteer_report("small")).encode()


class CountingTrimmer(HeapTrimmer):
    """Counts requests for a trim instead of trimming."""

    def __init__(self) -> None:
        super().__init__(trim=lambda: None)
        self.requested = 0

    def request(self) -> None:
        self.requested += 1


def make_app(budget: MemoryBudget, publisher: MemoryPublisher, trimmer: HeapTrimmer | None = None) -> IngestApp:
    publisher.started = True
    return IngestApp(
        publisher=publisher,
        metrics=IngestMetrics(),
        limits=BodyLimits(max_raw=64 * MIB, max_decompressed=64 * MIB),
        retry_after=7,
        shutdown_timeout=1.0,
        budget=budget,
        trimmer=trimmer or CountingTrimmer(),
    )


def post(app: IngestApp, chunks: list[bytes], headers: list[tuple[str, str]]) -> tuple[int, dict[str, str], int]:
    response, read = asyncio.run(call(app, "POST", "/api/v1", chunks, headers))
    return response.status, response.headers, read


def test_a_lease_holds_what_it_took_until_released_and_the_budget_counts_it() -> None:
    budget = MemoryBudget(10 * MIB, small_reserve=2 * MIB)
    first, second = budget.lease(), budget.lease()

    first.take(5 * MIB)
    second.grow_to(3 * MIB)
    second.grow_to(2 * MIB)  # never shrinks
    with pytest.raises(OverBudgetError):
        second.take(MIB)  # 9 MiB would eat into the reserve for small requests
    small = budget.lease()
    small.take(MIB)  # a small request may use the reserve

    assert budget.in_use == 9 * MIB
    first.release()
    second.shrink_to(MIB)
    small.release()
    assert budget.in_use == MIB
    assert budget.peak == 9 * MIB


def test_a_lease_that_needs_more_than_the_whole_budget_is_413_whatever_is_free() -> None:
    budget = MemoryBudget(10 * MIB, small_reserve=2 * MIB)

    with pytest.raises(RequestError) as caught:
        budget.lease().take(9 * MIB)

    assert caught.value.status == 413
    assert budget.in_use == 0


def test_a_declared_body_the_budget_cannot_hold_now_is_503_before_any_of_it_is_read() -> None:
    budget = MemoryBudget(64 * MIB, small_reserve=8 * MIB)
    held = budget.lease()
    held.take(40 * MIB)
    app = make_app(budget, MemoryPublisher())
    body = largest_cluster_report("too-much", nodes=30_000)  # 23 MB, 16 MiB free

    status, headers, read = post(app, [body[:65536], body[65536:]], [*JSON, ("content-length", str(len(body)))])

    assert (status, headers["retry-after"], headers["connection"], read) == (503, "7", "close", 0)
    assert budget.in_use == 40 * MIB


def test_a_declared_body_larger_than_the_whole_budget_is_413_before_any_of_it_is_read() -> None:
    app = make_app(MemoryBudget(16 * MIB, small_reserve=2 * MIB), MemoryPublisher())

    status, headers, read = post(app, [b"{}"], [*JSON, ("content-length", str(20 * MIB))])

    assert (status, headers["connection"], read) == (413, "close", 0)


def test_a_gzip_body_is_refused_with_503_while_it_inflates_past_what_is_free() -> None:
    budget = MemoryBudget(64 * MIB, small_reserve=8 * MIB)
    budget.lease().take(40 * MIB)
    app = make_app(budget, MemoryPublisher())
    bomb = gzip_bomb(60)
    chunks = [bomb[i : i + 4096] for i in range(0, len(bomb), 4096)]

    status, headers, read = post(app, chunks, [*JSON, ("content-encoding", "gzip")])

    assert (status, headers["retry-after"]) == (503, "7")
    assert read < len(chunks)
    assert budget.in_use == 40 * MIB


def test_small_reports_keep_getting_through_while_large_ones_fill_the_budget() -> None:
    budget = MemoryBudget(64 * MIB, small_reserve=8 * MIB)
    large = budget.lease()
    large.take(56 * MIB)  # everything but the reserve
    publisher = MemoryPublisher()
    app = make_app(budget, publisher)

    statuses = [post(app, [SMALL], JSON)[0] for _ in range(20)]

    assert statuses == [204] * 20
    assert len(publisher.published) == 20
    assert budget.in_use == 56 * MIB


def test_validation_is_reserved_and_a_large_report_gives_everything_back_then_asks_for_a_trim() -> None:
    budget = MemoryBudget(256 * MIB, small_reserve=32 * MIB)
    publisher, trimmer = MemoryPublisher(), CountingTrimmer()
    app = make_app(budget, publisher, trimmer)
    body = largest_cluster_report("large", nodes=10_000)
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]

    status, _headers, _read = post(app, chunks, [*JSON, ("content-length", str(len(body)))])

    assert status == 204
    assert budget.in_use == 0
    assert len(body) < budget.peak < len(body) + 20 * MIB
    assert trimmer.requested == 1
    envelope = publisher.published[0]
    assert len(json.loads(decode_body(envelope.body, envelope.content_encoding))["nodes"]) == 10_000


def test_a_small_report_asks_for_no_trim() -> None:
    trimmer = CountingTrimmer()
    app = make_app(MemoryBudget(64 * MIB, small_reserve=8 * MIB), MemoryPublisher(), trimmer)

    assert post(app, [gzip.compress(SMALL)], [*JSON, ("content-encoding", "gzip")])[0] == 204
    assert trimmer.requested == 0
    assert len(SMALL) < SMALL_REQUEST


def test_the_heap_trimmer_runs_its_trim_on_a_thread_of_its_own() -> None:
    trimmed = asyncio.Event()
    loop = asyncio.new_event_loop()
    trimmed_on: list[threading.Thread] = []

    def trim() -> None:
        trimmed_on.append(threading.current_thread())
        loop.call_soon_threadsafe(trimmed.set)

    trimmer = HeapTrimmer(trim=trim)

    async def wait() -> None:
        trimmer.request()
        await asyncio.wait_for(trimmed.wait(), timeout=10)

    loop.run_until_complete(wait())  # times out unless the trim ran
    loop.close()
    assert trimmed_on != []
    assert threading.current_thread() not in trimmed_on
