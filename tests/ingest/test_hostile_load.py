"""Hostile load on the real gateway: small reports keep getting 204 in well under a second meanwhile.

Each attack runs against a gateway under a small file limit (256, as a tight
container's) with short header and body timeouts, while a probe posts small
reports on fresh connections. Everything stays on the loopback interface and
every loop is bounded in time.
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Iterator

import pytest

from runtime.connections import LOG_EVERY
from tests.ingest.gateway import Gateway, go_volunteer_report, running_gateway
from tests.ingest.hostile import gzip_bomb
from tests.support.amqp import blocking_channel, delete_queues, unique_queue_name
from tests.support.gateway_attacks import (
    gzip_bombs,
    gzip_validation_load,
    huge_headers,
    idle_connections,
    probe_small_reports,
    slow_bodies,
)
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

FILE_LIMIT = 256
PROBE_SECONDS = 3.0
P99_LIMIT_MS = 1000.0
BOMB_P99_LIMIT_MS = 250.0
TIMEOUT_ARGS = ["--header-timeout", "1s", "--body-timeout", "1s"]


@pytest.fixture(scope="module")
def guarded(amqp_url: str) -> Iterator[Gateway]:
    """A gateway under a file limit of 256, with 1 s header and body timeouts."""
    queue = unique_queue_name("test.ingest.hostile")
    try:
        with running_gateway(amqp_url, queue, TIMEOUT_ARGS, file_limit=FILE_LIMIT) as gateway:
            yield gateway
            assert gateway.stop() == 0
    finally:
        delete_queues(amqp_url, queue, f"{queue}.dead")


@pytest.fixture
def fresh(amqp_url: str, guarded: Gateway) -> Gateway:
    """The shared gateway, with its queue emptied (the attacks publish valid reports too)."""
    with blocking_channel(amqp_url) as channel:
        channel.queue_purge(guarded.queue)
    return guarded


def metric(gateway: Gateway, name: str) -> float:
    for line in gateway.get("/metrics").body.decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def closed(gateway: Gateway, reason: str) -> float:
    return metric(gateway, f'spartakus_ingest_connections_closed_total{{reason="{reason}"}}')


def assert_small_reports_flow(gateway: Gateway) -> None:
    probe = probe_small_reports(gateway.port, seconds=PROBE_SECONDS)

    assert probe.statuses == {204}, probe.results[:20]
    assert len(probe.results) >= 20
    assert probe.percentile_ms(0.99) < P99_LIMIT_MS


def raw_exchange(port: int, request: bytes, timeout: float = 10) -> bytes:
    """Send ``request`` and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_a_huge_header_is_431_at_the_limit_and_small_reports_keep_flowing(fresh: Gateway) -> None:
    before = closed(fresh, "header_too_large")
    head = b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Huge: " + b"a" * (1024 * 1024)
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", fresh.port), timeout=10) as sock:
        # The gateway may answer and close before taking the whole head.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(head)
        answer = sock.recv(65536)

    assert answer.startswith(b"HTTP/1.1 431 "), answer[:100]
    assert b'"error":"request header fields too large"' in answer
    assert time.monotonic() - started < 2

    with huge_headers(fresh.port, clients=2):
        assert_small_reports_flow(fresh)
    assert closed(fresh, "header_too_large") >= before + 2


def test_connections_held_idle_beyond_the_file_limit_leave_room_for_small_reports(fresh: Gateway) -> None:
    before = closed(fresh, "evicted")

    with idle_connections(fresh.port, FILE_LIMIT + 150):
        assert_small_reports_flow(fresh)

    assert closed(fresh, "evicted") > before
    lines = [line for line in fresh.log_lines() if line["message"].startswith("closing or refusing connections")]
    assert lines
    assert lines[-1]["max_connections"] < FILE_LIMIT


def test_a_head_sent_too_slowly_is_closed_after_the_header_timeout(fresh: Gateway) -> None:
    before = closed(fresh, "header_timeout")
    started = time.monotonic()

    answer = raw_exchange(fresh.port, b"POST /api/v1 HTTP/1.1\r\nHost: gw\r\n")

    assert answer == b""
    assert 0.9 < time.monotonic() - started < 5
    assert closed(fresh, "header_timeout") == before + 1


def test_a_stalled_body_is_closed_after_the_body_timeout_and_logged_as_client_closed(fresh: Gateway) -> None:
    before = closed(fresh, "body_timeout")
    head = b"POST /api/v1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    started = time.monotonic()

    answer = raw_exchange(fresh.port, head + b'{"clusterID":')

    assert answer == b""
    assert 0.9 < time.monotonic() - started < 5
    assert closed(fresh, "body_timeout") == before + 1
    wait_until(lambda: any(line.get("status") == 499 for line in fresh.log_lines()), timeout=5, what="the 499 log line")


def test_gzip_bodies_that_are_costly_to_validate_do_not_stall_small_reports(fresh: Gateway) -> None:
    with gzip_validation_load(fresh.port, clients=2):
        assert_small_reports_flow(fresh)


# The HTTP server hands an upgrade request no body: a report sent that way is refused as empty (400), never
# stored half-read or answered 204.
@pytest.mark.parametrize(
    ("path", "expected"),
    [("/api/v1", 400), ("/healthz", 200), ("/readyz", 200), ("/version", 200), ("/no/such/path", 404)],
)
def test_an_upgrade_to_websocket_is_answered_as_plain_http_on_every_path(
    fresh: Gateway, path: str, expected: int
) -> None:
    body = json.dumps(go_volunteer_report()).encode()
    request = (
        f"{'POST' if path == '/api/v1' else 'GET'} {path} HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\n"
        "Upgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body) if path == '/api/v1' else 0}\r\n\r\n"
    ).encode() + (body if path == "/api/v1" else b"")

    answer = raw_exchange(fresh.port, request)

    status = int(answer.split(b" ", 2)[1])
    assert status == expected, answer[:300]
    assert b"connection: close" in answer.lower()


def test_at_the_limit_with_every_connection_mid_request_a_new_client_gets_503_and_a_log_line(amqp_url: str) -> None:
    queue = unique_queue_name("test.ingest.limit")
    try:
        with running_gateway(amqp_url, queue, ["--max-connections", "4", "--retry-after", "3"]) as gateway:
            with slow_bodies(gateway.port, 4):
                answers: list[bytes] = []

                def refused() -> bool:
                    answers.append(
                        raw_exchange(gateway.port, b"GET /version HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
                    )
                    return answers[-1].startswith(b"HTTP/1.1 503 ")

                # The four slow bodies take every slot once they are all mid-body; until then /version is 200
                # (and may close one of them still sending its head, which then connects again).
                wait_until(refused, timeout=10, what="a 503 once four connections are mid-body")
                answer = answers[-1]

            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 503 "), answer[:200]
            assert b"retry-after: 3" in head.lower()
            assert b"connection: close" in head.lower()
            assert b'"error":"gateway busy"' in body
            wait_until(
                lambda: any("refused" in line.get("closed", {}) for line in gateway.log_lines()),
                # Closings are logged at most every LOG_EVERY seconds: an eviction on the way to the limit may
                # have taken this period's line, so the refusal's line can come one period later.
                timeout=LOG_EVERY + 5,
                what="a log line about the refusal",
            )
            assert gateway.get("/healthz").status == 200
    finally:
        delete_queues(amqp_url, queue, f"{queue}.dead")


def test_two_clients_posting_gzip_bombs_back_to_back_leave_small_reports_under_a_quarter_second(fresh: Gateway) -> None:
    # 100 KB that inflates to 100 MiB: each is refused at the 64 MiB inflated cap, after 64 MiB of zlib.
    bomb = gzip_bomb(100)
    assert fresh.post(bomb, {"Content-Type": "application/json", "Content-Encoding": "gzip"}).status == 413

    with gzip_bombs(fresh.port, bomb, clients=2):
        probe = probe_small_reports(fresh.port, seconds=PROBE_SECONDS)

    assert probe.statuses == {204}, probe.results[:20]
    assert len(probe.results) >= 20
    assert probe.percentile_ms(0.99) < BOMB_P99_LIMIT_MS
