"""In its pod's memory limit, the writer stores the largest real reports and sends what it cannot hold to ``.dead``.

The writer runs as a process inside a cgroup v1 memory limit equal to the
one in ``deploy/kubernetes/collector/writer.yaml`` (``tests.support.cgroup``),
where going over means SIGKILL, as an OOM kill is for a pod. Innocent
reports are delivered around the large and the hostile ones.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import duckdb
import pika
import pytest

from schema.topology import ERROR_HEADER
from tests.support.amqp import blocking_channel
from tests.support.big_reports import go_body, go_volunteer_report
from tests.support.cgroup import memory_limit
from tests.support.pipeline import rows_written
from tests.support.services import free_port, wait_until
from tests.support.writer_load import properties, publish, queue_counts, sample_report

pytestmark = pytest.mark.integration

MANIFEST: Final = Path(__file__).parents[2] / "deploy" / "kubernetes" / "collector" / "writer.yaml"
MIB: Final = 2**20


def manifest_memory_limit() -> int:
    """The writer container's memory limit in the manifest, in bytes."""
    limits = re.search(r"limits:\s*\n(?:\s+\w+:.*\n)*?\s+memory:\s*(\d+)Mi", MANIFEST.read_text())
    assert limits is not None, "no memory limit in the writer's manifest"
    return int(limits.group(1)) * MIB


def gzip_message(body: bytes, report_id: str) -> tuple[bytes, pika.BasicProperties]:
    props = properties(report_id)
    props.content_encoding = "gzip"
    return gzip.compress(body, compresslevel=1), props


def plain_message(report: dict[str, Any]) -> tuple[bytes, pika.BasicProperties]:
    return json.dumps(report).encode(), properties(str(report["reportID"]))


def tiny_nodes_report(report_id: str, nodes: int) -> bytes:
    """A report of ``nodes`` minimal nodes: the most nodes, so the most objects, per byte."""
    head = json.dumps({"clusterID": f"tiny-{report_id}", "reportID": report_id}).encode()[:-1]
    return head + b',"nodes":[' + b",".join([b'{"id":"a"}'] * nodes) + b"]}"


def dead_letters(amqp_url: str, queue: str) -> dict[str, str]:
    """Report id -> reason of every message in ``<queue>.dead`` (taken off the queue)."""
    found: dict[str, str] = {}
    with blocking_channel(amqp_url) as channel:
        while (got := channel.basic_get(f"{queue}.dead", auto_ack=True))[0] is not None:
            _method, props, _body = got
            found[str(props.message_id)] = str(props.headers[ERROR_HEADER])
    return found


def test_in_the_pods_memory_limit_unreadable_messages_go_to_dead_alone_and_every_other_report_is_stored(
    amqp_url: str, queue_name: str, tmp_path: Path
) -> None:
    innocents = [sample_report(i) for i in range(30)]
    largest = go_volunteer_report(65_000)
    largest["reportID"] = "largest-cluster"
    messages = [
        *(plain_message(r) for r in innocents[:10]),
        # More nodes than the writer renders in bounded memory, in a 50 KB message.
        gzip_message(tiny_nodes_report("too-many-nodes", 3_000_000), "too-many-nodes"),
        *(plain_message(r) for r in innocents[10:20]),
        gzip_message(go_body(largest), "largest-cluster"),
        # A gzip bomb: 200 MiB of JSON string from 200 KB.
        gzip_message(b'{"clusterID": "bomb", "x": "' + b"a" * (200 * MIB) + b'"}', "bomb"),
        # A million minimal nodes, as the gateway lets in: stored.
        gzip_message(tiny_nodes_report("million-nodes", 1_000_000), "million-nodes"),
        *(plain_message(r) for r in innocents[20:]),
    ]
    publish(amqp_url, queue_name, messages)
    store = tmp_path / "reports.duckdb"
    port = free_port()
    argv = [sys.executable, "-m", "writer", "--amqp-url", amqp_url, "--queue", queue_name]
    argv += ["--database", f"duckdb:///{store}", "--metrics-port", str(port)]
    with memory_limit(manifest_memory_limit()) as group:
        writer = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=group.join,  # noqa: PLW1509  # only writes the child's pid to a cgroup file
            env=os.environ.copy(),
        )
        try:
            wait_until(
                lambda: writer.poll() is not None or rows_written(port, "duckdb") >= 32,
                timeout=240,
                what="every readable report written",
            )
            assert writer.poll() is None, f"the writer died ({writer.returncode}); OOM kills: {group.oom_kills()}"
            wait_until(
                lambda: queue_counts(amqp_url, f"{queue_name}.dead")[0] == 2, timeout=30, what="two dead letters"
            )
        finally:
            writer.terminate()
            _out, err = writer.communicate(timeout=60)
        assert group.oom_kills() == 0
        peak = group.max_usage()
    assert writer.returncode == 0, err.decode(errors="replace")[-2000:]
    dead = dead_letters(amqp_url, queue_name)
    assert set(dead) == {"too-many-nodes", "bomb"}
    assert "JSON objects, over the writer's limit" in dead["too-many-nodes"]
    assert "inflates to more than" in dead["bomb"]
    with duckdb.connect(str(store), read_only=True) as db:
        reports = db.execute("SELECT reportID FROM reports_dedup WHERE coalesce(part, 0) = 0").fetchall()
        nodes = db.execute(
            "SELECT reportID, sum(len(nodes)) FROM reports_dedup WHERE reportID IN (?, ?) GROUP BY reportID",
            ["largest-cluster", "million-nodes"],
        ).fetchall()
    assert {r[0] for r in reports} == {r["reportID"] for r in innocents} | {"largest-cluster", "million-nodes"}
    assert dict(nodes) == {"largest-cluster": 65_000, "million-nodes": 1_000_000}
    print(f"writer cgroup peak: {peak / MIB:.0f} MiB of {manifest_memory_limit() / MIB:.0f} MiB")
