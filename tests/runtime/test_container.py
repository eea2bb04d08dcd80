"""The container's memory limit, read from cgroup v2 or v1, and the DuckDB budget derived from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from runtime.container import memory_limit
from runtime.settings import ConfigError, load_settings
from writer.duckdb_memory import MIB, derive
from writer.settings import WriterSettings


def cgroup(tmp_path: Path, proc: str, files: dict[str, str]) -> tuple[Path, Path]:
    root = tmp_path / "cgroup"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    self_cgroup = tmp_path / "self_cgroup"
    self_cgroup.write_text(proc)
    return root, self_cgroup


def test_cgroup_v2_limit_of_the_process_own_group(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, "0::/kubepods/pod1/writer\n", {"kubepods/pod1/writer/memory.max": "805306368\n"})
    assert memory_limit(root, proc) == 768 * MIB


def test_cgroup_v2_without_a_limit_says_max(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, "0::/\n", {"memory.max": "max\n"})
    assert memory_limit(root, proc) is None


def test_cgroup_v1_limit_seen_from_inside_a_container(tmp_path: Path) -> None:
    # Inside a container the hierarchy's root is the container's own group.
    root, proc = cgroup(
        tmp_path, "4:memory:/docker/abc\n1:name=systemd:/\n", {"memory/memory.limit_in_bytes": "536870912"}
    )
    assert memory_limit(root, proc) == 512 * MIB


def test_cgroup_v1_unlimited_is_no_limit(tmp_path: Path) -> None:
    root, proc = cgroup(tmp_path, "4:memory:/\n", {"memory/memory.limit_in_bytes": str(2**63 - 4096)})
    assert memory_limit(root, proc) is None


def test_no_cgroup_files_at_all_is_no_limit(tmp_path: Path) -> None:
    assert memory_limit(tmp_path / "none", tmp_path / "none") is None


def test_the_duckdb_budget_follows_the_container_and_a_setting_overrides_it() -> None:
    pod = derive(None, container=768 * MIB, machine=64 * 1024 * MIB)
    assert pod.limit == int(768 * MIB * 0.4)
    assert pod.ceiling == 576 * MIB
    assert derive(None, container=128 * MIB, machine=None).limit == 128 * MIB  # never below the floor
    assert derive(300 * MIB, container=768 * MIB, machine=None).limit == 300 * MIB
    assert derive(None, container=None, machine=64 * 1024 * MIB).limit == 1024 * MIB
    assert derive(None, container=None, machine=2048 * MIB).limit == 512 * MIB


def test_writer_flags_take_a_size_and_a_duration() -> None:
    settings = load_settings(WriterSettings, ["--duckdb-memory-limit", "512MiB", "--retention", "8760h"])
    assert settings.duckdb_memory_limit == 512 * MIB
    assert settings.retention is not None
    assert settings.retention.days == 365
    assert load_settings(WriterSettings, []).retention is None
    with pytest.raises(ConfigError, match="retention"):
        load_settings(WriterSettings, ["--retention", "0"])
