"""User-supplied extensions: JSON objects in a file, or in every file of a directory, re-read for every report.

A directory is read in name order. Names starting with ``.`` and
sub-directories are skipped; symlinks to files are followed, because a mounted
ConfigMap is exactly that (``..data`` plus one link per key). A file that is
not a JSON object, or an entry whose key breaks the qualified-name rule, is
left out of the report and logged with the file and the key. Non-string values
are sent as compact JSON text. When two files carry the same key, the later
file wins, as in a ``conf.d`` directory.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any, Final

from schema.report import Extension, qualified_name_error

log = logging.getLogger(__name__)

MAX_FILE_BYTES: Final = 1024 * 1024
"""The size limit of a ConfigMap; a larger extensions file is a mistake, not something to send."""


class _NotJsonError(ValueError):
    pass


def _reject_constant(name: str) -> Any:
    # NaN and Infinity are not JSON, and no collector could store them.
    raise _NotJsonError(f"{name} is not a JSON value")


def read_extensions(path: Path | None) -> list[Extension]:
    """The extensions found at ``path`` (a file or a directory); problems are logged, never raised."""
    if path is None:
        return []
    if not path.exists():
        log.warning("extensions path does not exist; sending no extensions", extra={"path": str(path)})
        return []
    files = _directory_files(path) if path.is_dir() else [path]
    merged: dict[str, Extension] = {}
    for file in files:
        for extension in _read_file(file):
            if extension.name in merged:
                log.warning(
                    "extension key given again; the later file wins",
                    extra={"file": str(file), "key": extension.name},
                )
            merged[extension.name] = extension
    return list(merged.values())


def _directory_files(directory: Path) -> list[Path]:
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError as e:
        log.warning("cannot list the extensions directory", extra={"path": str(directory), "error": str(e)})
        return []
    files: list[Path] = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_file():  # follows symlinks, as a mounted ConfigMap needs
            files.append(Path(entry.path))
        elif entry.is_symlink() and not entry.is_dir():
            log.warning("extensions file is a broken symlink; skipped", extra={"file": entry.path})
    return files


def _load_object(file: Path) -> dict[str, Any] | None:
    """The JSON object in ``file``; ``{}`` for an empty file; ``None`` (logged) when it cannot be used."""
    try:
        with file.open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        log.warning("cannot read extensions file; left out", extra={"file": str(file), "error": str(e)})
        return None
    if len(raw) > MAX_FILE_BYTES:
        log.warning("extensions file is larger than 1 MiB; left out", extra={"file": str(file)})
        return None
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError) as e:
        log.warning("extensions file is not valid JSON; left out", extra={"file": str(file), "error": str(e)})
        return None
    if not isinstance(value, dict):
        log.warning(
            "extensions file must hold one JSON object; left out",
            extra={"file": str(file), "found": type(value).__name__},
        )
        return None
    return value


def _read_file(file: Path) -> list[Extension]:
    content = _load_object(file)
    if content is None:
        return []
    extensions: list[Extension] = []
    for key, value in content.items():
        problem = qualified_name_error(key)
        if problem is not None:
            log.warning("extension left out: invalid key", extra={"file": str(file), "key": key, "error": problem})
            continue
        extensions.append(Extension(name=key, value=value))
    return extensions
