"""The adoption document served at ``/api/adoption``, from the rows of the one query.

Every list is sorted by ``clusters`` descending, then by its key (for
``weekly``: the week, then the version), so both stores give the same JSON.
Whatever was sent, the document stays small: each list holds at most
``TOP_KEYS`` keys plus ``other``, labels are cut to ``LABEL_MAX`` characters,
and the time series keep their last ``WEEKS_MAX`` weeks and ``DAYS_MAX`` days.
The window starts on a whole hour, so that views within one hour send the
same SQL (BigQuery answers a repeated query from its cache, for free).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from dashboard.query import LABEL_MAX, adoption_sql, warn_unpruned
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
EPOCH_DAY: Final = date(1970, 1, 1)
MIN_CLUSTERS: Final = 5
"""A key held by fewer clusters is shown as ``other``: a rare value could point at the cluster that sent it."""
TOP_KEYS: Final = 15
"""Keys a list shows at most, besides ``other``."""
WEEKS_MAX: Final = 105
DAYS_MAX: Final = 400
ROUND_TO: Final = timedelta(hours=1)

__all__ = ["LABEL_MAX", "MIN_CLUSTERS", "TOP_KEYS", "adoption", "document", "iso_week", "window_start"]


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


def window_start(now: datetime, window: timedelta) -> datetime:
    """The window's start: ``window`` before ``now``, rounded down to a whole hour (UTC)."""
    start = (now - window).astimezone(UTC)
    return start - (start - datetime(1970, 1, 1, tzinfo=UTC)) % ROUND_TO


def _figures(clusters: Any, nodes: Any) -> tuple[int, int]:
    return int(clusters or 0), int(nodes or 0)


def document(
    rows: Iterable[Row], *, now: datetime, window: timedelta, min_clusters: int = 1, verified_only: bool = False
) -> dict[str, Any]:
    """The JSON document from the query's ``(dim, key, period, clusters, nodes)`` rows."""
    lists: dict[str, list[dict[str, Any]]] = {name: [] for name in ("by_version", *NODE_LISTS.values())}
    sizes = dict.fromkeys(SIZE_BUCKETS, (0, 0))
    weekly: list[tuple[int, str, int]] = []
    new: list[dict[str, Any]] = []
    totals = {"": (0, 0), "verified": (0, 0), "unverified": (0, 0)}
    for dim, key, period, clusters, nodes in rows:
        figures = _figures(clusters, nodes)
        if dim in {"total", "verified"}:
            totals[key] = figures
        elif dim == "version":
            lists["by_version"].append({"version": key, "clusters": figures[0], "nodes": figures[1]})
        elif dim == "size":
            sizes[key] = figures
        elif dim == "weekly":
            weekly.append((int(period), key, figures[0]))
        elif dim == "new":
            new.append({"day": (EPOCH_DAY + timedelta(days=int(period))).isoformat(), "clusters": figures[0]})
        else:
            lists[NODE_LISTS[dim]].append({"key": key, "clusters": figures[0], "nodes": figures[1]})
    last_week = max((week for week, _, _ in weekly), default=0)
    result: dict[str, Any] = {
        "window_hours": window_hours(window),
        "window_start": window_start(now, window).isoformat(),
        "generated_at": now.astimezone(UTC).isoformat(),
        "min_clusters": min_clusters,
        "verified_only": verified_only,
        "clusters": totals[""][0],
        "nodes": totals[""][1],
        "verified": {"clusters": totals["verified"][0], "nodes": totals["verified"][1]},
        "unverified": {"clusters": totals["unverified"][0], "nodes": totals["unverified"][1]},
        "by_version": _ranked(lists["by_version"], "version"),
    }
    for name in NODE_LISTS.values():
        result[name] = _ranked(lists[name], "key")
    result["cluster_sizes"] = _ranked(({"key": key, "clusters": c, "nodes": n} for key, (c, n) in sizes.items()), "key")
    recent_weeks = (
        {"week": iso_week(week), "version": version, "clusters": clusters}
        for week, version, clusters in weekly
        if week > last_week - WEEKS_MAX
    )
    result["weekly"] = _ranked(recent_weeks, "week", "version")
    result["new_clusters"] = sorted(new, key=lambda item: item["day"])[-DAYS_MAX:]
    return result


def adoption(
    store: Store,
    *,
    window: timedelta,
    now: datetime | None = None,
    min_clusters: int = MIN_CLUSTERS,
    verified_only: bool = False,
) -> dict[str, Any]:
    """Read ``store`` and build the document for the ``window`` up to ``now`` (default: the present).

    A key of any list held by fewer than ``min_clusters`` clusters counts as ``other``; ``verified_only`` counts
    only reports whose signature the gateway verified.

    Raises:
        StoreError: the store cannot be read.
    """
    now = now or datetime.now(UTC)
    start = window_start(now, window)

    def sql_for(table: str, columns: Collection[str]) -> str:
        warn_unpruned(store.description, columns)
        return adoption_sql(
            dialect=store.dialect,
            table=table,
            columns=columns,
            start=start,
            end=start + window + ROUND_TO,
            min_clusters=min_clusters,
            top=TOP_KEYS,
            verified_only=verified_only,
        )

    rows = store.query(sql_for)
    return document(rows, now=now, window=window, min_clusters=min_clusters, verified_only=verified_only)
