"""Writer and dead-letter tool settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import ByteSize, Field, field_validator
from pydantic_settings import BaseSettings, CliPositionalArg

from runtime.flags import DEFAULT_AMQP_URL, AmqpUrlFlag, ConnectionNameFlag, LogLevelFlag, QueueFlag
from runtime.settings import GoDuration, settings_config
from runtime.stores import DEFAULT_DATABASE, AnyDatabase
from schema.topology import DEFAULT_QUEUE
from writer.batch import DEFAULT_BATCH_MAX_BYTES
from writer.holding import DEFAULT_MAX_HELD_BYTES


class WriterSettings(BaseSettings):
    """Write reports from RabbitMQ to a store in batches. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus writer")

    amqp_url: AmqpUrlFlag = DEFAULT_AMQP_URL
    queue: QueueFlag = DEFAULT_QUEUE
    database: AnyDatabase = Field(
        default=DEFAULT_DATABASE,
        description="bigquery://project.dataset.table, duckdb:///relative.duckdb, duckdb:////absolute.duckdb "
        "or stdout. [SPARTAKUS_DATABASE]",
    )
    bigquery_api: Literal["storage-write", "insertall"] = Field(
        default="storage-write",
        description="How bigquery:// tables are written: storage-write (the Storage Write API's default stream) or "
        "insertall (the legacy streaming API, for projects that cannot use the other). [SPARTAKUS_BIGQUERY_API]",
    )
    bigquery_write_endpoint: str | None = Field(
        default=None,
        pattern=r"^[^\s/:]+:\d+$",
        description="host:port of a plaintext gRPC Storage Write API, for emulators only; REST calls follow "
        "BIGQUERY_EMULATOR_HOST. [SPARTAKUS_BIGQUERY_WRITE_ENDPOINT]",
    )
    batch_size: int = Field(default=500, ge=1, le=10_000, description="Rows per batch at most. [SPARTAKUS_BATCH_SIZE]")
    batch_max_wait: GoDuration = Field(
        default="1s",  # type: ignore[assignment]  # parsed by GoDuration
        description="Oldest a batch may get before it is written, Go-style. [SPARTAKUS_BATCH_MAX_WAIT]",
    )
    batch_max_bytes: int = Field(
        default=DEFAULT_BATCH_MAX_BYTES,
        ge=1024,
        le=256 * 2**20,
        description="Bytes per batch at most, counted as the BigQuery client sends the rows; BigQuery requests "
        "stay under 10,485,760 bytes whatever this is. [SPARTAKUS_BATCH_MAX_BYTES]",
    )
    max_hold: GoDuration = Field(
        default="20m",  # type: ignore[assignment]  # parsed by GoDuration
        description="How long a batch is held and retried while the store is down before it goes back to the queue; "
        "keep it under RabbitMQ's consumer_timeout (30m by default). [SPARTAKUS_MAX_HOLD]",
    )
    max_held_bytes: int = Field(
        default=DEFAULT_MAX_HELD_BYTES,
        ge=1024,
        description="Bytes of message bodies and decoded rows held at most; past it the writer stops taking "
        "deliveries until half is free. [SPARTAKUS_MAX_HELD_BYTES]",
    )
    retention: GoDuration | None = Field(
        default=None,
        description="Keep reports this long after they were received, e.g. 8760h; unset keeps them forever. "
        "BigQuery: the table's partition expiration; DuckDB: older rows are deleted while the writer is idle. "
        "[SPARTAKUS_RETENTION]",
    )
    duckdb_memory_limit: ByteSize | None = Field(
        default=None,
        description="DuckDB's memory limit, e.g. 512MiB. Default: 40% of the container's memory limit (cgroup), "
        "else a quarter of the machine's up to 1GiB; a checkpoint that fails under it is retried with up to 75% "
        "of the container's. [SPARTAKUS_DUCKDB_MEMORY_LIMIT]",
    )
    connection_name: ConnectionNameFlag = "spartakus-writer"
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, description="Port for /metrics; off when unset. [SPARTAKUS_METRICS_PORT]"
    )
    log_level: LogLevelFlag = "info"

    @field_validator("retention")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("the retention must be longer than 0, e.g. 8760h; leave it unset to keep everything")
        return value


class DlqSettings(BaseSettings):
    """List dead-lettered reports, or replay them to the main queue. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus dlq")

    action: CliPositionalArg[Literal["list", "replay"]] = Field(
        description="list: show dead-lettered reports; replay: move them back."
    )
    amqp_url: AmqpUrlFlag = DEFAULT_AMQP_URL
    queue: QueueFlag = DEFAULT_QUEUE
    limit: int = Field(default=10_000, ge=1, description="Messages to list or replay at most. [SPARTAKUS_LIMIT]")


class QueuesSettings(BaseSettings):
    """Check the queues' arguments against this version's, or migrate them. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus queues")

    action: CliPositionalArg[Literal["check", "migrate"]] = Field(
        description="check: say which queues differ (exit 1 if one does); migrate: re-create them, keeping messages."
    )
    amqp_url: AmqpUrlFlag = DEFAULT_AMQP_URL
    queue: QueueFlag = DEFAULT_QUEUE
