"""The xdist groups and the slow-first list name test files and folders that exist, so that a renamed one cannot
leave its place unnoticed."""

from __future__ import annotations

from tests.conftest import SLOW_FIRST, TESTS, XDIST_GROUPS


def test_every_grouped_path_exists() -> None:
    assert [path for path in XDIST_GROUPS if not (TESTS / path).exists()] == []


def test_every_slow_first_file_exists_and_is_in_no_group() -> None:
    assert [path for path in SLOW_FIRST if not (TESTS / path).is_file()] == []
    assert [path for path in SLOW_FIRST if any(path.startswith(grouped) for grouped in XDIST_GROUPS)] == []
