"""BigQuery client errors become the writer's own: transient, missing table, or permanent."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as google_errors
from google.auth.exceptions import DefaultCredentialsError, RefreshError

from writer.bigquery_sink import TableMissingError, translate
from writer.errors import PermanentSinkError, TransientSinkError


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (google_errors.ServiceUnavailable("down"), TransientSinkError),  # type: ignore[no-untyped-call]
        (google_errors.TooManyRequests("slow down"), TransientSinkError),  # type: ignore[no-untyped-call]
        (google_errors.NotFound("no table"), TableMissingError),  # type: ignore[no-untyped-call]
        (google_errors.BadRequest("bad row"), PermanentSinkError),  # type: ignore[no-untyped-call]
        (google_errors.Forbidden("access denied"), TransientSinkError),  # type: ignore[no-untyped-call]
        (RefreshError("token refresh failed"), TransientSinkError),  # type: ignore[no-untyped-call]
        (DefaultCredentialsError("no credentials"), TransientSinkError),  # type: ignore[no-untyped-call]
        (ConnectionResetError("reset"), TransientSinkError),
    ],
)
def test_client_errors_are_translated(error: Exception, expected: type[Exception]) -> None:
    translated = translate(error)

    assert type(translated) is expected
    assert str(error) in str(translated)
