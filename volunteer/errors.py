"""The volunteer's own errors. Library exceptions are translated into these where the library is used.

Transient errors (the network, a 5xx, a 429) may succeed when tried again;
permanent ones (a 4xx, a missing permission, bad configuration) will not.
"""

from __future__ import annotations


class VolunteerError(Exception):
    """Base of every error the volunteer raises on purpose."""


class StartupError(VolunteerError):
    """A configuration problem found before the first report; the process exits 2."""


class TransientError(VolunteerError):
    """A failure that may go away when tried again.

    Attributes:
        retry_after: seconds the other side asked us to wait (``Retry-After``), if it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermanentError(VolunteerError):
    """A failure that trying again will not fix."""


class ClusterError(PermanentError):
    """The Kubernetes API refused a request for good (e.g. 401, 403, 404)."""


class UnauthorizedError(ClusterError):
    """The API server did not accept the credentials (401): a token problem, not a missing permission."""


class ForbiddenError(ClusterError):
    """The API server knew who asked and RBAC refused the request (403)."""


class TransientClusterError(TransientError):
    """The Kubernetes API could not be reached or answered 429/5xx, or a continue token expired."""


class RejectedError(PermanentError):
    """The collector rejected the report with a 4xx other than 429.

    Attributes:
        status: the HTTP status.
        body: the start of the collector's error body, for the log.
    """

    def __init__(self, status: int, body: str) -> None:
        super().__init__(f"collector rejected the report: HTTP {status}: {body}")
        self.status = status
        self.body = body


class TransientSendError(TransientError):
    """The collector could not be reached, timed out, or answered 429/5xx."""


class StoppedError(VolunteerError):
    """A stop was requested (SIGTERM) while waiting; the current report is abandoned."""
