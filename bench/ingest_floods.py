"""The ingest benchmark's figures for signed reports and the flood limits.

- ``signed``: a small report's gateway CPU per request (validation, id,
  normalised body), signed beside unsigned, and the Ed25519 check alone;
  the target is verification well under 100 µs.
- ``limits``: the memory the flood limits' state takes once 1,000,000
  distinct cluster ids (and 65,536 source addresses) went through it, and
  the CPU per check; the target is at most 64 MiB.

Run through ``python -m bench.ingest_bench``; figures taken on a busy machine are noisy (the load average is printed).
"""

from __future__ import annotations

import json
import os
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import psutil

from ingest.limits import MAX_SOURCES, FloodLimits
from ingest.validation import accept_report
from schema.signature import ClusterKey, verify_report

CLUSTERS: Final = 1_000_000
QUICK_CLUSTERS: Final = 100_000
"""Enough for ``--quick`` to write every page of the table (some 25 ids a page), so its RSS is the full figure."""
TARGET_VERIFY_US: Final = 100.0
TARGET_LIMITS_MIB: Final = 64.0


def _cpu_us(action: Callable[[], object], count: int) -> float:
    started = time.process_time()
    for _ in range(count):
        action()
    return (time.process_time() - started) / count * 1e6


def _load() -> str:
    return "load avg " + " ".join(f"{x:.1f}" for x in os.getloadavg())


def measure_signing(body: bytes, *, count: int) -> dict[str, float]:
    """CPU per call of the gateway's acceptance of ``body``, unsigned and signed, and of the check alone."""
    key = ClusterKey("bench-kube-system-uid")
    signed_body = json.dumps({**json.loads(body), "clusterID": key.cluster_id}).encode()
    header = key.header(signed_body).encode()
    now = datetime.now(UTC)
    accept_report(signed_body, received_at=now, signature=header)  # warm-up, and a check that it passes
    return {
        "unsigned": _cpu_us(lambda: accept_report(body, received_at=now), count),
        "signed": _cpu_us(lambda: accept_report(signed_body, received_at=now, signature=header), count),
        "verify": _cpu_us(lambda: verify_report(key.cluster_id, header, signed_body), count),
        "sign": _cpu_us(lambda: key.header(signed_body), count),
    }


def print_signing(figures: dict[str, float], size: int) -> bool:
    """Print the signing figures; True when verification is under its target."""
    ok = figures["verify"] < TARGET_VERIFY_US
    print(
        f"signed   {size}-byte report: {figures['unsigned']:.0f} µs CPU unsigned, {figures['signed']:.0f} µs signed "
        f"(+{figures['signed'] - figures['unsigned']:.0f}); Ed25519 check {figures['verify']:.0f} µs "
        f"(< {TARGET_VERIFY_US:.0f}: {'met' if ok else 'MISSED'}), volunteer's signing {figures['sign']:.0f} µs; "
        f"{_load()}"
    )
    return ok


def measure_limits(clusters: int = CLUSTERS) -> dict[str, float]:
    """Memory of the limits' state after ``clusters`` distinct ids and ``MAX_SOURCES`` sources, and CPU per check."""
    process = psutil.Process()
    before = process.memory_info().rss
    tracemalloc.start()
    limits = FloodLimits(min_interval=600, new_per_hour=60)
    started = time.process_time()
    for i in range(clusters):
        # Sources change every 50 ids, so that every source stays within its budget and the LRU fills up.
        limits.admit(cluster_id=f"cluster-{i:07d}", report_id="r", source=f"s{i // 50}", now=1_000_000.0)
    cpu_us = (time.process_time() - started) / clusters * 1e6
    python_heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    rss = process.memory_info().rss - before
    return {"rss_mib": rss / 2**20, "heap_mib": python_heap / 2**20, "cpu_us": cpu_us, "clusters": clusters}


def print_limits(figures: dict[str, float]) -> bool:
    """Print the limits' figures; True when their memory is within the target."""
    ok = figures["rss_mib"] <= TARGET_LIMITS_MIB
    print(
        f"limits   {figures['clusters']:,.0f} cluster ids + {MAX_SOURCES:,} sources: {figures['rss_mib']:.1f} MiB "
        f"RSS (<= {TARGET_LIMITS_MIB:.0f}: {'met' if ok else 'MISSED'}; Python objects {figures['heap_mib']:.1f} MiB), "
        f"{figures['cpu_us']:.1f} µs CPU per check; {_load()}"
    )
    return ok
