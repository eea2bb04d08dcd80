"""The two BigQuery APIs side by side, in one run on one emulator: the Storage Write API against insertAll.

For each API (``SPARTAKUS_BIGQUERY_API``), on a fresh emulator process so
both start alike: a ``spartakus writer`` process drains ``count`` small
report messages (rows per second, the process's CPU per row, its peak RSS),
then writes one 65,000-node report (seconds, CPU, peak RSS). Prints the
Storage Write API's ratio to insertAll beside each figure; the target is to
drain at least as fast at no more memory. Run it with
``python -m bench.writer_bench --compare-apis [--count N | --quick] [--no-large]``.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Final

from bench.writer_bench import DATASET, Deadline, drain_preloaded, emulator_env, prepared, write_one_report
from tests.support.big_reports import go_body, go_volunteer_report
from tests.support.bqemulator_process import PROJECT, EmulatorProcess, emulator_client
from writer.bigquery_sink import BigQuerySink

APIS: Final = ("insertall", "storage-write")


@dataclass
class Figures:
    """One API's figures."""

    api: str
    rows_per_second: float = 0.0
    cpu_us_per_row: float = 0.0
    peak_mb: float = 0.0
    large_seconds: float = 0.0
    large_cpu_seconds: float = 0.0
    large_peak_mb: float = 0.0


def measure(
    api: str, amqp_url: str, *, count: int, batch_size: int, large: bytes | None, deadline: Deadline
) -> Figures:
    """One API's figures, on an emulator of its own."""
    print(f"{api}:", flush=True)
    emulator = EmulatorProcess()
    emulator.start(timeout=min(120.0, deadline.left()))
    try:
        client = emulator_client(emulator.endpoint)
        table = f"{PROJECT}.{DATASET}.{api.replace('-', '_')}"
        BigQuerySink(table, client=client).ensure_table()
        reports, _rows = prepared(count)
        drained = drain_preloaded(
            amqp_url,
            reports,
            database=f"bigquery://{table}",
            batch_size=batch_size,
            env=emulator_env(emulator, api),
            deadline=deadline,
        )
        stored = next(iter(client.query(f"SELECT COUNT(*) FROM `{table}_dedup`").result()))[0]  # noqa: S608
        assert stored == count, f"{stored} rows in the dedup view, expected {count}"
        figures = Figures(api, count / drained.seconds, drained.cpu_us_per_row, drained.peak_mb)
        if large is not None:
            env = emulator_env(emulator, api)
            one = write_one_report(amqp_url, large, database=f"bigquery://{table}_large", env=env, deadline=deadline)
            figures.large_seconds, figures.large_cpu_seconds = one.seconds, one.cpu_seconds
            figures.large_peak_mb = one.peak_mb
        print(f"  {count} reports in {drained.seconds:.2f}s; 65,000 nodes in {figures.large_seconds:.1f}s", flush=True)
        return figures
    finally:
        emulator.stop()


def table(old: Figures, new: Figures, count: int) -> list[str]:
    """The two APIs' figures and the Storage Write API's ratio to insertAll."""
    rows = [
        (f"{count} small: rows/s", old.rows_per_second, new.rows_per_second, "higher is better"),
        (f"{count} small: CPU us/row", old.cpu_us_per_row, new.cpu_us_per_row, "lower is better"),
        (f"{count} small: peak MB", old.peak_mb, new.peak_mb, "lower is better"),
        ("65k nodes: seconds", old.large_seconds, new.large_seconds, "lower is better"),
        ("65k nodes: CPU s (process)", old.large_cpu_seconds, new.large_cpu_seconds, "lower is better"),
        ("65k nodes: peak MB", old.large_peak_mb, new.large_peak_mb, "lower is better"),
    ]
    lines = [f"{'figure':<28} {'insertall':>10} {'storage-write':>14} {'ratio':>7}"]
    lines += [
        f"{name:<28} {a:>10,.1f} {b:>14,.1f} {b / a if a else 0:>6.2f}x  {note}" for name, a, b, note in rows if a
    ]
    faster = new.rows_per_second >= old.rows_per_second
    leaner = new.peak_mb <= old.peak_mb * 1.05 and new.large_peak_mb <= old.large_peak_mb * 1.05
    lines.append(
        f"target (drains at least as fast, no more memory within 5%): {'met' if faster and leaner else 'MISSED'}"
    )
    return lines


def compare_apis(amqp_url: str, count: int, batch_size: int, args: argparse.Namespace) -> int:
    """Measure both APIs in this run and print them side by side."""
    deadline = Deadline(args.timeout)
    large = None if args.no_large else go_body(go_volunteer_report(65_000))
    figures = {
        api: measure(api, amqp_url, count=count, batch_size=batch_size, large=large, deadline=deadline) for api in APIS
    }
    print()
    print("\n".join(table(figures["insertall"], figures["storage-write"], count)))
    print(
        f"(machine: {os.cpu_count()} CPUs, load average {os.getloadavg()}; writer processes, batches of {batch_size})"
    )
    return 0
