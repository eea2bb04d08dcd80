"""Import every module of the packages an image installs: run in the image build, after its dependencies are pruned.

Usage: python check_imports.py PYPROJECT [MISSING...]

PYPROJECT names the packages (``[tool.setuptools.packages.find] include``). A module that needs one of the MISSING
distributions left out of the image on purpose (e.g. ``duckdb``) may fail on exactly that import; any other failure
fails the build, so a pruned dependency that some module still imports is found at build time, not in production.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import tomllib
from pathlib import Path


def package_names(pyproject: Path) -> list[str]:
    """Top-level package names from the ``include`` patterns (``schema*`` -> ``schema``)."""
    config = tomllib.loads(pyproject.read_text())
    includes = config["tool"]["setuptools"]["packages"]["find"]["include"]
    return list(dict.fromkeys(pattern.split(".")[0].rstrip("*") for pattern in includes))


def module_names(package: str) -> list[str]:
    """``package`` and every module under it, ``__main__`` modules left out (importing one runs it)."""
    root = importlib.import_module(package)
    names = [package]
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if not info.name.endswith(".__main__"):
            names.append(info.name)
    return names


def main(argv: list[str]) -> int:
    pyproject, missing = Path(argv[0]), set(argv[1:])
    failures = []
    count = 0
    for package in package_names(pyproject):
        for name in module_names(package):
            try:
                importlib.import_module(name)
            except ModuleNotFoundError as e:
                if (e.name or "").split(".")[0] not in missing:
                    failures.append(f"{name}: {e}")
            count += 1
    for failure in failures:
        print(f"check_imports: {failure}", file=sys.stderr)
    print(f"check_imports: {count} modules, {len(failures)} failures", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
