"""One maker of BigQuery clients for the writer and the dashboard; each words its failure as its own error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.bigquery_store import BigQueryStore
from dashboard.store import StoreConfigError
from runtime.bigquery_client import ClientConfigError, bigquery_client
from writer.bigquery_sink import BigQuerySink
from writer.errors import SinkConfigError


@pytest.mark.integration
@pytest.mark.parametrize("scheme", ["", "http://"])
def test_an_emulator_host_is_reached_with_or_without_its_scheme(
    bq_dataset: str, bqemu_endpoint: Any, scheme: str
) -> None:
    project = bq_dataset.split(".", maxsplit=1)[0]
    client = bigquery_client(project, scheme + bqemu_endpoint.rest_url.removeprefix("http://"))
    try:
        assert client.get_dataset(bq_dataset).project == project
    finally:
        client.close()  # type: ignore[no-untyped-call]


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Application default credentials that name a missing file, as on a machine set up wrongly."""
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "absent.json"))


@pytest.mark.usefixtures("no_credentials")
def test_without_credentials_no_client_is_made_and_each_component_says_so_in_its_own_error() -> None:
    with pytest.raises(ClientConfigError, match="cannot create a BigQuery client for project p"):
        bigquery_client("p", None)
    with pytest.raises(SinkConfigError, match="cannot create a BigQuery client for project p"):
        BigQuerySink("p.d.t")
    with pytest.raises(StoreConfigError, match="cannot create a BigQuery client for project p"):
        BigQueryStore("p.d.t")
