"""How much memory the embedded DuckDB store may use: its working limit, and the ceiling for a checkpoint.

DuckDB's own default (80% of the machine) ignores a pod's limit, and a fixed
256 MB wedged a writer for good: a checkpoint rewrites the whole row group
that received the new rows, and with large free-text values one row group
holds hundreds of megabytes, all pinned at once (measured: 455 MiB for a
row group of 200 MB of 100 KB strings). The working limit therefore derives
from the container's limit, and a checkpoint that fails under it is retried
with up to ``ceiling`` (``writer.duckdb_connection``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final

from runtime.container import memory_limit

MIB: Final = 2**20
MIN_LIMIT: Final = 128 * MIB
"""DuckDB below this spends its time spilling, whatever the container."""
CONTAINER_SHARE: Final = 0.4
"""Of the container's memory, for DuckDB's buffers; the rest holds deliveries (--max-held-bytes) and Python."""
CEILING_SHARE: Final = 0.75
"""Of the container's memory, at most, for a checkpoint that failed under the working limit."""
MACHINE_LIMIT: Final = 1024 * MIB
"""Working limit outside a container (no cgroup limit), unless the machine is small."""


MEMORY_FIX: Final = (
    "give the writer more memory (the container's memory limit, or --duckdb-memory-limit); the file opens and "
    "checkpoints with more memory"
)


@dataclass(frozen=True, slots=True)
class DuckDbMemory:
    """Bytes for DuckDB's ``memory_limit`` while writing, and at most for a checkpoint that failed under it."""

    limit: int
    ceiling: int


DEFAULT_MEMORY: Final = DuckDbMemory(limit=256 * MIB, ceiling=1024 * MIB)
"""For a sink made without a budget (tests, tools); the writer's CLI derives one from the container."""


def _machine_memory() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return None


def derive(configured: int | None, *, container: int | None, machine: int | None) -> DuckDbMemory:
    """The budget from ``--duckdb-memory-limit`` (``configured``, bytes or None) and the memory there is."""
    if container is not None:
        limit = configured or max(MIN_LIMIT, int(container * CONTAINER_SHARE))
        return DuckDbMemory(limit, max(limit, int(container * CEILING_SHARE)))
    if machine is not None:
        limit = configured or max(MIN_LIMIT, min(MACHINE_LIMIT, machine // 4))
        return DuckDbMemory(limit, max(limit, machine // 2))
    limit = configured or MACHINE_LIMIT
    return DuckDbMemory(limit, 4 * limit)


def duckdb_memory(configured: int | None) -> DuckDbMemory:
    """The budget for this process, from ``configured`` and its container's (cgroup v2 or v1) limit."""
    return derive(configured, container=memory_limit(), machine=_machine_memory())
