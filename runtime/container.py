"""The memory this process may use, as its container (cgroup v2 or v1) limits it.

A pod's memory limit is a cgroup limit: going over it is an OOM kill, and
libraries that size their caches from the machine's memory (DuckDB takes
80% of it by default) do not see it. Components derive their own budgets
from ``memory_limit()``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

CGROUP_ROOT: Final = Path("/sys/fs/cgroup")
UNLIMITED_V1: Final = 1 << 60
"""cgroup v1 writes "no limit" as a huge page-aligned number (about 2**63); anything this large is no limit."""


def _own_cgroup(proc_self_cgroup: Path) -> tuple[str, str]:
    """This process's cgroup v2 path and cgroup v1 memory path ("" when absent)."""
    v2 = v1 = ""
    try:
        lines = proc_self_cgroup.read_text().splitlines()
    except OSError:
        return v2, v1
    for line in lines:
        _hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if controllers == "":
            v2 = path
        elif "memory" in controllers.split(","):
            v1 = path
    return v2, v1


def _read_limit(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if not text.isdigit():  # cgroup v2 writes "max" for no limit
        return None
    value = int(text)
    return value if 0 < value < UNLIMITED_V1 else None


def memory_limit(root: Path = CGROUP_ROOT, proc_self_cgroup: Path = Path("/proc/self/cgroup")) -> int | None:
    """Bytes of memory this process's cgroup allows, or None when it sets no limit (or none can be read).

    Looks at the process's own cgroup, then at the root of the mounted hierarchy, which a container
    sees as its own cgroup.
    """
    v2, v1 = _own_cgroup(proc_self_cgroup)
    candidates = [
        root / v2.lstrip("/") / "memory.max",
        root / "memory.max",
        root / "memory" / v1.lstrip("/") / "memory.limit_in_bytes",
        root / "memory" / "memory.limit_in_bytes",
    ]
    limits = [limit for path in candidates if (limit := _read_limit(path)) is not None]
    return min(limits) if limits else None
