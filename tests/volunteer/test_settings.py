"""Volunteer settings: validation at startup and the retry budget's defaults."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from runtime.settings import ConfigError, load_settings
from volunteer.settings import VolunteerSettings


def _settings(*args: str) -> VolunteerSettings:
    return load_settings(VolunteerSettings, ["--cluster-id=c", *args])


def test_defaults_are_the_originals() -> None:
    settings = _settings()

    assert (settings.database, settings.period, settings.gzip) == (
        "https://spartakus.k8s.io",
        timedelta(hours=24),
        False,
    )


@pytest.mark.parametrize("database", ["stdout", "http://collector:8080", "https://spartakus.example.com/"])
def test_database_is_stdout_or_an_http_url(database: str) -> None:
    assert _settings(f"--database={database}").database == database


@pytest.mark.parametrize("database", ["bigquery://p.d.t", "collector:8080", "http://", "ftp://x"])
def test_other_databases_are_configuration_errors(database: str) -> None:
    with pytest.raises(ConfigError, match="--database"):
        _settings(f"--database={database}")


@pytest.mark.parametrize(("flag", "value"), [("--timeout", "0"), ("--retry-budget", "0s"), ("--page-size", "0")])
def test_non_positive_limits_are_configuration_errors(flag: str, value: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        _settings(f"{flag}={value}")


def test_a_missing_extensions_path_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--extensions"):
        _settings(f"--extensions={tmp_path / 'missing'}")


def test_an_unknown_flag_is_a_one_line_configuration_error() -> None:
    with pytest.raises(ConfigError, match="unrecognized arguments: --bogus") as error:
        _settings("--bogus=1")
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("args", "seconds"),
    [((), 0.9 * 24 * 3600), (("--period=0",), 120.0), (("--period=1h", "--retry-budget=5m"), 300.0)],
)
def test_retry_budget_stays_within_one_period(args: tuple[str, ...], seconds: float) -> None:
    assert _settings(*args).retry_seconds == pytest.approx(seconds)


def test_settings_survive_the_handover_to_a_report_process(tmp_path: Path) -> None:
    settings = _settings(
        "--database=https://user:secret@collector.example.com",
        "--period=1h30m",
        "--timeout=2.5s",
        "--retry-budget=10m",
        f"--extensions={tmp_path}",
        f"--kubeconfig={tmp_path / 'kubeconfig'}",
        "--gzip",
        "--page-size=7",
        "-v=2",
    )

    assert VolunteerSettings.from_handover(json.loads(json.dumps(settings.to_handover()))) == settings


def test_an_extensions_path_gone_since_start_does_not_refuse_the_handover(tmp_path: Path) -> None:
    extensions = tmp_path / "extensions.json"
    extensions.write_text("{}")
    handover = _settings(f"--extensions={extensions}").to_handover()
    extensions.unlink()

    assert VolunteerSettings.from_handover(handover).extensions == extensions
    with pytest.raises(ConfigError, match="--extensions"):  # at start, it is still checked
        _settings(f"--extensions={extensions}")


def test_handed_over_data_that_is_not_settings_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="period"):
        VolunteerSettings.from_handover({**_settings().to_handover(), "period": "PT1H"})


def test_the_handover_wins_over_the_environment_of_the_report_process(monkeypatch: pytest.MonkeyPatch) -> None:
    handover = _settings("--page-size=7").to_handover()
    monkeypatch.setenv("SPARTAKUS_PAGE_SIZE", "9")
    monkeypatch.setenv("SPARTAKUS_EXTENSIONS", "/nowhere")

    taken_over = VolunteerSettings.from_handover(handover)

    assert (taken_over.page_size, taken_over.extensions) == (7, None)
