"""The HTTP routes over the in-memory publisher (unit tests: the ASGI app is called directly)."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging

import pytest

from ingest.app import IngestApp
from ingest.body import BodyLimits
from ingest.metrics import IngestMetrics
from ingest.ports import BrokerBlockedError, BrokerUnavailableError, ConfirmTimeoutError, PublishError
from schema.message import decode_body
from tests.ingest.asgi import AsgiResponse, call
from tests.ingest.gateway import go_volunteer_report
from tests.ingest.twin import MemoryPublisher

JSON = [("content-type", "application/json")]


def make_app(publisher: MemoryPublisher, metrics: IngestMetrics | None = None, *, cap: int = 64 * 1024) -> IngestApp:
    return IngestApp(
        publisher=publisher,
        metrics=metrics or IngestMetrics(),
        limits=BodyLimits(max_raw=cap, max_decompressed=2 * cap),
        retry_after=7,
        shutdown_timeout=1.0,
    )


def request(
    app: IngestApp, method: str, path: str, body: bytes = b"", headers: list[tuple[str, str]] | None = None
) -> AsgiResponse:
    response, _read = asyncio.run(call(app, method, path, [body], JSON if headers is None else headers))
    return response


@pytest.fixture
def publisher() -> MemoryPublisher:
    twin = MemoryPublisher()
    twin.started = True
    return twin


def test_a_valid_report_is_published_then_answered_204_without_a_body(publisher: MemoryPublisher) -> None:
    report = go_volunteer_report("c-1")

    response = request(make_app(publisher), "POST", "/api/v1", json.dumps(report).encode())

    assert (response.status, response.body) == (204, b"")
    [envelope] = publisher.published
    assert json.loads(envelope.body)["clusterID"] == "c-1"


def test_a_gzip_report_is_accepted(publisher: MemoryPublisher) -> None:
    body = gzip.compress(json.dumps(go_volunteer_report()).encode())

    response = request(make_app(publisher), "POST", "/api/v1", body, [*JSON, ("content-encoding", "gzip")])

    assert response.status == 204
    assert len(publisher.published) == 1


@pytest.mark.parametrize(
    "error", [BrokerUnavailableError("down"), BrokerBlockedError("alarm"), ConfirmTimeoutError("slow")]
)
def test_an_unconfirmed_publish_is_503_with_retry_after(publisher: MemoryPublisher, error: PublishError) -> None:
    publisher.fail_with = error

    response = request(make_app(publisher), "POST", "/api/v1", json.dumps(go_volunteer_report()).encode())

    assert response.status == 503
    assert response.headers["retry-after"] == "7"
    assert response.json()["error"] == error.reason


def test_rejected_input_is_never_published(publisher: MemoryPublisher) -> None:
    app = make_app(publisher)
    statuses = [
        request(app, "POST", "/api/v1", b"{}", [("content-type", "text/plain")]).status,
        request(app, "POST", "/api/v1", b"{").status,
        request(app, "POST", "/api/v1", b"{}").status,
        request(app, "POST", "/api/v1", b" " * (64 * 1024 + 1)).status,
    ]

    assert statuses == [415, 400, 422, 413]
    assert publisher.published == []


def test_an_oversized_body_closes_the_connection(publisher: MemoryPublisher) -> None:
    response = request(make_app(publisher), "POST", "/api/v1", b" " * (64 * 1024 + 1))

    assert response.status == 413
    assert response.headers["connection"] == "close"


def test_readyz_follows_the_publisher(publisher: MemoryPublisher) -> None:
    app = make_app(publisher)
    assert request(app, "GET", "/readyz").status == 200

    publisher.fail_with = BrokerUnavailableError("down")
    response = request(app, "GET", "/readyz")

    assert response.status == 503
    assert response.headers["retry-after"] == "7"


def test_a_large_report_is_validated_off_the_event_loop_so_probes_keep_answering(
    publisher: MemoryPublisher,
) -> None:
    app = make_app(publisher, cap=8 * 1024 * 1024)
    nodes = b",".join([b'{"id":"a"}'] * 150_000)  # 1.6 MB: a fraction of a second of validation
    big = b'{"clusterID":"big","nodes":[' + nodes + b"]}"
    finished: list[str] = []

    async def submit() -> None:
        response, _read = await call(app, "POST", "/api/v1", [big], JSON)
        finished.append(f"submit {response.status}")

    async def probe() -> None:
        # gather() starts submit() first, and it does not yield before validation starts.
        response, _read = await call(app, "GET", "/healthz")
        finished.append(f"healthz {response.status}")

    async def both() -> None:
        await asyncio.gather(submit(), probe())

    asyncio.run(both())

    assert finished == ["healthz 200", "submit 204"]
    envelope = publisher.published[0]
    assert len(json.loads(decode_body(envelope.body, envelope.content_encoding))["nodes"]) == 150_000


def test_healthz_fails_once_the_publisher_cannot_recover_by_itself(publisher: MemoryPublisher) -> None:
    app = make_app(publisher)
    assert request(app, "GET", "/healthz").status == 200

    publisher.closed = True

    assert request(app, "GET", "/healthz").status == 503


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [("GET", "/api/v1", 405, "POST"), ("POST", "/healthz", 405, "GET, HEAD"), ("GET", "/nope", 404, None)],
)
def test_wrong_routes_and_methods(
    publisher: MemoryPublisher, method: str, path: str, status: int, allow: str | None
) -> None:
    response = request(make_app(publisher), method, path)

    assert response.status == status
    assert response.headers.get("allow") == allow
    assert response.json()["error"]


def test_metrics_count_requests_by_status_and_bytes_received(publisher: MemoryPublisher) -> None:
    metrics = IngestMetrics()
    app = make_app(publisher, metrics)
    body = json.dumps(go_volunteer_report()).encode()
    request(app, "POST", "/api/v1", body)
    request(app, "POST", "/api/v1", b"{")

    text = request(app, "GET", "/metrics").body.decode()

    assert 'spartakus_ingest_requests_total{status="204"} 1.0' in text
    assert 'spartakus_ingest_requests_total{status="400"} 1.0' in text
    assert f"spartakus_ingest_received_bytes_total {len(body) + 1}.0" in text
    assert "spartakus_ingest_publishes_in_flight 0.0" in text


def test_version_and_openapi_describe_the_gateway(publisher: MemoryPublisher) -> None:
    app = make_app(publisher)

    version = request(app, "GET", "/version").json()
    document = request(app, "GET", "/openapi.json").json()

    assert version["schemaVersion"] == "1"
    assert document["info"]["version"] == version["version"]
    assert set(document["paths"]) == {"/api/v1", "/healthz", "/readyz", "/version", "/metrics", "/openapi.json"}
    responses = document["paths"]["/api/v1"]["post"]["responses"]
    assert set(responses) == {"204", "400", "401", "403", "413", "415", "422", "429", "431", "503"}
    assert "clusterID" in document["components"]["schemas"]["Report"]["properties"]


def test_openapi_describes_every_route_the_app_answers_and_no_other(publisher: MemoryPublisher) -> None:
    app = make_app(publisher)

    document = request(app, "GET", "/openapi.json").json()

    assert {path: set(operations) for path, operations in document["paths"].items()} == {
        path: {operation} for path, operation in app.routes.items()
    }
    for path, operation in app.routes.items():
        assert request(app, operation.upper(), path, b"{}").status != 404, path


def test_each_request_is_logged_once_without_a_client_address(
    publisher: MemoryPublisher, caplog: pytest.LogCaptureFixture
) -> None:
    app = make_app(publisher)
    caplog.set_level(logging.INFO, logger="ingest.access")

    request(app, "POST", "/api/v1", json.dumps(go_volunteer_report()).encode())
    request(app, "POST", "/api/v1", b"{")

    records = [r for r in caplog.records if r.name == "ingest.access"]
    assert [r.__dict__["status"] for r in records] == [204, 400]
    assert records[0].__dict__["report_id"]
    assert all("client" not in r.__dict__ for r in records)
