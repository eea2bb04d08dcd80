"""A synthetic fleet of reporting clusters, with the adoption figures it must give, known by construction.

Each cluster gets a history of reports at chosen times, each with chosen facts
(version, nodes and their providers, images, runtimes). The expected figures
come from those choices (the report with the newest timestamp among those
that arrived in the window, the label each raw value stands for), not from
the stored rows, so they are independent of the query under test. The stored
rows add what must not change the figures: copies of reports received again
later, reports before the window, a report split over several rows (and a
copy of one of its rows), reports without a ``reportID``; and a copy of an old
report received inside the window, which counts only where no newer report
arrived.
"""

from __future__ import annotations

import random
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

NOW: Final = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
WINDOW: Final = timedelta(hours=720)

# (raw value a volunteer sends, the label the dashboard must show)
MASTER_VERSIONS: Final = [
    ("v1.31.1-gke.1678000", "1.31"),
    ("v1.30.4", "1.30"),
    ("v1.29.7-eks-2f008fe", "1.29"),
    ("1.28.3", "1.28"),
    ("v1.32.0+k3s1", "1.32"),
    ("v1.9.11", "1.9"),
    ("garbage-build", "unknown"),
    (None, "unknown"),
]
RUNTIMES: Final = [
    ("containerd://1.7.22", "containerd"),
    ("cri-o://1.30.2", "cri-o"),
    ("docker://24.0.7", "docker"),
    (None, "unknown"),
]
KUBELETS: Final = [("v1.31.1-gke.1678000", "1.31"), ("v1.30.4", "1.30"), ("v1.29.0", "1.29"), (None, "unknown")]
PROVIDERS: Final = ["gce", "aws", "azure", "unknown", "hcloud", "digitalocean"]
OS_IMAGES: Final = [
    "Container-Optimized OS from Google",
    "Ubuntu 22.04.4 LTS",
    "Bottlerocket OS 1.20.3 (aws-k8s-1.29)",
    "Flatcar Container Linux by Kinvolk 3815.2.5",
    None,
]
ARCHITECTURES: Final = ["amd64", "arm64", None]
SIZES: Final = [0, 1, 1, 2, 3, 4, 5, 6, 12, 20, 21, 50, 100, 101, 300]
"""Node counts clusters draw from; the fleet adds one cluster of 1,500 nodes and one of 5,001."""


@dataclass(frozen=True)
class Sent:
    """One report a cluster sent: its facts, and the labels the dashboard must derive from them."""

    cluster_id: str
    report_id: str | None
    sent: datetime
    """When the collector received it (the volunteer stamped it two seconds earlier)."""
    master_version: str | None
    version_label: str
    nodes: list[dict[str, Any]]
    labels: list[dict[str, str]]
    """Per node: provider, os_image, architecture, container_runtime, kubelet_version as the dashboard shows them."""


@dataclass
class Fleet:
    """Rows to store, and the document the dashboard must answer for them."""

    now: datetime
    window: timedelta
    rows: list[dict[str, Any]] = field(default_factory=list)
    latest: dict[str, Sent] = field(default_factory=dict)
    """The report that represents each counted cluster."""
    first_seen: dict[str, datetime] = field(default_factory=dict)
    """When each counted cluster's first report in the window arrived."""
    weekly: Counter[tuple[str, str]] = field(default_factory=Counter)
    split_report_id: str = ""

    def expected(self, *, min_clusters: int = 1, top: int = 15) -> dict[str, Any]:
        """The adoption document, computed from the chosen facts; rare keys and keys past ``top`` fold into other."""
        return expected_document(self, min_clusters=min_clusters, top=top)


def _node(rng: random.Random, providers: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    runtime, runtime_label = rng.choice(RUNTIMES)
    kubelet, kubelet_label = rng.choice(KUBELETS)
    provider = rng.choice(providers)
    os_image = rng.choice(OS_IMAGES)
    architecture = rng.choice(ARCHITECTURES)
    wire: dict[str, Any] = {"id": uuid.UUID(int=rng.getrandbits(128)).hex, "cloudProvider": provider}
    for name, value in (
        ("osImage", os_image),
        ("architecture", architecture),
        ("containerRuntimeVersion", runtime),
        ("kubeletVersion", kubelet),
    ):
        if value is not None:
            wire[name] = value
    wire["capacity"] = [{"resource": "cpu", "value": "4"}]
    labels = {
        "provider": provider,
        "os_image": os_image or "unknown",
        "architecture": architecture or "unknown",
        "container_runtime": runtime_label,
        "kubelet_version": kubelet_label,
    }
    return wire, labels


def _report(rng: random.Random, cluster_id: str, sent: datetime, size: int, *, with_id: bool) -> Sent:
    master, label = rng.choice(MASTER_VERSIONS)
    # Most clusters run one provider; some span two, and count under both.
    providers = rng.sample(PROVIDERS, 2) if rng.random() < 0.15 else [rng.choice(PROVIDERS)]
    pairs = [_node(rng, providers) for _ in range(size)]
    report_id = uuid.UUID(int=rng.getrandbits(128)).hex if with_id else None
    return Sent(cluster_id, report_id, sent, master, label, [p[0] for p in pairs], [p[1] for p in pairs])


def row(sent: Sent, *, received: datetime, nodes: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """The stored row of ``sent`` (wire names), received at ``received``."""
    stored: dict[str, Any] = {
        "version": "v2.0.0",
        "timestamp": str(int(sent.sent.timestamp()) - 2),
        "clusterID": sent.cluster_id,
        "nodes": sent.nodes if nodes is None else nodes,
        "extensions": [],
        "receivedAt": received.isoformat(),
    }
    if sent.master_version is not None:
        stored["masterVersion"] = sent.master_version
    if sent.report_id is not None:
        stored["reportID"] = sent.report_id
    return stored | extra


def _history(rng: random.Random, start: datetime, *, outside_only: bool) -> list[datetime]:
    """When one cluster sent its reports, oldest first: up to 5, some before the window."""
    if outside_only:
        return sorted(start - timedelta(days=rng.uniform(0.5, 20)) for _ in range(rng.randint(1, 3)))
    count = rng.randint(1, 5)
    times = [NOW - timedelta(days=rng.uniform(0, 29.5)) for _ in range(count)]
    times += [start - timedelta(days=rng.uniform(0.5, 10)) for _ in range(rng.randint(0, 1))]
    return sorted(times)


def make_fleet(clusters: int = 300, *, seed: int = 15) -> Fleet:
    """``clusters`` clusters (some reporting only before the window), with one split report and copies."""
    rng = random.Random(seed)  # noqa: S311  # a reproducible fleet, not a secret
    fleet = Fleet(now=NOW, window=WINDOW)
    start = NOW - WINDOW
    for index in range(clusters):
        cluster_id = str(uuid.UUID(int=rng.getrandbits(128)))
        outside_only = index % 15 == 7
        sizes = {0: 1500, 1: 5001, 2: 12}  # cluster 2's latest report is split in three
        reports = [
            _report(rng, cluster_id, sent, sizes.get(index, rng.choice(SIZES)), with_id=rng.random() < 0.8)
            for sent in _history(rng, start, outside_only=outside_only)
        ]
        arrivals = _store_history(rng, fleet, reports, split=index == 2)
        _choose(fleet, cluster_id, arrivals, start)
    return fleet


def _choose(fleet: Fleet, cluster_id: str, arrivals: list[tuple[Sent, datetime]], start: datetime) -> None:
    """The rule, applied to what arrived in the window: each report at its first arrival there, the newest sent."""
    first: dict[int, tuple[Sent, datetime]] = {}
    for report, received in arrivals:
        if received >= start and (id(report) not in first or received < first[id(report)][1]):
            first[id(report)] = (report, received)
    if not first:
        return
    in_window = sorted(first.values(), key=lambda arrival: (arrival[0].sent, -arrival[1].timestamp()))
    fleet.latest[cluster_id] = in_window[-1][0]
    fleet.first_seen[cluster_id] = min(received for _, received in in_window)
    last_in_week: dict[str, Sent] = {}
    for report, received in in_window:  # oldest sent first: the newest of a week comes last
        year, week, _ = received.isocalendar()
        last_in_week[f"{year}-W{week:02d}"] = report
    fleet.weekly.update((week, report.version_label) for week, report in last_in_week.items())


def _store_history(
    rng: random.Random, fleet: Fleet, reports: list[Sent], *, split: bool
) -> list[tuple[Sent, datetime]]:
    """Rows for one cluster's reports, plus later copies; returns each row's report and receive time."""
    arrivals: list[tuple[Sent, datetime]] = []
    for position, report in enumerate(reports):
        received = report.sent
        latest = position == len(reports) - 1
        if split and latest:
            fleet.split_report_id = report.report_id or ""
            _store_split(fleet, report, received)
            arrivals.append((report, received))
            continue
        fleet.rows.append(row(report, received=received))
        arrivals.append((report, received))
        if rng.random() < 0.2:
            # A copy received again; one of an older report may arrive after the latest one (and must not win).
            again = (reports[-1].sent if not latest else report.sent) + timedelta(minutes=rng.randint(1, 90))
            fleet.rows.append(row(report, received=again))
            arrivals.append((report, again))
        if report.sent < fleet.now - fleet.window and rng.random() < 0.1:
            # A copy of a report from before the window that arrives inside it (a POST retried days later): inside
            # the window it is that report's first arrival, and it counts as such, unless a newer report is there.
            fleet.rows.append(row(report, received=fleet.now - timedelta(days=1)))
            arrivals.append((report, fleet.now - timedelta(days=1)))
    return arrivals


def _store_split(fleet: Fleet, report: Sent, received: datetime) -> None:
    parts = 3
    step = -(-len(report.nodes) // parts)
    slices = [report.nodes[i * step : (i + 1) * step] for i in range(parts)]
    for part, nodes in enumerate(slices):
        fleet.rows.append(row(report, received=received, nodes=nodes, part=part, parts=parts))
    fleet.rows.append(row(report, received=received + timedelta(minutes=5), nodes=slices[1], part=1, parts=parts))


def _sorted(items: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return sorted(items, key=lambda item: (-item["clusters"], *(item[k] for k in keys)))


def _bucket(nodes: int) -> str:
    bounds = [(0, "0"), (1, "1"), (5, "2-5"), (20, "6-20"), (100, "21-100"), (1000, "101-1000"), (5000, "1001-5000")]
    return next((name for bound, name in bounds if nodes <= bound), ">5000")


Held = dict[str, tuple[set[str], int]]
"""Per key: the clusters that hold it, and their nodes under it."""


def _fold(held: Held, *, min_clusters: int, top: int) -> tuple[Held, set[str]]:
    """Keys held by fewer than ``min_clusters`` clusters, or past the ``top`` biggest, merged into ``other``."""
    ranked = sorted(held, key=lambda key: (-len(held[key][0]), key))
    shown = {key for key in ranked[:top] if len(held[key][0]) >= min_clusters}
    folded: Held = {}
    for key, (ids, nodes) in held.items():
        name = key if key in shown else "other"
        before = folded.get(name, (set(), 0))
        folded[name] = (before[0] | ids, before[1] + nodes)
    return folded, shown


def _listed(held: Held, label: str) -> list[dict[str, Any]]:
    return _sorted([{label: k, "clusters": len(ids), "nodes": n} for k, (ids, n) in held.items()], label)


def expected_document(fleet: Fleet, *, min_clusters: int = 1, top: int = 15) -> dict[str, Any]:
    """The document for ``fleet``, from the representative reports and the chosen labels."""
    latest = fleet.latest.values()
    dims: dict[str, Held] = defaultdict(dict)
    for report in latest:
        nodes = len(report.nodes)
        for dim, key, count in (("version", report.version_label, nodes), ("size", _bucket(nodes), nodes)):
            ids, before = dims[dim].get(key, (set(), 0))
            dims[dim][key] = (ids | {report.cluster_id}, before + count)
        for labels in report.labels:
            for dim, label in labels.items():
                ids, before = dims[dim].get(label, (set(), 0))
                dims[dim][label] = (ids | {report.cluster_id}, before + 1)
    folded = {dim: _fold(held, min_clusters=min_clusters, top=top) for dim, held in dims.items()}
    clusters, nodes = len(fleet.latest), sum(len(r.nodes) for r in latest)
    document: dict[str, Any] = {
        "window_hours": 720,
        "window_start": (fleet.now - fleet.window).isoformat(),
        "generated_at": fleet.now.isoformat(),
        "min_clusters": min_clusters,
        "verified_only": False,
        "clusters": clusters,
        "nodes": nodes,
        "verified": {"clusters": 0, "nodes": 0},
        "unverified": {"clusters": clusters, "nodes": nodes},
        "by_version": _listed(folded["version"][0], "version"),
    }
    for dim in ("provider", "os_image", "architecture", "container_runtime", "kubelet_version"):
        document[f"by_{dim}"] = _listed(folded[dim][0], "key")
    sizes: Held = {b: (set(), 0) for b in ("0", "1", "2-5", "6-20", "21-100", "101-1000", "1001-5000", ">5000")}
    document["cluster_sizes"] = _listed(sizes | folded["size"][0], "key")
    shown_versions = folded["version"][1]
    weekly: Counter[tuple[str, str]] = Counter()
    for (week, version), count in fleet.weekly.items():
        weekly[week, version if version in shown_versions else "other"] += count
    document["weekly"] = _sorted(
        [{"week": w, "version": v, "clusters": c} for (w, v), c in weekly.items()], "week", "version"
    )
    days = Counter(moment.date().isoformat() for moment in fleet.first_seen.values())
    document["new_clusters"] = [{"day": day, "clusters": days[day]} for day in sorted(days)]
    return document
