"""The runtime package's docstring names the role of each of its modules, so that it cannot go stale unseen."""

from __future__ import annotations

import pkgutil

import runtime


def test_the_runtime_docstring_names_every_runtime_module() -> None:
    modules = {info.name for info in pkgutil.iter_modules(runtime.__path__)}
    assert runtime.__doc__ is not None

    missing = sorted(name for name in modules if f"``runtime.{name}``" not in runtime.__doc__)

    assert not missing, f"runtime/__init__.py does not say what these modules do: {missing}"
    assert {"stores", "duckdb_file", "bigquery_client", "connections", "http", "container"} <= modules
