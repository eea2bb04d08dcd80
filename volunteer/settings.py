"""Volunteer settings: the original Spartakus volunteer's flags, plus ``--kubeconfig`` and a few of our own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings

from runtime.settings import GoDuration, settings_config
from schema.report import CLUSTER_ID_MAX
from volunteer.plan import STDOUT

DEFAULT_DATABASE = "https://spartakus.k8s.io"


class VolunteerSettings(BaseSettings):
    """Send anonymous usage reports of this cluster. Every flag also reads SPARTAKUS_<FLAG>."""

    # An unknown or malformed flag becomes a one-line ConfigError instead of argparse's usage dump.
    model_config = {**settings_config("spartakus volunteer"), "cli_exit_on_error": False}

    cluster_id: str = Field(
        min_length=1,
        max_length=CLUSTER_ID_MAX,
        description="Identifier of this cluster, a UUID by convention; 'auto' derives one from the kube-system "
        "namespace's UID. [SPARTAKUS_CLUSTER_ID]",
    )
    database: str = Field(
        default=DEFAULT_DATABASE,
        description="Collector base URL (http[s]://host[:port]; POSTed to <base>/api/v1) or 'stdout'. "
        "[SPARTAKUS_DATABASE]",
    )
    period: GoDuration = Field(
        default="24h",  # type: ignore[assignment]  # parsed by GoDuration
        description="Time between reports, Go-style (24h, 90m, 1h30m); 0 reports once. [SPARTAKUS_PERIOD]",
    )
    extensions: Path | None = Field(
        default=None, description="A JSON file of extensions, or a directory of them. [SPARTAKUS_EXTENSIONS]"
    )
    kubeconfig: Path | None = Field(
        default=None,
        description="Kubeconfig file; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config. "
        "[SPARTAKUS_KUBECONFIG]",
    )
    timeout: GoDuration = Field(
        default="30s",  # type: ignore[assignment]  # parsed by GoDuration
        description="Timeout of each HTTP request, to the Kubernetes API and to the collector. [SPARTAKUS_TIMEOUT]",
    )
    retry_budget: GoDuration | None = Field(
        default=None,
        description=(
            "How long one report may keep retrying; default: 2m with --period=0, else 0.9 x the period. "
            "[SPARTAKUS_RETRY_BUDGET]"
        ),
    )
    gzip: bool = Field(
        default=False,
        description="Compress the POST body (Content-Encoding: gzip); only for collectors that accept it. "
        "[SPARTAKUS_GZIP]",
    )
    page_size: int = Field(
        default=500, ge=1, le=10_000, description="Nodes asked for per list request (limit). [SPARTAKUS_PAGE_SIZE]"
    )
    v: int = Field(
        default=0, ge=0, description="Log verbosity, as in the original: 0 info, 1 or more debug. [SPARTAKUS_V]"
    )
    version: bool = Field(default=False, description="Print the version and exit.")
    print_databases: bool = Field(default=False, description="Print example values for --database and exit.")

    @field_validator("database")
    @classmethod
    def _database(cls, value: str) -> str:
        if value == STDOUT:
            return value
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError(f"must be {STDOUT!r} or an http(s)://host[:port] URL, not {value!r}")
        return value

    @field_validator("period")
    @classmethod
    def _period(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value

    @field_validator("timeout", "retry_budget")
    @classmethod
    def _positive(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be positive")
        return value

    @field_validator("extensions")
    @classmethod
    def _extensions(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"{str(value)!r} does not exist")
        return value

    @property
    def one_shot(self) -> bool:
        """``--period=0``: report once, and exit non-zero if that report was not delivered."""
        return self.period == timedelta(0)

    @property
    def retry_seconds(self) -> float:
        """How long one report may keep retrying, in seconds."""
        if self.retry_budget is not None:
            return self.retry_budget.total_seconds()
        if self.one_shot:
            return 120.0
        return 0.9 * self.period.total_seconds()
