"""``spartakus dashboard`` settings, built once at the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from runtime.flags import IDLE_TIMEOUT, HeaderTimeoutFlag, IdleTimeoutFlag, LogLevelFlag, MaxHeaderBytesFlag
from runtime.settings import GoDuration, settings_config
from runtime.stores import DEFAULT_DATABASE, ReadableDatabase

REFRESH_DEFAULTS = {"bigquery": 300.0, "duckdb": 10.0}
"""BigQuery bills every view; a DuckDB read makes the writer let go of its file for a moment."""
MAX_BYTES_BILLED = 100_000_000_000
"""100 GB: about five views of a month of reports from a million daily clusters (README, dashboard section)."""


class DashboardSettings(BaseSettings):
    """Serve the adoption dashboard, read-only, from a writer's store. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus dashboard")

    database: ReadableDatabase = Field(
        default=DEFAULT_DATABASE,
        description="The store to read, as the writer takes it: duckdb:///relative.duckdb, "
        "duckdb:////absolute.duckdb or bigquery://project.dataset.table. [SPARTAKUS_DATABASE]",
    )
    host: str = Field(default="127.0.0.1", min_length=1, description="Address to listen on. [SPARTAKUS_HOST]")
    port: int = Field(default=8090, ge=0, le=65535, description="Port to listen on. [SPARTAKUS_PORT]")
    window: GoDuration = Field(
        default="720h",  # type: ignore[assignment]  # parsed by GoDuration
        description="Count clusters that reported within this Go duration. [SPARTAKUS_WINDOW]",
    )
    out: Path | None = Field(
        default=None,
        description="Write the page, with its data, to this one self-contained HTML file and exit. [SPARTAKUS_OUT]",
    )
    min_clusters: int = Field(
        default=5,
        ge=1,
        description="Show a key (a version, an OS image, ...) held by fewer clusters as 'other', in every list "
        "and chart, so that no rare value points at the cluster that sent it. [SPARTAKUS_MIN_CLUSTERS]",
    )
    verified_only: bool = Field(
        default=False,
        description="Count only reports whose signature the gateway verified. [SPARTAKUS_VERIFIED_ONLY]",
    )
    max_bytes_billed: int = Field(
        default=MAX_BYTES_BILLED,
        ge=1,
        description="BigQuery: refuse to run a view that would bill more bytes than this "
        "(maximumBytesBilled). [SPARTAKUS_MAX_BYTES_BILLED]",
    )
    refresh: GoDuration | None = Field(
        default=None,
        description="Read the store at most this often (a Go duration) and serve the last answer in between; "
        "default 5m for BigQuery, 10s for DuckDB. [SPARTAKUS_REFRESH]",
    )
    # Connection bounds, as the gateway's (runtime.connections): the page and its JSON need small heads only.
    max_header_bytes: MaxHeaderBytesFlag = 16 * 1024
    max_connections: int | None = Field(
        default=None,
        ge=1,
        description="Open connections at most; at the limit the longest-idle one is closed, or the new one gets "
        "503. Default: 1024, or less if the file limit says so. [SPARTAKUS_MAX_CONNECTIONS]",
    )
    header_timeout: HeaderTimeoutFlag = timedelta(seconds=10)
    idle_timeout: IdleTimeoutFlag = IDLE_TIMEOUT
    log_level: LogLevelFlag = "info"

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the window must be longer than 0, e.g. 720h")
        return value

    def refresh_seconds(self, dialect: str) -> float:
        """How long an answer is served again: ``--refresh``, or the store's default."""
        if self.refresh is not None:
            return self.refresh.total_seconds()
        return REFRESH_DEFAULTS.get(dialect, REFRESH_DEFAULTS["duckdb"])
