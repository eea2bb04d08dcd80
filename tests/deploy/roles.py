"""The settings each ``spartakus`` role reads, to check that deployment files set only variables that exist."""

from __future__ import annotations

from collections.abc import Iterable

from pydantic_settings import BaseSettings

from dashboard.settings import DashboardSettings
from ingest.settings import IngestSettings
from runtime.settings import ENV_PREFIX
from volunteer.settings import VolunteerSettings
from writer.settings import WriterSettings

ROLE_SETTINGS: dict[str, type[BaseSettings]] = {
    "ingest": IngestSettings,
    "writer": WriterSettings,
    "volunteer": VolunteerSettings,
    "dashboard": DashboardSettings,
}


def unknown_variables(role: str, names: Iterable[str]) -> list[str]:
    """The ``SPARTAKUS_*`` names among ``names`` that no setting of ``role`` reads (a typo is silently ignored)."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in ROLE_SETTINGS[role].model_fields}
    return sorted(name for name in names if name.startswith(ENV_PREFIX) and name not in known)
