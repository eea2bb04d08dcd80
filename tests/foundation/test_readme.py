"""The README's configuration reference covers every flag and variable the commands take."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from dashboard.settings import DashboardSettings
from ingest.settings import IngestSettings
from spartakus.run import RunSettings
from volunteer.settings import VolunteerSettings
from writer.reports import ReportsSettings
from writer.settings import DlqSettings, QueuesSettings, WriterSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")

# Positional arguments and CLI-only switches have no SPARTAKUS_ variable worth documenting.
NOT_ENVIRONMENT = {"action", "json_output"}


@pytest.mark.parametrize(
    "settings",
    [
        VolunteerSettings,
        IngestSettings,
        WriterSettings,
        DlqSettings,
        QueuesSettings,
        ReportsSettings,
        RunSettings,
        DashboardSettings,
    ],
)
def test_every_flag_and_variable_is_documented(settings: type[BaseSettings]) -> None:
    missing = []
    for name, info in settings.model_fields.items():
        flag = f"`--{(info.alias or name).replace('_', '-')}`"
        if name != "action" and flag not in README:
            missing.append(flag)
        if name not in NOT_ENVIRONMENT and f"`SPARTAKUS_{name.upper()}`" not in README:
            missing.append(f"SPARTAKUS_{name.upper()}")
    assert missing == []


def test_readme_opens_with_the_two_commands() -> None:
    commands = README.split("## Two commands", 1)[1].split("```", 2)[1]
    assert [line.split()[0:2] for line in commands.strip().splitlines()[1:]] == [["make", "run"], ["make", "test"]]
