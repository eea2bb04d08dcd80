"""Extensions from a file or a directory: order, dotfiles, ConfigMap symlinks, and what is left out (and logged)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import pytest

from volunteer.extensions import read_extensions


def _pairs(path: Path | None) -> list[tuple[str, str]]:
    return [(e.name, e.value) for e in read_extensions(path)]


def _problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "volunteer.extensions" and r.levelno >= logging.WARNING]


def test_no_path_means_no_extensions() -> None:
    assert read_extensions(None) == []


def test_a_file_holds_one_object_whose_entries_keep_their_order(tmp_path: Path) -> None:
    file = tmp_path / "extensions.json"
    file.write_text('{"example.com/hello": "world", "example.com/foo": "bar"}')

    assert _pairs(file) == [("example.com/hello", "world"), ("example.com/foo", "bar")]


def test_non_string_values_are_sent_as_compact_json(tmp_path: Path) -> None:
    file = tmp_path / "extensions.json"
    file.write_text(
        json.dumps(
            {"count": 3, "ratio": 0.5, "enabled": True, "nothing": None, "tags": ["a", "b"], "owner": {"team": "é"}},
            indent=2,
        )
    )

    assert _pairs(file) == [
        ("count", "3"),
        ("ratio", "0.5"),
        ("enabled", "true"),
        ("nothing", "null"),
        ("tags", '["a","b"]'),
        ("owner", '{"team":"é"}'),
    ]


def test_a_directory_is_read_in_name_order_skipping_dotfiles_and_subdirectories(tmp_path: Path) -> None:
    (tmp_path / "b.json").write_text('{"b": "2"}')
    (tmp_path / "a.json").write_text('{"a": "1"}')
    (tmp_path / ".hidden.json").write_text('{"hidden": "x"}')
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "c.json").write_text('{"c": "3"}')

    assert _pairs(tmp_path) == [("a", "1"), ("b", "2")]


def test_a_mounted_configmap_layout_is_read_through_its_symlinks(tmp_path: Path) -> None:
    # What the kubelet creates for a ConfigMap volume: a timestamped directory,
    # "..data" linking to it, and one link per key through "..data".
    mount = tmp_path / "extensions"
    mount.mkdir()
    payload = mount / "..2026_11_27_09_30_12.1234567890"
    payload.mkdir()
    (payload / "team.json").write_text('{"example.com/team": "payments"}')
    (payload / "env.json").write_text('{"example.com/env": "prod"}')
    os.symlink(payload.name, mount / "..data")
    for key in ("team.json", "env.json"):
        os.symlink(f"..data/{key}", mount / key)

    assert _pairs(mount) == [("example.com/env", "prod"), ("example.com/team", "payments")]


def test_a_symlink_to_a_directory_is_skipped_like_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "x.json").write_text('{"x": "1"}')
    mount = tmp_path / "mount"
    mount.mkdir()
    os.symlink(target, mount / "linked-dir")

    assert _pairs(mount) == []


def test_a_broken_symlink_is_skipped_and_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    os.symlink(tmp_path / "gone.json", tmp_path / "dangling.json")
    (tmp_path / "ok.json").write_text('{"ok": "yes"}')

    assert _pairs(tmp_path) == [("ok", "yes")]
    assert [r.file for r in _problems(caplog)] == [str(tmp_path / "dangling.json")]  # type: ignore[attr-defined]


def test_a_file_that_is_not_json_is_left_out_and_logged_with_its_name(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "a.json").write_text('{"a": "1"}')
    (tmp_path / "broken.json").write_text('{"b": "2",')

    assert _pairs(tmp_path) == [("a", "1")]
    [problem] = _problems(caplog)
    assert problem.file == str(tmp_path / "broken.json")  # type: ignore[attr-defined]
    assert "not valid JSON" in problem.getMessage()


@pytest.mark.parametrize("content", ['["a", "b"]', '"just a string"', "42", "null"])
def test_a_file_that_is_not_a_json_object_is_left_out_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    file = tmp_path / "extensions.json"
    file.write_text(content)

    assert _pairs(file) == []
    [problem] = _problems(caplog)
    assert problem.file == str(file)  # type: ignore[attr-defined]
    assert "one JSON object" in problem.getMessage()


def test_nan_is_not_json_so_its_file_is_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "extensions.json"
    file.write_text('{"ratio": NaN}')

    assert _pairs(file) == []
    assert len(_problems(caplog)) == 1


@pytest.mark.parametrize(
    "key",
    ["Example.com/upper-prefix", "/no-prefix", "a/b/c", "-leading-dash", "x" * 64, "example.com/", "spaces here"],
)
def test_an_entry_with_an_invalid_key_is_left_out_and_logged_with_file_and_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    file = tmp_path / "extensions.json"
    file.write_text(json.dumps({"example.com/good": "kept", key: "dropped"}))

    assert _pairs(file) == [("example.com/good", "kept")]
    [problem] = _problems(caplog)
    assert (problem.file, problem.key) == (str(file), key)  # type: ignore[attr-defined]


def test_an_empty_file_contributes_nothing_and_is_not_a_problem(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "empty.json").write_text("")
    (tmp_path / "blank.json").write_text("  \n")
    (tmp_path / "z.json").write_text('{"z": "26"}')

    assert _pairs(tmp_path) == [("z", "26")]
    assert _problems(caplog) == []


def test_a_later_file_wins_for_a_repeated_key(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "10-defaults.json").write_text('{"example.com/tier": "dev", "example.com/team": "core"}')
    (tmp_path / "20-override.json").write_text('{"example.com/tier": "prod"}')

    assert _pairs(tmp_path) == [("example.com/tier", "prod"), ("example.com/team", "core")]
    assert [r.key for r in _problems(caplog)] == ["example.com/tier"]  # type: ignore[attr-defined]


def test_a_path_that_disappeared_gives_no_extensions_and_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert read_extensions(tmp_path / "gone") == []
    assert [r.path for r in _problems(caplog)] == [str(tmp_path / "gone")]  # type: ignore[attr-defined]


def test_extensions_are_re_read_every_time(tmp_path: Path) -> None:
    file = tmp_path / "extensions.json"
    file.write_text('{"version": "1"}')
    first = _pairs(file)
    file.write_text('{"version": "2"}')

    assert (first, _pairs(file)) == ([("version", "1")], [("version", "2")])


def test_a_file_over_the_configmap_size_limit_is_left_out(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "huge.json"
    file.write_text(json.dumps({"big": "x" * (1024 * 1024)}))

    assert _pairs(file) == []
    assert "1 MiB" in _problems(caplog)[0].getMessage()
