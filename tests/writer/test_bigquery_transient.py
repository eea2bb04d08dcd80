"""Which BigQuery failures the BigQuery sink calls transient: throttling, server errors and BigQuery's own reasons."""

from __future__ import annotations

import pytest

from writer.bigquery_sink import is_transient_reason, is_transient_status


@pytest.mark.parametrize(("status", "transient"), [(429, True), (500, True), (502, True), (503, True), (504, True)])
def test_throttling_and_server_errors_are_transient(status: int, transient: bool) -> None:
    assert is_transient_status(status) is transient


@pytest.mark.parametrize("status", [400, 401, 404, 409, None])
def test_client_errors_are_not_transient(status: int | None) -> None:
    assert not is_transient_status(status)


def test_bigquery_backend_and_rate_limit_reasons_are_transient() -> None:
    assert is_transient_reason("backendError")
    assert is_transient_reason("rateLimitExceeded")
    assert not is_transient_reason("invalid")
    assert not is_transient_reason("stopped")
