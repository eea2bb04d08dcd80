"""``make compose-test``: build the images, bring the stack up, run the end-to-end suite against it, take it down.

The commands are the README's ("Run it with compose"), in a compose project of this run's own (host ports free and
below the ephemeral range, so that nothing else on the machine is touched):

1. base images: the official ones when they are present or can be pulled, else local stand-ins built by
   ``deploy/local-images/build.sh`` (no image registry answers on some machines);
2. ``docker compose build``;
3. ``docker compose up --wait``, timing how long each service takes to become healthy;
4. ``pytest tests/compose`` against the running stack;
5. ``docker compose down -v``, whatever happened before.

It prints the image sizes (``docker images``, ``docker history`` of the Spartakus image) and each step's duration.
The Docker engine itself is ``deploy/compose-engine.sh``'s job (the Makefile runs it first).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Final

from tests.compose.stack import PORT_VARIABLES, PROJECT_ENV, ROOT, VOLUNTEER_RUN, compose_command
from tests.support.services import free_port

BUILD: Final = compose_command("build")
UP: Final = compose_command("up", "--wait")
DOWN: Final = compose_command("--profile", "test", "--profile", "volunteer", "down", "-v", "--remove-orphans")
README_COMMANDS: Final = (BUILD, UP, compose_command(*VOLUNTEER_RUN), compose_command("down", "-v"))
"""The README's compose section, in its order: this run, with the volunteer's run in the suite (DOWN adds the profiles
and ``--remove-orphans`` only so that the suite's extra containers go too)."""
OFFICIAL_IMAGES: Final = {"PYTHON_IMAGE": "python:3.11-slim", "RABBITMQ_IMAGE": "rabbitmq:4.1-management"}
LOCAL_IMAGES: Final = ROOT / "deploy" / "local-images" / "build.sh"
HEALTH_TIMEOUT: Final = 300.0


def say(message: str) -> None:
    print(f"==> compose-test: {message}", flush=True)


def run(command: Sequence[str], env: dict[str, str], *, timeout: float = 1800) -> float:
    """Run ``command`` with its output shown; its duration. A failure stops the run."""
    say(" ".join(command))
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, env=env, check=True, timeout=timeout)
    return time.monotonic() - started


def pullable(image: str) -> bool:
    """Whether ``image`` is here or a registry gives it."""
    inspect = ["docker", "image", "inspect", image]
    if subprocess.run(inspect, capture_output=True, check=False, timeout=60).returncode == 0:
        return True
    return (
        subprocess.run(["docker", "pull", "-q", image], capture_output=True, check=False, timeout=300).returncode == 0
    )


def base_images(env: dict[str, str]) -> dict[str, str]:
    """PYTHON_IMAGE and RABBITMQ_IMAGE: as given, else the official images, else local stand-ins."""
    chosen = {name: env[name] for name in OFFICIAL_IMAGES if env.get(name)}
    if len(chosen) == len(OFFICIAL_IMAGES):
        return chosen
    if all(pullable(image) for image in OFFICIAL_IMAGES.values()):
        return {**OFFICIAL_IMAGES, **chosen}
    say("no registry gives the official base images: building local stand-ins (deploy/local-images/build.sh)")
    exports = subprocess.run(
        [str(LOCAL_IMAGES)], env=env, capture_output=False, stdout=subprocess.PIPE, text=True, check=True, timeout=1800
    ).stdout
    local = dict(item.split("=", 1) for item in exports.split()[1:])
    return {**local, **chosen}


def environment() -> dict[str, str]:
    """This run's compose variables: its own project name and host ports, offline-friendly builds."""
    env = dict(os.environ)
    env["COMPOSE_PROJECT_NAME"] = env[PROJECT_ENV] = f"spartakus-e2e-{uuid.uuid4().hex[:8]}"
    for name in PORT_VARIABLES:
        env[name] = str(free_port())
    buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True, check=False, timeout=60)
    if buildx.returncode != 0:  # compose builds with BuildKit only through buildx; the classic builder otherwise
        env.setdefault("DOCKER_BUILDKIT", "0")
    # Builds reach PyPI through the host's network (an engine may give containers no route out); the emulator's
    # DuckDB extensions come from extensions.duckdb.org, which Spartakus does not need: left out.
    env.setdefault("SPARTAKUS_BUILD_NETWORK", "host")
    env.setdefault("BQEMULATOR_EXTENSIONS", "off")
    # The tests send many reports from this one host, several per cluster id: the flood limits stay off.
    env.setdefault("SPARTAKUS_MIN_REPORT_INTERVAL", "0")
    env.setdefault("SPARTAKUS_NEW_CLUSTERS_PER_SOURCE", "0")
    env.update(base_images(env))
    return env


def container_health(env: dict[str, str]) -> dict[str, str]:
    """Each container of the project (name) and its health, or its state when it has no healthcheck."""
    out = subprocess.run(
        [*compose_command("ps", "--all", "--format", "json")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    ).stdout
    entries = [json.loads(line) for line in out.splitlines() if line.strip()]
    return {entry["Name"]: entry.get("Health") or entry.get("State", "") for entry in entries}


def watch_health(env: dict[str, str], started: float, healthy_at: dict[str, float], done: threading.Event) -> None:
    """Record when each container first reports healthy, seconds after ``started`` (``up --wait`` polls the same)."""
    while not done.is_set():
        for name, health in container_health(env).items():
            if health == "healthy" and name not in healthy_at:
                healthy_at[name] = time.monotonic() - started
        done.wait(0.5)


def up(env: dict[str, str]) -> tuple[float, dict[str, float]]:
    """``docker compose up --wait``; its duration, and the time to healthy of every container."""
    healthy_at: dict[str, float] = {}
    done = threading.Event()
    started = time.monotonic()
    watcher = threading.Thread(target=watch_health, args=(env, started, healthy_at, done), daemon=True)
    watcher.start()
    try:
        took = run(UP, env, timeout=HEALTH_TIMEOUT)
    finally:
        done.set()
        watcher.join(timeout=10)
    return took, healthy_at


def show_images(env: dict[str, str]) -> None:
    """Image sizes for the record: every image of the stack, and the Spartakus image's layers."""
    tag = env.get("SPARTAKUS_IMAGE_TAG", "local")
    say("images")
    subprocess.run(["docker", "images"], check=False, timeout=60)
    say(f"docker history spartakus:{tag}")
    subprocess.run(
        ["docker", "history", "--format", "{{.Size}}\t{{.CreatedBy}}", f"spartakus:{tag}"], check=False, timeout=60
    )


def main() -> int:
    if (
        shutil.which("docker") is None
        or subprocess.run(["docker", "info"], capture_output=True, check=False, timeout=60).returncode != 0
    ):
        print("compose-test: no Docker engine answers (deploy/compose-engine.sh start sets one up)", file=sys.stderr)
        return 1
    env = environment()
    say(f"project {env['COMPOSE_PROJECT_NAME']}, ports " + ", ".join(f"{n}={env[n]}" for n in PORT_VARIABLES))
    timings: dict[str, float] = {}
    status = 1
    try:
        timings["build"] = run(BUILD, env)
        timings["up --wait"], healthy_at = up(env)
        for name, seconds in sorted(healthy_at.items(), key=lambda item: item[1]):
            say(f"healthy after {seconds:5.1f} s: {name}")
        started = time.monotonic()
        say("pytest tests/compose")
        status = subprocess.run(
            [sys.executable, "-m", "pytest", "tests/compose", "-v", "--durations=0", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            check=False,
            timeout=1800,
        ).returncode
        timings["suite"] = time.monotonic() - started
        show_images(env)
    finally:
        timings["down -v"] = run(DOWN, env, timeout=300)
    say("durations: " + ", ".join(f"{step} {seconds:.1f} s" for step, seconds in timings.items()))
    return status


if __name__ == "__main__":
    sys.exit(main())
