"""The gateway's CPU per small report, this checkout beside another, in one run (an A/B).

Each round starts the gateway of each side in turn (the order alternates from
round to round, so a change in the machine's load falls on both), loads it
with wrk for ``--seconds``, and reads the gateway's own CPU time (user plus
system, from /proc through psutil) per request: CPU time, unlike wall time or
req/s, hardly depends on what else the machine runs. The access log is on, as
in production, and written to a file.

Run from the repository root, e.g. against main checked out elsewhere::

    git worktree add /tmp/base main
    python -m bench.ingest_ab --baseline /tmp/base --rounds 5 --seconds 5
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Final

import uvloop

from bench.ingest_bench import (
    CONNECTIONS,
    DEFAULT_AMQP_URL,
    _cpu_seconds,
    gateway_process,
    open_loop,
    report_bytes,
    run_wrk,
)
from tests.support.amqp import delete_queues, unique_queue_name

TARGET_RATIO: Final = 1.25


def measure(url: str, source: Path, body: bytes, seconds: float, workdir: Path, *, rate: int) -> tuple[float, float]:
    """CPU µs per request and req/s of the gateway run from ``source``, under wrk or at a fixed ``rate`` (if > 0)."""
    queue = unique_queue_name("bench.ingest.ab")
    try:
        with gateway_process(url, queue, 1, workdir, source=source) as (port, process):
            endpoint = f"http://127.0.0.1:{port}/api/v1"
            run_wrk(endpoint, body, 1, workdir)  # connections, allocator, caches
            cpu = _cpu_seconds(process)
            if rate > 0:
                load = uvloop.run(open_loop(port, body, rate, seconds, connect_first=True))
            else:
                load = run_wrk(endpoint, body, seconds, workdir)
            cpu_us = (_cpu_seconds(process) - cpu) / load.requests * 1e6
    finally:
        delete_queues(url, queue, f"{queue}.dead")
    if load.failures:
        raise RuntimeError(f"{load.failures} requests failed against {source}")
    return cpu_us, load.rate


def measure_app(source: Path) -> float:
    """CPU µs per request of the app alone (``bench.ingest_app_cpu``), run from ``source``."""
    script = Path(__file__).with_name("ingest_app_cpu.py")
    env = {**os.environ, "PYTHONPATH": str(source)}
    out = subprocess.run(
        [sys.executable, str(script)], cwd=source, env=env, capture_output=True, text=True, check=True, timeout=600
    )
    return float(out.stdout.split()[-1])


def main(argv: list[str] | None = None) -> int:
    """Print each round's figures and the ratio of the medians; 1 if the candidate misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--baseline", type=Path, required=True, help="the repository checkout to compare against")
    parser.add_argument("--candidate", type=Path, default=Path.cwd(), help="the checkout measured (this one)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=5.0, help="wrk duration per side and round")
    parser.add_argument(
        "--rate",
        type=int,
        default=0,
        help="requests/s on a fixed schedule instead of wrk's closed loop: under wrk the CPU per request falls as "
        "throughput rises (more requests share each turn of the event loop), so a side the busy machine slows "
        "looks costlier; at a rate both sides sustain, each request is charged alike",
    )
    parser.add_argument(
        "--in-process", action="store_true", help="measure the ASGI app alone, without uvicorn or the broker"
    )
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)")
        return 1
    body = report_bytes()
    sides = {"baseline": args.baseline.resolve(), "candidate": args.candidate.resolve()}
    figures: dict[str, list[float]] = {name: [] for name in sides}
    how = f"{args.rate} req/s on a fixed schedule" if args.rate > 0 else f"wrk, {CONNECTIONS} connections"
    how = "the ASGI app alone (bench.ingest_app_cpu)" if args.in_process else how
    print(f"gateway CPU per {len(body)}-byte report, 1 worker, {how}, {args.seconds:.0f} s per side and round")
    with tempfile.TemporaryDirectory(prefix="ingest-ab-") as tmp:
        for round_number in range(args.rounds):
            order = list(sides) if round_number % 2 == 0 else list(reversed(sides))
            for name in order:
                if args.in_process:
                    cpu_us, rate = measure_app(sides[name]), 0.0
                else:
                    cpu_us, rate = measure(args.amqp_url, sides[name], body, args.seconds, Path(tmp), rate=args.rate)
                figures[name].append(cpu_us)
                load = " ".join(f"{x:.1f}" for x in os.getloadavg())
                shown = f" {rate:7,.0f} req/s" if rate else ""
                print(f"round {round_number + 1} {name:<9} {cpu_us:6.1f} µs CPU/req{shown}  load {load}")
    before, after = (statistics.median(figures[name]) for name in sides)
    ratio = before / after
    verdict = "met" if ratio >= TARGET_RATIO else "MISSED"
    print(f"median   baseline {before:.1f} µs/req, candidate {after:.1f} µs/req: {ratio:.2f}x better")
    print(f"target   >= {TARGET_RATIO}x: {verdict}")
    return 0 if ratio >= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
