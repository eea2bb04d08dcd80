"""``spartakus dashboard`` settings, built once at the CLI."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from runtime.settings import GoDuration, LogLevel, settings_config

DEFAULT_DATABASE = "duckdb:///spartakus.duckdb"


class DashboardSettings(BaseSettings):
    """Serve the adoption dashboard, read-only, from a writer's store. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus dashboard")

    database: str = Field(
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
    log_level: LogLevel = Field(default="info", description="Log level, in any case. [SPARTAKUS_LOG_LEVEL]")

    @field_validator("window")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("the window must be longer than 0, e.g. 720h")
        return value
