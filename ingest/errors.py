"""The error a request ends with when the client sent something the gateway will not take.

Each carries its HTTP status and the JSON body ``{"error": ..., "details": [...]}``
(the convention of ``runtime.http``) that tells the sender what to fix.
"""

from __future__ import annotations

from typing import Final

from runtime.http import detail

__all__ = ["MAX_TEXT", "RequestError", "clip", "detail"]

MAX_TEXT: Final = 300
"""Longest client-derived text echoed back in an error detail; a hostile body must not come back whole."""


class RequestError(Exception):
    """A client error answered with ``status`` and a JSON body.

    Args:
        status: the HTTP status (4xx).
        error: a one-line summary.
        details: what exactly is wrong, each an object with a ``message`` (and a ``field`` path for a 422).
        close: close the connection after answering, because the rest of the body was not read.
    """

    def __init__(
        self, status: int, error: str, details: list[dict[str, object]] | None = None, *, close: bool = False
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.details: list[dict[str, object]] = details or []
        self.close = close


def clip(text: str) -> str:
    """``text``, shortened to ``MAX_TEXT`` characters with a marker when longer."""
    if len(text) <= MAX_TEXT:
        return text
    return f"{text[:MAX_TEXT]}... ({len(text)} characters)"
