"""Volunteer settings: the original Spartakus volunteer's flags, plus ``--kubeconfig``."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings

from schema.settings import GoDuration, settings_config

DEFAULT_DATABASE = "https://spartakus.k8s.io"


class VolunteerSettings(BaseSettings):
    """Send anonymous usage reports of this cluster. Every flag also reads SPARTAKUS_<FLAG>."""

    model_config = settings_config("spartakus volunteer")

    cluster_id: str = Field(min_length=1, description="Identifier of this cluster, a UUID by convention. [SPARTAKUS_CLUSTER_ID]")
    database: str = Field(
        default=DEFAULT_DATABASE,
        description="Collector base URL (http[s]://host[:port], POSTed to <base>/api/v1) or 'stdout'. [SPARTAKUS_DATABASE]",
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
        description="Kubeconfig file; default: in-cluster config, then $KUBECONFIG, then ~/.kube/config. [SPARTAKUS_KUBECONFIG]",
    )
