"""Ingest gateway settings."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field
from pydantic_settings import BaseSettings

from runtime.flags import DEFAULT_AMQP_URL, AmqpUrlFlag, ConnectionNameFlag, LogLevelFlag, QueueFlag
from runtime.settings import GoDuration, settings_config
from schema.topology import DEFAULT_QUEUE


class IngestSettings(BaseSettings):
    """Accept reports over HTTP and publish them to RabbitMQ. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus ingest")

    host: str = Field(default="0.0.0.0", description="Address to listen on. [SPARTAKUS_HOST]")  # noqa: S104  # a server in a container listens on every interface
    port: int = Field(default=8080, ge=0, le=65535, description="Port to listen on. [SPARTAKUS_PORT]")
    amqp_url: AmqpUrlFlag = DEFAULT_AMQP_URL
    queue: QueueFlag = DEFAULT_QUEUE
    # A realistic node is about 400 bytes of JSON: a cluster of 65,000 nodes
    # (above Kubernetes' supported 5,000, at the size of the largest managed
    # clusters) sends some 26 MB, which fits the 32 MiB document cap, and its
    # gzip body (volunteer --gzip) fits the 16 MiB raw cap. Both caps bound the
    # work and memory one body can cost (validation takes several hundred bytes
    # per node; bodies above 256 KiB are validated one at a time off the loop).
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body as sent (before gzip inflation). [SPARTAKUS_MAX_BODY_BYTES]",
    )
    max_decompressed_bytes: int = Field(
        default=32 * 1024 * 1024,
        gt=0,
        description="Largest accepted JSON document, after gzip inflation if any. [SPARTAKUS_MAX_DECOMPRESSED_BYTES]",
    )
    confirm_timeout: GoDuration = Field(
        default=timedelta(seconds=5),
        gt=timedelta(0),
        description="How long a request waits for RabbitMQ's publisher confirm before answering 503. "
        "[SPARTAKUS_CONFIRM_TIMEOUT]",
    )
    retry_after: int = Field(
        default=5, ge=1, description="Seconds sent in Retry-After with a 503. [SPARTAKUS_RETRY_AFTER]"
    )
    shutdown_timeout: GoDuration = Field(
        default=timedelta(seconds=15),
        ge=timedelta(0),
        description="On SIGTERM, how long to wait for requests and confirms in flight. [SPARTAKUS_SHUTDOWN_TIMEOUT]",
    )
    workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Server processes sharing the port, each with its own AMQP connection. [SPARTAKUS_WORKERS]",
    )
    connection_name: ConnectionNameFlag = "spartakus-ingest"
    log_level: LogLevelFlag = Field(
        default="info", description="Log level; 'info' logs one line per request. [SPARTAKUS_LOG_LEVEL]"
    )
