"""The broker flags every AMQP command takes (ingest, writer, dlq, the local runner), declared once.

A settings class names a flag with one of these types and gives its default:
``DEFAULT_AMQP_URL``, the queue, its own connection name, ``"info"``. A
description given there replaces the one here, for a command that says more.
"""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from runtime.settings import AmqpUrl, LogLevel

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
