"""``python -m spartakus.run`` as a process of the test's own, for the tests that drive ``make run`` whole."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import psutil

from tests.support.services import wait_until

ROOT = Path(__file__).resolve().parents[2]
MAKE_RUN = ("make", "--no-print-directory", "-s", "-o", ".venv/.installed", "run")
"""``make run`` in the repository, using the ``.venv`` that is there (``-o``: never reinstall it from a test)."""


def make_run_available() -> bool:
    """Whether ``make run`` can run here without installing anything: make, and the repository's ``.venv``."""
    return shutil.which("make") is not None and (ROOT / ".venv" / "bin" / "python").exists()


class RunProcess:
    """``python -m spartakus.run`` (or another command, such as ``make run``) in its own process, its output
    collected line by line. ``terminal=True`` gives it a process group of its own, as a shell gives a foreground
    job, so that ``ctrl_c`` reaches the whole group the way a terminal's Ctrl-C does."""

    def __init__(self, env: dict[str, str], command: Sequence[str] = (), *, terminal: bool = False) -> None:
        self.env = env
        self.process = subprocess.Popen(
            list(command) or [sys.executable, "-m", "spartakus.run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=ROOT,
            process_group=0 if terminal else None,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def ctrl_c(self) -> None:
        """SIGINT to the process group, as a terminal sends it (to the process alone without ``terminal=True``)."""
        if os.getpgid(self.process.pid) == self.process.pid:
            os.killpg(self.process.pid, signal.SIGINT)
        else:
            self.process.send_signal(signal.SIGINT)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        wait_until(lambda: text in self.output, timeout=timeout, what=f"{text!r} in:\n{self.output}")

    def stop(self, timeout: float) -> None:
        """If it still runs (a failed test): SIGTERM, so that it stops what it started; SIGKILL after ``timeout``."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def close(self) -> None:
        """Release the output pipe once the process has exited."""
        self._reader.join(timeout=10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    def children(self) -> list[psutil.Process]:
        return psutil.Process(self.process.pid).children(recursive=True)
