"""``make compose-test``: wired into CI, and running exactly what the README's compose section shows."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from itertools import dropwhile
from pathlib import Path

from tests.compose.run import README_COMMANDS
from tests.compose.stack import PORT_VARIABLES, VOLUNTEER_ENV, VOLUNTEER_RUN

ROOT = Path(__file__).resolve().parents[2]


def readme_compose_lines() -> list[list[str]]:
    """The lines of the first shell block under "Run it with compose" as words, comments dropped."""
    section = (ROOT / "README.md").read_text().split("## Run it with compose", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block, "the compose section has a shell block"
    return [words for words in (shlex.split(line, comments=True) for line in block[1].splitlines()) if words]


def readme_compose_commands() -> list[list[str]]:
    """The block's commands, the variable assignments before them dropped."""
    return [list(dropwhile(is_assignment, words)) for words in readme_compose_lines()]


def is_assignment(word: str) -> bool:
    return re.fullmatch(r"[A-Z_]+=.*", word) is not None


def test_the_readme_compose_section_is_what_make_compose_test_runs() -> None:
    docker = [words for words in readme_compose_commands() if words[0] == "docker"]

    assert docker == [list(command) for command in README_COMMANDS]


def test_the_readmes_volunteer_runs_with_the_variables_the_suite_gives_it() -> None:
    (line,) = [words for words in readme_compose_lines() if words[-len(VOLUNTEER_RUN) :] == list(VOLUNTEER_RUN)]
    assignments = dict(word.split("=", 1) for word in line if is_assignment(word))

    assert assignments == VOLUNTEER_ENV


def test_the_readme_builds_the_local_base_images_with_the_script_the_test_uses() -> None:
    commands = readme_compose_commands()

    assert commands[0] == ["eval", "$(deploy/local-images/build.sh)"]
    assert (ROOT / "deploy" / "local-images" / "build.sh").stat().st_mode & 0o111


def test_ci_runs_the_compose_suite_after_the_unit_and_integration_suite() -> None:
    script = (ROOT / ".ci" / "run").read_text()
    makefile = (ROOT / "Makefile").read_text()

    assert script.index("run_target test ") < script.index("run_target compose-test ")
    assert "deploy/compose-engine.sh start" in makefile
    assert "-m tests.compose.run" in makefile


def test_the_stack_publishes_only_the_ports_the_test_chooses() -> None:
    compose = (ROOT / "compose.yaml").read_text()

    published = re.findall(r'"127\.0\.0\.1:\$\{(\w+):-\d+\}:\d+"', compose)
    assert sorted(published) == sorted(PORT_VARIABLES)


def test_the_shell_scripts_parse() -> None:
    for script in ("deploy/compose-engine.sh", "deploy/local-images/build.sh"):
        result = subprocess.run(["bash", "-n", str(ROOT / script)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stderr


def test_without_a_docker_engine_the_compose_suite_says_so_and_fails(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.compose.run"],
        cwd=ROOT,
        env={**os.environ, "PATH": str(tmp_path)},  # no docker command at all
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1
    assert "no Docker engine answers" in result.stderr
    assert "passed" not in result.stdout
