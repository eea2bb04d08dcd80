"""Where pika's errors become the gateway's own (``ingest.ports``), as httpx maps its transports' errors in one place.

pika fails in three ways: a call raises (``AMQPError``, or ``OSError`` from
the socket), a callback is handed an exception, or a callback is handed a
message as a string. Each becomes ``BrokerUnavailableError`` here, with pika's
exception as its cause, so nothing of pika's leaves ``ingest.amqp``. The
publish itself, the hot path, catches ``CLIENT_ERRORS`` inline and builds its
error with ``unavailable``: a ``with`` block would cost a generator per request.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Final

import pika.exceptions

from ingest.ports import BrokerUnavailableError

CLIENT_ERRORS: Final = (pika.exceptions.AMQPError, OSError)
"""What pika's calls raise when the connection or channel fails."""


def unavailable(error: BaseException | str, doing: str | None = None) -> BrokerUnavailableError:
    """The port's error for ``error`` (an exception or the text pika hands a callback), with it as the cause.

    Args:
        error: what pika raised, or handed an error callback.
        doing: what failed (``publish failed``), put before the exception's ``repr``; without it the message is
            the exception's text.
    """
    if isinstance(error, BrokerUnavailableError):
        return error
    if isinstance(error, str):
        return BrokerUnavailableError(error)
    translated = BrokerUnavailableError(f"{doing}: {error!r}" if doing else str(error) or repr(error))
    translated.__cause__ = error
    return translated


@contextlib.contextmanager
def translated(doing: str | None = None) -> Iterator[None]:
    """Raise pika's errors from inside the block as ``BrokerUnavailableError`` (see ``unavailable``)."""
    try:
        yield
    except CLIENT_ERRORS as e:
        raise unavailable(e, doing) from e
