"""The xdist groups name test files and folders that exist, so that a renamed one cannot leave its group unnoticed."""

from __future__ import annotations

from tests.conftest import TESTS, XDIST_GROUPS


def test_every_grouped_path_exists() -> None:
    assert [path for path in XDIST_GROUPS if not (TESTS / path).exists()] == []
