"""Volunteer settings: the original Spartakus volunteer's flags, plus ``--kubeconfig`` and a few of our own.

``spartakus volunteer`` builds them once. A periodic volunteer's report
processes get them as data (``to_handover``, carried by
``volunteer.periodic.Handover``) and validate them back
(``from_handover``), so a new flag is a new field here and nothing more.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings

from runtime.settings import ConfigError, GoDuration, settings_config
from schema.report import CLUSTER_ID_MAX

PROG: Final = "spartakus volunteer"
DEFAULT_DATABASE: Final = "https://spartakus.k8s.io"
STDOUT: Final = "stdout"
"""The ``--database`` value that prints reports instead of sending them."""

# Whether validation looks at the machine (that --extensions exists): at start, yes; when a report process takes the
# settings over, no, because a file that went away since is the report's to log, not a reason to refuse the report.
_AT_START: ContextVar[bool] = ContextVar("_AT_START", default=True)


class VolunteerSettings(BaseSettings):
    """Send anonymous usage reports of this cluster. Every flag also reads SPARTAKUS_<FLAG>."""

    # An unknown or malformed flag becomes a one-line ConfigError instead of argparse's usage dump.
    # Durations travel to report processes as seconds, which GoDuration reads back.
    model_config = {**settings_config(PROG), "cli_exit_on_error": False, "ser_json_timedelta": "float"}

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
        if value is not None and _AT_START.get() and not value.exists():
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

    def to_handover(self) -> dict[str, Any]:
        """These settings as JSON data, for ``from_handover`` in another process."""
        return self.model_dump(mode="json")

    @classmethod
    def from_handover(cls, data: Mapping[str, Any]) -> VolunteerSettings:
        """The settings that ``to_handover`` gave, validated again; what start-up checked on the machine is not.

        Raises:
            ConfigError: ``data`` is not such settings.
        """
        at_start = _AT_START.set(False)
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise ConfigError(f"not volunteer settings: {problems}") from e
        finally:
            _AT_START.reset(at_start)
