"""The ``spartakus`` command: sub-commands, every contract flag in --help, settings from flags and environment."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

from ingest.settings import IngestSettings
from runtime.settings import ConfigError, load_settings, parse_duration, redact_url
from volunteer.settings import VolunteerSettings
from writer.settings import DlqSettings, WriterSettings

CONTRACT_FLAGS = {
    "volunteer": ["--cluster-id", "--database", "--period", "--extensions", "--kubeconfig"],
    "ingest": ["--host", "--port", "--amqp-url", "--queue", "--max-body-bytes"],
    "writer": ["--amqp-url", "--queue", "--database", "--batch-size", "--batch-max-wait", "--metrics-port"],
    "dlq": ["--amqp-url", "--queue", "list", "replay"],
    "queues": ["--amqp-url", "--queue", "check", "migrate"],
}


def _spartakus(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "spartakus", *args], capture_output=True, text=True, check=False, timeout=60
    )


@pytest.mark.parametrize("command", sorted(CONTRACT_FLAGS))
def test_help_lists_every_contract_flag(command: str) -> None:
    result = _spartakus(command, "--help")

    assert result.returncode == 0, result.stderr
    missing = [flag for flag in CONTRACT_FLAGS[command] if flag not in result.stdout]
    assert missing == []


@pytest.mark.parametrize("package", ["volunteer", "ingest", "writer"])
def test_each_package_runs_as_a_module(package: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", package, "--help"], capture_output=True, text=True, check=False, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert f"spartakus {package}" in result.stdout


def test_unknown_command_exits_2_with_usage() -> None:
    result = _spartakus("collector")

    assert result.returncode == 2
    assert "unknown command 'collector'" in result.stderr


def test_missing_cluster_id_is_a_one_line_configuration_error() -> None:
    result = _spartakus("volunteer", "--database=stdout")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == ["spartakus volunteer: error: --cluster-id: Field required"]


def test_flags_and_spartakus_environment_variables_build_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPARTAKUS_AMQP_URL", "amqp://u:p@rabbit:5672/")
    monkeypatch.setenv("SPARTAKUS_BATCH_SIZE", "100")

    settings = load_settings(WriterSettings, ["--batch-max-wait=250ms", "--batch-size=200"])

    assert settings.amqp_url == "amqp://u:p@rabbit:5672/"
    assert settings.batch_size == 200
    assert settings.batch_max_wait == timedelta(milliseconds=250)


def test_volunteer_period_accepts_go_durations() -> None:
    settings = load_settings(VolunteerSettings, ["--cluster-id=c", "--period=1h30m"])

    assert settings.period == timedelta(hours=1, minutes=30)


def test_dlq_takes_its_action_as_a_positional_argument() -> None:
    assert load_settings(DlqSettings, ["replay", "--queue=q"]).action == "replay"


def test_invalid_value_names_the_flag() -> None:
    with pytest.raises(ConfigError, match="--batch-size"):
        load_settings(WriterSettings, ["--batch-size=0"])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", timedelta(hours=24)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("1.5s", timedelta(seconds=1.5)),
        ("250ms", timedelta(milliseconds=250)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1x", "1h 30m", "-1h", "1h30"])
def test_parse_duration_rejects_non_durations(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize("level", ["info", "INFO", "Warning"])
def test_one_log_level_variable_serves_ingest_and_writer(monkeypatch: pytest.MonkeyPatch, level: str) -> None:
    monkeypatch.setenv("SPARTAKUS_LOG_LEVEL", level)

    assert load_settings(IngestSettings, []).log_level == level.lower()
    assert load_settings(WriterSettings, []).log_level == level.lower()


@pytest.mark.parametrize("url", ["foo", "http://broker:5672/", "amqp://broker:port/", "amqp:///"])
def test_a_malformed_amqp_url_is_a_configuration_error(url: str) -> None:
    with pytest.raises(ConfigError, match="--amqp-url"):
        load_settings(WriterSettings, [f"--amqp-url={url}"])


@pytest.mark.parametrize("command", ["ingest", "writer"])
def test_a_malformed_amqp_url_exits_2_with_one_line(command: str) -> None:
    result = _spartakus(command, "--amqp-url=amqp://broker:notaport/")

    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--amqp-url" in result.stderr


def test_a_cluster_id_the_gateway_would_refuse_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="--cluster-id"):
        load_settings(VolunteerSettings, ["--cluster-id=" + "c" * 1025])


SECRET = "s3cr3t-Pa55"  # noqa: S105  # made up: the output must never show it
MALFORMED_URLS = [
    f"amqp://guest:{SECRET}@broker:notaport/",
    f"http://guest:{SECRET}@broker/",
    f"amqp://guest:{SECRET[:4]}/{SECRET[4:]}@broker/",  # a '/' in the password
    f"amqp://guest:{SECRET}@",
    f"amqp://guest:{SECRET}@broker:99999/",
    f"amqp://guest:{SECRET}@broker:5672/?heartbeat=often",
    f"amqps://guest:{SECRET}@broker:5672/?ssl_options=nonsense",
]


@pytest.mark.parametrize("command", [["ingest"], ["writer", "--database", "stdout"], ["dlq", "list"]])
@pytest.mark.parametrize("url", MALFORMED_URLS)
def test_a_malformed_amqp_url_is_refused_at_start_without_showing_its_password(command: list[str], url: str) -> None:
    result = _spartakus(*command, f"--amqp-url={url}")

    assert result.returncode == 2
    assert "--amqp-url" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert SECRET[:4] not in result.stderr + result.stdout
    assert SECRET[4:] not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://spartakus:s3cret@broker:5672/", "amqp://spartakus:***@broker:5672/"),
        ("amqp://broker/", "amqp://broker/"),
        ("amqp://user@broker/", "amqp://user@broker/"),
        ("amqp://u:p@ss@broker/", "amqp://u:***@broker/"),
        ("amqp://u:pa/ss@broker/", "amqp://u:***@broker/"),
        ("amqp://u:secret", "amqp://u:***"),
        ("amqp://broker:5672/", "amqp://broker:5672/"),
        ("amqp://a:x@one/,amqp://b:y@two/", "amqp://a:***@one/,amqp://b:***@two/"),
        ("amqp://a:pa,ss@one/", "amqp://a:***,***@one/"),
    ],
)
def test_redact_url_masks_every_password_however_malformed(url: str, shown: str) -> None:
    assert redact_url(url) == shown
