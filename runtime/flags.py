"""The flags several commands take, declared once: the broker flags of every AMQP command (ingest, writer, dlq, the
local runner) and the connection bounds of both HTTP servers (ingest, dashboard).

A settings class names a flag with one of these types and gives its default:
``DEFAULT_AMQP_URL``, the queue, its own connection name, ``"info"``. A
description given there replaces the one here, for a command that says more.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Final

from pydantic import Field

from runtime.settings import AmqpUrl, GoDuration, LogLevel

DEFAULT_AMQP_URL: Final = "amqp://guest:guest@localhost:5672/"

AmqpUrlFlag = Annotated[
    AmqpUrl,
    Field(description="RabbitMQ URL, or one per cluster node separated by commas. [SPARTAKUS_AMQP_URL]"),
]
QueueFlag = Annotated[str, Field(min_length=1, description="Report queue name. [SPARTAKUS_QUEUE]")]
ConnectionNameFlag = Annotated[
    str,
    Field(
        min_length=1,
        description="AMQP connection name shown by the broker (the process id is appended). "
        "[SPARTAKUS_CONNECTION_NAME]",
    ),
]
LogLevelFlag = Annotated[LogLevel, Field(description="Log level, in any case. [SPARTAKUS_LOG_LEVEL]")]

IDLE_TIMEOUT: Final = timedelta(seconds=75)
"""Above the 60 s idle timeout of common load balancers, so that they close first."""
MaxHeaderBytesFlag = Annotated[
    int,
    Field(
        ge=1024, description="Largest request line plus headers; a larger head gets 431. [SPARTAKUS_MAX_HEADER_BYTES]"
    ),
]
HeaderTimeoutFlag = Annotated[
    GoDuration,
    Field(
        gt=timedelta(0),
        description="Time a client gets to send a request's line and headers. [SPARTAKUS_HEADER_TIMEOUT]",
    ),
]
IdleTimeoutFlag = Annotated[
    GoDuration,
    Field(
        gt=timedelta(0),
        description="How long a keep-alive connection may sit idle between requests. [SPARTAKUS_IDLE_TIMEOUT]",
    ),
]
