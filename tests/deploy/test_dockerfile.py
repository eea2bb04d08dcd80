"""The container images: one multi-stage, slim, non-root image for every role, and the BigQuery emulator's image."""

from __future__ import annotations

import json
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from spartakus.cli import main as spartakus_main
from tests.deploy.dockerfiles import Stage, parse_dockerfile

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
EMULATOR_DOCKERFILE = ROOT / "deploy" / "bqemulator" / "Dockerfile"
NUMERIC_NON_ROOT_USER = re.compile(r"^(?P<uid>\d+)(:(?P<gid>\d+))?$")


def packages() -> list[str]:
    """The top-level packages the distribution ships, from pyproject.toml."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]


@pytest.fixture(scope="module")
def stages() -> list[Stage]:
    return parse_dockerfile(DOCKERFILE)


def stage_named(stages: list[Stage], name: str) -> Stage:
    (found,) = [stage for stage in stages if stage.name == name]
    return found


def assert_runs_as_numeric_non_root_user(stage: Stage) -> None:
    user = NUMERIC_NON_ROOT_USER.match(stage.last("USER"))
    assert user, f"USER must be numeric (runAsNonRoot cannot verify a name): {stage.last('USER')}"
    assert int(user["uid"]) != 0
    assert user["gid"] is None or int(user["gid"]) != 0


def test_the_image_is_multi_stage_on_python_3_11_slim(stages: list[Stage]) -> None:
    assert len(stages) >= 2
    assert {stage.image for stage in stages} == {"python:3.11-slim"}
    final = stages[-1]
    assert any(value.startswith("--from=build ") for value in final.values("COPY")), "the runtime copies the build"


def test_the_final_stage_runs_as_a_numeric_non_root_user(stages: list[Stage]) -> None:
    assert_runs_as_numeric_non_root_user(stages[-1])


def test_the_entrypoint_is_the_spartakus_command_for_every_role(stages: list[Stage]) -> None:
    final = stages[-1]

    assert json.loads(final.last("ENTRYPOINT")) == ["spartakus"]
    assert "PATH=/opt/spartakus/bin:$PATH" in final.last("ENV"), "the entry point is the virtualenv's script"


def test_the_default_cmd_is_a_command_that_succeeds(stages: list[Stage], capsys: pytest.CaptureFixture[str]) -> None:
    cmd = json.loads(stages[-1].last("CMD"))

    assert spartakus_main(cmd) == 0
    assert "commands:" in capsys.readouterr().out


def test_the_final_stage_installs_nothing_and_ships_no_test_tools(stages: list[Stage]) -> None:
    final = stages[-1]
    assert not any("pip" in run for run in final.values("RUN")), "packages are installed in the build stage only"
    everything = " ".join(value for stage in stages for _, value in stage.instructions)
    assert ".[" not in everything, "no optional extras (the test tools) in the image"
    installs = [run for stage in stages for run in stage.values("RUN") if "pip install" in run]
    assert len(installs) == 2
    dependencies, package = installs
    requirements = stage_named(stages, "requirements")
    assert "['project']['dependencies']" in requirements.last("RUN"), "the runtime dependencies, from pyproject.toml"
    assert "--from=requirements /src/requirements.txt ./" in stage_named(stages, "build").values("COPY")
    assert "pip install --no-compile -r requirements.txt" in dependencies
    assert re.search(r"pip install (--\S+ )*--no-deps \.( |$)", package), package
    assert not any(" -e " in run or "--editable" in run for run in installs)


def test_the_build_prunes_what_no_role_imports_and_proves_every_module_still_imports(stages: list[Stage]) -> None:
    prune = " ".join(stage_named(stages, "build").values("RUN"))

    for unused in ("aiohttp", "pip setuptools"):
        assert f"uninstall -q -y {unused}" in prune or f" {unused} " in prune, unused
    # The writer's Storage Write API client speaks gRPC.
    assert "grpcio" not in prune
    assert "rm -rf /opt/spartakus/lib/python*/site-packages/kubernetes/aio" in prune
    assert '"${DUCKDB}" != "on" ]; then /opt/spartakus/bin/pip uninstall -q -y duckdb' in prune
    assert "/src/deploy/check_imports.py /src/pyproject.toml" in prune
    assert "!deploy/check_imports.py" in (ROOT / ".dockerignore").read_text().splitlines()


def test_every_shipped_package_reaches_the_build_and_tests_and_tools_stay_out(stages: list[Stage]) -> None:
    copied = stage_named(stages, "build").values("COPY")
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines() if not line.startswith("#")}

    assert ". ./" in copied, "the whole context: a new package needs no edit of the Dockerfile"
    assert {".git", ".venv", "tests", "bench", "deploy", "data"} <= ignored
    for package in packages():
        assert not {package, f"{package}/", f"/{package}"} & ignored, package
        assert (ROOT / package / "__init__.py").exists(), package


def test_the_emulator_image_is_non_root_and_preinstalls_its_duckdb_extensions() -> None:
    build, runtime = parse_dockerfile(EMULATOR_DOCKERFILE)

    assert_runs_as_numeric_non_root_user(runtime)
    install = " ".join(build.values("RUN"))
    assert "SET extension_directory = '/opt/duckdb-extensions'" in install
    for extension in ("spatial", "avro"):  # both loaded at start: a start without them would try to download them
        assert f"INSTALL {extension}" in install
        assert f"LOAD {extension}" in install
    # DuckDB looks in $HOME/.duckdb/extensions: the image's HOME must be where the extensions are copied to.
    home = re.search(r"HOME=(\S+)", runtime.last("ENV"))
    assert home
    assert f"--from=build --chown=10002:10002 /opt/duckdb-extensions {home[1]}/.duckdb/extensions" in runtime.values(
        "COPY"
    )
    assert json.loads(runtime.last("ENTRYPOINT")) == ["python", "/opt/bqemulator/launcher.py"]


def test_the_emulator_image_pins_the_bqemulator_the_tests_use() -> None:
    build, _ = parse_dockerfile(EMULATOR_DOCKERFILE)

    assert f"BQEMULATOR_VERSION={version('bqemulator')}" in build.values("ARG")
