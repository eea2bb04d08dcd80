"""The dashboard at scale, and what taking turns on the DuckDB file costs the writer, measured in one run.

1. **Scale.** 100,000 reports from 20,000 clusters (five each, over 45 days, a
   handful of nodes each, one in a hundred with 50 to 1,000) are written through the
   writer's DuckDB sink. A ``spartakus dashboard`` process serves them, and
   ``GET /api/adoption`` is timed over HTTP (target: <= 1 s), beside two
   baselines taken in the same run on the same file: the query alone in this
   process, and a bare ``SELECT count(*)``. The dashboard's peak RSS is printed.
2. **History.** The same window (100,000 reports from 20,000 clusters, all
   received in the last 29 days) is read from a file that holds only it, and
   from a copy that also holds 2,000,000 older reports (the same clusters'
   reports, 48 to 390 days back). The two answers must be identical; the
   ratio of their times is printed (target: <= 1.5x), and ``GET /api/adoption``
   on the larger file is timed (target: <= 1 s).
3. **Writer cost.** The sink writes the same batches (500 rows) three ways:
   holding the file throughout (no reader comes), with a reader process
   reading the dashboard's figures every 0.5 s (each read makes the writer close
   and reopen the file), and closing after every batch (a trickle of reports,
   where every batch finds the writer idle). Rows per second and the ratio to the
   first are printed.

Run from the repository root: ``python -m bench.dashboard_bench [--quick]``. It exits 0 when the target is met
and 3 when it is missed (a crash exits 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import duckdb
import psutil

from dashboard.adoption import adoption
from dashboard.duckdb_store import DuckDbStore
from tests.support.services import free_port, wait_until
from writer.duckdb_sink import DuckDbSink
from writer.rows import Row, decode_report

TARGET_SECONDS: Final = 1.0
EXIT_TARGET_MISSED: Final = 3
"""The exit code of a run that finished but missed the target; a crash exits 1, as Python does."""
BATCH: Final = 500
VERSIONS: Final = ["v1.27.16", "v1.28.15", "v1.29.12-eks-2f008fe", "v1.30.8-gke.1051000", "v1.31.4", "v1.32.0+k3s1"]
PROVIDERS: Final = ["gce", "aws", "azure", "unknown", "hcloud", "digitalocean", "oci"]
IMAGES: Final = ["Container-Optimized OS from Google", "Ubuntu 22.04.5 LTS", "Bottlerocket OS 1.26.2", "Talos (v1.8.3)"]
RUNTIMES: Final = ["containerd://1.7.23", "cri-o://1.31.2", "docker://27.3.1"]


def _nodes(rng: random.Random, cluster: int, count: int, provider: str) -> list[dict[str, Any]]:
    node = {
        "osImage": rng.choice(IMAGES),
        "architecture": rng.choice(["amd64", "amd64", "arm64"]),
        "containerRuntimeVersion": rng.choice(RUNTIMES),
        "kubeletVersion": rng.choice(VERSIONS),
        "cloudProvider": provider,
        "capacity": [{"resource": "cpu", "value": "8"}, {"resource": "memory", "value": "32761364Ki"}],
    }
    # The same nodes (ids) in every report of a cluster, as a real cluster sends them.
    return [{"id": f"{cluster:06d}{i:026d}", **node} for i in range(count)]


def fleet_rows(
    clusters: int, per_cluster: int, *, seed: int = 15, days: float = 45, now: datetime | None = None
) -> Iterator[list[Row]]:
    """Batches of stored rows: ``per_cluster`` reports of each cluster, received over the last ``days`` days."""
    rng = random.Random(seed)  # noqa: S311  # a reproducible fleet, not a secret
    now = now or datetime.now(UTC)
    batch: list[Row] = []
    for c in range(clusters):
        size = rng.choice([1, 1, 2, 3, 3, 5, 8, 12, 20, 40]) if rng.random() < 0.99 else rng.randint(50, 1000)
        provider = rng.choice(PROVIDERS)
        for r in range(per_cluster):
            received = now - timedelta(days=rng.uniform(0, days))
            report = {
                "version": "v2.0.0",
                "timestamp": str(int(received.timestamp())),
                "clusterID": f"cluster-{c:06d}",
                "masterVersion": rng.choice(VERSIONS),
                "nodes": _nodes(rng, c, size, provider),
                "extensions": [],
                "reportID": f"{c:06d}-{r}",
                "receivedAt": received.isoformat(),
            }
            batch.append(decode_report(json.dumps(report).encode()))
            if len(batch) == BATCH:
                yield batch
                batch = []
    if batch:
        yield batch


def build_store(path: Path, clusters: int, per_cluster: int, **fleet: Any) -> None:
    """Write the fleet through the writer's sink, with progress."""
    sink = DuckDbSink(str(path))
    written, started = 0, time.perf_counter()
    try:
        for batch in fleet_rows(clusters, per_cluster, **fleet):
            sink.write(batch)
            written += len(batch)
            if written % 20_000 == 0:
                print(f"  {written:,} reports written ({time.perf_counter() - started:.0f}s)", flush=True)
    finally:
        sink.close()


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=120) as response:  # noqa: S310  # http://127.0.0.1 only
        return int(response.status), response.read()


@contextmanager
def dashboard_process(database: str) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARTAKUS_")}
    # --refresh=0: every request reads the store, so that each one is timed.
    command = ["dashboard", f"--database={database}", f"--port={port}", "--refresh=0"]
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "spartakus", *command],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the dashboard exited with code {process.returncode}")
            try:
                return get(base + "/healthz")[0] == 200
            except OSError:
                return False

        try:
            wait_until(up, timeout=60, what="the dashboard")
            yield base, psutil.Process(process.pid)
        finally:
            process.terminate()
            process.wait(timeout=30)


def timed(fn: Any, repeat: int, *, pause: float = 0.0, process: psutil.Process | None = None) -> list[float]:
    """Wall seconds of each call; ``process``'s CPU seconds per call are appended last."""
    seconds, process = [], process or psutil.Process()
    cpu = sum(process.cpu_times()[:2])
    for _ in range(repeat):
        time.sleep(pause)
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    seconds.append((sum(process.cpu_times()[:2]) - cpu) / repeat)
    return seconds


def _figures(measured: list[float]) -> str:
    *seconds, cpu = measured
    return (
        f"median {statistics.median(seconds):.3f}s, min {min(seconds):.3f}s, max {max(seconds):.3f}s; "
        f"CPU {cpu:.3f}s a call"
    )


def bench_scale(folder: Path, clusters: int, per_cluster: int, repeat: int) -> bool:
    path = folder / "scale.duckdb"
    print(f"scale: {clusters * per_cluster:,} reports from {clusters:,} clusters", flush=True)
    build_store(path, clusters, per_cluster)
    print(f"  file: {path.stat().st_size / 1e6:.0f} MB", flush=True)
    with duckdb.connect(str(path), read_only=True) as db:
        count = timed(lambda: db.execute("SELECT count(*) FROM reports").fetchall(), repeat)
    query = timed(lambda: adoption(DuckDbStore(str(path)), window=timedelta(hours=720)), repeat)
    with dashboard_process(f"duckdb:///{path}") as (base, process):
        status, body = get(base + "/api/adoption")
        assert status == 200, body[:200]
        document = json.loads(body)
        http = timed(lambda: get(base + "/api/adoption"), repeat, process=process)
        rss = process.memory_info().rss / 1e6
    print(f"  baseline SELECT count(*):        {_figures(count)}")
    print(f"  the query in-process (adoption): {_figures(query)}")
    print(f"  GET /api/adoption over HTTP:     {_figures(http)}  <- target <= {TARGET_SECONDS:g}s")
    ratio = statistics.median(http[:-1]) / statistics.median(query[:-1])
    print(f"  HTTP / in-process: {ratio:.2f}x; dashboard RSS after the requests: {rss:.0f} MB")
    print("  (CPU counts every thread; on a quiet machine a call takes about its CPU time or less)")
    print(f"  counted {document['clusters']:,} clusters, {document['nodes']:,} nodes in the 720h window")
    return max(http[:-1]) <= TARGET_SECONDS


HISTORY_SQL: Final = """INSERT INTO reports BY NAME
SELECT r.* REPLACE (
    receivedAt - to_days(CAST(30 + k * 18 AS INTEGER)) AS receivedAt,
    CAST(CAST(timestamp AS BIGINT) - (30 + k * 18) * 86400 AS VARCHAR) AS timestamp,
    reportID || '-h' || k AS reportID
) FROM (SELECT * FROM reports WHERE reportID NOT LIKE '%-h%') AS r, range(1, ? + 1) AS t(k)"""
"""Older reports of the same clusters: each window report again, ``k`` times 18 days (plus 30) further back."""


def _add_history(path: Path, copies: int) -> None:
    started = time.perf_counter()
    with duckdb.connect(str(path)) as db:
        db.execute(HISTORY_SQL, [copies])
        total = db.execute("SELECT count(*) FROM reports").fetchone()
    print(f"  history added in {time.perf_counter() - started:.0f}s: {total[0] if total else 0:,} reports in all")


SCANNED_TWICE: Final = ("clusterID", "reportID", "timestamp", "part", "receivedAt")
"""Columns both of the query's reads of the table use (counted twice: an upper bound)."""
NODE_FIELDS: Final = ("cloudProvider", "osImage", "architecture", "containerRuntimeVersion", "kubeletVersion")


def _bigquery_bytes(value: Any) -> int:
    # BigQuery's documented sizes: STRING 2 bytes plus its UTF-8, INT64 and TIMESTAMP 8, BOOL 1, NULL 0.
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return 8
    return 2 + len(str(value).encode())


def view_bytes(report: dict[str, Any]) -> int:
    """Bytes of ``report`` the adoption query makes BigQuery read (on-demand billing counts these)."""
    scalars = 2 * sum(_bigquery_bytes(report.get(c)) for c in SCANNED_TWICE) + 8 * 2  # receivedAt, part as set
    scalars += _bigquery_bytes(report.get("masterVersion")) + 1  # and verified
    nodes = sum(_bigquery_bytes(node.get(f)) for node in report.get("nodes") or [] for f in NODE_FIELDS)
    return scalars + nodes


def print_view_bytes(count: int) -> None:
    """Bytes a view reads per report, over the benchmark's fleet, with ids as long as real ones (UUIDs)."""
    rng = random.Random(23)  # noqa: S311  # a reproducible fleet, not a secret
    total = 0
    for c in range(count):
        size = rng.choice([1, 1, 2, 3, 3, 5, 8, 12, 20, 40]) if rng.random() < 0.99 else rng.randint(50, 1000)
        report = {
            "clusterID": str(uuid.UUID(int=rng.getrandbits(128))),
            "reportID": str(uuid.UUID(int=rng.getrandbits(128))),
            "timestamp": "1795779062",
            "masterVersion": rng.choice(VERSIONS),
            "nodes": _nodes(rng, c, size, rng.choice(PROVIDERS)),
        }
        total += view_bytes(report)
    print(f"  BigQuery bytes a view reads per report (mean of {count:,}, UUID ids): {total / count:,.0f}")


def bench_history(folder: Path, clusters: int, per_cluster: int, copies: int, repeat: int) -> bool:
    """The same window read from a file of it alone and from one with ``copies`` times as many older reports."""
    now = datetime.now(UTC)
    window, alone, grown = timedelta(hours=720), folder / "window.duckdb", folder / "history.duckdb"
    print(f"history: {clusters * per_cluster:,} reports in the window, {copies}x as many before it", flush=True)
    print_view_bytes(clusters)
    build_store(alone, clusters, per_cluster, seed=21, days=29, now=now)
    shutil.copyfile(alone, grown)
    _add_history(grown, copies)
    answers = [adoption(DuckDbStore(str(path)), window=window, now=now) for path in (alone, grown)]
    assert answers[0] == answers[1], "the older reports changed the window's answer"
    times = [
        timed(lambda p=path: adoption(DuckDbStore(str(p)), window=window, now=now), repeat) for path in (alone, grown)
    ]
    with dashboard_process(f"duckdb:///{grown}") as (base, process):
        http = timed(lambda: get(base + "/api/adoption"), repeat, process=process)
    ratio = statistics.median(times[1][:-1]) / statistics.median(times[0][:-1])
    print(f"  the window alone ({alone.stat().st_size / 1e6:.0f} MB):     {_figures(times[0])}")
    print(f"  with the history ({grown.stat().st_size / 1e6:.0f} MB): {_figures(times[1])}")
    print(f"  GET /api/adoption with the history: {_figures(http)}  <- target <= {TARGET_SECONDS:g}s")
    print(f"  identical answers ({answers[0]['clusters']:,} clusters); time ratio {ratio:.2f}x  <- target <= 1.5x")
    return ratio <= 1.5 and max(http[:-1]) <= TARGET_SECONDS


def _write_all(sink: DuckDbSink, batches: list[list[Row]]) -> float:
    started = time.perf_counter()
    for batch in batches:
        sink.write(batch)
    return time.perf_counter() - started


def bench_writer_cost(folder: Path, reports: int) -> None:
    print(f"writer cost: {reports:,} reports in batches of {BATCH}, written by the sink three ways", flush=True)
    batches = list(fleet_rows(reports // 5, 5, seed=16))
    preload = list(fleet_rows(reports // 2, 1, seed=17))
    seconds: dict[str, float] = {}
    reads: list[int] = [0, 0]
    for mode in ("held throughout", "a reader every 0.5 s", "closed after every batch"):
        path = folder / f"cost-{len(seconds)}.duckdb"
        # Held throughout: never idle long enough to let go. With a reader: as in production, so that the
        # reader's last read, after the writes, finds the file let go once the writer is idle.
        idle = {"held throughout": 3600.0, "closed after every batch": 0.0}.get(mode, 0.2)
        sink = DuckDbSink(str(path), release_after_idle=idle)
        for batch in preload:  # a file of some size, as a running collector has
            sink.write(batch)
        stop = threading.Event()
        reader = threading.Thread(target=_read_every, args=(path, stop, reads), daemon=True)
        if mode.startswith("a reader"):
            reader.start()
        seconds[mode] = _write_all(sink, batches)
        stop.set()
        if reader.is_alive():
            reader.join(timeout=120)
        sink.close()
        extra = f" ({reads[0]} reads, {reads[1]} failed)" if mode.startswith("a reader") else ""
        print(f"  {mode:<26} {reports / seconds[mode]:>9,.0f} rows/s{extra}", flush=True)
    held = seconds["held throughout"]
    print("  ratio to held: " + ", ".join(f"{mode} {held / s:.2f}x" for mode, s in seconds.items()))
    if reads[0]:
        lost = (seconds["a reader every 0.5 s"] - held) / reads[0]
        print(f"  writer time lost per read: {lost:.2f}s (the read itself, plus closing and reopening the file)")


def _read_every(path: Path, stop: threading.Event, reads: list[int]) -> None:
    # Another process, as the dashboard is: a read in this one would share DuckDB's in-process instance.
    script = (
        "import sys\nfrom datetime import timedelta\nfrom dashboard.adoption import adoption\n"
        "from dashboard.duckdb_store import DuckDbStore\n"
        "adoption(DuckDbStore(sys.argv[1]), window=timedelta(hours=720))"
    )
    # The first read at once: a quick run's writes are over within the first half second.
    while True:
        command = [sys.executable, "-c", script, str(path)]
        result = subprocess.run(command, capture_output=True, timeout=120, check=False)
        reads[0] += 1
        if result.returncode != 0:
            reads[1] += 1
            print(f"  a read failed: {result.stderr.decode()[-300:]}", flush=True)
        if stop.wait(0.5):
            return


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a twentieth of the size, for a smoke run")
    parser.add_argument("--only", choices=("scale", "history", "writer"), help="run one phase only")
    args = parser.parse_args()
    clusters = 1_000 if args.quick else 20_000
    print(f"load average at start: {os.getloadavg()}", flush=True)
    met = True
    with tempfile.TemporaryDirectory(prefix="spartakus-dashboard-bench-") as folder:
        if args.only in {None, "scale"}:
            met = bench_scale(Path(folder), clusters, 5, repeat=2 if args.quick else 5) and met
        if args.only in {None, "history"}:
            met = bench_history(Path(folder), clusters, 5, 20, repeat=2 if args.quick else 3) and met
        if args.only in {None, "writer"}:
            bench_writer_cost(Path(folder), 2_000 if args.quick else 20_000)
    print(f"load average at end: {os.getloadavg()}")
    print("targets met" if met else "TARGET MISSED: see the figures above")
    return 0 if met else EXIT_TARGET_MISSED


if __name__ == "__main__":
    sys.exit(main())
