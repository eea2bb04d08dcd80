"""Volunteer benchmark: ``spartakus volunteer --period=0 --database=stdout`` against large clusters.

For each cluster size, a Kubernetes API stand-in runs in a process of its own
and serves pre-built pages of real-shaped Node objects (so that it is not the
bottleneck). In the same run this script measures:

- the bare baseline: download every page with ``urllib`` and ``json.loads`` it,
  in this process, following ``continue`` as any client must;
- the volunteer end to end, as a subprocess (interpreter start-up included),
  with its peak RSS from ``wait4``.

Targets at 65,000 nodes: wall time at most 2x the baseline, peak RSS at most
250 MB. ``--quick`` runs one small size, for CI's smoke test.

    python bench/volunteer_bench.py            # 5k, 15k and 65k nodes
    python bench/volunteer_bench.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

REPO: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.support is not an installed package

from tests.support.k8s_api import write_kubeconfig  # noqa: E402  # needs the path above

PAGE_SIZE: Final = 500
TARGET_RATIO: Final = 2.0
TARGET_RSS_MB: Final = 250.0
TARGET_NODES: Final = 65_000


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


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit 1 with ``--check`` when a 65k-node target is missed."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one small cluster, one run (CI smoke test)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5_000, 15_000, TARGET_NODES])
    parser.add_argument("--repeat", type=int, default=2, help="runs per size; the best time counts")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target at 65,000 nodes is missed")
    args = parser.parse_args(argv)
    sizes, page_size, repeat = ([300], 100, 1) if args.quick else (args.sizes, PAGE_SIZE, args.repeat)
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
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
