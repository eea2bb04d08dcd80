"""compose.yaml: valid against the Compose specification, and the pipeline it promises.

check-jsonschema validates the file against the Compose specification's schema (bundled with it, so offline), and the
tests read what ``docker compose up`` would start. ``make compose-test`` (tests/compose) runs the stack for real.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from runtime.settings import parse_duration
from tests.deploy.roles import unknown_variables

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
SPARTAKUS_SERVICES = ("ingest", "writer", "dashboard", "volunteer")


def check_jsonschema() -> str:
    """The check-jsonschema beside this interpreter (the project's virtualenv), else the one on PATH."""
    beside = Path(sys.executable).with_name("check-jsonschema")
    found = str(beside) if beside.exists() else shutil.which("check-jsonschema")
    assert found, "check-jsonschema is in the test extra: pip install -e '.[test]'"
    return found


def validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [check_jsonschema(), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def healthcheck_command(service: dict[str, Any]) -> str:
    return " ".join(service["healthcheck"]["test"])


def test_compose_yaml_is_valid_against_the_compose_specification() -> None:
    result = validate(COMPOSE)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok -- validation done" in result.stdout


def test_the_validation_catches_a_misspelled_key(tmp_path: Path) -> None:
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:", "    healthchek:", 1))

    result = validate(broken)

    assert result.returncode != 0
    assert "healthchek" in result.stdout


def test_the_whole_pipeline_is_there_and_the_test_stand_in_only_in_its_profile(
    services: dict[str, dict[str, Any]],
) -> None:
    assert set(services) == {"rabbitmq", "bigquery", "ingest", "writer", "dashboard", "volunteer", "kube-api"}
    assert services["kube-api"]["profiles"] == ["test"]
    assert services["volunteer"]["profiles"] == ["volunteer"]


def test_rabbitmq_is_the_official_image_with_a_healthcheck_and_a_volume(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    rabbitmq = services["rabbitmq"]

    assert re.fullmatch(r"\$\{RABBITMQ_IMAGE:-rabbitmq:[\w.]+-management\}", rabbitmq["image"])
    assert "rabbitmq-diagnostics" in healthcheck_command(rabbitmq)
    assert "rabbitmq-data:/var/lib/rabbitmq" in rabbitmq["volumes"]
    assert "rabbitmq-data" in compose["volumes"]
    assert rabbitmq["hostname"] == "rabbitmq", "the data directory is keyed by node name"


def test_the_bigquery_emulator_is_built_with_its_extensions_on_the_chosen_python(
    services: dict[str, dict[str, Any]],
) -> None:
    bigquery = services["bigquery"]

    assert bigquery["build"]["context"] == "deploy/bqemulator"
    assert (ROOT / "deploy" / "bqemulator" / "Dockerfile").exists()
    assert bigquery["build"]["args"] == {
        "PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim}",
        "EXTENSIONS": "${BQEMULATOR_EXTENSIONS:-on}",
    }
    assert "http://127.0.0.1:9050/readyz" in healthcheck_command(bigquery)


def test_ingest_is_healthy_only_when_ready_and_listens_on_8080(services: dict[str, dict[str, Any]]) -> None:
    ingest = services["ingest"]

    assert ingest["command"] == ["ingest"]
    assert "http://127.0.0.1:8080/readyz" in healthcheck_command(ingest)
    assert ingest["environment"]["SPARTAKUS_PORT"] == "8080"
    assert any(port.endswith(":8080") for port in ingest["ports"])


def test_three_writers_write_to_bigquery_through_the_emulator(services: dict[str, dict[str, Any]]) -> None:
    writer = services["writer"]
    env = writer["environment"]

    assert writer["command"] == ["writer"]
    assert writer["deploy"]["replicas"] == 3
    assert re.fullmatch(r"bigquery://[\w-]+\.\w+\.\w+", env["SPARTAKUS_DATABASE"])
    assert env["BIGQUERY_EMULATOR_HOST"] == "http://bigquery:9050"
    assert env["SPARTAKUS_BIGQUERY_WRITE_ENDPOINT"] == "bigquery:9060"
    assert f"http://127.0.0.1:{env['SPARTAKUS_METRICS_PORT']}/metrics" in healthcheck_command(writer)
    assert "ports" not in writer, "replicas cannot share a published host port"
    grace, batch = parse_duration(writer["stop_grace_period"]), parse_duration(env["SPARTAKUS_BATCH_MAX_WAIT"])
    assert grace.total_seconds() >= 30
    assert grace > batch


def test_the_dashboard_reads_the_writers_table_on_the_emulator_and_is_healthy_on_its_port(
    services: dict[str, dict[str, Any]],
) -> None:
    dashboard = services["dashboard"]
    env = dashboard["environment"]

    assert dashboard["command"] == ["dashboard"]
    assert env["SPARTAKUS_DATABASE"] == services["writer"]["environment"]["SPARTAKUS_DATABASE"]
    assert env["BIGQUERY_EMULATOR_HOST"] == services["writer"]["environment"]["BIGQUERY_EMULATOR_HOST"]
    assert dashboard["ports"] == ["127.0.0.1:${SPARTAKUS_DASHBOARD_PORT:-8090}:8090"]
    assert f"http://127.0.0.1:{env['SPARTAKUS_PORT']}/healthz" in healthcheck_command(dashboard)


def test_the_volunteer_is_opt_in_and_reads_a_mounted_kubeconfig(services: dict[str, dict[str, Any]]) -> None:
    volunteer = services["volunteer"]
    env = volunteer["environment"]

    assert volunteer["profiles"] == ["volunteer"]
    assert volunteer["command"] == ["volunteer"]
    mounts = [v for v in volunteer["volumes"] if v["target"] == env["SPARTAKUS_KUBECONFIG"]]
    assert len(mounts) == 1
    assert mounts[0]["type"] == "bind"
    assert mounts[0]["read_only"] is True
    assert env["SPARTAKUS_DATABASE"] == "http://ingest:8080"


def test_dependencies_wait_for_healthy_services(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "ingest": {"rabbitmq"},
        "writer": {"rabbitmq", "bigquery"},
        "dashboard": {"bigquery"},
        "volunteer": {"ingest"},
    }

    for name, needs in expected.items():
        depends_on = services[name]["depends_on"]
        assert set(depends_on) == needs, name
        for needed in needs:
            assert depends_on[needed]["condition"] == "service_healthy", (name, needed)
            assert "healthcheck" in services[needed], f"{needed} must have a healthcheck to be waited on"


def test_only_ingest_builds_the_spartakus_image_and_every_role_runs_it_with_variables_it_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    builders = [name for name, service in services.items() if service.get("build", {}).get("context") == "."]
    assert builders == ["ingest"], "compose builds an image once per service that has a build section"
    assert services["ingest"]["build"]["args"] == {"PYTHON_IMAGE": "${PYTHON_IMAGE:-python:3.11-slim}"}
    for name in SPARTAKUS_SERVICES:
        service = services[name]
        assert service["image"] == services["ingest"]["image"]
        if name != "ingest":
            assert service["pull_policy"] == "never", "no registry has this image: it is the one ingest built"
        assert service["read_only"] is True
        assert service["cap_drop"] == ["ALL"]
        assert unknown_variables(name, service["environment"]) == [], name


def test_the_test_profiles_kubernetes_api_stand_in_runs_the_spartakus_image_read_only(
    services: dict[str, dict[str, Any]],
) -> None:
    stand_in = services["kube-api"]

    assert stand_in["image"] == services["ingest"]["image"]
    assert stand_in["entrypoint"][:3] == ["python", "-m", "tests.compose.kube_api"]
    assert (ROOT / "tests" / "compose" / "kube_api.py").exists()
    assert stand_in["read_only"] is True
    assert stand_in["cap_drop"] == ["ALL"]
    assert "http://127.0.0.1:6443/version" in healthcheck_command(stand_in)
