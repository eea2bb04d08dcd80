"""Stored-report messages as the ingest gateway publishes them, for the writer's tests and benchmark."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pika

from schema.report import SCHEMA_VERSION
from schema.topology import CONTENT_TYPE, PERSISTENT, RECEIVED_AT_HEADER, SCHEMA_VERSION_HEADER, topology_for
from tests.support.amqp import blocking_channel
from tests.support.services import wait_until
from writer.duckdb_sink import DuckDbSink
from writer.rows import decode_report


def sample_report(index: int = 0, *, nodes: int = 3, cluster_id: str | None = None, pad: int = 0) -> dict[str, Any]:
    """A stored report (wire names) with ``nodes`` nodes; ``pad`` adds an extension of that many bytes."""
    node_list = [
        {
            "id": uuid.uuid4().hex,
            "operatingSystem": "linux",
            "osImage": "Ubuntu 22.04.4 LTS",
            "kernelVersion": "5.15.0-1057-gke",
            "architecture": "amd64",
            "containerRuntimeVersion": "containerd://1.7.13",
            "kubeletVersion": "v1.29.4",
            "cloudProvider": "gce",
            "capacity": [
                {"resource": "cpu", "value": "4"},
                {"resource": "memory", "value": "16393220Ki"},
                {"resource": "pods", "value": "110"},
            ],
        }
        for _ in range(nodes)
    ]
    extensions = [{"name": "example.com/team", "value": "blue"}]
    if pad:
        extensions.append({"name": "example.com/padding", "value": "x" * pad})
    return {
        "version": "v1.1.0",
        "timestamp": str(1_700_000_000 + index),
        "clusterID": cluster_id or str(uuid.uuid4()),
        "masterVersion": "v1.31.1-gke.1678000",
        "nodes": node_list,
        "extensions": extensions,
        "reportID": uuid.uuid4().hex,
        "receivedAt": datetime.now(UTC).isoformat(),
    }


def properties(report_id: str | None, received_at: str | None = None) -> pika.BasicProperties:
    """Message properties as the gateway sets them."""
    return pika.BasicProperties(
        delivery_mode=PERSISTENT,
        content_type=CONTENT_TYPE,
        message_id=report_id,
        headers={
            RECEIVED_AT_HEADER: received_at or datetime.now(UTC).isoformat(),
            SCHEMA_VERSION_HEADER: SCHEMA_VERSION,
        },
    )


def declare(url: str, queue: str) -> None:
    """Declare the queue and its dead-letter queue exactly as the gateway and writer do."""
    with blocking_channel(url) as channel:
        for spec in (topology_for(queue).dead, topology_for(queue).main):
            channel.queue_declare(spec.name, durable=spec.durable, arguments=dict(spec.arguments))


def publish(
    url: str, queue: str, messages: Iterable[tuple[bytes, pika.BasicProperties]], *, confirm: bool = True
) -> int:
    """Publish ``(body, properties)`` pairs to ``queue`` (declared first); returns how many.

    Without ``confirm`` the caller must wait for the queue to hold them (``wait_for_ready``).
    """
    declare(url, queue)
    count = 0
    with blocking_channel(url) as channel:
        if confirm:
            channel.confirm_delivery()
        for body, props in messages:
            channel.basic_publish("", queue, body, props)
            count += 1
    return count


def report_messages(reports: Iterable[Mapping[str, Any]]) -> Iterable[tuple[bytes, pika.BasicProperties]]:
    """Bodies and properties for ``reports``."""
    for report in reports:
        yield json.dumps(report).encode(), properties(str(report["reportID"]), str(report["receivedAt"]))


def queue_counts(url: str, queue: str) -> tuple[int, int]:
    """(ready messages, consumers) of ``queue``."""
    with blocking_channel(url) as channel:
        method = channel.queue_declare(queue, passive=True).method
        return int(method.message_count), int(method.consumer_count)


def wait_for_ready(url: str, queue: str, count: int, *, timeout: float) -> None:
    """Wait until ``queue`` holds ``count`` ready messages."""
    deadline = time.monotonic() + timeout
    with blocking_channel(url) as channel:
        while True:
            ready = int(channel.queue_declare(queue, passive=True).method.message_count)
            if ready == count:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"{queue} holds {ready} messages, expected {count} within {timeout}s")
            channel.connection.sleep(0.1)


def returned_until_dead(url: str, queue: str, count: int = 1, *, timeout: float = 30.0) -> None:
    """Return ``queue``'s messages to it (``basic_nack`` with requeue) until the broker dead-lettered ``count``.

    That is the broker's own dead-lettering, over the delivery limit: the
    messages reach ``<queue>.dead`` with the death and delivery-count headers
    that the broker's version writes.
    """
    dead = topology_for(queue).dead_queue
    with blocking_channel(url) as channel:

        def dead_lettered() -> bool:
            method, _props, _body = channel.basic_get(queue, auto_ack=False)
            if method is not None:
                channel.basic_nack(method.delivery_tag, requeue=True)
                return False
            return int(channel.queue_declare(dead, passive=True).method.message_count) >= count

        wait_until(dead_lettered, timeout=timeout, interval=0.01, what=f"the broker to dead-letter {count} of {queue}")


def store_two_clusters(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """A DuckDB store at ``path`` with two reports of ``cluster-a`` (the newer one written first) and one of
    ``cluster-b``; the newest report of each cluster, in that order."""
    older = sample_report(1, cluster_id="cluster-a")
    newer = sample_report(2, cluster_id="cluster-a")
    newer["receivedAt"] = "2030-01-01T00:00:00+00:00"
    other = sample_report(3, cluster_id="cluster-b")
    sink = DuckDbSink(str(path))
    try:
        sink.write([decode_report(json.dumps(r).encode()) for r in (newer, older, other)])
    finally:
        sink.close()
    return newer, other
