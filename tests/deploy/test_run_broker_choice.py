"""Which broker ``make run`` starts when none answers, and how it is told not to: ``spartakus.own_broker``.

The compose way runs against a stand-in ``docker`` on ``PATH`` that records what it was asked (the real compose
stack is ``make compose-test``'s); the private node itself is driven whole in ``test_run_own_broker.py``.
"""

from __future__ import annotations

import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from runtime.settings import load_settings
from spartakus import own_broker, run
from tests.support.services import free_port

FAKE_DOCKER = """#!/bin/sh
# A stand-in for the docker CLI: records each call, answers `docker info`, fails `compose up` on request.
printf '%s\\n' "$(printf '%s ' "$@")|$RABBITMQ_PORT|$RABBITMQ_DEFAULT_USER|$RABBITMQ_DEFAULT_PASS" >> "$DOCKER_CALLS"
if [ "$1" = compose ] && [ "$4" = up ] && [ -n "$DOCKER_FAIL" ]; then
  echo "Error response from daemon: pull access denied for rabbitmq" >&2
  exit 18
fi
exit 0
"""


@pytest.fixture
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``docker`` on PATH that records its calls in the returned file; no RabbitMQ package to be found."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(docker.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "docker-calls"
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DOCKER_CALLS", str(calls))
    monkeypatch.setattr(own_broker, "node_tools", lambda: None)
    return calls


def test_a_local_url_names_the_address_port_and_user_a_broker_started_here_gets() -> None:
    target = own_broker.local_target("amqp://spartakus:s%40cret@localhost:5999/reports")

    assert target == own_broker.LocalTarget(
        "amqp://spartakus:s%40cret@localhost:5999/reports", "127.0.0.1", 5999, "spartakus", "s@cret", "reports"
    )
    default = own_broker.local_target("amqp://127.0.0.1")
    assert default is not None
    assert (default.port, default.user, default.password, default.vhost) == (5672, "guest", "guest", "/")


@pytest.mark.parametrize(
    "url",
    ["amqps://guest:guest@localhost:5671/", "amqp://guest:guest@192.0.2.10:5672/", "amqp://rabbit.invalid:5672/"],
)
def test_no_broker_is_started_for_tls_or_for_another_machine(url: str) -> None:
    assert own_broker.local_target(url) is None


def test_the_node_config_listens_where_the_url_points_and_lets_its_user_in() -> None:
    target = own_broker.LocalTarget("amqp://u:p@127.0.0.1:5999/v", "127.0.0.1", 5999, "u", "p", "v")

    assert own_broker.node_config(target).splitlines() == [
        "listeners.tcp.1 = 127.0.0.1:5999",
        "default_user = u",
        "default_pass = p",
        "default_vhost = v",
    ]


def test_without_rabbitmq_installed_compose_starts_its_service_on_the_urls_port_and_stops_it(
    fake_docker: Path, tmp_path: Path
) -> None:
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services: {}\n")

    broker = own_broker.start_own_broker(
        "amqp://alice:pw@127.0.0.1:5999/",
        tmp_path,
        answers=lambda: True,
        stop=threading.Event(),
        compose_file=compose_file,
    )
    assert broker is not None
    broker.stop()

    calls = fake_docker.read_text().splitlines()
    assert calls == [
        "info |||",
        f"compose -f {compose_file} up --detach --wait rabbitmq |5999|alice|pw",
        f"compose -f {compose_file} stop rabbitmq |5999|alice|pw",
    ]
    assert broker.description == "the compose service rabbitmq"
    assert not (tmp_path / "rabbitmq").exists(), "no private node was attempted"


@pytest.mark.usefixtures("fake_docker")
def test_a_failing_compose_up_is_reported_with_composes_own_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOCKER_FAIL", "1")
    compose_file = tmp_path / "compose.yaml"
    compose_file.write_text("services: {}\n")

    with pytest.raises(own_broker.OwnBrokerError, match=r"(?s)exit code 18.*pull access denied"):
        own_broker.start_own_broker(
            "amqp://127.0.0.1:5999/", tmp_path, answers=lambda: True, stop=threading.Event(), compose_file=compose_file
        )


def test_with_neither_rabbitmq_nor_docker_main_explains_both_ways(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(own_broker, "node_tools", lambda: None)
    monkeypatch.setattr(own_broker, "docker_engine_answers", lambda: False)
    port = free_port()

    code = run.main([f"--amqp-url=amqp://guest:s3cret@127.0.0.1:{port}/", f"--data-dir={tmp_path}"])

    captured = capsys.readouterr()
    assert code == 1
    assert f"none answers at amqp://guest:***@127.0.0.1:{port}/: starting one" in captured.out
    assert f"RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:{port}/" in captured.err
    assert "docker compose up -d rabbitmq" in captured.err
    assert "rabbitmq-server -detached" in captured.err
    assert not (tmp_path / "logs").exists()


def test_a_broker_is_started_unless_no_broker_or_start_broker_0(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(run.RunSettings, []).start_broker is True
    assert load_settings(run.RunSettings, ["--no-broker"]).start_broker is False
    monkeypatch.setenv("SPARTAKUS_START_BROKER", "0")
    assert load_settings(run.RunSettings, []).start_broker is False
    assert load_settings(run.RunSettings, ["--broker"]).start_broker is True


def test_the_node_name_is_kept_with_the_data_so_a_restart_finds_its_queues(tmp_path: Path) -> None:
    first = own_broker._node_name(tmp_path)
    again = own_broker._node_name(tmp_path)

    assert first == again
    assert first.startswith("spartakus-")
    assert first.endswith("@localhost")
    (other := tmp_path / "other").mkdir()
    assert own_broker._node_name(other) != first, "two data directories are two nodes"


def test_no_broker_is_started_on_a_port_another_server_holds(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        with pytest.raises(own_broker.OwnBrokerError, match=f"127.0.0.1:{port} is taken by a server that is not"):
            own_broker.start_own_broker(
                f"amqp://127.0.0.1:{port}/", tmp_path, answers=lambda: False, stop=threading.Event()
            )
    assert not (tmp_path / "rabbitmq").exists()


def test_for_a_broker_on_another_machine_main_starts_nothing_and_explains(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code = run.main(["--amqp-url=amqp://guest:guest@192.0.2.10:5672/", f"--data-dir={tmp_path}"])

    captured = capsys.readouterr()
    assert code == 1
    assert "starting one" not in captured.out
    assert "RabbitMQ is not reachable at amqp://guest:***@192.0.2.10:5672/" in captured.err
    assert not (tmp_path / "rabbitmq").exists()


def test_a_node_that_exits_while_booting_is_reported_with_its_log(tmp_path: Path) -> None:
    server = tmp_path / "rabbitmq-server"
    server.write_text("#!/bin/sh\necho 'ERROR: could not bind to distribution port' >&2\nexit 1\n")
    server.chmod(0o755)
    target = own_broker.LocalTarget("amqp://127.0.0.1:5999/", "127.0.0.1", 5999, "guest", "guest", "/")

    with pytest.raises(
        own_broker.OwnBrokerError, match=r"the private node exited with code 1; its log: .*console\.log"
    ):
        own_broker.start_private_node(
            target, tmp_path / "data", str(server), answers=lambda: False, stop=threading.Event()
        )
    log = tmp_path / "data" / "rabbitmq" / "log" / "console.log"
    assert "could not bind to distribution port" in log.read_text()
