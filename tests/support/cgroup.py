"""A cgroup v1 memory limit around a test's process, as a pod's memory limit is enforced.

Over the limit the kernel kills the process with SIGKILL, as it OOM-kills a
container. Needs root and the v1 memory controller at ``/sys/fs/cgroup/memory``.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from tests.support.services import missing_service, wait_until

MEMORY_ROOT: Final = Path("/sys/fs/cgroup/memory")


@dataclass(frozen=True)
class MemoryCgroup:
    """One memory cgroup; ``join`` moves the calling process into it (use it as a ``preexec_fn``)."""

    path: Path

    def join(self) -> None:
        """Put the current process in the group (children inherit it)."""
        (self.path / "cgroup.procs").write_text(f"{os.getpid()}\n")

    def max_usage(self) -> int:
        """The most memory the group ever used, in bytes."""
        return int((self.path / "memory.max_usage_in_bytes").read_text())

    def oom_kills(self) -> int:
        """Processes of the group the kernel killed for memory."""
        for line in (self.path / "memory.oom_control").read_text().splitlines():
            name, _, value = line.partition(" ")
            if name == "oom_kill":
                return int(value)
        return 0

    def processes(self) -> list[int]:
        """PIDs in the group."""
        return [int(pid) for pid in (self.path / "cgroup.procs").read_text().split()]


@contextlib.contextmanager
def memory_limit(limit_bytes: int) -> Iterator[MemoryCgroup]:
    """A fresh memory cgroup limited to ``limit_bytes`` (swap included where the kernel accounts it)."""
    if not (MEMORY_ROOT / "cgroup.procs").exists() or not os.access(MEMORY_ROOT, os.W_OK):
        missing_service("cgroup v1 memory limits need root and /sys/fs/cgroup/memory")
    group = MemoryCgroup(MEMORY_ROOT / f"spartakus-test-{uuid.uuid4().hex[:10]}")
    group.path.mkdir()
    try:
        (group.path / "memory.limit_in_bytes").write_text(str(limit_bytes))
        swap = group.path / "memory.memsw.limit_in_bytes"
        if swap.exists():
            swap.write_text(str(limit_bytes))
        yield group
    finally:
        # The group can be removed once its processes are gone.
        wait_until(lambda: not group.processes(), timeout=30, what="the cgroup's processes to exit")
        group.path.rmdir()
