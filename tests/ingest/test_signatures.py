"""Signed reports at the real gateway, against the real RabbitMQ: a self-certifying id's reports cannot be forged."""

from __future__ import annotations

import gzip
import json
import time
from typing import Any

import pytest

from schema.report import derive_report_id, parse_report
from schema.signature import HEADER, ClusterKey
from tests.ingest.broker import take_all
from tests.ingest.gateway import JSON_HEADERS, Gateway, go_volunteer_report
from tests.support.amqp import message_count

pytestmark = pytest.mark.integration

KEY = ClusterKey("kube-system-uid-of-the-real-cluster")
ATTACKER = ClusterKey("a-uid-the-attacker-made-up")


def signed_report(key: ClusterKey = KEY, **changes: Any) -> tuple[bytes, dict[str, str]]:
    report = {**go_volunteer_report(key.cluster_id), "timestamp": str(int(time.time()) - 60), **changes}
    body = json.dumps(report).encode()
    return body, {**JSON_HEADERS, HEADER: key.header(body)}


def metric(gateway: Gateway, line_start: str) -> float:
    for line in gateway.get("/metrics").body.decode().splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_a_signed_report_is_stored_verified_under_its_content_id(
    amqp_url: str, gateway: Gateway, empty_queue: str
) -> None:
    body, headers = signed_report()
    before = metric(gateway, 'spartakus_ingest_reports_accepted_total{verified="true"}')

    assert gateway.post(body, headers).status == 204

    [delivered] = take_all(amqp_url, empty_queue)
    stored = delivered.report()
    assert stored["clusterID"] == KEY.cluster_id
    assert stored["verified"] is True
    assert stored["reportID"] == delivered.properties.message_id == derive_report_id(parse_report(body))
    assert metric(gateway, 'spartakus_ingest_reports_accepted_total{verified="true"}') == before + 1


def test_a_signed_report_may_travel_gzip_compressed(amqp_url: str, gateway: Gateway, empty_queue: str) -> None:
    body, headers = signed_report()

    assert gateway.post(gzip.compress(body), {**headers, "Content-Encoding": "gzip"}).status == 204

    [delivered] = take_all(amqp_url, empty_queue)
    assert delivered.report()["verified"] is True


def test_an_unsigned_report_is_stored_unverified(amqp_url: str, gateway: Gateway, empty_queue: str) -> None:
    assert gateway.post_report(go_volunteer_report()).status == 204

    [delivered] = take_all(amqp_url, empty_queue)
    assert delivered.report()["verified"] is False


@pytest.mark.parametrize(
    "expected",
    [
        ("unsigned, later timestamp", 401, "must be signed"),
        ("signed by another key, later timestamp", 403, "not the key this cluster id was derived from"),
        ("signed by another key, same timestamp", 403, "not the key this cluster id was derived from"),
        ("unsigned, the real report's reportID", 401, "must be signed"),
        ("the real request's headers on a changed body", 403, "does not match the body"),
        ("a garbled signature", 400, "malformed"),
    ],
)
def test_forgeries_for_a_signed_cluster_are_refused_with_the_reason(
    amqp_url: str, gateway: Gateway, empty_queue: str, expected: tuple[str, int, str]
) -> None:
    forgery, status, reason = expected
    real_body, real_headers = signed_report()
    assert gateway.post(real_body, real_headers).status == 204
    [real] = take_all(amqp_url, empty_queue)
    real_report = real.report()
    later = str(int(real_report["timestamp"]) + 30)
    fake = {**json.loads(real_body), "masterVersion": "v1.9.9"}
    forged_body = json.dumps({**fake, "timestamp": later}).encode()
    headers = dict(JSON_HEADERS)
    if forgery == "signed by another key, later timestamp":
        headers[HEADER] = ATTACKER.header(forged_body)
    elif forgery == "signed by another key, same timestamp":
        forged_body = json.dumps(fake).encode()
        headers[HEADER] = ATTACKER.header(forged_body)
    elif forgery == "unsigned, the real report's reportID":
        forged_body = json.dumps({**fake, "reportID": real_report["reportID"]}).encode()
    elif forgery == "the real request's headers on a changed body":
        forged_body = json.dumps(fake).encode()
        headers = real_headers
    elif forgery == "a garbled signature":
        headers[HEADER] = "ed25519=not-a-key; sig=not-a-signature"

    answer = gateway.post(forged_body, headers)

    assert answer.status == status
    assert answer.json()["error"] == "signature refused"
    assert reason in answer.json()["details"][0]["message"]
    assert message_count(amqp_url, empty_queue) == 0
