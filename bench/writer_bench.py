"""Writer throughput against its ceiling, per sink, measured in one run.

For each sink (BigQuery on the emulator, embedded DuckDB):

1. the ceiling: the same rows, in the same batch size, written straight into the
   store with no RabbitMQ (``insert_rows_json`` for BigQuery, the sink's own
   insert for DuckDB);
2. the writer: ``--count`` report messages are preloaded into a queue, then a
   ``spartakus writer`` process drains it into the same store, timed from the
   moment it reports it is consuming until every row is acked as written.

Prints rows per second, the ratio to the ceiling (target >= 0.9) and the
writer process's RSS over the run. Then, per sink, the writer process's peak
RSS while it writes one 65,000-node report, beside its peak for one small
report in the same run (goal: 400 MB at most). The emulator runs as a subprocess. Every
wait is bounded; the queues and files are removed afterwards.

Run from the repository root: ``python -m bench.writer_bench [--count N | --quick] [--large-only | --no-large]``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import psutil

from tests.support.amqp import delete_queues, unique_queue_name
from tests.support.big_reports import go_body, go_volunteer_report
from tests.support.bqemulator_process import PROJECT, EmulatorProcess, emulator_client
from tests.support.services import free_port
from tests.support.writer_load import properties, publish, report_messages, sample_report, wait_for_ready
from writer.bigquery_sink import NO_RETRY, BigQuerySink
from writer.duckdb_sink import DuckDbSink
from writer.rows import Row, decode_report

TARGET_RATIO: Final = 0.9
DATASET: Final = "writer_bench"


@dataclass
class Result:
    sink: str
    rows: int
    ceiling_seconds: float
    writer_seconds: float
    rss_mb: list[float] = field(default_factory=list)

    def line(self) -> str:
        ceiling = self.rows / self.ceiling_seconds
        writer = self.rows / self.writer_seconds
        ratio = writer / ceiling
        verdict = "ok" if ratio >= TARGET_RATIO else "BELOW TARGET"
        rss = self.rss_mb or [0.0]
        settled = rss[len(rss) // 4 :] or rss
        return (
            f"{self.sink:<9} {self.rows:>7} {ceiling:>14,.0f} {writer:>14,.0f} {ratio:>6.2f}x {verdict:<12} "
            f"{rss[0]:>7.1f} {max(rss):>7.1f} {rss[-1]:>7.1f} {max(settled) - min(settled):>+8.1f}"
        )


HEADER: Final = (
    f"{'sink':<9} {'rows':>7} {'ceiling r/s':>14} {'writer r/s':>14} {'ratio':>7} {'(>=0.9x)':<12} "
    f"{'rss0 MB':>7} {'rssmax':>7} {'rssend':>7} {'drift':>8}"
)


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError("the benchmark ran out of time")
        return left


def prepared(count: int) -> tuple[list[dict[str, Any]], list[Row]]:
    reports = [sample_report(i) for i in range(count)]
    return reports, [decode_report(json.dumps(r).encode()) for r in reports]


def chunks(rows: Sequence[Row], size: int) -> Iterator[Sequence[Row]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


@contextmanager
def preloaded_queue(amqp_url: str, reports: list[dict[str, Any]], deadline: Deadline) -> Iterator[str]:
    queue = unique_queue_name("bench.spartakus")
    try:
        started = time.perf_counter()
        publish(amqp_url, queue, report_messages(reports), confirm=False)
        wait_for_ready(amqp_url, queue, len(reports), timeout=deadline.left())
        print(f"  preloaded {len(reports)} messages in {time.perf_counter() - started:.1f}s", flush=True)
        yield queue
    finally:
        delete_queues(amqp_url, queue, f"{queue}.dead")


def _metric(port: int, name: str) -> float:
    url = f"http://127.0.0.1:{port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # the writer's local endpoint
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(name))


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _consuming_since(stderr: Any, found: threading.Event, at: list[float]) -> None:
    # The writer logs "consuming" (with its own clock) once it is attached to the queue.
    for line in stderr:
        if not found.is_set() and '"consuming"' in line:
            at.append(datetime.fromisoformat(json.loads(line)["time"]).timestamp())
            found.set()


@dataclass
class Drained:
    """A writer process's run over a preloaded queue."""

    seconds: float
    rss: list[float]
    cpu_us_per_row: float
    peak_mb: float


def run_writer(
    *, amqp_url: str, queue: str, database: str, batch_size: int, count: int, env: dict[str, str], deadline: Deadline
) -> Drained:
    """Start ``spartakus writer``, time it from attach to ``count`` rows written."""
    port = free_port()
    argv = [sys.executable, "-m", "writer", "--amqp-url", amqp_url, "--queue", queue, "--database", database]
    argv += ["--batch-size", str(batch_size), "--metrics-port", str(port), "--log-level", "INFO"]
    process = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **env}
    )
    attached, attached_at = threading.Event(), list[float]()
    reader = threading.Thread(target=_consuming_since, args=(process.stderr, attached, attached_at), daemon=True)
    reader.start()
    rss: list[float] = []
    try:
        if not attached.wait(deadline.left()):
            raise TimeoutError("the writer never started consuming")
        # CPU per row is steadier than rates on a shared machine: this process's user+system time while draining.
        cpu_start = _cpu_seconds(process.pid)
        written, next_sample = 0.0, 0.0
        while written < count:
            if process.poll() is not None:
                raise RuntimeError(f"the writer exited with {process.returncode}")
            deadline.left()
            if time.monotonic() >= next_sample:
                rss.append(psutil.Process(process.pid).memory_info().rss / 2**20)
                next_sample = time.monotonic() + 0.5
            written = _metric(port, "spartakus_writer_rows_written_total")
            if written < count:
                time.sleep(0.1)
        elapsed = time.time() - attached_at[0]
        busy = _metric(port, "spartakus_writer_batch_seconds_sum")
        print(f"  the sink was busy {busy / elapsed:.0%} of the writer's run", flush=True)
        cpu_us = (_cpu_seconds(process.pid) - cpu_start) / count * 1e6
        print(f"  writer process CPU: {cpu_us:.0f} us/row (consuming, decoding and the sink's client)", flush=True)
        rss.append(psutil.Process(process.pid).memory_info().rss / 2**20)
        peak = _peak_rss_mb(process.pid)
        process.send_signal(signal.SIGTERM)
        if process.wait(timeout=max(1.0, min(60.0, deadline.left()))) != 0:
            raise RuntimeError(f"the writer exited with {process.returncode} after SIGTERM")
        return Drained(elapsed, rss, cpu_us, peak)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)


def drain_preloaded(
    amqp_url: str,
    reports: list[dict[str, Any]],
    *,
    database: str,
    batch_size: int,
    env: dict[str, str],
    deadline: Deadline,
) -> Drained:
    """``reports`` preloaded into a queue of their own, then drained by a ``spartakus writer`` (``run_writer``)."""
    with preloaded_queue(amqp_url, reports, deadline) as queue:
        return run_writer(
            amqp_url=amqp_url,
            queue=queue,
            database=database,
            batch_size=batch_size,
            count=len(reports),
            env=env,
            deadline=deadline,
        )


def emulator_env(emulator: EmulatorProcess, api: str = "storage-write") -> dict[str, str]:
    """A writer's environment for ``emulator``: REST, the Storage Write API's gRPC, and which API writes."""
    return {
        "BIGQUERY_EMULATOR_HOST": emulator.endpoint,
        "SPARTAKUS_BIGQUERY_WRITE_ENDPOINT": emulator.write_endpoint,
        "SPARTAKUS_BIGQUERY_API": api,
    }


def bench_bigquery(amqp_url: str, count: int, batch_size: int, deadline: Deadline) -> Result:
    print("bigquery (emulator subprocess):", flush=True)
    emulator = EmulatorProcess()
    emulator.start(timeout=min(120.0, deadline.left()))
    try:
        client = emulator_client(emulator.endpoint)
        reports, rows = prepared(count)
        ceiling_table = f"{PROJECT}.{DATASET}.ceiling"
        BigQuerySink(ceiling_table, client=client).ensure_table()
        documents = [json.loads(row.payloads[0]) for row in rows]
        started = time.perf_counter()
        for start in range(0, count, batch_size):
            part = documents[start : start + batch_size]
            ids = [r.report_id for r in rows[start : start + batch_size]]
            errors = client.insert_rows_json(ceiling_table, part, row_ids=ids, skip_invalid_rows=True, retry=NO_RETRY)
            assert not errors, errors[:1]
            deadline.left()
        ceiling = time.perf_counter() - started
        print(f"  ceiling: {count} rows in {ceiling:.2f}s", flush=True)
        # A fresh emulator for the writer: its memory grows with what it stores, and both runs should start alike.
        emulator.stop()
        emulator.start(timeout=min(120.0, deadline.left()))
        writer_table = f"{PROJECT}.{DATASET}.writer"
        BigQuerySink(writer_table, client=client).ensure_table()
        drained = drain_preloaded(
            amqp_url,
            reports,
            database=f"bigquery://{writer_table}",
            batch_size=batch_size,
            env=emulator_env(emulator),
            deadline=deadline,
        )
        seconds, rss = drained.seconds, drained.rss
        stored = next(iter(client.query(f"SELECT COUNT(*) FROM `{writer_table}_dedup`").result()))[0]  # noqa: S608
        assert stored == count, f"{stored} rows in the dedup view, expected {count}"
        print(f"  writer:  {count} rows in {seconds:.2f}s", flush=True)
        return Result("bigquery", count, ceiling, seconds, rss)
    finally:
        emulator.stop()


def bench_duckdb(amqp_url: str, count: int, batch_size: int, deadline: Deadline) -> Result:
    print("duckdb (embedded file):", flush=True)
    with tempfile.TemporaryDirectory(prefix="writer-bench-") as folder:
        reports, rows = prepared(count)
        sink = DuckDbSink(str(Path(folder) / "ceiling.duckdb"))
        started, cpu_start = time.perf_counter(), time.process_time()
        for batch in chunks(rows, batch_size):
            sink.write(batch)
            deadline.left()
        ceiling = time.perf_counter() - started
        cpu_us = (time.process_time() - cpu_start) / count * 1e6
        sink.close()
        print(f"  ceiling: {count} rows in {ceiling:.2f}s, CPU {cpu_us:.0f} us/row", flush=True)
        path = Path(folder) / "writer.duckdb"
        DuckDbSink(str(path)).close()
        drained = drain_preloaded(
            amqp_url, reports, database=f"duckdb:///{path}", batch_size=batch_size, env={}, deadline=deadline
        )
        seconds, rss = drained.seconds, drained.rss
        check = DuckDbSink(str(path))
        stored = check.fetchall("SELECT count(*) FROM reports_dedup")[0]
        check.close()
        assert stored == (count,), f"{stored} rows in reports_dedup, expected {count}"
        print(f"  writer:  {count} rows in {seconds:.2f}s", flush=True)
        return Result("duckdb", count, ceiling, seconds, rss)


def bench_consume_only(amqp_url: str, count: int, batch_size: int, deadline: Deadline) -> float:
    """The writer into ``stdout`` (discarded): what consuming and validating alone allow, as a reference."""
    print("reference: writer into stdout (discarded), i.e. consume + validate only:", flush=True)
    reports, _rows = prepared(count)
    seconds = drain_preloaded(
        amqp_url, reports, database="stdout", batch_size=batch_size, env={}, deadline=deadline
    ).seconds
    print(f"  writer:  {count} rows in {seconds:.2f}s", flush=True)
    return count / seconds


def _peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class OneReport:
    """A ``spartakus writer`` process's run over one report message."""

    seconds: float
    """From the process's start until the report is written."""
    cpu_seconds: float
    peak_mb: float


def write_one_report(
    amqp_url: str, body: bytes, *, database: str, env: dict[str, str], deadline: Deadline
) -> OneReport:
    """A ``spartakus writer`` process writes one report message (gzip, as the gateway sends a large one) into
    ``database``; its seconds, CPU and peak RSS (MiB)."""
    queue = unique_queue_name("bench.spartakus.large")
    props = properties("bench-report")
    props.content_encoding = "gzip"
    try:
        publish(amqp_url, queue, [(gzip.compress(body, compresslevel=1), props)])
        port = free_port()
        argv = [sys.executable, "-m", "writer", "--amqp-url", amqp_url, "--queue", queue, "--database", database]
        process = subprocess.Popen(
            [*argv, "--metrics-port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **env},
        )
        started = time.perf_counter()
        try:
            while _metric(port, "spartakus_writer_rows_written_total") < 1:
                if process.poll() is not None:
                    raise RuntimeError(f"the writer exited with {process.returncode}")
                deadline.left()
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            return OneReport(seconds, _cpu_seconds(process.pid), _peak_rss_mb(process.pid))
        finally:
            process.terminate()
            process.wait(timeout=60)
    finally:
        delete_queues(amqp_url, queue, f"{queue}.dead")


def bench_large(amqp_url: str, sinks: Sequence[str], deadline: Deadline) -> list[str]:
    """Peak RSS of the writer for one 65,000-node report per sink, beside its peak for one small report."""
    print("large report: one 65,000-node report (the Go volunteer's shape, a dozen capacity entries):", flush=True)
    large = go_body(go_volunteer_report(65_000))
    small = json.dumps(sample_report(0)).encode()
    lines = []
    with tempfile.TemporaryDirectory(prefix="writer-bench-large-") as folder:
        emulator = EmulatorProcess() if "bigquery" in sinks else None
        if emulator is not None:
            emulator.start(timeout=min(120.0, deadline.left()))
        try:
            for sink in sinks:
                peaks = []
                for name, body in (("small", small), ("large", large)):
                    if sink == "bigquery" and emulator is not None:
                        database, env = f"bigquery://{PROJECT}.{DATASET}.large_{name}", emulator_env(emulator)
                    else:
                        database, env = f"duckdb:///{Path(folder) / f'{name}.duckdb'}", {}
                    started = time.perf_counter()
                    one = write_one_report(amqp_url, body, database=database, env=env, deadline=deadline)
                    peaks.append(one.peak_mb)
                    print(f"  {sink}: {name} report written, {time.perf_counter() - started:.1f}s", flush=True)
                lines.append(
                    f"{sink:<9} {len(large) / 2**20:>9.1f} {peaks[0]:>13.0f} {peaks[1]:>13.0f} "
                    f"{peaks[1] / peaks[0]:>6.2f}x {'ok' if peaks[1] <= LARGE_PEAK_GOAL_MB else 'OVER GOAL'}"
                )
        finally:
            if emulator is not None:
                emulator.stop()
    return lines


LARGE_HEADER: Final = (
    f"{'sink':<9} {'JSON MiB':>9} {'small peak MB':>13} {'65k peak MB':>13} {'ratio':>7} (goal <= 400 MB)"
)
LARGE_PEAK_GOAL_MB: Final = 400.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--amqp-url", default=os.environ.get("SPARTAKUS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--count", type=int, default=50_000, help="report messages per sink (default 50000)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (1000 reports)")
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--sinks", default="bigquery,duckdb", help="comma-separated: bigquery, duckdb")
    parser.add_argument("--timeout", type=float, default=900.0, help="give up after this many seconds in all")
    parser.add_argument("--large-only", action="store_true", help="only the 65,000-node report's peak RSS")
    parser.add_argument("--no-large", action="store_true", help="skip the 65,000-node report's peak RSS")
    parser.add_argument(
        "--compare-apis",
        action="store_true",
        help="only the two BigQuery APIs side by side (Storage Write API against insertAll): --count small reports "
        "(20000 unless given) and one 65,000-node report each",
    )
    args = parser.parse_args(argv)
    if args.compare_apis:
        from bench.bigquery_apis import compare_apis  # noqa: PLC0415  # it builds on this module's helpers

        return compare_apis(args.amqp_url, 1000 if args.quick else min(args.count, 20_000), args.batch_size, args)
    count = 1000 if args.quick else args.count
    deadline = Deadline(args.timeout)
    sinks = [name.strip() for name in args.sinks.split(",")]
    benches = {"bigquery": bench_bigquery, "duckdb": bench_duckdb}
    results = (
        [] if args.large_only else [benches[name](args.amqp_url, count, args.batch_size, deadline) for name in sinks]
    )
    consume_only = None if args.large_only else bench_consume_only(args.amqp_url, count, args.batch_size, deadline)
    # --quick is the smoke run: the 65,000-node report takes the emulator over a minute.
    large = [] if args.no_large or (args.quick and not args.large_only) else bench_large(args.amqp_url, sinks, deadline)
    print()
    if results:
        print(HEADER)
        for result in results:
            print(result.line())
    if consume_only is not None:
        print(f"{'(stdout)':<9} {count:>7} {'-':>14} {consume_only:>14,.0f}  <- consume + validate alone, no store")
    if large:
        print(LARGE_HEADER)
        print("\n".join(large))
    print(
        f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; ceiling = direct writes of the same"
    )
    print(f" rows in batches of {args.batch_size}; peaks are the writer process's VmHWM)")
    return 0


if __name__ == "__main__":
    with suppress(KeyboardInterrupt):
        sys.exit(main())
