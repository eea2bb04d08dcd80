"""Running the volunteer as a process in tests: a clean environment, its log lines, its report line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

SPARTAKUS = str(Path(sys.executable).with_name("spartakus"))
MODULE = [sys.executable, "-m", "volunteer"]


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """The test's environment without anything that would point the volunteer elsewhere."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SPARTAKUS_", "KUBERNETES_")) and k not in {"KUBECONFIG", "COVERAGE_PROCESS_START"}
    }
    return {**env, "HOME": str(home), **extra}


def run(command: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``command`` to its end, capturing text output."""
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)


def log_lines(stderr: str) -> list[dict[str, Any]]:
    """Every JSON log line of ``stderr``."""
    return [json.loads(line) for line in stderr.splitlines()]


def report_lines(stderr: str) -> list[dict[str, Any]]:
    """The lines that describe one report each."""
    return [entry for entry in log_lines(stderr) if entry["message"] == "report"]


class VolunteerProcess:
    """A periodic volunteer started in the background, its stderr in a file that the test reads as it grows.

    Args:
        command: the command line.
        env: its environment.
        stderr: the file its log lines go to.
    """

    def __init__(self, command: list[str], env: dict[str, str], stderr: Path) -> None:
        self._stderr_path = stderr
        with stderr.open("wb") as sink:
            self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sink, env=env)
        self.ps = psutil.Process(self.process.pid)

    def lines(self) -> list[dict[str, Any]]:
        """The complete log lines so far."""
        text = self._stderr_path.read_text()
        return log_lines(text[: text.rfind("\n") + 1])

    def reports(self) -> list[dict[str, Any]]:
        """The report lines so far."""
        return [line for line in self.lines() if line["message"] == "report"]

    def children(self) -> list[psutil.Process]:
        """Its child processes (the report child while a report runs)."""
        return self.ps.children(recursive=True)

    def tree_rss(self) -> int:
        """Bytes resident in the process and all its descendants."""
        return sum(p.memory_info().rss for p in [self.ps, *self.children()])

    def terminate(self, timeout: float = 15) -> int:
        """SIGTERM, then its exit code."""
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def close(self) -> None:
        """Kill whatever is left of it (after a failed test)."""
        for child in self.children() if self.process.poll() is None else []:
            child.kill()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
