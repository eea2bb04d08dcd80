"""Making the BigQuery REST client, for the writer and the dashboard alike: the only module of runtime that imports
``google``.

With ``BIGQUERY_EMULATOR_HOST`` (read by the CLI and passed in) the official
client talks to that endpoint with anonymous credentials; without it, to
BigQuery with the application's default credentials.
"""

from __future__ import annotations

from google.api_core import exceptions as google_errors
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.auth.exceptions import GoogleAuthError
from google.cloud import bigquery


class ClientConfigError(Exception):
    """No BigQuery client can be made as configured (no default credentials, for example)."""


def bigquery_client(
    project: str, emulator_host: str | None, *, error: type[Exception] = ClientConfigError
) -> bigquery.Client:
    """A client for ``project``; ``emulator_host`` is ``BIGQUERY_EMULATOR_HOST``, with or without ``http://``.

    Raises:
        ClientConfigError: (or the caller's own ``error``) the client cannot be made; the message names the
            project and the reason.
    """
    try:
        if emulator_host:
            endpoint = emulator_host if "://" in emulator_host else f"http://{emulator_host}"
            return bigquery.Client(
                project=project,
                credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                client_options=ClientOptions(api_endpoint=endpoint),
            )
        return bigquery.Client(project=project)
    except (GoogleAuthError, google_errors.GoogleAPIError) as e:
        raise error(f"cannot create a BigQuery client for project {project}: {e}") from e
