"""Running ``spartakus`` sub-commands as real processes, the way operators run them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path


def _clean_environment() -> dict[str, str]:
    # A SPARTAKUS_* variable left in the shell running the tests must not
    # reconfigure the processes under test.
    return {k: v for k, v in os.environ.items() if not k.startswith("SPARTAKUS_")}


@dataclass
class SpartakusProcess:
    """One ``python -m spartakus <args>`` process with its output in ``log_path``."""

    args: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> SpartakusProcess:
        """Start the process; its stdout and stderr go to ``log_path``."""
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "spartakus", *self.args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**_clean_environment(), **self.env},
        )
        log.close()
        return self

    def alive(self) -> bool:
        """Whether the process is running."""
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; returns the exit code (SIGKILL after ``timeout``)."""
        if self.process is None:
            return 0
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL, as ``kill -9`` would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def output(self) -> str:
        """Everything the process has written so far."""
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""
