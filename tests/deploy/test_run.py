"""``python -m spartakus.run``: the broker check, its advice, the settings, and the supervisor's lifecycle.

The supervisor tests start real child processes (``standin_component.py`` in place of ingest and writer, which
answer on the same readiness URLs) and stop them with real signals. The run with the real components is
``test_run_full.py``; the broker it starts when none answers, ``test_run_broker_choice.py`` and
``test_run_own_broker.py``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Protocol

import pytest

from runtime.settings import ConfigError, load_settings
from spartakus import run
from tests.support.services import free_port, wait_until

STANDIN = Path(__file__).with_name("standin_component.py")


@pytest.fixture
def not_amqp_server() -> Iterator[int]:
    """A TCP server that answers like an HTTP server, whatever it is sent."""
    listener = socket.create_server(("127.0.0.1", 0))
    port: int = listener.getsockname()[1]

    def serve() -> None:
        with closing(listener):
            conn, _ = listener.accept()
            with conn:
                conn.recv(64)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port
    thread.join(timeout=5)


@pytest.mark.integration
def test_check_broker_accepts_the_running_rabbitmq(amqp_url: str) -> None:
    run.check_broker(amqp_url)


def test_check_broker_reports_a_refused_connection() -> None:
    port = free_port()
    with pytest.raises(run.BrokerUnreachableError, match=rf"127\.0\.0\.1:{port}: Connection refused"):
        run.check_broker(f"amqp://guest:guest@127.0.0.1:{port}/")


def test_check_broker_tells_a_server_that_does_not_speak_amqp(not_amqp_server: int) -> None:
    with pytest.raises(run.BrokerUnreachableError, match="answered, but not as an AMQP 0-9-1 broker"):
        run.check_broker(f"amqp://127.0.0.1:{not_amqp_server}/")


def test_check_broker_refuses_a_url_that_is_not_amqp() -> None:
    with pytest.raises(run.BrokerUnreachableError, match="not an amqp:// or amqps:// URL"):
        run.check_broker("http://user:secret@localhost:5672/")


def test_main_with_no_broker_explains_how_to_start_rabbitmq_when_it_is_not_reachable(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()

    code = run.main([f"--amqp-url=amqp://guest:s3cret@127.0.0.1:{port}/", "--no-broker"])

    err = capsys.readouterr().err
    assert code == 1
    assert f"RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:{port}/" in err
    assert "Connection refused" in err
    assert "docker compose up -d rabbitmq" in err
    assert "rabbitmq-server -detached" in err
    assert "s3cret" not in err


def test_python_m_spartakus_run_with_start_broker_0_reads_the_url_from_the_environment_and_exits_1(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "SPARTAKUS_AMQP_URL": f"amqp://127.0.0.1:{port}/",
        "SPARTAKUS_DATA_DIR": str(tmp_path),
        "SPARTAKUS_START_BROKER": "0",
    }

    result = subprocess.run(
        [sys.executable, "-m", "spartakus.run"], capture_output=True, text=True, env=env, timeout=60, check=False
    )

    assert result.returncode == 1
    assert f"RabbitMQ is not reachable at amqp://127.0.0.1:{port}/" in result.stderr
    assert not (tmp_path / "logs").exists(), "nothing starts without a broker"
    assert not (tmp_path / "rabbitmq").exists(), "SPARTAKUS_START_BROKER=0 starts no broker"


def test_settings_keep_one_writer_per_duckdb_file() -> None:
    with pytest.raises(ConfigError, match="DuckDB allows a single writer process per file"):
        load_settings(run.RunSettings, ["--writers=2"])


def test_settings_allow_several_writers_on_a_store_that_takes_them() -> None:
    settings = load_settings(run.RunSettings, ["--writers=3", "--database=bigquery://p.d.t"])

    assert settings.writers == 3


def test_settings_default_to_a_duckdb_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(run.RunSettings, [f"--data-dir={tmp_path}"])

    assert settings.database == f"duckdb:///{tmp_path / 'spartakus.duckdb'}"
    assert settings.writers == 1


class Supervisor:
    """``run.supervise`` on started children, in a thread, with its output captured."""

    def __init__(self, settings: run.RunSettings, records: Path) -> None:
        self.settings, self.records = settings, records
        self.out = io.StringIO()
        self.stop = threading.Event()
        self.code: int | None = None
        self.children = run.start_children(settings, command=[sys.executable, str(STANDIN)])
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.code = run.supervise(self.children, settings=self.settings, stop=self.stop, out=self.out)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.out.getvalue(), timeout=timeout, what=f"{text!r} in the supervisor's output")

    def finish(self, timeout: float = 30) -> int | None:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), self.out.getvalue()
        return self.code

    def record(self, name: str) -> Path:
        return self.records / name


class StartSupervisor(Protocol):
    def __call__(
        self, *, writers: int = 1, drain_timeout: float = 10, mode: str = "normal", role: str = ""
    ) -> Supervisor: ...


@pytest.fixture
def start_supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StartSupervisor]:
    """Start stand-in components under ``run.supervise``; whatever is left running is killed afterwards."""
    started: list[Supervisor] = []

    def start(*, writers: int = 1, drain_timeout: float = 10, mode: str = "normal", role: str = "") -> Supervisor:
        monkeypatch.setenv("STANDIN_DIR", str(tmp_path))
        monkeypatch.setenv("STANDIN_MODE", mode)
        if role:
            monkeypatch.setenv("STANDIN_ROLE", role)
        settings = run.RunSettings(
            amqp_url="amqp://spartakus:s3cret@127.0.0.1:5672/",
            port=free_port(),
            metrics_port=free_port(),
            dashboard_port=free_port(),
            data_dir=tmp_path,
            database="duckdb:///x.duckdb" if writers == 1 else "stdout",
            writers=writers,
            ready_timeout=30,
            drain_timeout=drain_timeout,
        )
        started.append(Supervisor(settings, tmp_path))
        return started[-1]

    yield start
    for supervisor in started:
        supervisor.stop.set()
        for child in supervisor.children:
            if child.process.poll() is None:
                child.process.kill()
                child.process.wait()


def test_supervisor_reports_each_component_then_forwards_sigterm_and_exits_0(
    start_supervisor: StartSupervisor,
) -> None:
    supervisor = start_supervisor(writers=2)
    port, metrics = supervisor.settings.port, supervisor.settings.metrics_port

    supervisor.wait_for("Ctrl-C stops everything")
    out = supervisor.out.getvalue()
    assert f"  ingest    ready: http://localhost:{port}\n" in out
    assert f"  writer-1  ready: stdout (metrics :{metrics})\n" in out
    assert f"  writer-2  ready: stdout (metrics :{metrics + 1})\n" in out
    assert f"spartakus volunteer --cluster-id=$(uuidgen) --database=http://localhost:{port} --period=0" in out
    assert "spartakus reports --database=stdout" in out

    supervisor.stop.set()

    assert supervisor.finish() == 0
    assert supervisor.out.getvalue().endswith("stopped\n")
    for name in (f"ingest-{port}", f"writer-{metrics}", f"writer-{metrics + 1}"):
        assert supervisor.record(f"{name}.stopped").read_text() == "SIGTERM"
    assert [child.process.returncode for child in supervisor.children] == [0, 0, 0]


def test_supervisor_passes_the_broker_url_in_the_environment_not_in_argv(start_supervisor: StartSupervisor) -> None:
    supervisor = start_supervisor()
    port, metrics = supervisor.settings.port, supervisor.settings.metrics_port
    supervisor.wait_for("Ctrl-C stops everything")

    ingest = json.loads(supervisor.record(f"ingest-{port}.started").read_text())
    writer = json.loads(supervisor.record(f"writer-{metrics}.started").read_text())

    assert ingest["argv"] == ["ingest", f"--port={port}"]
    assert writer["argv"] == ["writer", "--database=duckdb:///x.duckdb", f"--metrics-port={metrics}"]
    assert ingest["amqp_url"] == writer["amqp_url"] == "amqp://spartakus:s3cret@127.0.0.1:5672/"
    assert ingest["own_group"], "a terminal's Ctrl-C must reach the supervisor only"
    assert writer["own_group"], "a terminal's Ctrl-C must reach the supervisor only"
    dashboard = json.loads(supervisor.record(f"dashboard-{supervisor.settings.dashboard_port}.started").read_text())
    assert dashboard["argv"] == [
        "dashboard",
        "--database=duckdb:///x.duckdb",
        f"--port={supervisor.settings.dashboard_port}",
    ]
    out = supervisor.out.getvalue()
    assert f"  dashboard ready: http://localhost:{supervisor.settings.dashboard_port}\n" in out
    assert f"See the adoption page:   http://localhost:{supervisor.settings.dashboard_port}/" in out
    assert "duckdb -readonly x.duckdb" in out
    assert "The writer lets go of the DuckDB file when it is idle" in out
    supervisor.stop.set()
    assert supervisor.finish() == 0


def test_supervisor_kills_a_component_that_outlives_the_drain_timeout(start_supervisor: StartSupervisor) -> None:
    supervisor = start_supervisor(mode="ignore-term", role="writer", drain_timeout=1)
    supervisor.wait_for("Ctrl-C stops everything")

    supervisor.stop.set()

    assert supervisor.finish() == 1
    out = supervisor.out.getvalue()
    assert "writer-1 killed after 1s; its unacked reports will be redelivered" in out
    assert out.endswith(f"stopped, not cleanly: writer-1 (exit code {-signal.SIGKILL})\n")
    assert supervisor.record(f"ingest-{supervisor.settings.port}.stopped").read_text() == "SIGTERM"


def test_supervisor_names_the_component_that_exits_before_it_is_ready(start_supervisor: StartSupervisor) -> None:
    supervisor = start_supervisor(mode="exit-early", role="ingest")

    assert supervisor.finish() == 1
    out = supervisor.out.getvalue()
    log = supervisor.records / "logs" / "ingest.log"
    assert f"ingest exited with code 3 before it was ready; its log: {log}" in out
    assert "Point a volunteer here" not in out
    assert all(child.process.poll() is not None for child in supervisor.children), "nothing is left running"


def test_supervisor_stops_everything_when_a_component_dies(start_supervisor: StartSupervisor) -> None:
    supervisor = start_supervisor(mode="crash-after-ready", role="writer")

    assert supervisor.finish() == 1
    assert "writer-1 exited with code 4; its log:" in supervisor.out.getvalue()
    assert supervisor.record(f"ingest-{supervisor.settings.port}.stopped").read_text() == "SIGTERM"


def test_supervisor_counts_an_exit_by_the_sigterm_it_sent_as_clean(start_supervisor: StartSupervisor) -> None:
    # uvicorn re-raises a handled SIGTERM once it has shut down, so the process ends "killed by SIGTERM".
    supervisor = start_supervisor(mode="default-term", role="ingest")
    supervisor.wait_for("Ctrl-C stops everything")

    supervisor.stop.set()

    assert supervisor.finish() == 0
    assert supervisor.children[0].process.returncode == -signal.SIGTERM
    assert supervisor.out.getvalue().endswith("stopped\n")


@pytest.mark.integration
def test_the_first_broker_that_answers_is_used(amqp_url: str) -> None:
    closed = f"amqp://guest:guest@127.0.0.1:{free_port()}/"
    assert run.answering_broker(f"{closed},{amqp_url}") == amqp_url
    with pytest.raises(run.BrokerUnreachableError, match=r"127\.0\.0\.1"):
        run.answering_broker(closed)
