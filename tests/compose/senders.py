"""Streams of the Go volunteer's report POSTed to the stack's ingest from the host, and what came back."""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.ingest.gateway import go_volunteer_report

WORKERS = 8


@dataclass
class Stream:
    """Reports sent so far: the cluster ids ingest answered 204 for, and every answer's status (0: no answer)."""

    accepted: set[str] = field(default_factory=set)
    statuses: Counter[int] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, cluster_id: str, status: int) -> None:
        with self.lock:
            self.statuses[status] += 1
            if status == 204:
                self.accepted.add(cluster_id)

    def accepted_count(self) -> int:
        with self.lock:
            return len(self.accepted)


def _post_all(port: int, cluster_ids: Sequence[str], stream: Stream) -> None:
    """POST one report per cluster id over one keep-alive connection, reconnecting after a failure."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for cluster_id in cluster_ids:
        body = json.dumps(go_volunteer_report(cluster_id)).encode()
        try:
            connection.request("POST", "/api/v1", body=body, headers={"Content-Type": "application/json"})
            response = connection.getresponse()
            response.read()
            stream.record(cluster_id, response.status)
        except OSError:  # ingest stopped or restarted under the stream: this report has no answer
            stream.record(cluster_id, 0)
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.close()


@contextmanager
def streaming(port: int, prefix: str, count: int) -> Iterator[Stream]:
    """Send ``count`` reports (cluster ids ``<prefix>-<n>``) in the background; the block's end waits for all."""
    stream = Stream()
    ids = [f"{prefix}-{n:05d}" for n in range(count)]
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        futures = [pool.submit(_post_all, port, ids[worker::WORKERS], stream) for worker in range(WORKERS)]
        yield stream
        for future in futures:
            future.result(timeout=600)


def send(port: int, prefix: str, count: int) -> Stream:
    """Send ``count`` reports and wait for every answer."""
    with streaming(port, prefix, count) as stream:
        pass
    return stream
