"""Old Deployment args: Go's single-dash long flags, ``--flag=true`` booleans and ``--v=N`` keep working."""

from __future__ import annotations

from datetime import timedelta

import pytest

from runtime.settings import load_settings
from volunteer.flags import normalise_flags
from volunteer.settings import VolunteerSettings


def _normalise(*args: str) -> list[str]:
    return normalise_flags(list(args), VolunteerSettings)


def test_single_dash_long_flags_become_double_dash() -> None:
    assert _normalise("-cluster-id=abc", "-period", "1h", "-database=stdout") == [
        "--cluster-id=abc",
        "--period",
        "1h",
        "--database=stdout",
    ]


def test_go_booleans_become_flags() -> None:
    assert _normalise("--gzip=true", "-gzip=false", "--gzip") == ["--gzip", "--no-gzip", "--gzip"]


@pytest.mark.parametrize("arg", ["--v=2", "-v=2"])
def test_the_originals_verbosity_flag_is_accepted(arg: str) -> None:
    assert _normalise(arg) == ["-v=2"]


def test_values_and_unknown_flags_are_left_alone() -> None:
    assert _normalise("--cluster-id", "-period", "-unknown=1", "--", "-cluster-id") == [
        "--cluster-id",
        "-period",
        "-unknown=1",
        "--",
        "-cluster-id",
    ]


def test_an_original_deployments_args_build_the_same_settings() -> None:
    args = _normalise("-cluster-id=2f9c93d3", "-database=https://spartakus.example.com", "-period=12h", "--v=1")

    settings = load_settings(VolunteerSettings, args)

    assert (settings.cluster_id, settings.database, settings.period, settings.v) == (
        "2f9c93d3",
        "https://spartakus.example.com",
        timedelta(hours=12),
        1,
    )
