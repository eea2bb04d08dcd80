"""``spartakus dlq list`` shows dead-lettered reports without losing them; ``replay`` moves them back."""

from __future__ import annotations

import gzip
import json

import pytest

from schema.headers import REPLAYS_HEADER, broker_set
from schema.topology import ERROR_HEADER, RECEIVED_AT_HEADER
from tests.support.amqp import blocking_channel
from tests.support.services import wait_until
from tests.support.writer_load import (
    declare,
    properties,
    publish,
    queue_counts,
    report_messages,
    returned_until_dead,
    sample_report,
)
from writer.cli import dlq_main
from writer.rows import decode_report

pytestmark = pytest.mark.integration


def dead_letter(amqp_url: str, queue: str, count: int) -> list[dict[str, object]]:
    """Put ``count`` reports in ``<queue>.dead`` as the writer does: original headers plus the reason."""
    declare(amqp_url, queue)
    reports = [sample_report(i) for i in range(count)]
    with blocking_channel(amqp_url) as channel:
        channel.confirm_delivery()
        for i, report in enumerate(reports):
            props = properties(str(report["reportID"]), "2026-11-27T10:00:00+00:00")
            props.headers[ERROR_HEADER] = f"BigQuery rejected the row: reason {i}"
            channel.basic_publish("", f"{queue}.dead", json.dumps(report).encode(), props)
    return reports


def test_list_shows_reasons_and_leaves_the_messages_in_place(
    amqp_url: str, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = dead_letter(amqp_url, queue_name, 3)
    assert dlq_main(["list", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["reportID"] for line in lines] == [r["reportID"] for r in reports]
    assert [line["reason"] for line in lines] == [f"BigQuery rejected the row: reason {i}" for i in range(3)]
    assert lines[0]["receivedAt"] == "2026-11-27T10:00:00+00:00"
    assert "3 message(s)" in err
    wait_until(lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 3, timeout=10, what="messages back in place")


def test_list_honours_the_limit(amqp_url: str, queue_name: str, capsys: pytest.CaptureFixture[str]) -> None:
    dead_letter(amqp_url, queue_name, 4)
    assert dlq_main(["list", "--amqp-url", amqp_url, "--queue", queue_name, "--limit", "2"]) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 2
    assert "4 message(s)" in err
    wait_until(lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 4, timeout=10, what="messages back in place")


def test_replay_moves_messages_back_without_the_error_header(
    amqp_url: str, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = dead_letter(amqp_url, queue_name, 3)
    assert dlq_main(["replay", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    assert "replayed 3 message(s)" in capsys.readouterr().err
    assert queue_counts(amqp_url, f"{queue_name}.dead")[0] == 0
    moved = []
    with blocking_channel(amqp_url) as channel:
        while (got := channel.basic_get(queue_name, auto_ack=True))[0] is not None:
            moved.append(got)
    assert [props.message_id for _m, props, _b in moved] == [r["reportID"] for r in reports]
    assert all(ERROR_HEADER not in props.headers for _m, props, _b in moved)
    assert all(props.headers[RECEIVED_AT_HEADER] == "2026-11-27T10:00:00+00:00" for _m, props, _b in moved)
    assert all(props.delivery_mode == 2 for _m, props, _b in moved)
    assert json.loads(moved[0][2]) == reports[0]


def test_gzip_bodies_are_listed_with_their_inflated_size_and_replayed_as_they_were(
    amqp_url: str, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    declare(amqp_url, queue_name)
    report = sample_report(1, nodes=500)
    body = json.dumps(report).encode()
    with blocking_channel(amqp_url) as channel:
        channel.confirm_delivery()
        props = properties(str(report["reportID"]))
        props.content_encoding = "gzip"
        props.headers[ERROR_HEADER] = "a reason"
        channel.basic_publish("", f"{queue_name}.dead", gzip.compress(body), props)
    assert dlq_main(["list", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["contentEncoding"] == "gzip"
    assert line["reportBytes"] == len(body)
    assert line["bytes"] < len(body) / 5
    assert dlq_main(["replay", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    with blocking_channel(amqp_url) as channel:
        _method, moved, moved_body = channel.basic_get(queue_name, auto_ack=True)
    assert moved.content_encoding == "gzip"
    assert decode_report(moved_body, content_encoding=moved.content_encoding).report_id == report["reportID"]


def test_a_message_the_broker_dead_lettered_is_replayed_without_its_history_and_counted(
    amqp_url: str, queue_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    report = sample_report(7)
    publish(amqp_url, queue_name, report_messages([report]))
    returned_until_dead(amqp_url, queue_name)
    with blocking_channel(amqp_url) as channel:
        method, dead, _ = channel.basic_get(f"{queue_name}.dead", auto_ack=False)
        assert method is not None
        assert "x-death" in dead.headers, "the broker wrote no death history; nothing would be tested"
        channel.basic_nack(method.delivery_tag, requeue=True)
    assert dlq_main(["list", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
    (line,) = [json.loads(text) for text in capsys.readouterr().out.splitlines()]
    assert line["reason"] == f"dead-lettered by the broker: delivery_limit from {queue_name}"

    for replay in (1, 2):
        assert dlq_main(["replay", "--amqp-url", amqp_url, "--queue", queue_name]) == 0
        with blocking_channel(amqp_url) as channel:
            method, moved, body = channel.basic_get(queue_name, auto_ack=True)
        assert method is not None
        assert json.loads(body) == report
        # The first delivery after a replay: 4.x sends no count, 3.10 sends 0; never the count from before.
        assert moved.headers.get("x-delivery-count", 0) == 0
        assert [name for name in moved.headers if broker_set(name) and name != "x-delivery-count"] == []
        assert moved.headers[REPLAYS_HEADER] == replay
        assert moved.headers[RECEIVED_AT_HEADER] == report["receivedAt"]
        if replay == 1:  # dead-lettered again by the broker, then replayed a second time
            publish(amqp_url, queue_name, [(body, moved)])
            returned_until_dead(amqp_url, queue_name)


def test_an_unreachable_broker_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert dlq_main(["list", "--amqp-url", "amqp://guest:guest@127.0.0.1:1/", "--queue", "nowhere"]) == 1
    assert "spartakus dlq list: error: RabbitMQ" in capsys.readouterr().err
