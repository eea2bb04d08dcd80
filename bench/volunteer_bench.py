"""Volunteer benchmark: ``spartakus volunteer --period=0 --database=stdout`` against large clusters.

For each cluster size, a Kubernetes API stand-in runs in a process of its own
and serves pre-built pages of real-shaped Node objects (so that it is not the
bottleneck). In the same run this script measures:

- the bare baseline: download every page with ``urllib`` and ``json.loads`` it,
  in this process, following ``continue`` as any client must;
- the volunteer end to end, as a subprocess (interpreter start-up included),
  with its peak RSS from ``wait4``.

Targets at 65,000 nodes: wall time at most 2x the baseline, peak RSS at most
250 MB.

Then, at 10 and 5,000 nodes, a periodic volunteer (``--period=24h``) is
started and, once its first report is logged and its reporter process has
exited, the RSS of its whole process tree is sampled while it waits. Its
baseline is a bare interpreter of the same Python, sleeping. The reporter's
peak is sampled from ``VmHWM`` while it runs. Target: at most 24 MiB idle
(the original Go volunteer holds 21 MiB).

``--quick`` runs one small size and the 10-node idle check, for CI's smoke test.

    python bench/volunteer_bench.py            # 5k, 15k and 65k nodes; idle at 10 and 5k
    python bench/volunteer_bench.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

import psutil

REPO: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support is not an installed package

from tests.support.k8s_api import write_kubeconfig  # noqa: E402  # needs the path above

PAGE_SIZE: Final = 500
TARGET_RATIO: Final = 2.0
TARGET_RSS_MB: Final = 250.0
TARGET_NODES: Final = 65_000
IDLE_SIZES: Final = (10, 5_000)
TARGET_IDLE_MIB: Final = 24.0
IDLE_SAMPLES: Final = 10
MIB: Final = 2**20


@dataclass(frozen=True)
class Figures:
    """One cluster size's measurements."""

    nodes: int
    served_mb: float
    baseline_s: float
    volunteer_s: float
    rss_mb: float
    report_mb: float

    @property
    def ratio(self) -> float:
        """Volunteer wall time over the baseline's."""
        return self.volunteer_s / self.baseline_s


class StandInProcess:
    """The Kubernetes API stand-in in its own process, serving pre-built pages until its stdin closes."""

    def __init__(self, nodes: int, page_size: int) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.k8s_api", "--nodes", str(nodes), "--page-size", str(page_size)],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self.close()
            raise RuntimeError("the stand-in did not start")
        info: dict[str, Any] = json.loads(line)
        self.url: str = info["url"]
        self.total_bytes: int = info["total_bytes"]

    def close(self) -> None:
        """Close its stdin, which ends it."""
        stdin: IO[bytes] | None = self._process.stdin
        if stdin is not None:
            stdin.close()
        self._process.wait(timeout=30)


def baseline(url: str, page_size: int) -> tuple[float, int]:
    """Seconds to download and ``json.loads`` every page with ``urllib``, and the node count seen."""
    started = time.perf_counter()
    token = ""
    count = 0
    while True:
        query = {"limit": str(page_size)} | ({"continue": token} if token else {})
        with urllib.request.urlopen(f"{url}/api/v1/nodes?{urllib.parse.urlencode(query)}", timeout=60) as response:  # noqa: S310  # our own stand-in on loopback
            page = json.loads(response.read())
        count += len(page["items"])
        token = page["metadata"].get("continue", "")
        if not token:
            return time.perf_counter() - started, count


def volunteer(kubeconfig: Path, page_size: int, out: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of one ``--period=0 --database=stdout`` run; its stdout goes to ``out``."""
    command = [
        sys.executable,
        "-m",
        "volunteer",
        "--cluster-id=bench",
        "--period=0",
        "--database=stdout",
        f"--kubeconfig={kubeconfig}",
        f"--page-size={page_size}",
    ]
    log = out.with_suffix(".log")
    with out.open("wb") as stdout, log.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=REPO)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"the volunteer exited {process.returncode}:\n{tail}")
    return elapsed, usage.ru_maxrss / 1024  # Linux reports KiB


def measure(nodes: int, page_size: int, repeat: int, workdir: Path) -> Figures:
    """Best-of-``repeat`` figures for one cluster size."""
    server = StandInProcess(nodes, page_size)
    try:
        kubeconfig = write_kubeconfig(workdir / f"kubeconfig-{nodes}", server.url)
        out = workdir / f"report-{nodes}.json"
        baselines, runs, rss = [], [], []
        for _ in range(repeat):
            seconds, seen = baseline(server.url, page_size)
            assert seen == nodes, f"baseline saw {seen} nodes, expected {nodes}"
            baselines.append(seconds)
            seconds, peak = volunteer(kubeconfig, page_size, out)
            runs.append(seconds)
            rss.append(peak)
        report = json.loads(out.read_bytes())
        assert len(report["nodes"]) == nodes, f"report has {len(report['nodes'])} nodes, expected {nodes}"
        return Figures(
            nodes=nodes,
            served_mb=server.total_bytes / 1e6,
            baseline_s=min(baselines),
            volunteer_s=min(runs),
            rss_mb=max(rss),
            report_mb=out.stat().st_size / 1e6,
        )
    finally:
        server.close()


@dataclass(frozen=True)
class IdleFigures:
    """One cluster size's figures for a periodic volunteer between reports."""

    nodes: int
    baseline_mib: float
    idle_mib: float
    processes: int
    reporter_peak_mib: float


def _tree(process: psutil.Process) -> list[psutil.Process]:
    return [process, *process.children(recursive=True)]


def _tree_rss(process: psutil.Process) -> int:
    return sum(p.memory_info().rss for p in _tree(process))


def _hwm_kib(pid: int) -> int:
    """``VmHWM`` (peak RSS so far) of ``pid``, 0 once it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    return next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:")), 0)


def bare_interpreter_rss() -> int:
    """RSS of this Python doing nothing: the floor under any Python process."""
    process = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        time.sleep(1.0)  # let it finish starting; there is nothing to wait on
        return int(psutil.Process(process.pid).memory_info().rss)
    finally:
        assert process.stdin is not None
        process.stdin.close()
        process.wait(timeout=30)


def _wait_first_report(volunteer: subprocess.Popen[bytes], log: Path, timeout: float = 300) -> int:
    """Wait until the first report is logged and the reporter has exited; the reporter's sampled peak (KiB)."""
    process = psutil.Process(volunteer.pid)
    peaks: dict[int, int] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if volunteer.poll() is not None:
            raise RuntimeError(f"the volunteer exited {volunteer.returncode}:\n{log.read_text()[-2000:]}")
        children = process.children(recursive=True)
        for child in children:
            peaks[child.pid] = max(peaks.get(child.pid, 0), _hwm_kib(child.pid))
        if not children and b'"message": "report"' in log.read_bytes():
            return max(peaks.values(), default=0)
        time.sleep(0.02)
    raise RuntimeError(f"no report within {timeout}s:\n{log.read_text()[-2000:]}")


def measure_idle(nodes: int, page_size: int, baseline: int, workdir: Path) -> IdleFigures:
    """The process tree's RSS while a periodic volunteer waits, after its first report of ``nodes`` nodes."""
    server = StandInProcess(nodes, page_size)
    try:
        kubeconfig = write_kubeconfig(workdir / f"kubeconfig-idle-{nodes}", server.url)
        command = [
            sys.executable,
            "-m",
            "volunteer",
            "--cluster-id=bench",
            "--period=24h",
            "--database=stdout",
            f"--kubeconfig={kubeconfig}",
            f"--page-size={page_size}",
        ]
        log = workdir / f"idle-{nodes}.log"
        with (workdir / f"idle-{nodes}.json").open("wb") as stdout, log.open("wb") as stderr:
            volunteer = subprocess.Popen(command, stdout=stdout, stderr=stderr, cwd=REPO)
        try:
            reporter_peak = _wait_first_report(volunteer, log)
            process = psutil.Process(volunteer.pid)
            samples = []
            for _ in range(IDLE_SAMPLES):
                samples.append(_tree_rss(process))
                time.sleep(0.1)  # sampling interval, not synchronisation
            processes = len(_tree(process))
        finally:
            volunteer.send_signal(signal.SIGTERM)
            volunteer.wait(timeout=30)
    finally:
        server.close()
    return IdleFigures(
        nodes=nodes,
        baseline_mib=baseline / MIB,
        idle_mib=max(samples) / MIB,
        processes=processes,
        reporter_peak_mib=reporter_peak / 1024,
    )


def report_idle(sizes: tuple[int, ...], page_size: int, workdir: Path) -> bool:
    """Print the idle table; True when every size meets the target."""
    baseline = bare_interpreter_rss()
    print()
    print("periodic volunteer between reports: RSS of the whole process tree; baseline = a bare interpreter")
    print(f"{'nodes':>7} {'baseline MiB':>13} {'idle MiB':>9} {'ratio':>6} {'processes':>10} {'reporter peak MiB':>18}")
    met = True
    for nodes in sizes:
        f = measure_idle(nodes, page_size, baseline, workdir)
        print(
            f"{f.nodes:>7} {f.baseline_mib:>13.1f} {f.idle_mib:>9.1f} {f.idle_mib / f.baseline_mib:>6.2f} "
            f"{f.processes:>10} {f.reporter_peak_mib:>18.1f}"
        )
        met = met and f.idle_mib <= TARGET_IDLE_MIB
    print(f"target idle <= {TARGET_IDLE_MIB:.0f} MiB at every size: {'met' if met else 'MISSED'}")
    return met


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 with ``--check`` when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small cluster, one run (CI smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 15_000, TARGET_NODES])
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the best time counts")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    sizes, page_size, repeat = ([300], 100, 1) if args.quick else (args.sizes, PAGE_SIZE, args.repeat)
    idle_sizes = (10,) if args.quick else IDLE_SIZES
    print(f"volunteer benchmark: page size {page_size}, best of {repeat}; baseline = urllib + json.loads per page")
    columns = (
        ("nodes", 7),
        ("served MB", 10),
        ("baseline s", 11),
        ("volunteer s", 12),
        ("ratio", 6),
        ("peak RSS MB", 12),
    )
    print(" ".join(f"{name:>{width}}" for name, width in columns), f"{'report MB':>10}")
    missed = False
    with tempfile.TemporaryDirectory(prefix="volunteer-bench-") as tmp:
        for nodes in sizes:
            f = measure(nodes, page_size, repeat, Path(tmp))
            print(
                f"{f.nodes:>7} {f.served_mb:>10.1f} {f.baseline_s:>11.2f} {f.volunteer_s:>12.2f} "
                f"{f.ratio:>6.2f} {f.rss_mb:>12.1f} {f.report_mb:>10.2f}"
            )
            if f.nodes == TARGET_NODES:
                ok = f.ratio <= TARGET_RATIO and f.rss_mb <= TARGET_RSS_MB
                missed = missed or not ok
                print(
                    f"targets at {TARGET_NODES} nodes: ratio {f.ratio:.2f} <= {TARGET_RATIO}, "
                    f"RSS {f.rss_mb:.0f} MB <= {TARGET_RSS_MB:.0f} MB: {'met' if ok else 'MISSED'}"
                )
        idle_met = report_idle(idle_sizes, page_size, Path(tmp))
        missed = missed or not idle_met
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
