"""Ingest gateway settings."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from ingest.sources import parse_networks
from runtime.flags import (
    DEFAULT_AMQP_URL,
    IDLE_TIMEOUT,
    AmqpUrlFlag,
    ConnectionNameFlag,
    HeaderTimeoutFlag,
    IdleTimeoutFlag,
    LogLevelFlag,
    MaxHeaderBytesFlag,
    QueueFlag,
)
from runtime.settings import GoDuration, settings_config
from schema.topology import DEFAULT_QUEUE


class IngestSettings(BaseSettings):
    """Accept reports over HTTP and publish them to RabbitMQ. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus ingest")

    host: str = Field(default="0.0.0.0", description="Address to listen on. [SPARTAKUS_HOST]")  # noqa: S104  # a server in a container listens on every interface
    port: int = Field(default=8080, ge=0, le=65535, description="Port to listen on. [SPARTAKUS_PORT]")
    amqp_url: AmqpUrlFlag = DEFAULT_AMQP_URL
    queue: QueueFlag = DEFAULT_QUEUE
    # A realistic node is 400-800 bytes of JSON (more with a dozen capacity
    # entries): a cluster of 65,000 nodes, the size of the largest managed
    # clusters, sends 26-52 MB, and the original Go volunteer sends it
    # uncompressed. Both caps admit it; the memory budget below, not the caps,
    # bounds what bodies in flight cost together.
    max_body_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest accepted request body as sent (before gzip inflation). [SPARTAKUS_MAX_BODY_BYTES]",
    )
    max_decompressed_bytes: int = Field(
        default=64 * 1024 * 1024,
        gt=0,
        description="Largest accepted JSON document, after gzip inflation if any. [SPARTAKUS_MAX_DECOMPRESSED_BYTES]",
    )
    # A gateway idles at about 60 MB; 256 MiB of requests in flight, plus
    # what the allocator keeps between them, fits a 512 MiB pod. One largest
    # body (64 MiB) costs about 90 MiB in all, so several are validated at once.
    max_inflight_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=16 * 1024 * 1024,
        description="Memory that requests in flight may hold together (bodies as they arrive or inflate, and "
        "their validation); over it, 503 + Retry-After. One eighth is kept for reports under 1 MiB. "
        "[SPARTAKUS_MAX_INFLIGHT_BYTES]",
    )
    max_header_bytes: MaxHeaderBytesFlag = 64 * 1024
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="Open connections per worker; at the limit the longest-idle one is closed, or the new one "
        "gets 503. Default: 4096, or less if the file limit says so. [SPARTAKUS_MAX_CONNECTIONS]",
    )
    header_timeout: HeaderTimeoutFlag = timedelta(seconds=10)
    body_timeout: GoDuration = Field(
        default=timedelta(seconds=30),
        gt=timedelta(0),
        description="Longest pause in a request body before the connection is closed. [SPARTAKUS_BODY_TIMEOUT]",
    )
    idle_timeout: IdleTimeoutFlag = IDLE_TIMEOUT
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
    # A volunteer reports once a day by default; ten minutes leaves room for restarts and a shorter --period
    # while keeping one cluster id from storing more than a handful of reports an hour.
    min_report_interval: GoDuration = Field(
        default=timedelta(minutes=10),
        ge=timedelta(0),
        description="Least time between two different reports of one cluster id; a faster one gets 429 + "
        "Retry-After (an exact retry of the last report is still accepted). 0 turns it off. "
        "[SPARTAKUS_MIN_REPORT_INTERVAL]",
    )
    new_clusters_per_source: int = Field(
        default=60,
        ge=0,
        description="New cluster ids one source address may introduce an hour; past it, 429 + Retry-After. "
        "The address is held in memory only. 0 turns it off. [SPARTAKUS_NEW_CLUSTERS_PER_SOURCE]",
    )
    trusted_proxies: str = Field(
        default="",
        description="CIDRs, comma-separated, of load balancers whose X-Forwarded-For names the source "
        "address; from anyone else the header is ignored. [SPARTAKUS_TRUSTED_PROXIES]",
    )
    connection_name: ConnectionNameFlag = "spartakus-ingest"
    log_level: LogLevelFlag = Field(
        default="info", description="Log level; 'info' logs one line per request. [SPARTAKUS_LOG_LEVEL]"
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # refused at startup, not at the first request
        return value
