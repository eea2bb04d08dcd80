"""BigQuery's 10,485,760-byte request limit: through a proxy that answers over it exactly as BigQuery does.

Every report is stored whole: batches go out in requests sized as the client
really encodes them, a report too large for one row is stored as parts, and a
request refused as too large (400 or 413) is split rather than dead-lettered.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.big_reports import CJK_OS_IMAGE, go_body, go_volunteer_report
from tests.support.bq_limit_proxy import LIMIT, LimitProxy, limit_proxy
from tests.support.writer_load import sample_report
from tests.writer.conftest import BigQueryTarget
from writer.bigquery_sink import BigQuerySink
from writer.rows import decode_report

pytestmark = pytest.mark.integration


@pytest.fixture
def proxy(bq_target: BigQueryTarget) -> Iterator[LimitProxy]:
    with limit_proxy(bq_target.endpoint) as running:
        yield running


def node_count(target: BigQueryTarget, where: str) -> Any:
    return target.scalar("COUNT(*)", f"{target.table_id}_dedup`, UNNEST(nodes) AS `n", where)


def test_rows_re_encoded_by_the_client_past_the_limit_go_out_in_requests_under_it(
    bq_target: BigQueryTarget, proxy: LimitProxy
) -> None:
    # CJK text grows threefold when the client escapes it: within the old compact-bytes budget, 19 MB requests.
    os_image = CJK_OS_IMAGE * 40
    reports = [go_volunteer_report(30, os_image=os_image) for _ in range(80)]
    rows = [decode_report(go_body(r)) for r in reports]
    assert sum(len(p) for row in rows for p in row.payloads) < LIMIT < sum(row.nbytes for row in rows)
    sink = BigQuerySink(bq_target.table_id, emulator_host=proxy.endpoint)
    try:
        assert not sink.write(rows).rejected
    finally:
        sink.close()
    assert proxy.refused == []
    assert len(proxy.sizes) > 1
    assert max(proxy.sizes) <= LIMIT
    # The size the writer counted is an upper bound within 1% of what the client sent.
    predicted = sum(row.nbytes for row in rows)
    assert sum(proxy.sizes) <= predicted <= sum(proxy.sizes) * 1.01
    assert bq_target.scalar("COUNT(*)", f"{bq_target.table_id}_dedup") == 80
    assert node_count(bq_target, f"n.osImage = '{os_image}'") == 2_400


def test_a_report_too_large_for_one_row_is_stored_as_parts_with_every_node_once(
    bq_target: BigQueryTarget, proxy: LimitProxy
) -> None:
    report = go_volunteer_report(1_600, os_image="Container-Optimized OS " * 400)
    row = decode_report(go_body(report))
    assert len(row.payloads) > 1
    sink = BigQuerySink(bq_target.table_id, emulator_host=proxy.endpoint)
    try:
        assert not sink.write([row, decode_report(json.dumps(sample_report(1)).encode())]).rejected
    finally:
        sink.close()
    assert proxy.refused == []
    assert max(proxy.sizes) <= LIMIT
    view = f"{bq_target.table_id}_dedup"
    assert bq_target.scalar("COUNT(*)", view, "COALESCE(part, 0) = 0") == 2
    assert bq_target.scalar("COUNT(DISTINCT clusterID)", view) == 2
    assert bq_target.scalar("COUNT(*)", view, f"parts = {len(row.payloads)}") == len(row.payloads)
    assert node_count(bq_target, f"clusterID = '{report['clusterID']}'") == 1_600
    distinct = bq_target.scalar(
        "COUNT(DISTINCT n.id)", f"{view}`, UNNEST(nodes) AS `n", f"clusterID = '{report['clusterID']}'"
    )
    assert distinct == 1_600


@pytest.mark.parametrize("answer", ["400", "413"])
def test_a_request_refused_as_too_large_is_split_and_every_row_stored(
    bq_target: BigQueryTarget, proxy: LimitProxy, answer: Any
) -> None:
    proxy.answer = answer
    rows = [decode_report(go_body(go_volunteer_report(250, os_image="Ubuntu 22.04.4 LTS " * 400))) for _ in range(8)]
    assert sum(row.nbytes for row in rows) > LIMIT
    # A budget over the limit makes the sink send what BigQuery refuses, as a client change could.
    sink = BigQuerySink(bq_target.table_id, emulator_host=proxy.endpoint, request_budget=4 * LIMIT)
    try:
        assert not sink.write(rows).rejected
    finally:
        sink.close()
    assert proxy.refused, "the proxy never refused a request"
    assert bq_target.scalar("COUNT(*)", f"{bq_target.table_id}_dedup") == 8
    assert node_count(bq_target, "TRUE") == 2_000


def test_a_single_row_over_the_limit_is_rejected_with_the_reason_and_the_others_stored(
    bq_target: BigQueryTarget, proxy: LimitProxy
) -> None:
    small = decode_report(json.dumps(sample_report(1)).encode())
    # Not split: a writer with a larger row budget than BigQuery allows.
    huge = decode_report(go_body(go_volunteer_report(600, os_image="x" * 20_000)), max_row_bytes=10 * LIMIT)
    assert len(huge.payloads) == 1
    sink = BigQuerySink(bq_target.table_id, emulator_host=proxy.endpoint)
    try:
        result = sink.write([small, huge])
    finally:
        sink.close()
    assert list(result.rejected) == [1]
    assert "too large" in result.rejected[1]
    assert bq_target.report_ids(bq_target.table_id) == {small.report_id}


def readme_queries() -> list[str]:
    """The SQL statements of the README's dedup view section, in order."""
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("```sql\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if not line.startswith("--")]
    return [statement.strip() for statement in "\n".join(lines).split(";") if statement.strip()]


def test_the_readme_queries_count_clusters_reports_and_nodes_of_reports_stored_in_parts(
    bq_target: BigQueryTarget,
) -> None:
    split = go_volunteer_report(1_600, os_image="Container-Optimized OS " * 400)
    ordinary = go_volunteer_report(7)
    rows = [decode_report(go_body(r)) for r in (split, ordinary)]
    assert len(rows[0].payloads) > 1
    sink = bq_target.sink()
    try:
        assert not sink.write(rows).rejected
        assert not sink.write(rows[:1]).rejected  # written twice: the view keeps each part once
    finally:
        sink.close()
    view = f"{bq_target.table_id}_dedup"
    clusters, reports, nodes = (
        [tuple(row.values()) for row in bq_target.client.query(sql.replace("project.dataset.reports_dedup", view))]
        for sql in readme_queries()
    )
    assert clusters == [(2,)]
    assert reports == [(2,)]
    assert sorted(nodes) == sorted([(split["clusterID"], 1_600), (ordinary["clusterID"], 7)])
