"""The real gateway over HTTP against the real RabbitMQ: compatibility, every error status, size caps."""

from __future__ import annotations

import gzip
import json
import select
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from schema.report import derive_report_id, parse_report
from schema.topology import RECEIVED_AT_HEADER, SCHEMA_VERSION_HEADER
from tests.ingest.broker import take_all
from tests.ingest.conftest import INFLATED_CAP, RAW_CAP
from tests.ingest.gateway import JSON_HEADERS, Gateway, Response, go_volunteer_report
from tests.ingest.hostile import gzip_bomb, nested
from tests.support.amqp import message_count
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

GO_HEADERS = {"Content-Type": "application/json", "User-Agent": "Go-http-client/1.1", "Accept-Encoding": "gzip"}


def assert_healthy_and_nothing_published(amqp_url: str, gateway: Gateway) -> None:
    assert message_count(amqp_url, gateway.queue) == 0
    assert gateway.get("/healthz").status == 200
    assert gateway.get("/readyz").status == 200
    assert gateway.post_report(go_volunteer_report()).status == 204
    assert message_count(amqp_url, gateway.queue) == 1


def test_the_go_volunteer_request_is_204_and_stored_persistently_under_its_report_id(
    amqp_url: str, gateway: Gateway, empty_queue: str
) -> None:
    report = go_volunteer_report("go-volunteer-cluster")
    before = int(time.time())

    response = gateway.post(json.dumps(report).encode(), GO_HEADERS)

    assert (response.status, response.body) == (204, b"")
    [delivered] = take_all(amqp_url, empty_queue)
    stored = json.loads(delivered.body)
    props = delivered.properties
    assert before <= int(stored["timestamp"]) <= time.time()
    assert props.delivery_mode == 2
    assert props.content_type == "application/json"
    assert props.message_id == stored["reportID"] == derive_report_id(parse_report(delivered.body))
    assert stored["verified"] is False
    assert props.headers[SCHEMA_VERSION_HEADER] == "1"
    assert props.headers[RECEIVED_AT_HEADER] == stored["receivedAt"]
    assert {k: stored[k] for k in ("version", "clusterID", "masterVersion", "nodes", "extensions")} == {
        k: report[k] for k in ("version", "clusterID", "masterVersion", "nodes", "extensions")
    }


def test_a_gzip_report_is_stored_like_a_plain_one(amqp_url: str, gateway: Gateway, empty_queue: str) -> None:
    response = gateway.post_gzip(json.dumps(go_volunteer_report("gz")).encode())

    assert response.status == 204
    [delivered] = take_all(amqp_url, empty_queue)
    assert json.loads(delivered.body)["clusterID"] == "gz"


@dataclass(frozen=True)
class ErrorCase:
    """A request the gateway must refuse, and how."""

    name: str
    body: bytes
    headers: Mapping[str, str]
    status: int
    error: str


def _error_cases() -> list[ErrorCase]:
    report = json.dumps(go_volunteer_report()).encode()
    gzip_json = {**JSON_HEADERS, "Content-Encoding": "gzip"}
    bad_key = json.dumps({"clusterID": "x", "extensions": [{"name": "not a key!", "value": "v"}]}).encode()
    return [
        ErrorCase("no content type", report, {}, 415, "unsupported media type"),
        ErrorCase("text/plain", report, {"Content-Type": "text/plain"}, 415, "unsupported media type"),
        ErrorCase("brotli", report, {**JSON_HEADERS, "Content-Encoding": "br"}, 415, "unsupported content encoding"),
        ErrorCase("unparseable", b'{"clusterID":', JSON_HEADERS, 400, "invalid JSON"),
        ErrorCase("not gzip", report, gzip_json, 400, "invalid gzip body"),
        ErrorCase("truncated gzip", gzip.compress(report)[:-10], gzip_json, 400, "invalid gzip body"),
        ErrorCase("raw over cap", b" " * (RAW_CAP + 1), JSON_HEADERS, 413, "request body too large"),
        ErrorCase(
            "inflated over cap", gzip.compress(b" " * (INFLATED_CAP + 1)), gzip_json, 413, "request body too large"
        ),
        ErrorCase("missing clusterID", b'{"version":"v1.1.0"}', JSON_HEADERS, 422, "invalid report"),
        ErrorCase("bad extension key", bad_key, JSON_HEADERS, 422, "invalid report"),
    ]


@pytest.mark.usefixtures("empty_queue")
@pytest.mark.parametrize("case", _error_cases(), ids=lambda case: case.name)
def test_each_error_status_has_a_json_body_and_leaves_the_gateway_healthy_with_nothing_published(
    amqp_url: str, gateway: Gateway, case: ErrorCase
) -> None:
    response = gateway.post(case.body, case.headers)

    assert response.status == case.status, response.body
    document = response.json()
    assert document["error"] == case.error
    assert document["details"]
    assert all("message" in detail for detail in document["details"])
    assert_healthy_and_nothing_published(amqp_url, gateway)


@pytest.mark.usefixtures("empty_queue")
def test_a_422_names_the_field_paths_and_the_offending_extension_key(gateway: Gateway) -> None:
    body = {"nodes": [{"id": "a"}, {}], "extensions": [{"name": "Bad Key", "value": "v"}]}

    details = gateway.post_report(body).json()["details"]

    by_field = {detail["field"]: detail for detail in details}
    assert set(by_field) == {"$.clusterID", "$.nodes[1].id", "$.extensions[0].name"}
    assert by_field["$.extensions[0].name"]["extension"] == "Bad Key"


@pytest.mark.usefixtures("empty_queue")
@pytest.mark.parametrize(
    ("body", "status"),
    [
        (nested(50_000), 400),
        (b'{"clusterID":"x","n":' + b"9" * 100_000 + b"}", 400),
        (b'{"clusterID":"x","n":1e400}', 400),
        (b'{"clusterID":"\xc3\x28"}', 400),
        (b'{"clusterID":"x","v":NaN}', 400),
        (b'{"clusterID":"x","v":Infinity}', 400),
        (b'{"clusterID":"x","extensions":[{"name":"a/b","value":"\\ud800"}]}', 400),
        (b"[]", 422),
        (b'"just a string"', 422),
        (b"null", 422),
    ],
    ids=[
        "nesting",
        "huge-int",
        "huge-float",
        "bad-utf8",
        "nan",
        "infinity",
        "surrogate",
        "array",
        "string",
        "null",
    ],
)
def test_hostile_json_is_a_4xx_and_is_not_published(amqp_url: str, gateway: Gateway, body: bytes, status: int) -> None:
    response = gateway.post(body)

    assert response.status == status
    assert_healthy_and_nothing_published(amqp_url, gateway)


def test_a_duplicate_key_is_no_error_and_the_last_value_is_stored(
    amqp_url: str, gateway: Gateway, empty_queue: str
) -> None:
    body = b'{"clusterID":"first","clusterID":"last","nodes":[{"id":"a","id":"b"}]}'

    response = gateway.post(body)

    assert response.status == 204
    [delivered] = take_all(amqp_url, empty_queue)
    stored = json.loads(delivered.body)
    assert (stored["clusterID"], stored["nodes"]) == ("last", [{"id": "b"}])


@pytest.mark.usefixtures("empty_queue")
def test_a_gzip_bomb_is_413_fast_with_flat_memory(gateway: Gateway) -> None:
    bomb = gzip_bomb(1024)  # 1 GiB inflated, about 1 MB sent
    peak_before = gateway.memory_kib("VmHWM")
    started = time.monotonic()

    response = gateway.post(bomb, {**JSON_HEADERS, "Content-Encoding": "gzip"})

    assert response.status == 413
    assert time.monotonic() - started < 2
    assert gateway.memory_kib("VmHWM") - peak_before < 16 * 1024
    assert gateway.get("/healthz").status == 200


def _upload_until_answered(port: int, head: bytes, chunk: bytes, limit: int) -> tuple[bytes, int]:
    """Send ``head`` then ``chunk`` repeatedly (up to ``limit`` bytes) until the server answers."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        sent = 0
        deadline = time.monotonic() + 20
        while sent < limit and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 1)
            if readable:
                break
            if writable:
                try:
                    sent += sock.send(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break
        sock.settimeout(5)
        answer = b""
        try:
            while part := sock.recv(65536):
                answer += part
        except (ConnectionResetError, TimeoutError):
            pass
        return answer, sent


@pytest.mark.usefixtures("empty_queue")
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_2_gb_upload_is_cut_off_near_the_cap(gateway: Gateway, declared: bool) -> None:
    two_gb = 2 * 1024**3
    framing = f"Content-Length: {two_gb}" if declared else "Transfer-Encoding: chunked"
    head = f"POST /api/v1 HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n{framing}\r\n\r\n".encode()
    block = b" " * 65536
    chunk = block if declared else b"10000\r\n" + block + b"\r\n"

    answer, sent = _upload_until_answered(gateway.port, head, chunk, two_gb)

    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"connection: close" in answer.lower()
    assert sent < RAW_CAP + 32 * 1024 * 1024  # the cap plus what socket buffers soak up
    assert gateway.get("/healthz").status == 200


@pytest.mark.usefixtures("empty_queue")
def test_every_request_is_one_log_line_without_the_client_address(gateway: Gateway) -> None:
    def access_lines() -> list[dict[str, Any]]:
        return [line for line in gateway.log_lines() if line["logger"] == "ingest.access"]

    before = len(access_lines())
    response = gateway.post_report(go_volunteer_report())
    assert response.status == 204
    gateway.get("/version")
    # The line is written after the answer is sent.
    wait_until(lambda: len(access_lines()) == before + 2, timeout=5, what="two more access log lines")

    access = access_lines()
    assert access[-2]["status"] == 204
    assert access[-2]["path"] == "/api/v1"
    assert access[-2]["report_id"]
    assert access[-1]["path"] == "/version"
    for line in access:
        assert "127.0.0.1" not in json.dumps(line)
        assert {"method", "path", "status", "duration_s"} <= set(line)


@pytest.mark.usefixtures("empty_queue")
def test_metrics_show_the_traffic(gateway: Gateway) -> None:
    assert gateway.post_report(go_volunteer_report()).status == 204

    text = gateway.get("/metrics").body.decode()

    for name in (
        "spartakus_ingest_requests_total",
        "spartakus_ingest_publish_confirm_seconds_bucket",
        "spartakus_ingest_publishes_in_flight",
        "spartakus_ingest_broker_reconnects_total",
        "spartakus_ingest_received_bytes_total",
        "spartakus_ingest_reports_published_total",
    ):
        assert name in text
    assert _sample(text, 'spartakus_ingest_requests_total{status="204"}') >= 1
    assert _sample(text, "spartakus_ingest_reports_published_total") >= 1


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def test_response_shape_helpers_see_json(gateway: Gateway) -> None:
    response: Response = gateway.get("/version")
    assert response.headers["content-type"] == "application/json"
    assert response.json()["schemaVersion"] == "1"
