"""The ingest benchmark's large-report phase: seconds and peak RSS per 65,000-node report.

A gateway with its default caps and memory budget takes the largest
cluster's report (a dozen capacity entries per node, compact JSON, as the
Go volunteer sends it uncompressed): one at a time, then three at once; then
the million-minimal-node gzip body. Beside each figure, its baseline from
the same run: ``orjson.loads`` of the same document in this process (the
least any full parse costs), the document's own size, and the gateway's idle
RSS. Targets: peak RSS <= 250 MB for one report and for the million-node
body, and RSS back near idle afterwards.
"""

from __future__ import annotations

import gzip
import http.client
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import orjson
import psutil

from tests.ingest.large import LARGEST_CLUSTER, largest_cluster_report
from tests.support.amqp import delete_queues, message_count, unique_queue_name

TARGET_PEAK_MB: Final = 250.0
REPEATS: Final = 3


@dataclass
class LargeFigures:
    """What the large-report phase measured."""

    nodes: int
    document_mb: float
    parse_baseline_s: float
    idle_mb: float
    seconds_per_report: float
    peak_one_mb: float
    peak_three_mb: float
    after_mb: float
    million_status: int
    million_seconds: float
    peak_million_mb: float
    statuses: list[int]
    stored: int


def _post(port: int, body: bytes, headers: dict[str, str]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        connection.request("POST", "/api/v1", body=body, headers=headers)
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def _memory_mb(process: psutil.Process, field: str) -> float:
    for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} missing for {process.pid}")


GatewayProcess = Callable[[str, str, int, Path], AbstractContextManager[tuple[int, psutil.Process]]]


def measure_large(url: str, workdir: Path, *, nodes: int, gateway_process: GatewayProcess) -> LargeFigures:
    """Run the phase against a fresh gateway (``gateway_process`` is the benchmark's context manager)."""
    document = largest_cluster_report("bench-large", nodes=nodes)
    started = time.perf_counter()
    orjson.loads(document)
    parse_baseline = time.perf_counter() - started
    json_headers = {"Content-Type": "application/json"}
    million = gzip.compress(b'{"clusterID":"m","nodes":[' + b",".join([b'{"id":"a"}'] * 999_990) + b"]}")
    queue = unique_queue_name("bench.ingest.large")
    try:
        with gateway_process(url, queue, 1, workdir) as (port, process):
            idle = _memory_mb(process, "VmRSS")
            started = time.perf_counter()
            million_status = _post(port, million, {**json_headers, "Content-Encoding": "gzip"})
            million_seconds = time.perf_counter() - started
            peak_million = _memory_mb(process, "VmHWM")
            started = time.perf_counter()
            statuses = [_post(port, document, json_headers) for _ in range(REPEATS)]
            per_report = (time.perf_counter() - started) / REPEATS
            peak_one = _memory_mb(process, "VmHWM")
            with ThreadPoolExecutor(max_workers=3) as pool:
                statuses += pool.map(lambda _n: _post(port, document, json_headers), range(3))
            peak_three = _memory_mb(process, "VmHWM")
            time.sleep(2)  # a benchmark's settling pause before the after-burst reading, not synchronisation
            after = _memory_mb(process, "VmRSS")
        stored = message_count(url, queue)
    finally:
        delete_queues(url, queue, f"{queue}.dead")
    return LargeFigures(
        nodes,
        len(document) / 1e6,
        parse_baseline,
        idle,
        per_report,
        peak_one,
        peak_three,
        after,
        million_status,
        million_seconds,
        peak_million,
        statuses,
        stored,
    )


def print_large(figures: LargeFigures) -> bool:
    """Print the phase's lines; False if a 204 has no message in the queue."""
    f = figures
    print(
        f"large    {f.nodes:,} nodes, {f.document_mb:.1f} MB uncompressed: {f.seconds_per_report:.2f} s/report "
        f"({f.seconds_per_report / f.parse_baseline_s:.1f}x orjson.loads of it, {f.parse_baseline_s:.2f} s), "
        f"peak RSS {f.peak_one_mb:.0f} MB one at a time, {f.peak_three_mb:.0f} MB three at once "
        f"(idle {f.idle_mb:.0f} MB, {(f.peak_one_mb - f.idle_mb) / f.document_mb:.1f}x the document above idle), "
        f"{f.after_mb:.0f} MB 2 s after; answers {f.statuses}, queue holds {f.stored} of {f.statuses.count(204)} 204s"
    )
    print(
        f"million  1,000,000 minimal nodes gzipped: {f.million_status} in {f.million_seconds:.2f} s, "
        f"peak RSS {f.peak_million_mb:.0f} MB"
    )
    one_ok = f.nodes < LARGEST_CLUSTER or f.peak_one_mb <= TARGET_PEAK_MB
    million_ok = f.peak_million_mb <= TARGET_PEAK_MB and f.million_status in {204, 413}
    print(
        f"targets  peak RSS <= {TARGET_PEAK_MB:.0f} MB per {LARGEST_CLUSTER:,}-node report: "
        f"{'met' if one_ok else 'MISSED'} ({f.peak_one_mb:.0f} MB); million-node body: "
        f"{'met' if million_ok else 'MISSED'} ({f.million_status}, {f.peak_million_mb:.0f} MB)"
    )
    if f.stored < f.statuses.count(204):
        print("LOST: a large report answered 204 has no message in the queue")
        return False
    return True
