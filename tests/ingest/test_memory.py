"""In a 512 MiB memory limit, as its pod has, the gateway survives any mix of large reports, bombs and small reports.

The gateway runs with its default caps and memory budget inside a cgroup v1
memory limit (``tests.support.cgroup``), where going over means SIGKILL,
as an OOM kill is for a pod.
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest

from schema.message import decode_body
from tests.ingest.broker import take_all
from tests.ingest.gateway import JSON_HEADERS, Gateway, go_volunteer_report, running_gateway
from tests.ingest.hostile import gzip_bomb
from tests.ingest.large import largest_cluster_report
from tests.support.cgroup import memory_limit
from tests.support.services import wait_until

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
POD_LIMIT = 512 * MIB
"""The memory limit of the gateway's Deployment in ``deploy/kubernetes/collector/ingest.yaml``."""
ANSWERS = {204, 413, 431, 503}
GZIP_HEADERS = {**JSON_HEADERS, "Content-Encoding": "gzip"}
_CLUSTER_ID = re.compile(rb'"clusterID":"([^"]+)"')


@dataclass
class Tally:
    """What each kind of request was answered, and the cluster ids of the 204s."""

    statuses: dict[str, list[int | str]] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, kind: str, status: int | str, cluster_id: str) -> None:
        with self.lock:
            self.statuses.setdefault(kind, []).append(status)
            if status == 204:
                self.accepted.add(cluster_id)


@pytest.fixture(scope="module")
def largest() -> bytes:
    """The 65,000-node report (some 50 MB), cluster id ``largest-000000``."""
    return largest_cluster_report("largest-000000")


@pytest.fixture(scope="module")
def million_nodes() -> bytes:
    """A million minimal nodes, gzipped to some 21 KB."""
    return gzip.compress(b'{"clusterID":"million","nodes":[' + b",".join([b'{"id":"a"}'] * 999_990) + b"]}")


def post(gateway: Gateway, tally: Tally, body: bytes, *, kind: str, headers: dict[str, str], cluster_id: str) -> None:
    try:
        # Large reports are validated one at a time: on a busy machine the last waits a while.
        status: int | str = gateway.post(body, headers, timeout=240).status
    except OSError as e:  # no answer at all: the test reports it
        status = type(e).__name__
    tally.record(kind, status, cluster_id)


def run_mix(gateway: Gateway, largest: bytes, million_nodes: bytes) -> Tally:
    tally = Tally()
    done = threading.Event()

    def large(worker: int) -> None:
        cluster_id = f"largest-{worker}".ljust(14, "0")
        body = largest.replace(b"largest-000000", cluster_id.encode(), 1)
        post(gateway, tally, body, kind="large", headers=JSON_HEADERS, cluster_id=cluster_id)

    def bombs(_worker: int) -> None:
        for bomb in (gzip_bomb(100), million_nodes, gzip_bomb(100)):
            post(gateway, tally, bomb, kind="bomb", headers=GZIP_HEADERS, cluster_id="bomb")

    def small(_worker: int) -> None:
        while not done.is_set():
            cluster_id = f"small-{uuid.uuid4().hex}"
            body = json.dumps(go_volunteer_report(cluster_id)).encode()
            post(gateway, tally, body, kind="small", headers=JSON_HEADERS, cluster_id=cluster_id)

    attackers: list[tuple[Callable[[int], None], int]] = [(large, 4), (bombs, 4)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        smalls = [pool.submit(small, n) for n in range(2)]
        attacks = [pool.submit(work, n) for work, count in attackers for n in range(count)]
        for future in attacks:
            future.result(timeout=600)
        done.set()
        for future in smalls:
            future.result(timeout=60)
    return tally


def queued_cluster_ids(amqp_url: str, queue: str) -> Iterator[str]:
    for message in take_all(amqp_url, queue):
        found = _CLUSTER_ID.search(decode_body(message.body, message.properties.content_encoding))
        assert found is not None
        yield found.group(1).decode()


def test_a_mix_of_large_reports_gzip_bombs_and_small_reports_in_a_512_mib_limit_kills_nothing_and_loses_nothing(
    amqp_url: str, queue_name: str, largest: bytes, million_nodes: bytes
) -> None:
    with memory_limit(POD_LIMIT) as group, running_gateway(amqp_url, queue_name, preexec=group.join) as gateway:
        tally = run_mix(gateway, largest, million_nodes)
        alive = gateway.process.poll() is None
        peak, oom_kills = group.max_usage(), group.oom_kills()
        assert gateway.stop() == 0

    assert alive
    assert oom_kills == 0
    assert peak < POD_LIMIT
    for kind, statuses in tally.statuses.items():
        assert set(statuses) <= ANSWERS, f"{kind}: {statuses}"
    assert 204 in tally.statuses["large"]
    assert set(tally.statuses["small"]) == {204}
    assert len(tally.statuses["small"]) >= 20
    assert set(queued_cluster_ids(amqp_url, queue_name)) == tally.accepted


def test_memory_taken_by_a_burst_of_large_reports_is_given_back(amqp_url: str, queue_name: str, largest: bytes) -> None:
    with running_gateway(amqp_url, queue_name) as gateway:
        before = gateway.memory_kib()
        with ThreadPoolExecutor(max_workers=3) as pool:
            answers = list(pool.map(lambda _n: gateway.post(largest, timeout=240).status, range(3)))
        peak = gateway.memory_kib("VmHWM")
        wait_until(
            lambda: gateway.memory_kib() < before + 20 * 1024, timeout=10, what="the gateway's memory back near idle"
        )
        assert gateway.stop() == 0

    assert answers == [204, 204, 204]
    assert peak > before + 100 * 1024  # the burst did take memory
