"""Ingest gateway throughput and latency against the broker's ceiling, measured in one run.

1. Ceiling: the fastest minimal publisher we have (one process, asyncio on
   uvloop, pika with its frames coalesced into one write per loop iteration,
   256 publishes in flight) sends the benchmark report, persistent and
   confirmed, into a quorum queue declared like the report queue. It is
   measured before and after the gateway runs, and the better figure counts.
   ``--compare-clients`` also measures plain pika and aio-pika the same way.
2. Gateway: ``python -m ingest`` (for each ``--workers`` count) under wrk with
   32 connections: req/s, p50/p99 latency, peak RSS, ratio to the ceiling, and
   whether every 2xx is in the queue.
3. Fixed rate: an open-loop client (asyncio, keep-alive connections) sends
   2,000 req/s on a fixed schedule and measures each latency from the moment
   the request was due, so a stall shows up in full (wrk2 is not packaged
   here, and plain wrk cannot hold a rate).
4. Large reports (``bench.ingest_large``): seconds and peak RSS per
   65,000-node report, one at a time and three at once, and the
   million-minimal-node gzip body.
5. Signed reports and flood limits (``bench.ingest_floods``): a small
   report's CPU signed beside unsigned (the Ed25519 check well under 100 µs),
   and the limits' memory at 1,000,000 cluster ids (at most 64 MiB).
6. Attacks (``bench.ingest_attacks``): small reports under each hostile load
   (idle connections past the file limit, 256 MiB header values, gzip bodies
   costly to validate, gzip bombs, slow bodies), beside the same figures
   without attack; p99 < 1 s under every attack, < 250 ms beside gzip bombs.

Targets: >= 0.9x the ceiling, p99 < 50 ms at 2,000 req/s, RSS < 150 MB;
peak RSS <= 250 MB per large report.
Every phase is bounded in time; the queues are deleted afterwards.

Run from the repository root: ``python -m bench.ingest_bench [--quick] [--compare-clients] [--no-attacks]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aio_pika
import pika
import psutil
import uvloop
from pika.adapters.asyncio_connection import AsyncioConnection

from bench.ingest_floods import CLUSTERS, QUICK_CLUSTERS, measure_limits, measure_signing, print_limits, print_signing
from bench.ingest_large import measure_large, print_large
from ingest.amqp.connection import CoalescingConnection
from schema.topology import topology_for
from tests.ingest.gateway import with_file_limit
from tests.support.amqp import blocking_channel, delete_queues, message_count, unique_queue_name
from tests.support.original_wire import GKE_NODE
from tests.support.services import free_port, wait_until

DEFAULT_AMQP_URL: Final = "amqp://guest:guest@127.0.0.1:5672/"
IN_FLIGHT: Final = 256
CONNECTIONS: Final = 32
FIXED_RATE: Final = 2000
TARGET_RATIO: Final = 0.9
TARGET_P99_MS: Final = 50.0
TARGET_RSS_MB: Final = 150.0


def report_bytes() -> bytes:
    """A realistic 3-node report of about 1.6 KB, as a volunteer sends it."""
    capacity = [{"resource": "cpu", "value": "8"}, {"resource": "memory", "value": "32880184Ki"}]
    node = {**GKE_NODE, "capacity": [*capacity, {"resource": "pods", "value": "110"}]}
    nodes = [{"id": uuid.uuid5(uuid.NAMESPACE_DNS, f"node-{i}").hex, **node} for i in range(3)]
    extensions = [{"name": f"example.com/key-{i}", "value": "some-value"} for i in range(4)]
    report = {
        "version": "v1.1.0",
        "timestamp": "",
        "clusterID": "2f9c93d3-156c-47aa-8802-578ffca9b50e",
        "masterVersion": "v1.31.1-gke.1678000",
        "nodes": nodes,
        "extensions": extensions,
    }
    return json.dumps(report).encode()


# --- the ceiling: minimal confirmed publishers --------------------------------------------


async def _pika_rate(url: str, body: bytes, queue: str, seconds: float, *, coalesce: bool) -> float:
    loop = asyncio.get_running_loop()
    opened: asyncio.Future[Any] = loop.create_future()
    kind = CoalescingConnection if coalesce else AsyncioConnection
    connection = kind(pika.URLParameters(url), on_open_callback=opened.set_result, custom_ioloop=loop)
    await opened
    channel_open: asyncio.Future[Any] = loop.create_future()
    connection.channel(on_open_callback=channel_open.set_result)
    channel = await channel_open
    pending: dict[int, asyncio.Future[None]] = {}

    def on_confirm(frame: Any) -> None:
        last = frame.method.delivery_tag
        for tag in [t for t in pending if t <= last] if frame.method.multiple else [last]:
            if (future := pending.pop(tag, None)) is not None:
                future.set_result(None)

    selected: asyncio.Future[Any] = loop.create_future()
    channel.confirm_delivery(on_confirm, callback=selected.set_result)
    await selected
    sent = 0

    async def one() -> None:
        nonlocal sent
        sent += 1
        properties = pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=str(sent),
            headers={"x-spartakus-received-at": "2026-01-01T00:00:00Z", "x-spartakus-schema-version": "1"},
        )
        channel.basic_publish("", queue, body, properties)
        pending[sent] = confirmed = loop.create_future()
        await confirmed

    rate = await _keep_in_flight(one, seconds)
    connection.close()
    return rate


async def _aio_pika_rate(url: str, body: bytes, queue: str, seconds: float) -> float:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    headers: dict[str, Any] = {"x-spartakus-received-at": "2026-01-01T00:00:00Z", "x-spartakus-schema-version": "1"}

    async def one() -> None:
        message = aio_pika.Message(body, content_type="application/json", delivery_mode=2, headers=headers)
        await channel.default_exchange.publish(message, routing_key=queue)

    rate = await _keep_in_flight(one, seconds)
    await connection.close()
    return rate


async def _keep_in_flight(one: Callable[[], Any], seconds: float) -> float:
    """Run ``one`` with IN_FLIGHT concurrent loops for ``seconds``; confirmed publishes per second."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def loop() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await one()
            done += 1

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(loop() for _ in range(IN_FLIGHT))), timeout=seconds + 30)
    return done / (time.perf_counter() - started)


def publisher_rate(url: str, client: str, body: bytes, seconds: float) -> tuple[float, float]:
    """Confirmed publishes per second of ``client`` into a fresh quorum queue, and its CPU µs per publish."""
    topology = topology_for(unique_queue_name("bench.ingest.ceiling"))
    with blocking_channel(url) as channel:
        for spec in (topology.dead, topology.main):
            channel.queue_declare(spec.name, durable=True, arguments=dict(spec.arguments))
    cpu = time.process_time()
    try:
        if client == "aio-pika":
            rate = uvloop.run(_aio_pika_rate(url, body, topology.queue, seconds))
        else:
            rate = uvloop.run(_pika_rate(url, body, topology.queue, seconds, coalesce=client == "pika+coalesce"))
        return rate, (time.process_time() - cpu) / (rate * seconds) * 1e6
    finally:
        delete_queues(url, topology.queue, topology.dead_queue)


# --- the gateway under wrk and at a fixed rate --------------------------------------------


@dataclass
class Load:
    """What one load phase measured."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    failures: int
    cpu_us: float = 0.0
    """CPU time of the gateway (all its processes) per request."""


def run_wrk(url: str, body: bytes, seconds: float, workdir: Path) -> Load:
    """wrk with CONNECTIONS connections POSTing ``body`` for ``seconds``."""
    (workdir / "body.json").write_bytes(body)
    script = workdir / "post.lua"
    script.write_text(
        f'local f = io.open("{workdir / "body.json"}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
    )
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    requests = int(_match(r"(\d+) requests in", out))
    failures = int(_match(r"Non-2xx or 3xx responses: (\d+)", out, "0"))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    failures += sum(int(n) for n in errors.groups()) if errors else 0
    return Load(float(_match(r"Requests/sec:\s+([\d.]+)", out)), _ms(out, "50%"), _ms(out, "99%"), requests, failures)


def _match(pattern: str, text: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found is None:
        if default is None:
            raise RuntimeError(f"wrk output lacks {pattern!r}:\n{text}")
        return default
    return found.group(1)


def _ms(text: str, percentile: str) -> float:
    # wrk pads a latency in whole seconds ("1.15s "), as a slow run under load prints it.
    found = re.search(rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)[ \t]*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk output lacks the {percentile} latency:\n{text}")
    return float(found.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found.group(2)]


async def open_loop(port: int, body: bytes, rate: int, seconds: float, *, connect_first: bool = False) -> Load:
    """Requests due ``rate`` a second for ``seconds`` on 64 keep-alive connections, each timed from when it was due
    (open loop: a stall shows in full); a connection the gateway closes counts as a failure and is opened again.

    ``connect_first`` opens the connections before the first request is due, so that no latency includes a connect.
    """
    request = (
        f"POST /api/v1 HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    due: asyncio.Queue[float] = asyncio.Queue()
    latencies: list[float] = []
    failures = 0

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"content-length: (\d+)", head.lower())
        if length:
            await reader.readexactly(int(length.group(1)))
        return head.startswith(b"HTTP/1.1 204")

    async def connection() -> None:
        nonlocal failures
        streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        if connect_first:
            streams = await asyncio.open_connection("127.0.0.1", port)
        while (when := await due.get()) > 0:
            try:
                streams = streams or await asyncio.open_connection("127.0.0.1", port)
                ok = await exchange(*streams)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                ok, streams = False, None
            latencies.append(time.perf_counter() - when)
            failures += not ok
        if streams is not None:
            streams[1].close()

    workers = [asyncio.create_task(connection()) for _ in range(64)]
    started = time.perf_counter()
    total = int(rate * seconds)
    for i in range(total):
        # Open loop: each request is due at its slot whether or not earlier ones have been answered.
        await asyncio.sleep(max(0.0, started + i / rate - time.perf_counter()))
        due.put_nowait(started + i / rate)
    for _ in workers:
        due.put_nowait(0.0)
    await asyncio.wait_for(asyncio.gather(*workers), timeout=seconds + 60)
    latencies.sort()
    elapsed = time.perf_counter() - started

    def ms(fraction: float) -> float:
        return latencies[min(len(latencies) - 1, int(fraction * len(latencies)))] * 1000

    return Load(len(latencies) / elapsed, ms(0.5), ms(0.99), len(latencies), failures)


@contextmanager
def gateway_process(
    url: str,
    queue: str,
    workers: int,
    workdir: Path,
    *,
    file_limit: int | None = None,
    source: Path | None = None,
) -> Iterator[tuple[int, psutil.Process]]:
    """``python -m ingest`` on a free port, ready; SIGTERM and wait afterwards.

    ``file_limit`` sets its limit of open files (soft and hard), as a container's would.
    ``source`` runs the gateway from another checkout of the repository (its packages
    first on the path), with this interpreter's dependencies: an A/B in one run.
    """
    port = free_port()
    command = [sys.executable, "-m", "ingest", "--host", "127.0.0.1", "--port", str(port), "--queue", queue]
    command += ["--amqp-url", url, "--workers", str(workers), "--connection-name", "bench-ingest"]
    # The benchmark sends many reports per cluster id: the flood limits would answer most of them 429.
    command += ["--min-report-interval=0", "--new-clusters-per-source=0"]
    if file_limit is not None:
        command = with_file_limit(command, file_limit)
    env = None if source is None else {**os.environ, "PYTHONPATH": str(source)}
    with (workdir / f"gateway-{workers}.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log, cwd=source, env=env)
    try:
        wait_until(lambda: _ready(port), timeout=30, what="the gateway")
        yield port, psutil.Process(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def _cpu_seconds(process: psutil.Process) -> float:
    return sum(sum(each.cpu_times()[:2]) for each in [process, *process.children()])


def peak_rss_mb(process: psutil.Process) -> float:
    """Largest peak RSS (VmHWM) among the gateway process and its workers."""
    peaks = []
    for each in [process, *process.children()]:
        for line in Path(f"/proc/{each.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def measure_gateway(
    url: str, workers: int, body: bytes, *, seconds: float, rate_seconds: float, workdir: Path
) -> dict[str, Any]:
    """wrk and fixed-rate figures of a gateway with ``workers`` processes, plus durability of its 204s."""
    queue = unique_queue_name("bench.ingest.gateway")
    try:
        with gateway_process(url, queue, workers, workdir) as (port, process):
            endpoint = f"http://127.0.0.1:{port}/api/v1"
            warm_up = run_wrk(endpoint, body, 1, workdir)  # connections, allocator, caches
            cpu = _cpu_seconds(process)
            load = run_wrk(endpoint, body, seconds, workdir)
            load.cpu_us = (_cpu_seconds(process) - cpu) / load.requests * 1e6
            fixed = uvloop.run(open_loop(port, body, FIXED_RATE, rate_seconds, connect_first=True))
            rss = peak_rss_mb(process)
        stored = message_count(url, queue)
    finally:
        delete_queues(url, queue, f"{queue}.dead")
    # wrk does not count the requests still open when it stops; some of those were stored too.
    confirmed = sum(phase.requests - phase.failures for phase in (warm_up, load, fixed))
    return {"workers": workers, "load": load, "fixed": fixed, "rss": rss, "stored": stored, "confirmed": confirmed}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 if wrk is missing or a 2xx was not stored."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="a few seconds per phase, one worker count")
    parser.add_argument("--seconds", type=float, default=10.0, help="wrk duration per worker count")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, e.g. 1,2")
    parser.add_argument("--amqp-url", default=DEFAULT_AMQP_URL, help="the broker to measure against")
    parser.add_argument("--compare-clients", action="store_true", help="also measure plain pika and aio-pika")
    parser.add_argument("--large-nodes", type=int, default=65_000, help="nodes of the large report (--quick: 5,000)")
    parser.add_argument("--attack-seconds", type=float, default=5.0, help="duration of each attack phase")
    parser.add_argument("--no-attacks", action="store_true", help="skip the attack phase")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install -y wrk)")
        return 1
    seconds, ceiling_seconds, rate_seconds = (1.0, 1.0, 1.0) if args.quick else (args.seconds, 4.0, 5.0)
    worker_counts = [1] if args.quick else [int(n) for n in args.workers.split(",")]
    body = report_bytes()
    print(f"ingest benchmark: {len(body)}-byte report, quorum queue, persistent + confirmed publishes")
    url = args.amqp_url
    ceilings = [publisher_rate(url, "pika+coalesce", body, ceiling_seconds)]
    if args.compare_clients:
        for client in ("pika", "aio-pika"):
            rate, cpu_us = publisher_rate(url, client, body, ceiling_seconds)
            print(f"client   {client:<14} {rate:8,.0f} msg/s ({IN_FLIGHT} in flight), {cpu_us:.0f} µs CPU/msg")
    with tempfile.TemporaryDirectory(prefix="ingest-bench-") as tmp:
        workdir = Path(tmp)
        results = [
            measure_gateway(url, n, body, seconds=seconds, rate_seconds=rate_seconds, workdir=workdir)
            for n in worker_counts
        ]
        ceilings.append(publisher_rate(url, "pika+coalesce", body, ceiling_seconds))
        nodes = 5_000 if args.quick else args.large_nodes
        large = measure_large(url, workdir, nodes=nodes, gateway_process=gateway_process)
        status = report(ceilings, results)
        large_ok = print_large(large)
        print_signing(measure_signing(body, count=500 if args.quick else 5000), len(body))
        print_limits(measure_limits(QUICK_CLUSTERS if args.quick else CLUSTERS))
        if not args.no_attacks:
            # Imported here: the attack phase builds on this module's gateway and wrk helpers.
            from bench.ingest_attacks import measure_attacks, report_attacks  # noqa: PLC0415

            attack_seconds = 1.0 if args.quick else args.attack_seconds
            report_attacks(measure_attacks(url, body, seconds=attack_seconds, workdir=workdir))
    return 1 if not large_ok else status


def verdict(ok: bool) -> str:
    """How a target fared."""
    return "met" if ok else "MISSED"


def report(ceilings: list[tuple[float, float]], results: list[dict[str, Any]]) -> int:
    """Print the figures and the targets; 1 if a confirmed report went missing."""
    ceiling, ceiling_cpu = max(ceilings)
    runs = " / ".join(f"{rate:,.0f}" for rate, _cpu in ceilings)
    print(
        f"ceiling  pika+coalesce  {ceiling:8,.0f} msg/s ({IN_FLIGHT} in flight; before / after: {runs}), "
        f"{ceiling_cpu:.0f} µs CPU/msg"
    )
    lost = False
    for result in results:
        load, fixed = result["load"], result["fixed"]
        print(
            f"gateway  workers={result['workers']}      {load.rate:8,.0f} req/s ({CONNECTIONS} connections) "
            f"p50 {load.p50_ms:.1f} ms p99 {load.p99_ms:.1f} ms, {load.cpu_us:.0f} µs CPU/req, "
            f"peak RSS {result['rss']:.0f} MB, "
            f"{load.rate / ceiling:.2f}x ceiling, non-2xx {load.failures}, "
            f"queue holds {result['stored']:,} of {result['confirmed']:,} 2xx"
        )
        print(
            f"fixed    workers={result['workers']}      {fixed.rate:8,.0f} req/s (open loop, {FIXED_RATE}/s due) "
            f"p50 {fixed.p50_ms:.1f} ms p99 {fixed.p99_ms:.1f} ms, non-204 {fixed.failures}"
        )
        lost = lost or result["stored"] < result["confirmed"]
    best = max(results, key=lambda r: r["load"].rate)
    ratio, p99 = best["load"].rate / ceiling, results[0]["fixed"].p99_ms
    rss = max(r["rss"] for r in results)
    print(
        f"targets  >= {TARGET_RATIO}x ceiling: {verdict(ratio >= TARGET_RATIO)} ({ratio:.2f}x, "
        f"workers={best['workers']}); p99 < {TARGET_P99_MS:.0f} ms at {FIXED_RATE}/s: "
        f"{verdict(p99 < TARGET_P99_MS)} ({p99:.1f} ms); RSS < {TARGET_RSS_MB:.0f} MB: "
        f"{verdict(rss < TARGET_RSS_MB)} ({rss:.0f} MB)"
    )
    if lost:
        print("LOST: a 2xx answer has no message in the queue")
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
