"""The Storage Write API sink against the emulator's gRPC service, with the official client."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.writer_load import sample_report
from tests.writer.conftest import BigQueryTarget
from writer.bigquery_write import BigQueryWriteSink
from writer.rows import Row, decode_report

pytestmark = pytest.mark.integration


def rows(count: int, **options: Any) -> list[Row]:
    return [decode_report(json.dumps(sample_report(i, **options)).encode()) for i in range(count)]


def test_smoke(bq_target: BigQueryTarget, bqemu_endpoint: Any) -> None:
    sink = BigQueryWriteSink(bq_target.table_id, emulator_host=bq_target.endpoint, write_endpoint=bqemu_endpoint.grpc_endpoint)
    try:
        assert not sink.write(rows(3)).rejected
        assert not sink.write(rows(2)).rejected
    finally:
        sink.close()
    print(list(bq_target.client.query(f"SELECT reportID, receivedAt, part, ARRAY_LENGTH(nodes) FROM `{bq_target.table_id}`").result()))
    assert bq_target.scalar("COUNT(*)") == 5
