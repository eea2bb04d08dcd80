"""Sending on the wire to a collector that behaves like the original: statuses, Retry-After, gzip, timeouts."""

from __future__ import annotations

import gzip
import io
import json
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from schema.signature import HEADER, ClusterKey, verify_report
from tests.support.collector import CollectorStandIn, Reply
from volunteer.errors import PermanentError, RejectedError, TransientSendError
from volunteer.retry import parse_retry_after
from volunteer.sender import HttpSender, StdoutSender, collector_url

BODY = json.dumps({"version": "v2.0.0", "timestamp": "1795779062", "clusterID": "c"}, separators=(",", ":")).encode()


def _sender(collector: CollectorStandIn, *, compress: bool = False, timeout: float = 5) -> HttpSender:
    return HttpSender(collector.url, timeout=timeout, compress=compress, user_agent="spartakus-volunteer/test")


@pytest.mark.integration
def test_a_report_is_posted_as_json_to_api_v1_and_204_is_delivered(collector: CollectorStandIn) -> None:
    assert _sender(collector).send(BODY) == "delivered"

    [request] = collector.reports()
    assert request.status == 204
    assert request.headers["content-type"] == "application/json"
    assert "content-encoding" not in request.headers
    assert request.body == BODY


@pytest.mark.integration
@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_any_2xx_is_success(collector: CollectorStandIn, status: int) -> None:
    collector.script(Reply(status))

    assert _sender(collector).send(BODY) == "delivered"


@pytest.mark.integration
@pytest.mark.parametrize(("status", "retry_after"), [(503, "3"), (429, "11"), (500, None), (502, None)])
def test_429_and_5xx_are_transient_with_the_collectors_retry_after(
    collector: CollectorStandIn, status: int, retry_after: str | None
) -> None:
    collector.script(Reply(status, b"busy", {"Retry-After": retry_after} if retry_after else {}))

    with pytest.raises(TransientSendError, match=f"HTTP {status}: busy") as error:
        _sender(collector).send(BODY)
    assert error.value.retry_after == (float(retry_after) if retry_after else None)


@pytest.mark.integration
@pytest.mark.parametrize("status", [400, 413, 415, 422])
def test_other_4xx_are_rejections_carrying_the_error_body(collector: CollectorStandIn, status: int) -> None:
    collector.script(Reply(status, b'{"error": "schema violation", "details": ["clusterID"]}'))

    with pytest.raises(RejectedError) as error:
        _sender(collector).send(BODY)
    assert error.value.status == status
    assert "schema violation" in error.value.body


@pytest.mark.integration
def test_an_original_collector_cannot_read_gzip_which_is_why_it_is_off_by_default(collector: CollectorStandIn) -> None:
    with pytest.raises(RejectedError, match=r"HTTP 400.*failed to decode record"):
        _sender(collector, compress=True).send(BODY)


@pytest.mark.integration
def test_gzip_is_sent_with_content_encoding_to_collectors_that_accept_it() -> None:
    with CollectorStandIn(accept_gzip=True) as collector:
        assert _sender(collector, compress=True).send(BODY) == "delivered"

    [request] = collector.reports()
    assert request.headers["content-encoding"] == "gzip"
    assert gzip.decompress(request.body) == BODY


@pytest.mark.integration
def test_an_unreachable_collector_is_transient() -> None:
    with CollectorStandIn() as collector:
        sender = _sender(collector)

    with pytest.raises(TransientSendError, match="POST"):
        sender.send(BODY)


@pytest.mark.integration
def test_a_collector_that_does_not_answer_in_time_is_transient(collector: CollectorStandIn) -> None:
    collector.script(Reply(204, delay=3))

    with pytest.raises(TransientSendError, match="ReadTimeoutError"):
        _sender(collector, timeout=0.3).send(BODY)


def test_collector_url_is_api_v1_on_the_database_host() -> None:
    assert collector_url("https://spartakus.example.com") == "https://spartakus.example.com/api/v1"
    assert collector_url("http://ingest:8080/") == "http://ingest:8080/api/v1"


def test_collector_url_replaces_a_path_as_the_original_volunteer_did() -> None:
    assert collector_url("https://spartakus.example.com/reports?x=1") == "https://spartakus.example.com/api/v1"


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    assert parse_retry_after("120", now=now) == 120
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now=now) == 0
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after(None) is None


def test_stdout_prints_exactly_the_body_one_report_a_line() -> None:
    stream = io.BytesIO()

    assert StdoutSender(stream).send(BODY) == "printed"
    assert stream.getvalue() == BODY + b"\n"


def test_a_closed_stdout_is_a_permanent_failure() -> None:
    stream = io.BytesIO()
    stream.close()

    with pytest.raises(PermanentError, match="stdout"):
        StdoutSender(stream).send(BODY)


@pytest.mark.integration
@pytest.mark.parametrize("compress", [False, True])
def test_a_signer_signs_the_exact_body_before_gzip_in_the_signature_header(compress: bool) -> None:
    key = ClusterKey("kube-system-uid")
    with CollectorStandIn(accept_gzip=True) as collector:
        sender = HttpSender(collector.url, timeout=5, compress=compress, user_agent="test", signer=key)

        assert sender.send(BODY) == "delivered"

        [request] = collector.reports()
    sent = gzip.decompress(request.body) if compress else request.body
    assert sent == BODY
    assert verify_report(key.cluster_id, request.headers[HEADER.lower()], sent) is True


def test_stdout_shows_the_signature_header_that_would_be_sent_before_the_body() -> None:
    key = ClusterKey("kube-system-uid")
    stream = io.BytesIO()

    StdoutSender(stream, signer=key).send(BODY)

    header, body = stream.getvalue().rstrip(b"\n").split(b"\n")
    name, _, value = header.decode().partition(": ")
    assert (name, body) == (HEADER, BODY)
    assert verify_report(key.cluster_id, value, BODY) is True
