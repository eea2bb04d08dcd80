"""The adoption document served at ``/api/adoption``, from the rows of the one query.

Every list is sorted by ``clusters`` descending, then by its key (for
``weekly``: the week, then the version), so both stores give the same JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from dashboard.query import adoption_sql
from dashboard.store import Row, Store

SIZE_BUCKETS: Final = ("0", "1", "2-5", "6-20", "21-100", "101-1000", "1001-5000", ">5000")
"""Clusters by node count; ``0`` holds clusters whose latest report listed no node."""
NODE_LISTS: Final = {
    "provider": "by_provider",
    "os_image": "by_os_image",
    "architecture": "by_architecture",
    "container_runtime": "by_container_runtime",
    "kubelet_version": "by_kubelet_version",
}
FIRST_MONDAY: Final = date(1970, 1, 5)


def iso_week(index: int) -> str:
    """``2026-W47`` for the week ``index`` weeks after the one that began on Monday 1970-01-05."""
    year, week, _ = (FIRST_MONDAY + timedelta(weeks=index)).isocalendar()
    return f"{year}-W{week:02d}"


def window_hours(window: timedelta) -> int | float:
    """The window in hours: a whole number when it is one."""
    hours = window.total_seconds() / 3600
    return int(hours) if hours.is_integer() else hours


def _ranked(items: Iterable[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: (-item["clusters"], *(item[k] for k in keys)))


def document(rows: Iterable[Row], *, now: datetime, window: timedelta) -> dict[str, Any]:
    """The JSON document from the query's ``(dim, key, week, clusters, nodes)`` rows."""
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in ("by_version", *NODE_LISTS.values())}
    sizes = dict.fromkeys(SIZE_BUCKETS, (0, 0))
    weekly: list[dict[str, Any]] = []
    totals = (0, 0)
    for dim, key, week, clusters, nodes in rows:
        figures = (int(clusters or 0), int(nodes or 0))
        if dim == "total":
            totals = figures
        elif dim == "version":
            lists["by_version"].append({"version": key, "clusters": figures[0], "nodes": figures[1]})
        elif dim == "size":
            sizes[key] = figures
        elif dim == "weekly":
            weekly.append({"week": iso_week(int(week)), "version": key, "clusters": figures[0]})
        else:
            lists[NODE_LISTS[dim]].append({"key": key, "clusters": figures[0], "nodes": figures[1]})
    result: dict[str, Any] = {
        "window_hours": window_hours(window),
        "window_start": (now - window).astimezone(UTC).isoformat(),
        "generated_at": now.astimezone(UTC).isoformat(),
        "clusters": totals[0],
        "nodes": totals[1],
        "by_version": _ranked(lists["by_version"], "version"),
    }
    for name in NODE_LISTS.values():
        result[name] = _ranked(lists[name], "key")
    result["cluster_sizes"] = _ranked(({"key": key, "clusters": c, "nodes": n} for key, (c, n) in sizes.items()), "key")
    result["weekly"] = _ranked(weekly, "week", "version")
    return result


def adoption(store: Store, *, window: timedelta, now: datetime | None = None) -> dict[str, Any]:
    """Read ``store`` and build the document for the ``window`` up to ``now`` (default: the present).

    Raises:
        StoreError: the store cannot be read.
    """
    now = now or datetime.now(UTC)
    start = now - window
    rows = store.query(
        lambda table, columns: adoption_sql(dialect=store.dialect, table=table, columns=columns, start=start)
    )
    return document(rows, now=now, window=window)
