"""One ConnectionMetrics for both servers: the same two metrics under each server's own prefix."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from dashboard.metrics import DashboardMetrics
from ingest.metrics import IngestMetrics
from runtime.connections import CLOSE_REASONS, ConnectionMetrics


def test_closed_connections_are_counted_by_reason_and_open_ones_read_at_scrape_time() -> None:
    registry = CollectorRegistry()
    metrics = ConnectionMetrics("spartakus_test", registry, server="the test server")
    metrics.open_connections.set_function(lambda: 7)

    metrics.count_connections_closed("evicted", 2)
    metrics.count_connections_closed("evicted", 1)

    text = generate_latest(registry).decode()
    assert 'spartakus_test_connections_closed_total{reason="evicted"} 3.0' in text
    assert all(f'spartakus_test_connections_closed_total{{reason="{reason}"}}' in text for reason in CLOSE_REASONS)
    assert "spartakus_test_open_connections 7.0" in text
    assert "# HELP spartakus_test_connections_closed_total Connections the test server closed or refused" in text


@pytest.mark.parametrize(
    ("exposition", "prefix", "server"),
    [
        (lambda: IngestMetrics().render(), "spartakus_ingest", "the gateway"),
        (lambda: DashboardMetrics().exposition(), "spartakus_dashboard", "the dashboard"),
    ],
)
def test_each_server_shows_its_connections_under_its_own_names(
    exposition: Callable[[], bytes], prefix: str, server: str
) -> None:
    text = exposition().decode()

    assert f'{prefix}_connections_closed_total{{reason="refused"}} 0.0' in text
    assert f"# HELP {prefix}_connections_closed_total Connections {server} closed or refused" in text
    assert f"# HELP {prefix}_open_connections HTTP connections open, within the connection limit." in text
