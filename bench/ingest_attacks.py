"""The ingest benchmark's attack phase: small reports under each hostile load, against no attack in the same run.

One gateway runs under a file limit of 1,024 (a common container default).
For each attack, and first with none, it measures small reports two ways
while the attack runs: wrk's throughput with 32 keep-alive connections, and
the latency of an open-loop client at ``ATTACK_RATE`` req/s whose requests are
timed from when they were due. The target is p99 < 1 s under every attack.

Run through ``python -m bench.ingest_bench`` (``--attack-seconds``, or ``--no-attacks``).
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import uvloop

from bench.ingest_bench import Load, gateway_process, open_loop, run_wrk
from tests.ingest.hostile import gzip_bomb
from tests.support.amqp import delete_queues, unique_queue_name
from tests.support.gateway_attacks import gzip_bombs, gzip_validation_load, huge_headers, idle_connections, slow_bodies

FILE_LIMIT: Final = 1024
ATTACK_RATE: Final = 500
TARGET_P99_MS: Final = 1000.0
BOMBS: Final = "100 KB gzip -> 100 MiB bombs x2"
TARGET_BOMBS_P99_MS: Final = 250.0

Attack = Callable[[int], contextlib.AbstractContextManager[object]]

ATTACKS: Final[dict[str, Attack]] = {
    "none": lambda _port: contextlib.nullcontext(),
    "1,100 idle connections": lambda port: idle_connections(port, 1100),
    "256 MiB header values x2": lambda port: huge_headers(port, clients=2),
    "590 B gzip -> 256 KiB of nodes x2": lambda port: gzip_validation_load(port, clients=2),
    # Each is refused at the 64 MiB inflated cap, after 64 MiB of zlib inflated in slices.
    BOMBS: lambda port: gzip_bombs(port, gzip_bomb(100), clients=2),
    "200 slow bodies": lambda port: slow_bodies(port, 200, every=0.5),
}


@dataclass
class AttackResult:
    """Small reports' figures under one attack."""

    attack: str
    load: Load
    fixed: Load


def measure_attacks(url: str, body: bytes, *, seconds: float, workdir: Path) -> list[AttackResult]:
    """Small-report figures under each attack in ``ATTACKS``, on one gateway under a file limit of 1,024."""
    queue = unique_queue_name("bench.ingest.attacks")
    results = []
    try:
        with gateway_process(url, queue, 1, workdir, file_limit=FILE_LIMIT) as (port, _process):
            endpoint = f"http://127.0.0.1:{port}/api/v1"
            run_wrk(endpoint, body, 1, workdir)  # warm-up
            for name, attack in ATTACKS.items():
                print(f"attack phase: {name} ...", file=sys.stderr, flush=True)
                with attack(port):
                    load = run_wrk(endpoint, body, seconds, workdir)
                    fixed = uvloop.run(open_loop(port, body, ATTACK_RATE, seconds))
                results.append(AttackResult(name, load, fixed))
    finally:
        delete_queues(url, queue, f"{queue}.dead")
    return results


def report_attacks(results: list[AttackResult]) -> None:
    """Print each attack's figures beside the no-attack ones, and the p99 target."""
    base = results[0]
    for result in results:
        load, fixed = result.load, result.fixed
        print(
            f"attack   {result.attack:<34} {load.rate:8,.0f} req/s ({load.rate / base.load.rate:.2f}x none), "
            f"p99 {load.p99_ms:.1f} ms (wrk); at {ATTACK_RATE}/s p50 {fixed.p50_ms:.1f} ms "
            f"p99 {fixed.p99_ms:.1f} ms ({fixed.p99_ms / max(base.fixed.p99_ms, 0.001):.1f}x none), "
            f"non-204 {load.failures} + {fixed.failures}"
        )
    worst = max(results, key=lambda r: r.fixed.p99_ms)
    ok = worst.fixed.p99_ms < TARGET_P99_MS and all(r.fixed.failures == 0 for r in results)
    bombs = next(r for r in results if r.attack == BOMBS).fixed.p99_ms
    averages = " ".join(f"{x:.1f}" for x in os.getloadavg())
    print(
        f"targets  small reports under attack: every one 204 and p99 < {TARGET_P99_MS:.0f} ms at {ATTACK_RATE}/s: "
        f"{'met' if ok else 'MISSED'} (worst: {worst.attack}, {worst.fixed.p99_ms:.1f} ms); beside gzip bombs "
        f"p99 < {TARGET_BOMBS_P99_MS:.0f} ms: {'met' if bombs < TARGET_BOMBS_P99_MS else 'MISSED'} "
        f"({bombs:.1f} ms); load avg {averages}"
    )
