"""``python -m spartakus.run`` as a process of the test's own, for the tests that drive ``make run`` whole."""

from __future__ import annotations

import subprocess
import sys
import threading

import psutil

from tests.support.services import wait_until


class RunProcess:
    """``python -m spartakus.run`` in its own process, its output collected line by line."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spartakus.run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        wait_until(lambda: text in self.output, timeout=timeout, what=f"{text!r} in:\n{self.output}")

    def close(self) -> None:
        """Release the output pipe once the process has exited."""
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)
